"""A missed latest session, the way real exports show a dropout before the clinic records
it, must not make the model less concerned about dropout.

Trained once on the default synthetic cohort (`alliance-risk synth`: 20,000 clients, seed 7),
whose dropouts often miss booked sessions before their dropout is recorded.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from training.fitting import FittedModel, fit_and_evaluate
from training.quickstart import DEFAULT_CLIENTS, DEFAULT_COHORT_SEED
from training.synthetic import generate_cohort

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_model() -> FittedModel:
    cohort = generate_cohort(DEFAULT_CLIENTS, seed=DEFAULT_COHORT_SEED)
    return fit_and_evaluate(cohort.tables, seed=0, n_boot=20)


def readme_example(*, third_session: dict) -> ClientHistory:
    """Alliance 46 then 36 on the WAI-SR, then session 3 as given."""
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["sessions"][1]["alliance_score"] = 36
    body["sessions"][2] = {"session_number": 3, "session_date": "2026-03-23"} | third_session
    return ClientHistory.model_validate(body)


def test_test_rows_whose_latest_session_was_missed_are_calibrated(
    default_model: FittedModel,
) -> None:
    """The mean predicted dropout lies within the 95% interval of the observed rate."""
    evaluation = default_model.evaluations["dropout"]
    missed = evaluation.test_features["latest_session_missed"].to_numpy() == 1.0
    observed = evaluation.test_labels[missed]
    predicted = evaluation.test_scores["LightGBM (calibrated)"][missed]
    assert len(observed) > 300
    rate = observed.mean()
    half_width = 1.96 * math.sqrt(rate * (1.0 - rate) / len(observed))
    assert rate - half_width <= predicted.mean() <= rate + half_width
    # And the model does see a missed latest session as a warning sign.
    assert predicted.mean() > evaluation.test_scores["LightGBM (calibrated)"][~missed].mean()


def test_in_the_readme_example_the_missed_session_does_not_lower_the_dropout_estimate(
    default_model: FittedModel,
) -> None:
    model = default_model.model
    missed = model.predict_history(readme_example(third_session={"attended": False}))
    attended = model.predict_history(
        readme_example(
            third_session={
                "attended": True,
                "alliance_instrument": "WAI-SR",
                "alliance_score": 36,
            }
        )
    )
    contributions = dict(
        zip(missed.feature_names, missed.outcomes["dropout"].contributions, strict=True)
    )
    assert contributions["latest_session_missed"] > 0
    assert contributions["missed_sessions"] >= 0
    assert missed.outcomes["dropout"].probability > attended.outcomes["dropout"].probability
    assert np.isfinite(missed.outcomes["violence"].probability)
