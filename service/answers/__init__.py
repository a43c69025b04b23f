"""The API's answers and their wording: the prediction response built from the predictor's
numbers (`predictions`), its pydantic schemas, the sentences clinicians read, and RFC 9457
problem documents for errors."""
