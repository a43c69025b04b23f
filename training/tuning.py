"""Optional hyperparameter search with Optuna, each trial an MLflow run nested in training.

Trials are judged by log-loss on early-stopping clients drawn from the training part of the
same `TrainingPlan` the run then uses, so the calibration and test clients stay unseen by
the search as well as by the boosters.
"""

from __future__ import annotations

import mlflow
import numpy as np
import optuna

from data_schemas.tables import ClinicTables
from features.labels import OUTCOMES, OutcomeDefinitions, landmark_labels
from training.boosting import BoosterParameters, fit_booster
from training.fitting import TrainingPlan
from training.splits import SplitStrategy


def _suggest(trial: optuna.Trial) -> BoosterParameters:
    return BoosterParameters(
        num_leaves=trial.suggest_int("num_leaves", 2, 8),
        learning_rate=trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        min_child_samples=trial.suggest_int("min_child_samples", 10, 200, log=True),
        feature_fraction=trial.suggest_float("feature_fraction", 0.5, 1.0),
        bagging_fraction=trial.suggest_float("bagging_fraction", 0.5, 1.0),
        lambda_l2=trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
    )


def tune_parameters(
    tables: ClinicTables,
    *,
    strategy: SplitStrategy,
    trials: int,
    seed: int,
    definitions: OutcomeDefinitions,
    exclude_features: tuple[str, ...] = (),
) -> dict[str, BoosterParameters]:
    """Search booster settings per outcome; needs an active MLflow run to nest under."""
    plan = TrainingPlan.of(tables.clients, strategy=strategy, seed=seed, exclude=exclude_features)
    features = plan.training_rows(tables)
    names = list(plan.builder.get_feature_names_out())
    labels = landmark_labels(tables, features.index, definitions)
    matrix = features[names].to_numpy(np.float64)
    clients = features.index.get_level_values("client_id").to_numpy()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best: dict[str, BoosterParameters] = {}
    for outcome in OUTCOMES:
        rows = labels[outcome].notna().to_numpy()
        y = labels[outcome].to_numpy()[rows].astype(float)

        def objective(
            trial: optuna.Trial, rows: np.ndarray = rows, y: np.ndarray = y, outcome: str = outcome
        ) -> float:
            parameters = _suggest(trial)
            with mlflow.start_run(run_name=f"tune-{outcome}-{trial.number}", nested=True):
                booster = fit_booster(
                    matrix[rows],
                    y,
                    clients[rows],
                    feature_names=names,
                    outcome=outcome,
                    parameters=parameters,
                    seed=seed,
                )
                loss = float(booster.best_score["valid_0"]["binary_logloss"])
                mlflow.log_params({"outcome": outcome, **trial.params})
                mlflow.log_metrics(
                    {"early_stopping_log_loss": loss, "n_trees": booster.num_trees()}
                )
            return loss

        study = optuna.create_study(
            direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        study.optimize(objective, n_trials=trials, show_progress_bar=True)
        best[outcome] = BoosterParameters(**study.best_params)
    return best
