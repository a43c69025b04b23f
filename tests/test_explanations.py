"""Explanations a clinician can trust: the model moves only in the directions the evidence
gives, summaries and cards name only what this episode has shown, and bands mean what they
say at every session."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from features.labels import OUTCOMES, OutcomeDefinitions, landmark_labels
from features.registry import FEATURES, feature
from models.bands import HIGH_BAND_SHARE, MODERATE_BAND_SHARE
from service.app import create_app
from service.model.holder import ServedModel
from service.reports import build_report
from service.settings import Settings
from training.fitting import fit_and_evaluate
from training.model_card import render_model_card
from training.pipeline import TrainingOutcome, data_summary
from training.splits import subset
from training.synthetic import SyntheticCohort

pytestmark = pytest.mark.slow

CONSTRAINED = [
    (spec, outcome) for spec in FEATURES for outcome in OUTCOMES if spec.direction(outcome)
]


@pytest.fixture(scope="module")
def client(trained_model: TrainingOutcome) -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


def _example(**client_fields: object) -> dict:
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["client"] |= client_fields
    return body


def test_the_registry_declares_the_directions_the_issue_names() -> None:
    for name in ("alliance_z_first", "alliance_z_last", "alliance_z_mean", "alliance_z_min"):
        assert feature(name).direction("dropout") == feature(name).direction("violence") == -1
    assert feature("alliance_largest_drop").direction("dropout") == 1
    assert feature("alliance_largest_drop").direction("violence") == 1
    assert feature("missed_sessions").direction("dropout") == 1
    assert feature("latest_session_missed").direction("dropout") == 1
    assert feature("history_of_violence").direction("violence") == 1
    assert feature("substance_misuse").direction("violence") == 1
    assert all(spec.direction_source for spec, _ in CONSTRAINED)
    assert feature("sex").directions == ()


@pytest.mark.parametrize(("spec", "outcome"), CONSTRAINED, ids=lambda x: getattr(x, "name", x))
def test_varying_a_constrained_feature_moves_the_risk_only_in_its_declared_direction(
    trained_model: TrainingOutcome, spec: object, outcome: str
) -> None:
    """For 500 test clients, each constrained feature set to every value across its range
    (all else as recorded): the calibrated probability never moves against the evidence."""
    model = trained_model.fitted.model
    rows = trained_model.fitted.evaluations[outcome].test_features.iloc[:500]
    names = list(model.feature_names)
    column = names.index(spec.name)
    observed = rows[spec.name].dropna()
    grid = [0.0, 1.0] if spec.kind == "binary" else np.linspace(observed.min(), observed.max(), 9)
    matrix = rows[names].to_numpy(np.float64)
    landmarks = rows.index.get_level_values("landmark").to_numpy()
    probabilities = []
    for value in grid:
        varied = matrix.copy()
        varied[:, column] = value
        probabilities.append(model.outcomes[outcome].score(varied, landmarks).probability)
    steps = np.diff(np.vstack(probabilities), axis=0) * spec.direction(outcome)
    assert (steps >= -1e-12).all()


def test_raising_the_latest_alliance_score_never_raises_either_risk(client: TestClient) -> None:
    probabilities = []
    for score in range(12, 61, 4):  # the whole WAI-SR range
        body = copy.deepcopy(EXAMPLE_HISTORY)
        body["sessions"][2]["alliance_score"] = score
        answer = client.post("/v1/predictions", json=body).json()
        probabilities.append([answer["predictions"][o]["probability"] for o in OUTCOMES])
    steps = np.diff(np.array(probabilities), axis=0)
    assert (steps <= 1e-12).all()


def test_marking_the_latest_session_missed_never_lowers_the_dropout_risk(
    client: TestClient,
) -> None:
    attended = copy.deepcopy(EXAMPLE_HISTORY)
    attended["sessions"][2] = {"session_number": 3, "session_date": "2026-03-23", "attended": True}
    missed = copy.deepcopy(attended)
    missed["sessions"][2]["attended"] = False
    came = client.post("/v1/predictions", json=attended).json()["predictions"]["dropout"]
    stayed_away = client.post("/v1/predictions", json=missed).json()["predictions"]["dropout"]
    assert stayed_away["probability"] >= came["probability"]


def test_summaries_name_only_this_episode_and_never_sex(client: TestClient) -> None:
    background = [spec.label.lower() for spec in FEATURES if spec.group.value == "background"]
    for sex in ("M", "F"):
        answer = client.post("/v1/predictions", json=_example(sex=sex)).json()
        for result in answer["predictions"].values():
            summary = result["summary"].lower()
            assert "sex" not in summary
            assert not any(label in summary for label in background)
            assert result["band_definition"] in result["summary"]
            groups = {c["group"] for c in result["explanation"]["contributions"]}
            assert groups == {"episode", "background"}


def test_the_readme_example_report_never_says_a_fall_lowers_a_risk(
    trained_model: TrainingOutcome,
) -> None:
    """Alliance 46 then 36 on the WAI-SR, session 3 missed, a male client."""
    body = _example(sex="M")
    body["sessions"][1]["alliance_score"] = 36
    body["sessions"][2] = {"session_number": 3, "session_date": "2026-03-23", "attended": False}
    model = trained_model.fitted.model
    served = ServedModel(model, "alliance-risk", "1", None, "models:/alliance-risk/1")
    content = build_report(served, ClientHistory.model_validate(body), request_id="t")
    for factors in content.factors.values():
        for factor in factors:
            assert "sex" not in factor.sentence.lower()
            if "fell" in factor.sentence or "missed" in factor.sentence:
                assert factor.raises, factor.sentence
    for point in content.conversation:
        assert "sex" not in point.text.lower()
        assert not any("sex" in reason.lower() for reason in point.because)


def test_band_shares_of_calibration_rows_match_their_definition_at_every_session(
    trained_model: TrainingOutcome, small_cohort: SyntheticCohort
) -> None:
    fitted = trained_model.fitted
    tables = subset(small_cohort.tables, fitted.split.calibration)
    features = fitted.model.features.transform(tables)
    labels = landmark_labels(tables, features.index, fitted.definitions)
    for outcome, model in fitted.model.outcomes.items():
        rows = features[labels[outcome].notna().to_numpy()]
        landmarks = rows.index.get_level_values("landmark").to_numpy()
        bands = model.score(rows[list(fitted.model.feature_names)].to_numpy(), landmarks).band
        for k in np.unique(landmarks):
            at_k = pd.Series(bands[landmarks == k])
            tolerance = 2.0 / len(at_k) + 0.005  # quantile interpolation and ties
            high = (at_k == "high").mean()
            moderate = (at_k == "moderate").mean()
            assert abs(high - HIGH_BAND_SHARE) <= tolerance, (outcome, k)
            assert abs(moderate - MODERATE_BAND_SHARE) <= tolerance, (outcome, k)
            definition = model.thresholds.definition("high", int(k))
            assert f"after session {k}" in definition


def test_a_feature_left_out_of_training_is_absent_and_the_card_says_so(
    small_cohort: SyntheticCohort, small_cohort_dir: Path
) -> None:
    tables = small_cohort.tables
    fitted = fit_and_evaluate(
        tables,
        seed=0,
        n_boot=20,
        exclude_features=("sex",),
        definitions=OutcomeDefinitions(tables.latest_date()),
        training_summary=data_summary(
            small_cohort_dir,
            n_clients=len(tables.clients),
            n_therapists=len(tables.therapists),
            n_sessions=len(tables.sessions),
        ),
    )
    assert "sex" not in fitted.model.feature_names
    prediction = fitted.model.predict_history(ClientHistory.model_validate(EXAMPLE_HISTORY))
    assert "sex" not in prediction.feature_names
    assert len(prediction.outcomes["dropout"].contributions) == len(prediction.feature_names)
    card = render_model_card(fitted, name="alliance-risk", version="7", n_boot=20)
    assert "**Left out of training** by the data scientist: `sex`" in card
