"""`alliance-risk monitor`: score a clinic's recent rows with a registered model and judge
them against the reference the model was registered with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from data_schemas.tables import ClinicTables, load_clinic_data
from features.labels import OUTCOMES, OutcomeDefinitions, landmark_labels
from models.predictor import AllianceRiskModel
from models.pyfunc import load_predictor
from training.follow_up import DEFAULT_FOLLOW_UP_DAYS, followed_up
from training.monitoring.audit_trail import estimates_over_time, read_audit_export
from training.monitoring.drift import Drift, Status, feature_drift, probability_drift
from training.monitoring.performance import (
    Alarm,
    OutcomePerformance,
    expected_auroc,
    measured_performance,
)
from training.subgroups import MIN_SUBGROUP_EVENTS, subgroup_attributes


class NoReferenceError(ValueError):
    """The model was registered before reference profiles were recorded."""


class NoRowsError(ValueError):
    """Nothing in the data to monitor."""


@dataclass
class Monitoring:
    """Everything one monitoring run found; `alarms` decide its exit code."""

    model_uri: str
    model_version: str | None
    synthetic_model: bool
    since: dt.date | None
    n_rows: int
    n_clients: int
    feature_drift: list[Drift]
    probability_drift: list[Drift]
    expected_auroc: dict[str, dict[str, float]]
    performance: dict[str, OutcomePerformance] = field(default_factory=dict)
    released: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def alarms(self) -> list[dict[str, Any]]:
        """Every alarm, each with a `message` in words: drift of an input or of an
        estimate, and performance outside its limits."""
        found = [
            _drift_alarm("input drift", d) for d in self.feature_drift if d.status == Status.ALARM
        ]
        found += [
            _drift_alarm("estimate drift", d)
            for d in self.probability_drift
            if d.status == Status.ALARM
        ]
        for performance in self.performance.values():
            found += [_performance_alarm(a) for a in performance.alarms]
        return found


def _drift_alarm(kind: str, drift: Drift) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": drift.name,
        "statistic": drift.statistic,
        "value": drift.value,
        "message": f"{kind}: {drift.label} ({drift.statistic} {drift.value:.3f})",
    }


#: How a metric is named in words.
METRIC_NAMES = {
    "auroc": "AUROC",
    "calibration_slope": "calibration slope",
    "observed_expected": "observed/expected ratio",
}


def _performance_alarm(alarm: Alarm) -> dict[str, Any]:
    metric = METRIC_NAMES[alarm.metric]
    against = f" against {alarm.reference:.2f} at validation" if alarm.metric == "auroc" else ""
    return {
        "kind": "performance",
        **alarm.as_dict(),
        "message": f"{alarm.outcome}, {alarm.scope.replace('_', ' ')}: {metric} {alarm.value:.2f} (95% interval "
        f"{alarm.lower:.2f} to {alarm.upper:.2f}){against}: {alarm.reason}",
    }


def landmark_dates(tables: ClinicTables) -> pd.Series:
    """The date of session k of each client, indexed like the feature rows (client, k)."""
    sessions = tables.sessions.sort_values(["client_id", "session_date"], kind="stable")
    landmark = sessions.groupby("client_id", sort=False).cumcount() + 1
    return pd.Series(
        pd.to_datetime(sessions["session_date"]).to_numpy(),
        index=pd.MultiIndex.from_arrays(
            [sessions["client_id"].to_numpy(), landmark.to_numpy()],
            names=["client_id", "landmark"],
        ),
    )


def resolve_version(model_uri: str) -> str | None:
    """The registered version behind `models:/NAME@ALIAS` or `models:/NAME/VERSION`."""
    if not model_uri.startswith("models:/"):
        return None
    path = model_uri.removeprefix("models:/")
    client = mlflow.MlflowClient()
    if "@" in path:
        name, alias = path.split("@", 1)
        return str(client.get_model_version_by_alias(name, alias).version)
    return path.split("/", 1)[1] if "/" in path else None


def monitor(
    data: Path,
    model_uri: str,
    *,
    since: dt.date | None = None,
    as_of: dt.date | None = None,
    audit: Path | None = None,
    n_boot: int = 200,
    seed: int = 0,
    min_events: int = MIN_SUBGROUP_EVENTS,
    follow_up_days: int = DEFAULT_FOLLOW_UP_DAYS,
) -> Monitoring:
    """Compare the rows of `data` (landmark rows from `since` on) with the model's reference.

    Drift and the label-free estimate need no outcomes; with the outcome columns in the
    clients table, measured performance is added, labels defined as the model's training
    run defined them, at export date `as_of` (default: the latest date in the data), for
    clients whose intake lies at least `follow_up_days` before it.
    """
    model = load_predictor(model_uri)
    reference = model.metadata.reference
    if reference is None:
        raise NoReferenceError(
            f"{model_uri} was registered before models recorded a reference profile; "
            "retrain it with this version to monitor it"
        )
    tables = load_clinic_data(data)
    rows = model.features.transform(tables)
    if since is not None:
        dates = landmark_dates(tables).reindex(rows.index)
        rows = rows[(dates >= pd.Timestamp(since)).to_numpy()]
    if rows.empty:
        raise NoRowsError(
            f"no landmark rows in {data}"
            + (f" with a session on or after {since.isoformat()}" if since else "")
        )
    scored = model.score_features(rows)
    probabilities = {outcome: s.probability for outcome, (s, _) in scored.items()}
    result = Monitoring(
        model_uri=model_uri,
        model_version=resolve_version(model_uri),
        synthetic_model=model.metadata.synthetic_data,
        since=since,
        n_rows=len(rows),
        n_clients=rows.index.get_level_values("client_id").nunique(),
        feature_drift=feature_drift(reference, rows),
        probability_drift=probability_drift(reference, probabilities),
        expected_auroc={
            outcome: {
                "expected": expected_auroc(p),
                "validation": reference.validation[outcome]["overall"]["auroc"]["value"],
            }
            for outcome, p in probabilities.items()
        },
    )
    if tables.has_outcomes:
        export = as_of or tables.latest_date()
        mature = followed_up(tables, rows.index, export, follow_up_days)
        result.notes.append(
            f"outcomes measured for {mature.sum()} of {len(mature)} rows: clients whose intake "
            f"was at least {follow_up_days} days before the export date {export.isoformat()}"
        )
        if mature.any():
            result.performance = _measured(
                model,
                tables,
                rows[mature],
                {outcome: p[mature] for outcome, p in probabilities.items()},
                export,
                n_boot,
                seed,
                min_events,
            )
    else:
        result.notes.append(
            "no outcome columns in the clients table: performance is estimated, not measured"
        )
    if audit is not None:
        result.released = estimates_over_time(read_audit_export(audit))
    return result


def _measured(
    model: AllianceRiskModel,
    tables: ClinicTables,
    rows: pd.DataFrame,
    probabilities: dict[str, np.ndarray],
    export: dt.date,
    n_boot: int,
    seed: int,
    min_events: int,
) -> dict[str, OutcomePerformance]:
    definitions = OutcomeDefinitions.from_params(model.metadata.training_summary, as_of=export)
    labels = landmark_labels(tables, rows.index, definitions)
    attributes = subgroup_attributes(tables.clients, rows)
    reference = model.metadata.reference
    found = {}
    for outcome in OUTCOMES:
        known = labels[outcome].notna().to_numpy()
        found[outcome] = measured_performance(
            outcome,
            labels[outcome].to_numpy(dtype=float)[known],
            probabilities[outcome][known],
            rows.index.get_level_values("client_id").to_numpy()[known],
            rows.index.get_level_values("landmark").to_numpy()[known],
            attributes[known].reset_index(drop=True),
            reference.validation.get(outcome) if reference else None,
            n_boot=n_boot,
            seed=seed,
            min_events=min_events,
        )
    return found
