"""Fit one LightGBM booster per outcome on landmark rows.

Class imbalance is left to the post-hoc calibration rather than to class weights:
re-weighting the rare class shifts every probability upward, which the margin calibrator
would then have to undo. Unweighted log-loss keeps the booster's margin close to a
log-odds already, so the calibrator only fine-tunes it.

Every booster is trained under the monotone constraints the feature registry declares from
the literature (a better alliance never raises a risk, a missed session never lowers the
dropout risk, ...), so neither its estimates nor their exact explanations can move against
the evidence. README "Directions from the evidence" measures what that costs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.registry import categorical_names, monotone_constraints


@dataclass(frozen=True)
class BoosterParameters:
    """LightGBM settings.

    Defaults favour a few hundred three-leaf, strongly regularised trees. On the
    20,000-client synthetic cohort (seed 7) held-out AUROC was the same within 0.005 for
    2, 3, 4, 7 and 15 leaves (the simulated risks are close to additive), while exact
    TreeSHAP cost grows with leaves times depth squared and prediction cost with the number
    of trees; three leaves at learning rate 0.1 kept calibration inside the quality bar with
    the fewest trees. BENCHMARKS.md has the comparison.
    """

    num_leaves: int = 3
    learning_rate: float = 0.1
    max_rounds: int = 2000
    min_child_samples: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 10.0
    early_stopping_rounds: int = 100

    def lightgbm_params(self, seed: int, constraints: list[int] | None = None) -> dict[str, object]:
        """LightGBM's parameters, with each feature's monotone constraint when given."""
        params = asdict(self)
        params.pop("max_rounds")
        params.pop("early_stopping_rounds")
        return {
            **params,
            "objective": "binary",
            "metric": "binary_logloss",
            "bagging_freq": 1,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 2,
            "verbosity": -1,
            **({"monotone_constraints": constraints} if constraints else {}),
        }


def fit_booster(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    feature_names: list[str],
    outcome: str,
    parameters: BoosterParameters,
    seed: int,
    early_stopping_share: float = 0.15,
    monotone: bool = True,
) -> lgb.Booster:
    """Train with early stopping on a share of the training clients (never calibration data).

    The early-stopping rows are whole clients drawn from the training part, so the number of
    trees is chosen without touching the calibration or test clients. `feature_names` name
    the columns of `features`; `monotone=False` is only for measuring what the registry's
    constraints cost (tests/benchmarks/monotone_cost.py).
    """
    stop_groups = early_stopping_clients(groups, seed, early_stopping_share)
    # A hash lookup: np.isin compares object arrays element by element, O(rows x clients).
    is_stop = pd.Series(groups).isin(stop_groups).to_numpy()
    constraints = monotone_constraints(feature_names, outcome) if monotone else None
    return train_early_stopped(
        parameters.lightgbm_params(seed, constraints),
        (features[~is_stop], labels[~is_stop]),
        (features[is_stop], labels[is_stop]),
        feature_names=feature_names,
        parameters=parameters,
    )


def train_early_stopped(
    params: dict[str, object],
    train: tuple[np.ndarray, np.ndarray],
    stop: tuple[np.ndarray, np.ndarray],
    *,
    feature_names: list[str],
    parameters: BoosterParameters,
) -> lgb.Booster:
    """LightGBM on the `train` rows (features, labels), stopped early on the `stop` rows:
    the one way a booster is trained, on one machine and on each worker of a cluster
    (whose `params` add LightGBM's network)."""
    train_set = lgb.Dataset(
        train[0],
        train[1],
        feature_name=list(feature_names),
        categorical_feature=categorical_names(feature_names),
        free_raw_data=False,
    )
    stop_set = lgb.Dataset(stop[0], stop[1], reference=train_set)
    return lgb.train(
        params,
        train_set,
        num_boost_round=parameters.max_rounds,
        valid_sets=[stop_set],
        callbacks=[lgb.early_stopping(parameters.early_stopping_rounds, verbose=False)],
    )


def early_stopping_clients(clients: np.ndarray, seed: int, share: float = 0.15) -> frozenset[str]:
    """The seeded draw of whole clients whose rows choose the number of trees."""
    unique = np.unique(clients)
    rng = np.random.default_rng(seed)
    return frozenset(rng.choice(unique, size=max(1, int(len(unique) * share)), replace=False))
