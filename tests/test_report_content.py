"""Report content without a model: sessions and ruptures, factor sentences, conversation
points, content negotiation and the history taken from clinic tables."""

from __future__ import annotations

import copy

import pytest

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.histories import HistoryNotFoundError, history_from_tables
from data_schemas.records import ClientHistory
from features.alliance_norms import AllianceNorms
from features.registry import FEATURES, feature
from features.spec import FeatureGroup
from service.answers.schemas import Contribution
from service.reports.charts import waterfall_label
from service.reports.conversation import MAX_POINTS, OPEN_QUESTION, conversation_points
from service.reports.factors import DESCRIBED, Factor, top_factors
from service.reports.series import session_series
from service.routes.reports import negotiate
from training.synthetic import SyntheticCohort

PDF = "application/pdf"
#: WAI-SR SD 8: reliable change 1.96 * sqrt(2 * 0.09) * 8 = 6.65 points; SRS SD 5: 3.39.
NORMS = AllianceNorms(
    mean={"WAI-SR": 45.0, "SRS": 32.0, "TASC-R": 38.0},
    sd={"WAI-SR": 8.0, "SRS": 5.0, "TASC-R": 6.0},
    clients={"WAI-SR": 100, "SRS": 100, "TASC-R": 100},
)


def history_with(scores: list[float | None], instrument: str = "WAI-SR") -> ClientHistory:
    """The example client with one session per score (`None`: a missed session)."""
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["sessions"] = []
    for n, score in enumerate(scores, start=1):
        session = {"session_number": n, "session_date": f"2026-03-{2 + 4 * n:02d}"}
        if score is None:
            session["attended"] = False
        else:
            session |= {
                "attended": True,
                "alliance_instrument": instrument,
                "alliance_score": score,
            }
        body["sessions"].append(session)
    return ClientHistory.model_validate(body)


