"""The MLflow pyfunc flavour of the packaged predictor.

`predict` takes landmark feature rows (columns named as in the feature registry) and
returns both outcomes' calibrated probabilities and bands, so `mlflow models serve` and
`mlflow.pyfunc` work on the registered model as they do on any other. Callers that need
raw-table input or explanations unwrap it: `load_model(uri).unwrap_python_model().model`.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from models.predictor import AllianceRiskModel


class AllianceRiskPyfunc(mlflow.pyfunc.PythonModel):
    """Wraps an `AllianceRiskModel` for MLflow."""

    def __init__(self, model: AllianceRiskModel) -> None:
        self.model = model

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        scored = self.model.score_frame(model_input)
        columns = [
            f"{outcome}_{part}"
            for outcome in self.model.outcomes
            for part in ("probability", "band", "percentile")
        ]
        return scored[columns].reset_index(drop=True)


def load_predictor(model_uri: str) -> AllianceRiskModel:
    """Load the packaged predictor behind a model URI (e.g. models:/alliance-risk@champion)."""
    loaded = mlflow.pyfunc.load_model(model_uri)
    wrapper = loaded.unwrap_python_model()
    if not isinstance(wrapper, AllianceRiskPyfunc):
        raise TypeError(f"{model_uri} is not an alliance-risk model")
    return wrapper.model
