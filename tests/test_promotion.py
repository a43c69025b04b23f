"""The promotion gate: a model goes live only if it is non-inferior to the champion, judged
on clients neither was fitted on, per landmark, with paired intervals against margins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from homes import private_home
from mlflow.utils.file_utils import local_file_uri_to_path
from typer.testing import CliRunner

from alliance_risk_cli import app
from models.pyfunc import load_predictor
from models.store import MODEL_NAME, StoreSettings
from training import tracking
from training.boosting import BoosterParameters
from training.fitting import fit_and_evaluate
from training.gate import AUROC_MARGIN, ECE_MARGIN, SLOPE_MARGIN
from training.pipeline import content_hash, data_summary, is_synthetic
from training.promotion import current_champion, evaluation_tables, fitted_clients, promote
from training.synthetic import SyntheticCohort
from training.tracking import ensure_experiment, log_and_register

runner = CliRunner()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, mlflow_home: Path) -> Iterator[Path]:
    """A registry of its own, so promotions here never change the other tests' champion."""
    with private_home(tmp_path_factory.mktemp("promotion_home")) as home:
        yield home


def register(
    cohort: SyntheticCohort, folder: Path, parameters: BoosterParameters, *, seed: int = 0
) -> str:
    """Train on the cohort folder with the given booster settings and register a version."""
    fitted = fit_and_evaluate(
        cohort.tables,
        seed=seed,
        parameters={"dropout": parameters, "violence": parameters},
        n_boot=20,
        synthetic=is_synthetic(folder),
        training_summary=data_summary(
            folder,
            n_clients=len(cohort.tables.clients),
            n_therapists=len(cohort.tables.therapists),
            n_sessions=len(cohort.tables.sessions),
        ),
    )
    with mlflow.start_run(experiment_id=ensure_experiment("promotion-tests", StoreSettings())):
        _, version = log_and_register(
            fitted,
            run_params={"data_path": str(folder), "data_content_hash": content_hash(folder)},
            parameters={"dropout": parameters, "violence": parameters},
            n_boot=20,
        )
    return version


@pytest.fixture(scope="module")
def versions(
    registry: Path, small_cohort: SyntheticCohort, small_cohort_dir: Path
) -> tuple[str, str, str]:
    """A good model, the same model trained again, and a one-split model."""
    good = register(small_cohort, small_cohort_dir, BoosterParameters())
    again = register(small_cohort, small_cohort_dir, BoosterParameters())
    hobbled = BoosterParameters(
        max_rounds=1, num_leaves=2, min_child_samples=500, early_stopping_rounds=1
    )
    bad = register(small_cohort, small_cohort_dir, hobbled)
    return good, again, bad


def make_champion(version: str) -> None:
    """Test set-up: the champion a test starts from, whatever the gate would say."""
    promote(version, force=True, reason="test set-up")
    assert current_champion() == version


@pytest.fixture(scope="module")
def good_and_bad(versions: tuple[str, str, str]) -> tuple[str, str]:
    return versions[0], versions[2]


def test_first_version_becomes_champion_without_a_gate(good_and_bad: tuple[str, str]) -> None:
    good, _ = good_and_bad
    decision = promote(good)
    assert decision.promoted
    assert decision.note == "first champion"
    assert current_champion() == good


def test_worse_candidate_is_refused_with_reasons(good_and_bad: tuple[str, str]) -> None:
    good, bad = good_and_bad
    make_champion(good)
    result = runner.invoke(app, ["promote", bad])
    assert result.exit_code == 1
    assert "auroc" in result.output
    assert current_champion() == good


def test_candidate_as_good_as_champion_is_promoted(versions: tuple[str, str, str]) -> None:
    good, again, _ = versions
    make_champion(good)
    decision = promote(again)
    assert decision.promoted
    assert not decision.forced
    assert decision.checks
    assert all(check.passed for check in decision.checks)
    assert current_champion() == again


def test_forced_promotion_is_recorded_on_the_version(good_and_bad: tuple[str, str]) -> None:
    good, bad = good_and_bad
    make_champion(good)
    result = runner.invoke(app, ["promote", bad, "--force", "--reason", "emergency rollback drill"])
    assert result.exit_code == 0, result.output
    tags = mlflow.MlflowClient().get_model_version(MODEL_NAME, bad).tags
    assert tags["promotion_forced"] == "true"
    assert tags["promotion_forced_reason"] == "emergency rollback drill"
    assert current_champion() == bad