def contribution(
    name: str, value: float | None, phi: float, outcome: str = "dropout"
) -> Contribution:
    spec = feature(name)
    return Contribution(
        feature=name,
        label=spec.label,
        unit=spec.unit,
        value=value,
        display_value="shown",
        contribution=phi,
        direction="raises" if phi > 0 else "lowers",
        evidence=(evidence := spec.evidence(outcome, value, phi, typical=0.0)),
        reason=spec.is_reason(outcome, value, phi, evidence),
        group=spec.group.value,
    )


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/html"),
        ("*/*", "text/html"),
        ("text/html,application/xhtml+xml;q=0.9", "text/html"),
        (PDF, PDF),
        ("application/pdf, text/html;q=0.5", PDF),
        ("text/html;q=0.2, application/pdf;q=0.8", PDF),
        ("text/html;q=0, application/*", PDF),
        ("application/json", None),
        ("image/png, text/html;q=0", None),
    ],
)
def test_accept_header_picks_html_or_pdf(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


def test_alliance_fall_is_described_on_the_instrument_scale() -> None:
    series = session_series(ClientHistory.model_validate(EXAMPLE_HISTORY), 3, NORMS)
    fall = contribution("alliance_largest_drop", 1.5, 0.4)
    [factor] = top_factors("dropout", [fall], series)
    assert factor.sentence == (
        "The alliance score fell from 48 to 36 (WAI-SR) between sessions 2 and 3, a possible "
        "rupture; this raises the estimated dropout risk."
    )


@pytest.mark.parametrize(
    ("name", "value", "display", "expected"),
    [
        ("days_since_intake", 21.0, "21", "21 days have passed from intake to session 3"),
        (
            "gad7_change",
            1.0,
            "+1",
            "The GAD-7 anxiety score has risen by 1 point since the first score",
        ),
    ],
)
def test_episode_factors_read_as_sentences_about_the_sessions(
    name: str, value: float, display: str, expected: str
) -> None:
    series = session_series(ClientHistory.model_validate(EXAMPLE_HISTORY), 3, NORMS)
    c = contribution(name, value, -0.3).model_copy(update={"display_value": display})
    [factor] = top_factors("violence", [c], series)
    assert factor.sentence == (
        f"{expected}; this lowers the estimated risk of a violent incident toward others."
    )


def test_a_fall_given_a_negative_share_is_never_a_reason() -> None:
    """TreeSHAP gave the README example's fall -0.07 for dropout: it is no sentence, the
    next factor that agrees with the evidence is, and the waterfall marks the bar."""
    series = session_series(ClientHistory.model_validate(EXAMPLE_HISTORY), 3, NORMS)
    fall = contribution("alliance_largest_drop", 1.7, -0.07)
    latest = contribution("alliance_z_last", -1.3, 0.2)
    assert fall.evidence == "contradicts"
    assert [f.feature for f in top_factors("dropout", [latest, fall], series)] == [
        "alliance_z_last"
    ]
    assert waterfall_label(fall).startswith("(*) ")
    assert waterfall_label(latest) == latest.label


def test_every_factor_of_this_episode_has_a_sentence_of_its_own() -> None:
    episode = {spec.name for spec in FEATURES if spec.group is FeatureGroup.EPISODE}
    assert episode == DESCRIBED


def test_attendance_is_never_a_reason_for_the_violence_estimate() -> None:
    """Incidents are recorded only while a client is in care: a missed session "lowering
    the violence risk" is the record's doing, not the client's."""
    series = session_series(ClientHistory.model_validate(EXAMPLE_HISTORY), 3, NORMS)
    latest = contribution("latest_session_missed", 1.0, -0.2, outcome="violence")
    assert top_factors("violence", [latest], series) == []
    latest = contribution("latest_session_missed", 1.0, 0.2, outcome="dropout")
    assert [f.feature for f in top_factors("dropout", [latest], series)] == [latest.feature]


def test_a_factor_with_nothing_to_tell_is_no_sentence() -> None:
    """The PCOMS cut-off of a WAI-SR client is not recorded, and a change needs two scores:
    no "not recorded" sentence for either."""
    series = session_series(ClientHistory.model_validate(EXAMPLE_HISTORY), 3, NORMS)
    alert = contribution("alliance_alert", None, -0.05, outcome="violence")
    change = contribution("gad7_change", None, 0.04, outcome="violence")
    latest = contribution("gad7_last", 15.0, 0.03, outcome="violence")
    assert not alert.reason
    assert [f.feature for f in top_factors("violence", [alert, change, latest], series)] == [
        "gad7_last"
    ]


@pytest.mark.parametrize(
    "name", ["sex", "age_years", "therapist_years_experience", "primary_problem", "setting"]
)
def test_background_factors_are_never_among_the_main_factors(name: str) -> None:
    series = session_series(ClientHistory.model_validate(EXAMPLE_HISTORY), 3, NORMS)
    background = contribution(name, 1.0, 0.9)
    missed = contribution("missed_sessions", 0.0, -0.1)
    factors = top_factors("violence", [background, missed], series)
    assert [f.feature for f in factors] == ["missed_sessions"]


def test_ruptures_are_falls_beyond_the_questionnaires_reliable_change() -> None:
    threshold = NORMS.reliable_change_points("SRS")  # 3.39 SRS points
    scores = [30, 30 - threshold - 0.01, None, 23, 23 - threshold + 0.1]
    series = session_series(history_with(scores, instrument="SRS"), 5, NORMS)
    assert [(f.from_session, f.to_session) for f in series.falls] == [(1, 2), (2, 4), (4, 5)]
    assert [(f.from_session, f.to_session) for f in series.ruptures] == [(1, 2)]
    assert series.missed == [3]


def test_mixed_questionnaires_are_charted_as_percent_of_maximum() -> None:
    history = history_with([50, 30])
    body = history.model_dump(mode="json")
    body["sessions"][1]["alliance_instrument"] = "SRS"
    series = session_series(ClientHistory.model_validate(body), 2, NORMS)
    assert series.scale.instrument is None
    assert series.scale.maximum == 100.0


def test_conversation_points_follow_the_factors_that_raise_a_risk() -> None:
    series = session_series(history_with([50, 30]), 2, NORMS)

    def factor(name: str, phi: float) -> Factor:
        return Factor("dropout", name, feature(name).label, phi, phi > 0, "")

    points = conversation_points(
        [factor("gad7_last", 0.3), factor("missed_sessions", -0.5)], series
    )
    texts = [p.text for p in points]
    assert any("how the first sessions have felt" in t for t in texts)
    assert any("fall in the alliance" in t for t in texts)  # the rupture in the sessions
    assert not any("hard to come to sessions" in t for t in texts)  # lowers: no point
    assert all(t.startswith("You could") for t in texts)
    assert len(points) <= MAX_POINTS


def test_a_topic_comes_up_only_for_the_outcome_its_source_speaks_to() -> None:
    """Preparing a client for therapy is studied as a way to prevent early endings: an
    anxiety score raising the violence estimate does not bring it up."""
    series = session_series(history_with([50, 52]), 2, NORMS)
    label = feature("gad7_first").label
    violence = Factor("violence", "gad7_first", label, 0.3, True, "")
    [point] = conversation_points([violence], series)
    assert point.text == OPEN_QUESTION.text
    dropout = Factor("dropout", "gad7_first", label, 0.3, True, "")
    [point] = conversation_points([dropout], series)
    assert "how the first sessions have felt" in point.text


def test_without_a_raising_factor_the_point_is_an_open_question() -> None:
    series = session_series(history_with([50, 52]), 2, NORMS)
    [point] = conversation_points([], series)
    assert point.text == OPEN_QUESTION.text


def test_history_from_tables_takes_sessions_up_to_as_of(small_cohort: SyntheticCohort) -> None:
    tables = small_cohort.tables
    client_id = str(tables.clients["client_id"].iloc[0])
    n_sessions = int((tables.sessions["client_id"] == client_id).sum())
    history = history_from_tables(tables, client_id, as_of=2)
    assert history.client.client_id == client_id
    assert [s.session_number for s in history.sessions] == [1, 2]
    assert len(history_from_tables(tables, client_id).sessions) == n_sessions
    with pytest.raises(HistoryNotFoundError, match="no row with client_id 'nobody'"):
        history_from_tables(tables, "nobody")
    with pytest.raises(HistoryNotFoundError, match=f"has {n_sessions} session"):
        history_from_tables(tables, client_id, as_of=n_sessions + 1)
