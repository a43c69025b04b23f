"""Promotion to the `champion` alias, gated on a fair comparison with the champion.

A model goes live only through this gate: candidate and champion are scored on clients
neither was fitted on, and the candidate must be non-inferior to the champion in AUROC,
ECE and calibration slope, per outcome and landmark, by paired bootstrap intervals
(`training.gate`). The comparison is recorded on the candidate version whether it passes
or not; `--force` overrides a failed gate and is recorded with who forced it and why.
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
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from data_schemas.tables import ClinicTables, load_clinic_data
from features.labels import OutcomeDefinitions
from models.pyfunc import load_predictor
from models.store import CHAMPION_ALIAS, MODEL_NAME, StoreSettings, configure_mlflow
from training.gate import ALL_LANDMARKS, GateMetric, compare, evaluation_summary, gate_rows
from training.pipeline import content_hash
from training.splits import subset


@dataclass(frozen=True)
class PromotionDecision:
    version: str
    promoted: bool
    forced: bool
    previous_champion: str | None
    checks: list[GateMetric]
    note: str
    evaluated: dict[str, int]

    def reasons(self) -> list[str]:
        return [
            f"{c.outcome} {c.metric} (session {c.landmark}): candidate {c.candidate:.4f}, "
            f"champion {c.champion:.4f}, difference {c.difference:+.4f} "
            f"({c.lower:+.4f} to {c.upper:+.4f}); {c.rule}"
            for c in self.checks
            if not c.passed
        ]


def current_champion() -> str | None:
    client = mlflow.MlflowClient()
    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version)
    except MlflowException:
        return None


def _run_of(version: str) -> Run:
    client = mlflow.MlflowClient()
    return client.get_run(client.get_model_version(MODEL_NAME, version).run_id)


def _client_ids(run: Run, artifact: str) -> frozenset[str] | None:
    """Client ids a run logged under `evaluation/`, or None when it logged none."""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id, artifact_path=f"evaluation/{artifact}", dst_path=scratch
            )
        except (MlflowException, OSError):
            return None
        return frozenset(pd.read_parquet(path)["client_id"].astype(str))


def training_data(run: Run, version: str) -> Path:
    """The folder a version was trained on, checked to still hold the same bytes."""
    trained_on = Path(run.data.params["data_path"])
    if not trained_on.exists() or content_hash(trained_on) != run.data.params.get(
        "data_content_hash"
    ):
        raise ValueError(
            f"version {version} was trained on data that are no longer at {trained_on} "
            "unchanged; pass --data with held-out clients to compare the models on"
        )
    return trained_on


def fitted_clients(version: str) -> frozenset[str]:
    """The clients a version's boosters, calibrators and therapist rates were fitted on.

    Versions registered before these were logged name only their test clients: every
    other client of their (unchanged) training data counts as fitted on.
    """
    run = _run_of(version)
    recorded = _client_ids(run, "fitted_clients.parquet")
    if recorded is not None:
        return recorded
    test = _client_ids(run, "test_clients.parquet") or frozenset()
    clients = load_clinic_data(training_data(run, version), require_outcomes=True).clients
    return frozenset(clients["client_id"].astype(str)) - test


def evaluation_tables(
    version: str, champion: str, data: Path | None
) -> tuple[ClinicTables, dt.date | None]:
    """The clients both models are compared on, and the export date of their labels.

    With `--data`, the clients of that folder, as of its latest date; without it, the
    candidate's own test clients from the folder it was trained on, as of the candidate's
    export date (`None`). Either way, clients that either model was fitted on are left out.
    """
    run = _run_of(version)
    if data is not None:
        tables = load_clinic_data(data, require_outcomes=True)
        as_of: dt.date | None = tables.latest_date()
        candidates = frozenset(tables.clients["client_id"].astype(str))
    else:
        tables = load_clinic_data(training_data(run, version), require_outcomes=True)
        as_of = None
        candidates = _client_ids(run, "test_clients.parquet") or frozenset()
    unseen = candidates - fitted_clients(version) - fitted_clients(champion)
    if not unseen:
        raise ValueError(
            f"no clients that neither version {version} nor champion {champion} was fitted on; "
            "pass --data with held-out clients to compare the models on"
        )
    return subset(tables, unseen), as_of


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
    evaluated: dict[str, int] = {}
    unrunnable = ""
    if previous is not None and previous != version:
        try:
            tables, as_of = evaluation_tables(version, previous, data)
        except ValueError as error:
            if not force:
                raise
            unrunnable = str(error)
    if previous is not None and previous != version and not unrunnable:
        candidate = load_predictor(f"models:/{MODEL_NAME}/{version}")
        # Both models are judged on the candidate's outcome definitions.
        definitions = OutcomeDefinitions.from_params(
            candidate.metadata.training_summary, as_of=as_of
        )
        rows = gate_rows(
            candidate,
            load_predictor(f"models:/{MODEL_NAME}/{previous}"),
            tables,
            definitions,
        )
        checks = compare(rows)
        evaluated = evaluation_summary(rows)
    passed = all(check.passed for check in checks) and not unrunnable
    promoted = passed or force
    note = "first champion" if previous is None else ("gate passed" if passed else "gate failed")
    if unrunnable:
        note = f"gate not run: {unrunnable}"
    decision = PromotionDecision(
        version, promoted, force and not passed, previous, checks, note, evaluated
    )
    if checks:
        record_gate(decision)
    if promoted:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION_ALIAS, version)
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        client.set_model_version_tag(MODEL_NAME, version, "promoted_at", stamp)
        client.set_model_version_tag(MODEL_NAME, version, "promoted_by", getpass.getuser())
        if decision.forced:
            client.set_model_version_tag(MODEL_NAME, version, "promotion_forced", "true")
            client.set_model_version_tag(
                MODEL_NAME, version, "promotion_forced_reason", reason or "(none given)"
            )
    return decision


def gate_summary(decision: PromotionDecision) -> str:
    """One line for the promotion record: against whom, on how many clients, the result."""
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in decision.evaluated.items())
    result = "passed" if all(c.passed for c in decision.checks) else "failed"
    return f"{result} against version {decision.previous_champion} ({counts})"


def record_gate(decision: PromotionDecision) -> None:
    """The comparison, on the candidate version, whether or not it was promoted."""
    client = mlflow.MlflowClient()
    tags = {
        "promotion_gate": json.dumps([asdict(c) for c in decision.checks], default=float),
        "promotion_gate_summary": gate_summary(decision),
        "promotion_gate_checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    for check in decision.checks:
        if check.landmark == ALL_LANDMARKS and check.metric == "auroc":
            tags[f"promotion_gate_{check.outcome}_auroc_difference"] = (
                f"{check.difference:+.3f} ({check.lower:+.3f} to {check.upper:+.3f})"
            )
    for key, value in tags.items():
        client.set_model_version_tag(MODEL_NAME, decision.version, key, value)


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
                "gate": v.tags.get("promotion_gate_summary", "-"),
                "gate_dropout_auroc_difference": v.tags.get(
                    "promotion_gate_dropout_auroc_difference", "-"
                ),
                "gate_violence_auroc_difference": v.tags.get(
                    "promotion_gate_violence_auroc_difference", "-"
                ),
                "forced": v.tags.get("promotion_forced", ""),
            }
        )
    return pd.DataFrame(rows)
