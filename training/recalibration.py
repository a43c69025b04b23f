"""Model updating by recalibration: refit only the calibration map on a clinic's own data.

In the hierarchy of updating methods (Steyerberg 2019, "Clinical Prediction Models", 2nd
ed., ch. 20; Van Calster et al. 2019, BMC Med 17:230) the first two steps change only how
the model's score maps to risk: `intercept` corrects calibration-in-the-large (a clinic
whose base rate differs), `logistic` also the slope (estimates too extreme or too timid).
Both keep the boosters, so the ranking of clients, and hence AUROC, is unchanged.

The registered model's map is calibrated log-odds = a * margin + b. The update is fitted
on top of it, new log-odds = beta * (a * margin + b) + alpha (beta = 1 for `intercept`),
and composed into one affine map (a' = beta * a, b' = beta * b + alpha), so every TreeSHAP
contribution is rescaled by a' and explanations still add up exactly to the new log-odds.
Bands and percentiles are the development population's, carried through the same map, so
"high" still marks the same share of that population.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from scipy.special import expit, logit

from data_schemas.tables import ClinicTables, load_clinic_data
from features.labels import OUTCOMES, OutcomeDefinitions, landmark_labels
from models.bands import BandThresholds, LandmarkBands, PopulationQuantiles
from models.calibration import MarginCalibrator
from models.outcome import OutcomeModel
from models.predictor import AllianceRiskModel
from models.pyfunc import load_predictor
from models.store import MODEL_NAME, StoreSettings, configure_mlflow
from training.evaluation import evaluate_predictions
from training.follow_up import DEFAULT_FOLLOW_UP_DAYS, followed_up
from training.metrics import ALL_METRICS
from training.pipeline import content_hash
from training.promotion import fitted_clients
from training.resampling import ClusterDraws
from training.splits import subset
from training.tracking import ensure_experiment, register_predictor

#: Newton steps for the intercept-only update (it converges in a handful).
MAX_STEPS = 50
#: Probabilities are kept this far from 0 and 1 before taking log-odds of bands.
EDGE = 1e-12


class RecalibrationMethod(StrEnum):
    INTERCEPT = "intercept"
    LOGISTIC = "logistic"


class RecalibrationError(ValueError):
    """The local data cannot support the update asked for."""


@dataclass(frozen=True)
class Update:
    """New log-odds = slope * old log-odds + intercept."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, old_logit: np.ndarray, y: np.ndarray, method: RecalibrationMethod) -> Update:
        if method is RecalibrationMethod.LOGISTIC:
            fitted = MarginCalibrator.fit(old_logit, y)
            return cls(fitted.slope, fitted.intercept)
        alpha = 0.0
        for _ in range(MAX_STEPS):
            p = expit(old_logit + alpha)
            step = np.sum(y - p) / max(np.sum(p * (1 - p)), 1e-12)
            alpha += step
            if abs(step) < 1e-12:
                break
        return cls(1.0, float(alpha))

    def logit(self, old_logit: np.ndarray) -> np.ndarray:
        return self.slope * old_logit + self.intercept

    def probability(self, old: np.ndarray) -> np.ndarray:
        """A probability of the old map, carried to the new one (monotone: slope > 0)."""
        return expit(self.logit(logit(np.clip(old, EDGE, 1 - EDGE))))


def _carried(model: OutcomeModel, update: Update) -> OutcomeModel:
    calibrator = MarginCalibrator(
        slope=update.slope * model.calibrator.slope,
        intercept=update.slope * model.calibrator.intercept + update.intercept,
    )
    bands = model.thresholds
    if not bands.operator_set:
        bands = LandmarkBands(
            {
                k: BandThresholds(
                    moderate=float(update.probability(np.array(t.moderate))),
                    high=float(update.probability(np.array(t.high))),
                )
                for k, t in bands.by_landmark.items()
            }
        )
    population = PopulationQuantiles(
        {k: update.probability(q) for k, q in model.population.by_landmark.items()}
    )
    return dataclasses.replace(
        model, calibrator=calibrator, thresholds=bands, population=population
    )


@dataclass
class Recalibration:
    """The updated model and what the update did on the local data."""

    model: AllianceRiskModel
    method: RecalibrationMethod
    updates: dict[str, Update]
    before: dict[str, dict[str, Any]]
    after: dict[str, dict[str, Any]]
    n_rows: dict[str, int]
    n_clients: int


