"""Sample size: Riley et al. (2020) minimum, events per parameter, and the floor that refuses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from alliance_risk_cli import app
from features.registry import FEATURES
from training.sample_size import (
    MIN_EVENTS_PER_PARAMETER,
    candidate_parameters,
    check_sample_size,
    max_cox_snell_r2,
    riley_minimum,
)


def test_riley_minimum_reproduces_the_published_worked_example() -> None:
    """pmsampsize's binary example (Riley et al. 2020): 24 parameters, prevalence 0.174,
    Cox-Snell R2 0.288 give 623, 662 and 221 for the three criteria, so 662."""
    minimum = riley_minimum(24, 0.174, r2_cs=0.288)
    assert max_cox_snell_r2(0.174) == pytest.approx(0.603, abs=5e-4)
    assert minimum.shrinkage_criterion == 623
    assert minimum.optimism_criterion == 662
    assert minimum.overall_risk_criterion == 221
    assert minimum.minimum == 662


def test_rarer_outcomes_need_more_clients() -> None:
    assert riley_minimum(40, 0.05).minimum > riley_minimum(40, 0.25).minimum


def test_categorical_predictors_count_one_parameter_per_category_but_one() -> None:
    categorical = [spec for spec in FEATURES if spec.kind == "categorical"]
    others = len(FEATURES) - len(categorical)
    assert candidate_parameters() == others + sum(len(c.categories) - 1 for c in categorical)


def _counts(clients: int, events: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"clients": [clients, clients], "events": [events * 5, events]},
        index=pd.Index(["dropout", "violence"], name="outcome"),
    )


def test_too_few_events_per_parameter_is_below_the_floor() -> None:
    parameters = candidate_parameters()
    few = int(parameters * MIN_EVENTS_PER_PARAMETER) - 1
    check = check_sample_size(_counts(20_000, few))
    assert check.below_floor == ["violence"]
    assert check.outcomes["violence"].below_minimum
    enough = check_sample_size(_counts(20_000, few + 2))
    assert enough.below_floor == []


@pytest.mark.parametrize("prevalence", [0.006, 0.01, 0.05, 0.25, 0.5])
def test_the_floor_lies_below_the_minimum_so_training_warns_before_it_refuses(
    prevalence: float,
) -> None:
    parameters = candidate_parameters()
    minimum_events = riley_minimum(parameters, prevalence).minimum * prevalence
    assert minimum_events / parameters > MIN_EVENTS_PER_PARAMETER


def test_training_below_the_floor_is_refused_unless_allowed(
    mlflow_home: Path, small_cohort_dir: Path
) -> None:
    """1,500 clients give 35 training clients with violence: far below the floor."""
    refused = CliRunner().invoke(
        app, ["train", "--data", str(small_cohort_dir), "--bootstrap", "20"]
    )
    assert refused.exit_code == 1
    output = " ".join(refused.output.split())
    assert "events per candidate parameter" in output
    assert "Training refused" in output
    assert "--allow-small-sample" in output
    assert "nothing was registered" in output
