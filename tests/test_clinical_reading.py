"""Every sentence a clinician reads agrees with the directions the literature gives.

A fall in the alliance, a missed session or an unrepaired rupture can only be named as
raising a risk; an attended session, a rising alliance or a repaired fall only as lowering
it. TreeSHAP can give one of several related features a sign against the evidence (the
booster is monotone, the attribution is not), so these tests read the summaries, report
sentences and FHIR/CDS factors of the README example and of hundreds of synthetic
histories at every session, as a clinician would.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.histories import history_from_tables
from data_schemas.records import ClientHistory
from features.registry import feature
from service.answers.predictions import build_response
from service.answers.schemas import PredictionResponse
from service.ehr.fhir import top_factors as fhir_factors
from service.model.holder import ServedModel
from service.reports import build_report
from service.reports.factors import Factor, top_factors
from service.reports.series import session_series
from training.pipeline import TrainingOutcome
from training.synthetic import SyntheticCohort

#: Words that describe something going wrong in the episode, and something going well.
WORSE = (
    "fell from",
    "has fallen",
    "a possible rupture",
    "has not recovered",
    "missed",
    "did not attend",
    "at or below the PCOMS",
)
BETTER = (
    "has not fallen",
    "No fall between",
    "has risen",
    "regained",
    "attended all",
    "attended the latest",
    "above the PCOMS",
)
SYNTHETIC_HISTORIES = 300


@pytest.mark.parametrize(
    ("name", "outcome", "value", "phi", "typical", "expected"),
    [
        # The README example: a fall of 1.7 SDs given a negative share by TreeSHAP.
        ("alliance_largest_drop", "dropout", 1.7, -0.07, None, "contradicts"),
        ("alliance_largest_drop", "dropout", 1.7, 0.07, None, "agrees"),
        ("alliance_largest_drop", "violence", 0.0, -0.02, None, "agrees"),
        ("alliance_largest_drop", "violence", 0.0, 0.02, None, "contradicts"),
        ("alliance_recovery_since_drop", "dropout", 0.0, 0.05, None, "agrees"),
        ("alliance_z_slope", "dropout", -0.4, -0.05, None, "contradicts"),
        ("missed_sessions", "dropout", 0.0, -0.1, None, "agrees"),
        ("latest_session_missed", "dropout", 1.0, -0.1, None, "contradicts"),
        ("latest_session_missed", "dropout", 0.0, -0.1, None, "agrees"),
        # Levels are read against the model's typical value.
        ("alliance_z_last", "dropout", -1.3, 0.2, 0.05, "agrees"),
        ("alliance_z_last", "dropout", 0.4, 0.2, 0.05, "contradicts"),
        ("alliance_z_last", "dropout", 0.4, 0.2, None, None),
        # No direction declared, nothing recorded, nothing moved.
        ("latest_session_missed", "violence", 1.0, -0.1, None, None),
        ("gad7_last", "dropout", 15.0, 0.1, 8.0, None),
        ("alliance_z_min", "violence", None, 0.1, 0.0, None),
        ("alliance_z_min", "violence", -1.0, 0.0, 0.0, None),
    ],
)
def test_a_contribution_is_read_against_the_declared_direction(
    name: str,
    outcome: str,
    value: float | None,
    phi: float,
    typical: float | None,
    expected: str | None,
) -> None:
    assert feature(name).evidence(outcome, value, phi, typical) == expected


def _reads_as_the_evidence_says(outcome: str, factor: Factor) -> None:
    """A directed factor's words and verb agree: what went wrong raises, what went well
    lowers."""
    if not feature(factor.feature).direction(outcome):
        return
    seen = factor.sentence.split(";")[0]
    if any(words in seen for words in BETTER):
        assert not factor.raises, factor.sentence
    elif any(words in seen for words in WORSE):
        assert factor.raises, factor.sentence


def _check(answer: PredictionResponse, history: ClientHistory, served: ServedModel) -> int:
    """Read one answer's sentences; return how many named directed factors were read."""
    norms = served.predictor.features.alliance_norms_
    series = session_series(history, answer.as_of_session, norms)
    read = 0
    for outcome, result in answer.predictions.items():
        contributions = result.explanation.contributions
        by_feature = {c.feature: c for c in contributions}
        for factor in top_factors(outcome, contributions, series):
            assert by_feature[factor.feature].evidence != "contradicts", factor.sentence
            _reads_as_the_evidence_says(outcome, factor)
            if outcome == "violence":  # incidents are recorded only while in care
                assert "attend" not in factor.sentence, factor.sentence
            read += bool(feature(factor.feature).direction(outcome))
        for named in fhir_factors(result):
            assert named.evidence != "contradicts", named
        leading = next((c for c in contributions if c.label in result.summary), None)
        if leading is not None:
            assert leading.evidence != "contradicts", result.summary
    return read


@pytest.fixture(scope="module")
def served(trained_model: TrainingOutcome) -> ServedModel:
    return ServedModel(trained_model.fitted.model, "alliance-risk", "1", None, "models:/t/1")


def test_the_model_records_typical_values_to_read_levels_against(served: ServedModel) -> None:
    typical = served.predictor.typical_values()
    assert {"alliance_z_last", "alliance_largest_drop", "missed_sessions"} <= typical.keys()
    assert typical["missed_sessions"] > 0


@pytest.mark.slow
def test_the_readme_example_and_its_variants_read_as_the_evidence_says(
    served: ServedModel,
) -> None:
    """The example as published (46, 48, 36 on the WAI-SR), with the latest session missed,
    with a repaired fall, and with the alliance rising: every report sentence, summary and
    FHIR factor."""
    variants = [copy.deepcopy(EXAMPLE_HISTORY) for _ in range(4)]
    variants[1]["sessions"][2] = {
        "session_number": 3,
        "session_date": "2026-03-23",
        "attended": False,
    }
    variants[2]["sessions"][2]["alliance_score"] = 50
    for session, score in zip(variants[3]["sessions"], (36, 44, 52), strict=True):
        session["alliance_score"] = score
    for body in variants:
        history = ClientHistory.model_validate(body)
        content = build_report(served, history, request_id="t")
        _check(content.prediction, history, served)
        for factors in content.factors.values():
            for factor in factors:
                assert "fell" not in factor.sentence or factor.raises, factor.sentence


@pytest.mark.slow
def test_hundreds_of_synthetic_histories_read_as_the_evidence_says(
    served: ServedModel, small_cohort: SyntheticCohort
) -> None:
    """At a random session of each of 300 synthetic clients: nothing named contradicts the
    evidence, and a fall or a miss is never said to lower a risk."""
    tables = small_cohort.tables
    attended = tables.sessions.groupby("client_id", observed=True).size()
    rng = np.random.default_rng(5)
    clients = rng.choice(attended.index.to_numpy(), SYNTHETIC_HISTORIES, replace=False)
    read = against = 0
    for client_id in clients:
        as_of = int(rng.integers(1, min(int(attended[client_id]), 5) + 1))
        history = history_from_tables(tables, str(client_id), as_of=as_of)
        answer = build_response(served, served.predictor.predict_history(history), "t")
        read += _check(answer, history, served)
        against += sum(
            c.evidence == "contradicts"
            for result in answer.predictions.values()
            for c in result.explanation.contributions
            if c.group == "episode"
        )
    # The check had something to read, and the model did produce contributions against
    # the evidence that the sentences had to leave out.
    assert read > SYNTHETIC_HISTORIES
    assert against > 0