def recalibrate(
    model: AllianceRiskModel,
    tables: ClinicTables,
    method: RecalibrationMethod,
    *,
    as_of: dt.date | None = None,
    follow_up_days: int = DEFAULT_FOLLOW_UP_DAYS,
    n_boot: int = 200,
    seed: int = 0,
) -> Recalibration:
    """Fit the update on the labelled landmark rows of `tables` whose clients were followed
    up for `follow_up_days` (labels defined as the model's training run defined them, at
    export date `as_of`) and return the new model."""
    export = as_of or tables.latest_date()
    rows = model.features.transform(tables)
    rows = rows[followed_up(tables, rows.index, export, follow_up_days)]
    if rows.empty:
        raise RecalibrationError(
            f"no client had {follow_up_days} days between intake and the export date "
            f"{export.isoformat()}; their outcomes are not known yet"
        )
    definitions = OutcomeDefinitions.from_params(model.metadata.training_summary, as_of=export)
    labels = landmark_labels(tables, rows.index, definitions)
    matrix = rows[list(model.feature_names)].to_numpy(dtype=np.float64)
    clients = rows.index.get_level_values("client_id").to_numpy()
    landmarks = rows.index.get_level_values("landmark").to_numpy()
    outcomes, updates, before, after, n_rows = {}, {}, {}, {}, {}
    for outcome in OUTCOMES:
        known = labels[outcome].notna().to_numpy()
        y = labels[outcome].to_numpy(dtype=float)[known]
        if len(np.unique(y)) < 2:
            raise RecalibrationError(
                f"{outcome}: the local data need clients with and without the outcome "
                f"({int(y.sum())} of {len(y)} labelled rows have it)"
            )
        current = model.outcomes[outcome]
        old_logit = current.calibrator.logit(current.margin(matrix[known]))
        update = Update.fit(old_logit, y, method)
        if update.slope <= 0:
            raise RecalibrationError(
                f"{outcome}: on these data the model's estimates rank clients the wrong way "
                f"round (slope {update.slope:.2f}); recalibration cannot repair that: retrain"
            )
        draws = ClusterDraws.draw(clients[known], n_boot=n_boot, seed=seed)
        args = (clients[known], landmarks[known], draws, tuple(ALL_METRICS))
        before[outcome] = evaluate_predictions(y, expit(old_logit), *args)
        after[outcome] = evaluate_predictions(y, expit(update.logit(old_logit)), *args)
        outcomes[outcome] = _carried(current, update)
        updates[outcome] = update
        n_rows[outcome] = int(known.sum())
    updated = AllianceRiskModel(
        features=model.features,
        outcomes=outcomes,
        metadata=dataclasses.replace(model.metadata, model_card_markdown=""),
    )
    updated.metadata.reference = updated.reference_profile(rows, after)
    return Recalibration(
        model=updated,
        method=method,
        updates=updates,
        before=before,
        after=after,
        n_rows=n_rows,
        n_clients=len(np.unique(clients)),
    )


def lineage(
    parent_version: str, result: Recalibration, data_path: str, data_hash: str
) -> dict[str, Any]:
    """What a recalibrated version records about where it came from and what changed."""
    return {
        "parent_version": parent_version,
        "method": result.method.value,
        "data_path": data_path,
        "data_content_hash": data_hash,
        "local_clients": result.n_clients,
        "local_rows": result.n_rows,
        "updates": {o: dataclasses.asdict(u) for o, u in result.updates.items()},
        "before": {o: figures["overall"] for o, figures in result.before.items()},
        "after": {o: figures["overall"] for o, figures in result.after.items()},
    }