def test_models_command_lists_versions_and_aliases(good_and_bad: tuple[str, str]) -> None:
    good, _ = good_and_bad
    make_champion(good)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "champion" in result.output


@pytest.fixture(scope="module")
def other_split(registry: Path, small_cohort: SyntheticCohort, small_cohort_dir: Path) -> str:
    """The good model trained with another seed: its test clients overlap the clients the
    seed-0 models were fitted on."""
    return register(small_cohort, small_cohort_dir, BoosterParameters(), seed=1)


def test_the_gate_compares_only_clients_neither_version_was_fitted_on(
    versions: tuple[str, str, str], other_split: str
) -> None:
    good = versions[0]
    run_id = mlflow.MlflowClient().get_model_version(MODEL_NAME, other_split).run_id
    candidate_test = set(
        pd.read_parquet(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="evaluation/test_clients.parquet"
            )
        )["client_id"]
    )
    assert candidate_test & fitted_clients(good), "the champion was fitted on some of them"
    tables, _ = evaluation_tables(other_split, good, None)
    compared = set(tables.clients["client_id"])
    assert compared
    assert compared == candidate_test - fitted_clients(good) - fitted_clients(other_split)


def test_every_landmark_is_checked_with_a_paired_interval_against_its_margin(
    good_and_bad: tuple[str, str],
) -> None:
    good, bad = good_and_bad
    make_champion(good)
    decision = promote(bad)
    assert not decision.promoted
    assert {c.landmark for c in decision.checks} == {"all", "1", "2", "3", "4", "5"}
    assert {c.metric for c in decision.checks} == {"auroc", "ece", "calibration_slope"}
    assert {c.margin for c in decision.checks} == {AUROC_MARGIN, ECE_MARGIN, SLOPE_MARGIN}
    pooled = next(
        c
        for c in decision.checks
        if (c.outcome, c.landmark, c.metric) == ("dropout", "all", "auroc")
    )
    assert pooled.lower <= pooled.difference <= pooled.upper
    assert pooled.lower < -AUROC_MARGIN
    assert not pooled.passed
    assert decision.evaluated["dropout_clients"] > 0


def test_the_comparison_is_recorded_on_the_version_and_listed(
    good_and_bad: tuple[str, str],
) -> None:
    good, bad = good_and_bad
    make_champion(good)
    promote(bad)
    tags = mlflow.MlflowClient().get_model_version(MODEL_NAME, bad).tags
    assert tags["promotion_gate_summary"].startswith(f"failed against version {good}")
    assert "to" in tags["promotion_gate_dropout_auroc_difference"]
    listing = runner.invoke(app, ["models"], env={"COLUMNS": "400"})
    assert f"failed against version {good}" in " ".join(listing.output.split())


def test_a_version_that_logged_no_fitted_clients_counts_all_but_its_test_clients(
    versions: tuple[str, str, str], small_cohort: SyntheticCohort
) -> None:
    """Versions registered before fitted clients were logged name only their test clients."""
    good = versions[0]
    run = mlflow.get_run(mlflow.MlflowClient().get_model_version(MODEL_NAME, good).run_id)
    recorded = Path(local_file_uri_to_path(run.info.artifact_uri)) / "evaluation"
    fitted = recorded / "fitted_clients.parquet"
    kept = fitted.read_bytes()
    expected = fitted_clients(good)
    fitted.unlink()
    try:
        everyone = set(small_cohort.tables.clients["client_id"])
        test = set(pd.read_parquet(recorded / "test_clients.parquet")["client_id"])
        assert fitted_clients(good) == everyone - test == expected
    finally:
        fitted.write_bytes(kept)


def test_a_card_rendered_for_a_version_taken_meanwhile_is_registered_again(
    versions: tuple[str, str, str],
    small_cohort: SyntheticCohort,
    small_cohort_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The card travels inside the model: a version whose card names another is replaced."""
    taken = versions[0]
    monkeypatch.setattr(tracking, "next_version", lambda client: taken)
    version = register(small_cohort, small_cohort_dir, BoosterParameters())
    card = load_predictor(f"models:/{MODEL_NAME}/{version}").metadata.model_card_markdown
    assert card.startswith(f"# Model card: {MODEL_NAME} version {version}\n")
    numbers = {
        v.version for v in mlflow.MlflowClient().search_model_versions(f"name='{MODEL_NAME}'")
    }
    assert str(int(version) - 1) not in numbers, "the mislabelled version was deleted"
