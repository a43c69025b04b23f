"""Fit the packaged predictor on validated clinic tables and evaluate it on held-out clients.

The order of operations is what keeps the numbers honest:
1. split clients (never rows) into train, calibration and test;
2. fit the feature builder on training clients only (the therapist dropout rate is
   cross-fitted, so no training row sees its own outcome);
3. fit each booster on training rows, with early stopping on training clients;
4. fit each calibrator on calibration rows the booster never saw;
5. score the test rows once, with the baselines fitted on the same training rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from data_schemas.tables import ClinicTables
from features.labels import OUTCOMES, OutcomeDefinitions, landmark_labels
from features.landmarks import LandmarkFeatureBuilder
from models.outcome import OutcomeModel
from models.predictor import AllianceRiskModel, ModelMetadata
from models.reference import ReferenceProfile
from training.baselines import fit_baselines
from training.boosting import BoosterParameters, fit_booster
from training.characteristics import baseline_characteristics
from training.evaluation import BootstrapCluster, headline_metrics
from training.flow import flow_counts, participant_flow
from training.held_out import (
    OracleFile,
    OutcomeEvaluation,
    ScoredTest,
    calibrated_outcome,
    evaluate_scored,
    oracle_of_test_clients,
)
from training.sample_size import SampleSizeCheck
from training.splits import ClientSplit, SplitStrategy, split_clients, subset
from training.subgroups import MIN_SUBGROUP_EVENTS


@dataclass
class FittedModel:
    """The packaged predictor and everything measured while building it."""

    model: AllianceRiskModel
    split: ClientSplit
    evaluations: dict[str, OutcomeEvaluation]
    definitions: OutcomeDefinitions
    flow: pd.DataFrame  # participant flow per part, outcome and landmark (training.flow)
    characteristics: pd.DataFrame  # per split part (training.characteristics)
    bootstrap_cluster: BootstrapCluster = BootstrapCluster.CLIENT
    subgroup_min_events: int = MIN_SUBGROUP_EVENTS
    sample_size: SampleSizeCheck | None = None  # set by training.pipeline before fitting


def instrument_shares(sessions: pd.DataFrame) -> dict[str, float]:
    rated = sessions.loc[sessions["alliance_score"].notna(), "alliance_instrument"].astype(str)
    return {code: float(share) for code, share in rated.value_counts(normalize=True).items()}


@dataclass(frozen=True)
class LabelledRows:
    """One split part's rows that carry a label for one outcome, as the models take them."""

    features: pd.DataFrame
    feature_names: list[str]
    matrix: np.ndarray
    y: np.ndarray
    clients: np.ndarray
    landmark: np.ndarray

    @classmethod
    def of(cls, features: pd.DataFrame, labels: pd.Series, names: list[str]) -> LabelledRows:
        """Keep the rows with a label, and the model's feature columns `names` (the builder's
        `get_feature_names_out`); `features` is indexed by client_id and landmark."""
        kept = features[names].iloc[np.flatnonzero(labels.notna().to_numpy())]
        return cls(
            features=kept,
            feature_names=names,
            matrix=kept.to_numpy(np.float64),
            y=labels.dropna().to_numpy(np.float64),
            clients=kept.index.get_level_values("client_id").to_numpy(),
            landmark=kept.index.get_level_values("landmark").to_numpy(),
        )


@dataclass(frozen=True)
class TrainingPlan:
    """Who trains, calibrates and tests, and the (unfitted) feature builder: the set-up that
    every back-end and the hyperparameter search share, so they all split alike."""

    split: ClientSplit
    builder: LandmarkFeatureBuilder

    @classmethod
    def of(
        cls,
        clients: pd.DataFrame,
        *,
        strategy: SplitStrategy,
        seed: int,
        exclude: tuple[str, ...] = (),
    ) -> TrainingPlan:
        """Split the clients table's clients and make the builder the strategy calls for.

        A temporal split needs a temporal therapist history: a client's therapist rate may
        only count episodes that ended before the client's intake. `exclude` names features
        the data scientist leaves out of the model.
        """
        return cls(
            split=split_clients(clients, strategy=strategy, seed=seed),
            builder=LandmarkFeatureBuilder(
                random_state=seed,
                therapist_history="temporal" if strategy is SplitStrategy.TEMPORAL else "cross_fit",
                exclude=tuple(exclude),
            ),
        )

    def training_rows(self, tables: ClinicTables) -> pd.DataFrame:
        """Fit the builder on the training clients and return their leak-free rows."""
        return self.builder.fit_transform(subset(tables, self.split.train))