def updating_section(record: dict[str, Any]) -> str:
    """The model card's account of the update (TRIPOD+AI item 24), in Markdown."""
    lines = [
        "",
        "## Model updating: local recalibration",
        f"This version is version {record['parent_version']} recalibrated "
        f"({record['method']}: {'intercept only' if record['method'] == 'intercept' else 'intercept and slope'}) "
        f"on {record['local_clients']} clients of `{record['data_path']}` (content hash "
        f"`{record['data_content_hash']}`). The boosters, features and explanations' "
        "structure are the parent's; only the map from score to risk changed, so clients are "
        "ranked exactly as before. The figures above are the parent's development figures; "
        "the table below is measured on the local data (in-sample for the one or two "
        "parameters fitted, 95% client-bootstrap intervals).",
        "",
        "| outcome | new log-odds | observed/expected before | after | calibration slope before | after | AUROC before | after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for outcome, update in record["updates"].items():
        b, a = record["before"][outcome], record["after"][outcome]

        def cell(figures: dict[str, Any], metric: str) -> str:
            f = figures[metric]
            return f"{f['value']:.2f} ({f['lower']:.2f} to {f['upper']:.2f})"

        lines.append(
            f"| {outcome} | {update['slope']:.3f} x old + {update['intercept']:.3f} | "
            f"{cell(b, 'observed_expected')} | {cell(a, 'observed_expected')} | "
            f"{cell(b, 'calibration_slope')} | {cell(a, 'calibration_slope')} | "
            f"{cell(b, 'auroc')} | {cell(a, 'auroc')} |"
        )
    lines.append(
        "\nPromote it only after `alliance-risk promote VERSION --data DIR` on local clients "
        "that were not used here; monitoring now compares against these local figures."
    )
    return "\n".join(lines) + "\n"


def register_recalibration(
    parent_version: str,
    data: Path,
    method: RecalibrationMethod,
    *,
    as_of: dt.date | None,
    n_boot: int,
    experiment: str,
    store: StoreSettings,
    follow_up_days: int = DEFAULT_FOLLOW_UP_DAYS,
) -> tuple[str, Recalibration]:
    """Recalibrate a registered version on `data` and register the result with its lineage
    (MLflow run parameters, tags on the version, and a section of its model card).

    Its fitted clients are the parent's and every client of `data`, so the promotion gate
    compares it with the champion only on clients neither saw.
    """
    configure_mlflow(store)
    parent = load_predictor(f"models:/{MODEL_NAME}/{parent_version}")
    tables = load_clinic_data(data, require_outcomes=True)
    result = recalibrate(
        parent, tables, method, as_of=as_of, follow_up_days=follow_up_days, n_boot=n_boot
    )
    data_hash = content_hash(data)
    record = lineage(parent_version, result, str(data), data_hash)
    result.model.metadata = dataclasses.replace(
        result.model.metadata,
        training_summary={**parent.metadata.training_summary, "recalibration": record},
    )
    parent_card = parent.metadata.model_card_markdown
    body = parent_card.split("\n", 1)[1] if parent_card.startswith("# ") else parent_card

    def card(version: str) -> str:
        """The parent's card, naming the new version, with the update appended."""
        named = body.replace(
            f"`{MODEL_NAME}` version {parent_version}", f"`{MODEL_NAME}` version {version}"
        )
        return f"# Model card: {MODEL_NAME} version {version}\n{named}{updating_section(record)}"

    example = result.model.features.transform(
        subset(tables, frozenset(tables.clients["client_id"][:3]))
    )
    example = example[list(result.model.feature_names)].head(3).reset_index(drop=True)
    experiment_id = ensure_experiment(experiment, store)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"recalibrate-{parent_version}"):
        mlflow.log_params(
            {
                "parent_version": parent_version,
                "recalibration_method": method.value,
                "data_path": str(data),
                "data_content_hash": data_hash,
                "as_of": (as_of or tables.latest_date()).isoformat(),
                "follow_up_days": follow_up_days,
            }
        )
        mlflow.log_metrics(
            {
                f"{outcome}_{when}_{metric}": figures[outcome]["overall"][metric]["value"]
                for when, figures in (("before", result.before), ("after", result.after))
                for outcome in figures
                for metric in ("auroc", "calibration_slope", "observed_expected")
            }
        )
        synthetic = str(result.model.metadata.synthetic_data).lower()
        mlflow.set_tags({"synthetic_data": synthetic, "parent_version": parent_version})
        version, card = register_predictor(
            result.model,
            example,
            card,
        )
        fitted_on = sorted(
            fitted_clients(parent_version) | set(tables.clients["client_id"].astype(str))
        )
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch) / "evaluation"
            folder.mkdir()
            pd.DataFrame({"client_id": fitted_on}).to_parquet(
                folder / "fitted_clients.parquet", index=False
            )
            (folder / "recalibration.json").write_text(json.dumps(record, indent=2, default=float))
            (Path(scratch) / "model_card.md").write_text(card)
            mlflow.log_artifacts(scratch)
        client = mlflow.MlflowClient()
        run_id = mlflow.active_run().info.run_id
        for key, value in {
            "run_id": run_id,
            "synthetic_data": synthetic,
            "parent_version": parent_version,
            "recalibration_method": method.value,
        }.items():
            client.set_model_version_tag(MODEL_NAME, version, key, value)
    return version, result
