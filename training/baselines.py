"""Baselines scored on the same split as the boosters.

An alliance-only logistic regression is what a clinician's rule of thumb ("a low or
falling alliance is a warning sign") amounts to; a logistic regression on every feature
shows what the boosters add over a linear model with the same inputs.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from features.registry import categorical_names

#: The alliance measures a clinician would look at: level, lowest point, trend and ruptures.
ALLIANCE_ONLY_FEATURES: tuple[str, ...] = (
    "alliance_z_first",
    "alliance_z_last",
    "alliance_z_mean",
    "alliance_z_min",
    "alliance_z_slope",
    "alliance_largest_drop",
    "alliance_recovery_since_drop",
)


def _logistic(numeric: list[int], categorical: list[int]) -> Pipeline:
    numeric_steps = make_pipeline(
        # The imputer's output is a fresh matrix: scaling it in place saves one copy of
        # the imputed training rows and changes no value.
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(copy=False),
    )
    categorical_steps = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    return make_pipeline(
        ColumnTransformer(
            [("numeric", numeric_steps, numeric), ("categorical", categorical_steps, categorical)]
        ),
        LogisticRegression(max_iter=2000),
    )


#: Training rows the comparison baselines are fitted on (a seeded sample when there are
#: more): two linear models with ~50 coefficients gain nothing from millions of rows, and
#: their pipelines copy the matrix several times over.
BASELINE_ROWS = 200_000


def fit_baselines(
    features: np.ndarray, labels: np.ndarray, names: list[str], *, seed: int = 0
) -> dict[str, Pipeline]:
    """Fit both baselines on the training rows, whose columns `names` names (a seeded
    sample of `BASELINE_ROWS` of them when there are more)."""
    if len(labels) > BASELINE_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(len(labels), BASELINE_ROWS, False))
        features, labels = features[rows], labels[rows]
    alliance = [names.index(name) for name in ALLIANCE_ONLY_FEATURES if name in names]
    categorical = [names.index(name) for name in categorical_names(names)]
    numeric = [i for i in range(len(names)) if i not in categorical]
    return {
        "alliance_only_logistic": _logistic(alliance, []).fit(features, labels),
        "all_features_logistic": _logistic(numeric, categorical).fit(features, labels),
    }
