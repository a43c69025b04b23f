"""The promotion gate: a model goes live only if it is not worse than the champion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from homes import private_home
from typer.testing import CliRunner

from alliance_risk_cli import app
from models.store import MODEL_NAME, StoreSettings
from training.boosting import BoosterParameters
from training.fitting import fit_and_evaluate
from training.pipeline import content_hash, data_summary, is_synthetic
from training.promotion import current_champion, promote
from training.synthetic import SyntheticCohort
from training.tracking import ensure_experiment, log_and_register

runner = CliRunner()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, mlflow_home: Path) -> Iterator[Path]:
    """A registry of its own, so promotions here never change the other tests' champion."""
    with private_home(tmp_path_factory.mktemp("promotion_home")) as home:
        yield home


def register(cohort: SyntheticCohort, folder: Path, parameters: BoosterParameters) -> str:
    """Train on the cohort folder with the given booster settings and register a version."""
    fitted = fit_and_evaluate(
        cohort.tables,
        seed=0,
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
    promote(good)
    result = runner.invoke(app, ["promote", bad])
    assert result.exit_code == 1
    assert "auroc" in result.output
    assert current_champion() == good


def test_candidate_as_good_as_champion_is_promoted(versions: tuple[str, str, str]) -> None:
    good, again, _ = versions
    promote(good)
    decision = promote(again)
    assert decision.promoted
    assert not decision.forced
    assert decision.checks
    assert all(check.passed for check in decision.checks)
    assert current_champion() == again


def test_forced_promotion_is_recorded_on_the_version(good_and_bad: tuple[str, str]) -> None:
    good, bad = good_and_bad
    promote(good)
    result = runner.invoke(app, ["promote", bad, "--force", "--reason", "emergency rollback drill"])
    assert result.exit_code == 0, result.output
    tags = mlflow.MlflowClient().get_model_version(MODEL_NAME, bad).tags
    assert tags["promotion_forced"] == "true"
    assert tags["promotion_forced_reason"] == "emergency rollback drill"
    assert current_champion() == bad
    promote(good)


def test_models_command_lists_versions_and_aliases(good_and_bad: tuple[str, str]) -> None:
    good, _ = good_and_bad
    promote(good)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "champion" in result.output
