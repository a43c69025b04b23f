"""Batch scoring: a clinic data folder in, one Parquet file (or dataset) of scores out.

It ships with the service, not with training, so the image that serves the model can also
score a folder (`alliance-risk score`), on one machine or on a Dask cluster.
"""