def fit_and_evaluate(
    tables: ClinicTables,
    *,
    seed: int = 0,
    strategy: SplitStrategy = SplitStrategy.CLIENT,
    parameters: dict[str, BoosterParameters] | None = None,
    oracle: OracleFile | None = None,
    n_boot: int = 200,
    synthetic: bool = False,
    training_summary: dict[str, Any] | None = None,
    definitions: OutcomeDefinitions | None = None,
    exclude_features: tuple[str, ...] = (),
    bootstrap_cluster: BootstrapCluster = BootstrapCluster.CLIENT,
    subgroup_min_events: int = MIN_SUBGROUP_EVENTS,
) -> FittedModel:
    """Build the predictor from validated tables with outcomes and evaluate it on test clients.

    `definitions` fix the export date and violence horizon of the labels (default: the
    latest date in the data, and the whole episode); `exclude_features` are left out.
    `bootstrap_cluster` says what the bootstrap resamples; subgroups with fewer than
    `subgroup_min_events` clients with (or without) the event are reported as too small.
    """
    parameters = parameters or {}
    definitions = definitions or OutcomeDefinitions(as_of=tables.latest_date())
    plan = TrainingPlan.of(tables.clients, strategy=strategy, seed=seed, exclude=exclude_features)
    split = plan.split
    test_oracle = oracle_of_test_clients(oracle, split.test)
    parts = {"train": plan.training_rows(tables)}
    held_out = plan.builder.transform(subset(tables, split.calibration | split.test))
    in_calibration = held_out.index.get_level_values("client_id").isin(split.calibration)
    parts["calibration"], parts["test"] = held_out[in_calibration], held_out[~in_calibration]
    del held_out  # split in two: keeping it as well would hold every held-out row twice
    labels = {
        name: landmark_labels(tables, frame.index, definitions) for name, frame in parts.items()
    }
    feature_names = list(plan.builder.get_feature_names_out())
    flow = participant_flow(
        flow_counts(pd.concat(labels[name].assign(part=name).reset_index() for name in parts)),
        split.sizes(),
    )

    outcome_models: dict[str, OutcomeModel] = {}
    evaluations: dict[str, OutcomeEvaluation] = {}
    for outcome in tqdm(OUTCOMES, desc="training outcomes", unit="outcome"):
        # One part's rows at a time, each released when done: the training matrix is the
        # largest thing a run holds.
        train = LabelledRows.of(parts["train"], labels["train"][outcome], feature_names)
        booster = fit_booster(
            train.matrix,
            train.y,
            train.clients,
            feature_names=feature_names,
            outcome=outcome,
            parameters=parameters.get(outcome, BoosterParameters()),
            seed=seed,
        )
        baselines = fit_baselines(train.matrix, train.y, train.feature_names, seed=seed)
        n_train_rows = len(train.y)
        del train
        calibration = LabelledRows.of(
            parts["calibration"], labels["calibration"][outcome], feature_names
        )
        model = calibrated_outcome(
            outcome,
            booster,
            booster.predict(calibration.matrix, raw_score=True),
            calibration.y,
            calibration.landmark,
        )
        n_calibration_rows = len(calibration.y)
        del calibration
        test = LabelledRows.of(parts["test"], labels["test"][outcome], feature_names)
        outcome_models[outcome] = model
        evaluations[outcome] = evaluate_scored(
            model,
            ScoredTest.of(model, test.features, test.y, baselines, seed=seed),
            clients=tables.clients,
            oracle=test_oracle if oracle_applies(outcome, definitions) else None,
            n_train_rows=n_train_rows,
            n_calibration_rows=n_calibration_rows,
            n_boot=n_boot,
            seed=seed,
            bootstrap_cluster=bootstrap_cluster,
            subgroup_min_events=subgroup_min_events,
        )
    return assemble(
        plan.builder,
        outcome_models,
        evaluations,
        split=split,
        strategy=strategy,
        synthetic=synthetic,
        training_summary=training_summary,
        instrument_shares=instrument_shares(subset(tables, split.train).sessions),
        definitions=definitions,
        flow=flow,
        characteristics=baseline_characteristics(tables.clients, split),
        reference_of=lambda model, validation: model.reference_profile(parts["test"], validation),
        bootstrap_cluster=bootstrap_cluster,
        subgroup_min_events=subgroup_min_events,
    )


def oracle_applies(outcome: str, definitions: OutcomeDefinitions) -> bool:
    """The synthetic oracle is the risk over the whole episode: it matches the violence
    label only without a horizon, and the dropout label always."""
    return outcome == "dropout" or definitions.violence_horizon_days is None


def assemble(
    builder: LandmarkFeatureBuilder,
    outcome_models: dict[str, OutcomeModel],
    evaluations: dict[str, OutcomeEvaluation],
    *,
    split: ClientSplit,
    strategy: SplitStrategy,
    synthetic: bool,
    training_summary: dict[str, Any] | None,
    instrument_shares: dict[str, float],
    definitions: OutcomeDefinitions,
    flow: pd.DataFrame,
    characteristics: pd.DataFrame,
    reference_of: Callable[[AllianceRiskModel, dict[str, Any]], ReferenceProfile],
    bootstrap_cluster: BootstrapCluster = BootstrapCluster.CLIENT,
    subgroup_min_events: int = MIN_SUBGROUP_EVENTS,
) -> FittedModel:
    """The packaged predictor, with the metadata every answer and report shows.

    `reference_of(model, validation)` profiles every landmark row of the test clients
    (labelled or not, as a clinic's new rows will be): the reference `alliance-risk
    monitor` watches for. One machine profiles its rows (`reference_profile`); a cluster
    sends the driver one feature column at a time.
    """
    metadata = ModelMetadata(
        trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        synthetic_data=synthetic,
        training_summary={
            **(training_summary or {}),
            **definitions.as_params(),
            "split_strategy": strategy.value,
            "n_train_clients": len(split.train),
            "n_calibration_clients": len(split.calibration),
            "n_test_clients": len(split.test),
        },
        headline_metrics=headline_metrics(
            {outcome: evaluation.metrics for outcome, evaluation in evaluations.items()}
        ),
        instrument_shares=instrument_shares,
        validation={
            "bootstrap_cluster": bootstrap_cluster.value,
            "decision_curves": {
                outcome: evaluation.decision_summary for outcome, evaluation in evaluations.items()
            },
        },
    )
    model = AllianceRiskModel(features=builder, outcomes=outcome_models, metadata=metadata)
    metadata.reference = reference_of(
        model, {outcome: evaluation.metrics for outcome, evaluation in evaluations.items()}
    )
    return FittedModel(
        model=model,
        split=split,
        evaluations=evaluations,
        definitions=definitions,
        flow=flow,
        characteristics=characteristics,
        bootstrap_cluster=bootstrap_cluster,
        subgroup_min_events=subgroup_min_events,
    )
