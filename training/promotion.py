"""Promotion to the `champion` alias, gated on held-out performance.

A model goes live only through this gate: the candidate and the current champion are
scored on the same evaluation clients, and the candidate must not be worse on AUROC or
calibration for either outcome. `--force` overrides the gate and is recorded on the
version, with who forced it and why.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from data_schemas.tables import ClinicTables, load_clinic_data
from features.labels import OUTCOMES, OutcomeDefinitions, landmark_labels
from models.predictor import AllianceRiskModel
from models.pyfunc import load_predictor
from models.store import CHAMPION_ALIAS, MODEL_NAME, StoreSettings, configure_mlflow
from training.fitting import subset
from training.metrics import auroc, calibration_slope, expected_calibration_error
from training.pipeline import content_hash

#: Allowances for sampling noise when comparing two models on the same clients.
AUROC_TOLERANCE = 0.005
ECE_TOLERANCE = 0.005
SLOPE_TOLERANCE = 0.05
#: Calibration inside the product's quality bar (ECE at most 0.02, slope within 0.9-1.1)
#: passes even when the champion's happened to be closer to perfect on these clients.
ECE_ACCEPTABLE = 0.02
SLOPE_ACCEPTABLE = 0.1


@dataclass(frozen=True)
class GateMetric:
    outcome: str
    metric: str
    candidate: float
    champion: float
    passed: bool
    rule: str


@dataclass(frozen=True)
class PromotionDecision:
    version: str
    promoted: bool
    forced: bool
    previous_champion: str | None
    checks: list[GateMetric]
    note: str

    def reasons(self) -> list[str]:
        return [
            f"{c.outcome} {c.metric}: candidate {c.candidate:.4f}, champion {c.champion:.4f} ({c.rule})"
            for c in self.checks
            if not c.passed
        ]


def current_champion() -> str | None:
    client = mlflow.MlflowClient()
    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version)
    except MlflowException:
        return None


def evaluation_tables(version: str, data: Path | None) -> tuple[ClinicTables, dt.date | None]:
    """The clients both models are scored on, and the export date of their labels.

    With `--data`, every client in that folder, as of its latest date. Without it, the
    candidate's own test clients, read from the folder it was trained on (after checking
    the folder still holds the same bytes), as of the candidate's export date (`None`).
    """
    client = mlflow.MlflowClient()
    run = client.get_run(client.get_model_version(MODEL_NAME, version).run_id)
    if data is not None:
        tables = load_clinic_data(data, require_outcomes=True)
        return tables, tables.latest_date()
    trained_on = Path(run.data.params["data_path"])
    if not trained_on.exists() or content_hash(trained_on) != run.data.params.get(
        "data_content_hash"
    ):
        raise ValueError(
            f"version {version} was trained on data that are no longer at {trained_on} "
            "unchanged; pass --data with held-out clients to compare the models on"
        )
    with tempfile.TemporaryDirectory() as scratch:
        path = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            artifact_path="evaluation/test_clients.parquet",
            dst_path=scratch,
        )
        test_ids = frozenset(pd.read_parquet(path)["client_id"].astype(str))
    return subset(load_clinic_data(trained_on, require_outcomes=True), test_ids), None


def gate_scores(
    model: AllianceRiskModel, tables: ClinicTables, definitions: OutcomeDefinitions
) -> dict[str, dict[str, float]]:
    """AUROC, calibration slope and ECE of a model on evaluation tables."""
    features = model.features.transform(tables)
    labels = landmark_labels(tables, features.index, definitions)
    scores = model.score_features(features)
    out = {}
    for outcome in OUTCOMES:
        rows = labels[outcome].notna().to_numpy()
        y = labels[outcome].to_numpy()[rows].astype(float)
        p = scores[outcome][0].probability[rows]
        out[outcome] = {
            "auroc": auroc(y, p),
            "calibration_slope": calibration_slope(y, p),
            "ece": expected_calibration_error(y, p),
        }
    return out


def compare(
    candidate: dict[str, dict[str, float]], champion: dict[str, dict[str, float]]
) -> list[GateMetric]:
    checks = []
    for outcome in OUTCOMES:
        cand, champ = candidate[outcome], champion[outcome]
        checks += [
            GateMetric(
                outcome,
                "auroc",
                cand["auroc"],
                champ["auroc"],
                bool(cand["auroc"] >= champ["auroc"] - AUROC_TOLERANCE),
                f"must be at least the champion's minus {AUROC_TOLERANCE}",
            ),
            GateMetric(
                outcome,
                "ece",
                cand["ece"],
                champ["ece"],
                bool(cand["ece"] <= champ["ece"] + ECE_TOLERANCE),
                f"must be at most the champion's plus {ECE_TOLERANCE}",
            ),
            GateMetric(
                outcome,
                "calibration_slope",
                cand["calibration_slope"],
                champ["calibration_slope"],
                bool(
                    abs(cand["calibration_slope"] - 1)
                    <= abs(champ["calibration_slope"] - 1) + SLOPE_TOLERANCE
                ),
                f"distance from 1 must be at most the champion's plus {SLOPE_TOLERANCE}",
            ),
        ]
    return checks


def promote(
    version: str,
    *,
    data: Path | None = None,
    force: bool = False,
    reason: str = "",
    store: StoreSettings | None = None,
) -> PromotionDecision:
    """Set the champion alias on `version` if it passes the gate (or when forced)."""
    configure_mlflow(store or StoreSettings())
    client = mlflow.MlflowClient()
    client.get_model_version(MODEL_NAME, version)
    previous = current_champion()
    checks: list[GateMetric] = []
    if previous is not None and previous != version:
        tables, as_of = evaluation_tables(version, data)
        candidate = load_predictor(f"models:/{MODEL_NAME}/{version}")
        # Both models are judged on the candidate's outcome definitions.
        definitions = OutcomeDefinitions.from_params(
            candidate.metadata.training_summary, as_of=as_of
        )
        checks = compare(
            gate_scores(candidate, tables, definitions),
            gate_scores(load_predictor(f"models:/{MODEL_NAME}/{previous}"), tables, definitions),
        )
    passed = all(check.passed for check in checks)
    promoted = passed or force
    note = "first champion" if previous is None else ("gate passed" if passed else "gate failed")
    decision = PromotionDecision(version, promoted, force and not passed, previous, checks, note)
    if promoted:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, version)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        client.set_model_version_tag(MODEL_NAME, version, "promoted_at", stamp)
        client.set_model_version_tag(MODEL_NAME, version, "promoted_by", getpass.getuser())
        client.set_model_version_tag(
            MODEL_NAME,
            version,
            "promotion_gate",
            json.dumps([asdict(c) for c in checks], default=float),
        )
        if decision.forced:
            client.set_model_version_tag(MODEL_NAME, version, "promotion_forced", "true")
            client.set_model_version_tag(
                MODEL_NAME, version, "promotion_forced_reason", reason or "(none given)"
            )
    return decision


def list_versions(store: StoreSettings | None = None) -> pd.DataFrame:
    """Every registered version with its aliases and headline metrics."""
    configure_mlflow(store or StoreSettings())
    client = mlflow.MlflowClient()
    try:
        versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    except MlflowException:
        return pd.DataFrame()
    aliases: dict[str, list[str]] = {}
    for alias, number in client.get_registered_model(MODEL_NAME).aliases.items():
        aliases.setdefault(str(number), []).append(alias)
    rows = []
    for v in sorted(versions, key=lambda v: int(v.version)):
        metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
        rows.append(
            {
                "version": v.version,
                "aliases": ",".join(sorted(aliases.get(str(v.version), []))) or "-",
                "created": dt.datetime.fromtimestamp(v.creation_timestamp / 1000, dt.UTC).strftime(
                    "%Y-%m-%d %H:%M"
                ),
                "synthetic": v.tags.get("synthetic_data", ""),
                "dropout_auroc": metrics.get("dropout_auroc", np.nan),
                "dropout_ece": metrics.get("dropout_ece", np.nan),
                "violence_auroc": metrics.get("violence_auroc", np.nan),
                "violence_ece": metrics.get("violence_ece", np.nan),
                "forced": v.tags.get("promotion_forced", ""),
            }
        )
    return pd.DataFrame(rows)
