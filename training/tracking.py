"""Record a training run in MLflow and register its model as a new version.

Everything a run knew goes with it: parameters, the data's row counts and content hash,
every metric, the sample-size check, decision curves, subgroup tables, the figures, the
model card, and which clients were used for what (so the promotion gate can later compare
candidate and champion on clients neither was trained on).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from models.predictor import AllianceRiskModel
from models.pyfunc import AllianceRiskPyfunc
from models.store import MODEL_NAME, StoreSettings, configure_mlflow
from training.boosting import BoosterParameters
from training.fitting import FittedModel
from training.model_card import markdown_to_html, render_model_card

RUNTIME_PACKAGES = ("lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "mlflow", "pydantic")
#: Registrations tried until the version MLflow assigns is the one the card was rendered for.
REGISTRATION_ATTEMPTS = 3


def ensure_experiment(name: str, store: StoreSettings) -> str:
    """Create the experiment with its artifacts beside the local store when it is new."""
    uri = configure_mlflow(store)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = store.artifact_location if uri.startswith("sqlite:") else None
    return mlflow.create_experiment(name, artifact_location=location)


def flatten_metrics(fitted: FittedModel) -> dict[str, float]:
    """MLflow metric names such as `dropout_auroc`, `dropout_auroc_lower`, `violence_ece_k3`."""
    flat: dict[str, float] = {}
    for outcome, evaluation in fitted.evaluations.items():
        for name, estimate in evaluation.metrics["overall"].items():
            flat[f"{outcome}_{name}"] = estimate["value"]
            flat[f"{outcome}_{name}_lower"] = estimate["lower"]
            flat[f"{outcome}_{name}_upper"] = estimate["upper"]
        for k, by_k in evaluation.metrics["by_landmark"].items():
            for name in ("auroc", "ece", "brier"):
                flat[f"{outcome}_{name}_k{k}"] = by_k[name]["value"]
        for baseline, result in evaluation.baselines.items():
            flat[f"{outcome}_{baseline}_auroc"] = result["auroc"]
        if evaluation.oracle:
            flat[f"{outcome}_oracle_auroc"] = evaluation.oracle["auroc"]
            flat[f"{outcome}_model_to_oracle_auroc_ratio"] = evaluation.oracle[
                "model_to_oracle_ratio"
            ]
        flat[f"{outcome}_n_trees"] = float(evaluation.n_trees)
    if fitted.sample_size is not None:
        flat.update(fitted.sample_size.as_metrics())
    return {name: value for name, value in flat.items() if np.isfinite(value)}


def metrics_document(fitted: FittedModel) -> dict[str, Any]:
    """Every held-out figure as one JSON document (logged as evaluation/metrics.json)."""
    return {
        "model": MODEL_NAME,
        "synthetic_data": fitted.model.metadata.synthetic_data,
        "training_summary": fitted.model.metadata.training_summary,
        "outcome_definitions": fitted.definitions.as_params(),
        "participant_flow": fitted.flow.to_dict("records"),
        "sample_size": fitted.sample_size.as_dict() if fitted.sample_size else None,
        "validation": fitted.model.metadata.validation,
        "outcomes": {
            outcome: {
                "test": evaluation.metrics,
                "baselines": evaluation.baselines,
                "oracle": evaluation.oracle,
                "n_trees": evaluation.n_trees,
                "n_train_rows": evaluation.n_train_rows,
                "n_calibration_rows": evaluation.n_calibration_rows,
                "calibrator": asdict(fitted.model.outcomes[outcome].calibrator),
                "band_thresholds": asdict(fitted.model.outcomes[outcome].thresholds),
            }
            for outcome, evaluation in fitted.evaluations.items()
        },
    }


def _write_artifacts(fitted: FittedModel, folder: Path, card: str) -> None:
    # Imported where the figures are drawn: matplotlib and shap make a process ~100 MiB
    # larger, and training's largest steps (booster, baselines, evaluation) come before.
    from training import plots

    (folder / "evaluation").mkdir()
    (folder / "figures").mkdir()
    (folder / "evaluation" / "metrics.json").write_text(
        json.dumps(metrics_document(fitted), indent=2, default=float)
    )
    (folder / "model_card.md").write_text(card)
    (folder / "model_card.html").write_text(markdown_to_html(card, f"Model card: {MODEL_NAME}"))
    fitted.flow.to_csv(folder / "evaluation" / "participant_flow.csv", index=False)
    pd.DataFrame({"client_id": sorted(fitted.split.test)}).to_parquet(
        folder / "evaluation" / "test_clients.parquet", index=False
    )
    fitted_on = sorted(fitted.split.train | fitted.split.calibration)
    pd.DataFrame({"client_id": fitted_on}).to_parquet(
        folder / "evaluation" / "fitted_clients.parquet", index=False
    )
    for outcome, evaluation in fitted.evaluations.items():
        evaluation.subgroups.reset_index().to_csv(
            folder / "evaluation" / f"{outcome}_subgroups.csv", index=False
        )
        evaluation.decision_curve.to_csv(
            folder / "evaluation" / f"{outcome}_decision_curve.csv", index=False
        )
        plots.decision_curve_figure(
            evaluation.decision_curve,
            f"{outcome.capitalize()}: net benefit on held-out test clients",
            folder / "figures" / f"{outcome}_decision_curve.png",
        )
        title = f"{outcome.capitalize()}: held-out test clients"
        plots.roc_figure(
            evaluation.test_labels,
            evaluation.test_scores,
            title,
            folder / "figures" / f"{outcome}_roc.png",
        )
        plots.calibration_figure(
            evaluation.test_labels,
            evaluation.test_scores,
            title,
            folder / "figures" / f"{outcome}_calibration.png",
        )
        plots.beeswarm_figure(
            evaluation.test_contributions,
            evaluation.test_features[list(fitted.model.feature_names)],
            f"{outcome.capitalize()}: SHAP contributions (calibrated log-odds)",
            folder / "figures" / f"{outcome}_shap_beeswarm.png",
            of_rows=len(evaluation.test_labels),
        )


def next_version(client: mlflow.MlflowClient) -> str:
    """The version number the registry will most likely give the next registration."""
    try:
        versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    except MlflowException:
        return "1"
    return str(max((int(v.version) for v in versions), default=0) + 1)


def register_predictor(
    model: AllianceRiskModel, example: pd.DataFrame, render_card: Callable[[str], str]
) -> tuple[str, str]:
    """Log `model` into the active run and register it; returns its version and card.

    The card travels inside the model, so it is rendered (`render_card(version)`) for the
    version the registry will assign before the model is logged, and checked after.
    """
    wrapper = AllianceRiskPyfunc(model)
    signature = infer_signature(example, wrapper.predict(None, example))
    client = mlflow.MlflowClient()
    expected = next_version(client)
    for _ in range(REGISTRATION_ATTEMPTS):
        card = render_card(expected)
        model.metadata.model_card_markdown = card
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=wrapper,
            signature=signature,
            input_example=example,
            pip_requirements=[
                f"{package}=={package_metadata.version(package)}" for package in RUNTIME_PACKAGES
            ],
            registered_model_name=MODEL_NAME,
        )
        if str(info.registered_model_version) == expected:
            return expected, card
        # Another registration took the number (or a deleted version holds it): this
        # version's card names another one, so it goes, and the next number is tried.
        client.delete_model_version(MODEL_NAME, str(info.registered_model_version))
        expected = str(int(info.registered_model_version) + 1)
    raise RuntimeError(
        f"could not register {MODEL_NAME} under the version its model card names after "
        f"{REGISTRATION_ATTEMPTS} attempts; other registrations are racing this one"
    )


def log_and_register(
    fitted: FittedModel,
    *,
    run_params: dict[str, Any],
    parameters: dict[str, BoosterParameters],
    n_boot: int,
) -> tuple[str, str]:
    """Log into the active run and register the model; returns (run id, registered version)."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_and_register needs an active MLflow run")
    example = (
        fitted.evaluations["dropout"]
        .test_features[list(fitted.model.feature_names)]
        .head(3)
        .reset_index(drop=True)
    )
    mlflow.log_params(run_params)
    for outcome, booster_parameters in parameters.items():
        mlflow.log_params({f"{outcome}_{k}": v for k, v in asdict(booster_parameters).items()})
    mlflow.log_params({f"features_{k}": v for k, v in fitted.model.features.get_params().items()})
    mlflow.log_metrics(flatten_metrics(fitted))
    mlflow.set_tags(
        {
            "synthetic_data": str(fitted.model.metadata.synthetic_data).lower(),
            "content_hash": str(fitted.model.metadata.training_summary.get("content_hash", "")),
        }
    )
    version, card = register_predictor(
        fitted.model,
        example,
        lambda version: render_model_card(
            fitted,
            name=MODEL_NAME,
            version=version,
            n_boot=n_boot,
            parameters=parameters,
            tune_trials=int(run_params.get("tune_trials", 0)),
        ),
    )
    with tempfile.TemporaryDirectory() as scratch:
        _write_artifacts(fitted, Path(scratch), card)
        mlflow.log_artifacts(scratch)
    client = mlflow.MlflowClient()
    client.set_model_version_tag(MODEL_NAME, version, "run_id", run.info.run_id)
    client.set_model_version_tag(
        MODEL_NAME, version, "synthetic_data", str(fitted.model.metadata.synthetic_data).lower()
    )
    return run.info.run_id, version
