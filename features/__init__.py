"""Landmark features: the one registry of model inputs and the transformer that builds them.

Imports only `data_schemas`; models, training and the service import from here.
"""

from features.labels import landmark_labels
from features.landmarks import LandmarkFeatureBuilder
from features.registry import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FEATURES,
    FeatureSpec,
    feature,
    format_value,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURES",
    "FEATURE_NAMES",
    "FeatureSpec",
    "LandmarkFeatureBuilder",
    "feature",
    "format_value",
    "landmark_labels",
]
