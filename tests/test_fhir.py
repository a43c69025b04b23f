"""FHIR R4 in and out: the mapping both ways and `POST /fhir/RiskAssessment/$evaluate`."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from factories import client_histories
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.riskassessment import RiskAssessment

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.fhir import (
    FhirInputError,
    NotEnrolledError,
    bundle_from_history,
    codes,
    history_from_bundle,
)
from data_schemas.records import ClientHistory
from models.predictor import SYNTHETIC_DATA_NOTICE
from service.app import create_app
from service.settings import Settings
from training.pipeline import TrainingOutcome
from training.synthetic import SyntheticCohort

FHIR_JSON = {"content-type": "application/fhir+json"}
EVALUATE = "/fhir/RiskAssessment/$evaluate"


@pytest.fixture(scope="module")
def client(trained_model: TrainingOutcome) -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


def example_history(**changes: Any) -> ClientHistory:
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body.update(changes)
    return ClientHistory.model_validate(body)


def without_unused_raters(history: ClientHistory) -> ClientHistory:
    """FHIR carries who rated the alliance on the rating itself, so a session without a
    rating has no rater; the model reads the rater only of a rating (the default is kept)."""
    sessions = [
        s if s.alliance_score is not None else s.model_copy(update={"alliance_rater": "client"})
        for s in history.sessions
    ]
    return history.model_copy(update={"sessions": sessions})


def example_bundle() -> dict[str, Any]:
    return json.loads(bundle_from_history(example_history()).model_dump_json())


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def coded(resource: dict[str, Any], code: str) -> bool:
    return any(c["code"] == code for c in resource.get("code", {}).get("coding", []))


def evaluate(client: TestClient, body: Any) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(EVALUATE, content=content, headers=FHIR_JSON)


def test_contract_histories_survive_the_trip_to_fhir_and_back(
    small_cohort: SyntheticCohort,
) -> None:
    histories = list(client_histories(small_cohort.tables).values())[:60]
    instruments = {s.alliance_instrument for h in histories for s in h.sessions}
    assert {"WAI-SR", "SRS", "TASC-R", None} <= instruments
    assert any(not s.attended for h in histories for s in h.sessions)
    for history in histories:
        bundle = json.loads(bundle_from_history(history).model_dump_json())
        assert history_from_bundle(bundle).history == without_unused_raters(history)


def test_fhir_evaluation_gives_the_same_prediction_as_the_json_api(
    client: TestClient, small_cohort: SyntheticCohort
) -> None:
    histories = list(client_histories(small_cohort.tables).values())[:5]
    for history in [example_history(), *histories]:
        expected = client.post("/v1/predictions", json=history.model_dump(mode="json")).json()
        response = evaluate(client, json.loads(bundle_from_history(history).model_dump_json()))
        assert response.status_code == 200, response.text
        by_outcome = {
            ra["prediction"][0]["outcome"]["coding"][0]["code"]: ra["prediction"][0]
            for ra in resources(response.json(), "RiskAssessment")
        }
        assert set(by_outcome) == {"dropout", "violence"}
        for outcome, prediction in by_outcome.items():
            result = expected["predictions"][outcome]
            assert math.isclose(
                prediction["probabilityDecimal"], result["probability"], rel_tol=1e-12
            )
            assert prediction["qualitativeRisk"]["coding"][0]["code"] == result["band"]


def test_evaluation_answers_with_valid_r4_risk_assessments(
    client: TestClient, trained_model: TrainingOutcome
) -> None:
    sent = example_bundle()
    response = evaluate(client, sent)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    assert bundle.type == "collection"
    observations = {f"Observation/{o['id']}" for o in resources(sent, "Observation")}
    for entry in bundle.entry:
        assessment = entry.resource
        assert isinstance(assessment, RiskAssessment)
        RiskAssessment.model_validate(assessment.model_dump(mode="json", by_alias=True))
        assert entry.fullUrl == f"urn:uuid:{assessment.id}"
        assert assessment.status == "final"
        assert assessment.subject.reference == "Patient/example-client-0001"
        assert assessment.occurrenceDateTime is not None
        method = assessment.method.coding[0]
        assert (method.system, method.version) == (codes.RISK_MODEL, trained_model.version)
        prediction = assessment.prediction[0]
        assert 0 < float(prediction.probabilityDecimal) < 1
        assert prediction.qualitativeRisk.coding[0].system == codes.RISK_PROBABILITY
        assert prediction.qualitativeRisk.coding[0].code in {"low", "moderate", "high"}
        assert {b.reference for b in assessment.basis} == observations
        notes = [note.text for note in assessment.note]
        assert notes[0].startswith("Of this episode so far, what drives this estimate most:")
        assert notes[0].count("\n- ") == 3
        assert SYNTHETIC_DATA_NOTICE in notes


def test_a_parameters_body_with_the_bundle_is_accepted(client: TestClient) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "bundle", "resource": example_bundle()}],
    }
    assert evaluate(client, body).status_code == 200


def test_questionnaire_responses_and_the_gad7_panel_are_read_as_ratings() -> None:
    bundle = example_bundle()
    alliance = next(o for o in resources(bundle, "Observation") if coded(o, "WAI-SR"))
    gad7 = next(o for o in resources(bundle, "Observation") if coded(o, codes.GAD7_TOTAL))
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"] not in (alliance, gad7)]
    total = alliance["valueQuantity"]["value"]
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": "wai-1",
        "status": "completed",
        "questionnaire": codes.INSTRUMENT_QUESTIONNAIRES["WAI-SR"] + "|1.0",
        "subject": alliance["subject"],
        "encounter": alliance["encounter"],
        "authored": alliance["effectiveDateTime"],
        "item": [
            {"linkId": "scores", "item": [{"linkId": "total", "answer": [{"valueInteger": total}]}]}
        ],
    }
    panel = {
        "resourceType": "Observation",
        "id": "gad7-panel",
        "status": "final",
        "code": {"coding": [{"system": codes.LOINC, "code": codes.GAD7_PANEL}]},
        "subject": gad7["subject"],
        "encounter": gad7["encounter"],
        "component": [
            {
                "code": {"coding": [{"system": codes.LOINC, "code": codes.GAD7_TOTAL}]},
                "valueInteger": gad7["valueQuantity"]["value"],
            }
        ],
    }
    bundle["entry"] += [{"resource": response}, {"resource": panel}]
    assert history_from_bundle(bundle).history == example_history()


def test_ratings_without_an_encounter_reference_join_the_session_of_their_date() -> None:
    bundle = example_bundle()
    for observation in resources(bundle, "Observation"):
        del observation["encounter"]
    assert history_from_bundle(bundle).history == example_history()


def test_birth_date_gives_the_age_at_intake() -> None:
    bundle = example_bundle()
    patient = resources(bundle, "Patient")[0]
    patient["extension"] = [e for e in patient["extension"] if e["url"] != codes.EXT_AGE_AT_INTAKE]
    patient["birthDate"] = "1996-03-03"  # intake 2026-03-02: one day before turning 30
    assert history_from_bundle(bundle).history.client.age_years == 29


def test_missed_sessions_are_cancelled_encounters_and_planned_ones_are_not_sessions() -> None:
    bundle = example_bundle()
    encounters = resources(bundle, "Encounter")
    second = encounters[1]
    second["status"] = "cancelled"
    bundle["entry"] = [
        e
        for e in bundle["entry"]
        if e["resource"].get("encounter", {}).get("reference") != f"Encounter/{second['id']}"
    ]
    planned = copy.deepcopy(encounters[2]) | {"id": "next-week", "status": "planned"}
    planned["period"] = {"start": "2026-03-30"}
    bundle["entry"].append({"resource": planned})
    sessions = history_from_bundle(bundle).history.sessions
    assert [s.attended for s in sessions] == [True, False, True]


def test_a_contract_error_points_at_the_fhir_element_it_came_from() -> None:
    bundle = example_bundle()
    index, _ = next((i, e) for i, e in enumerate(bundle["entry"]) if coded(e["resource"], "WAI-SR"))
    bundle["entry"][index]["resource"]["valueQuantity"]["value"] = 99
    with pytest.raises(FhirInputError) as raised:
        history_from_bundle(bundle)
    (issue,) = raised.value.issues
    assert issue.expression == f"Bundle.entry[{index}].resource.valueQuantity.value"
    assert "between 12 and 60" in issue.message


def test_a_patient_without_a_psychotherapy_episode_is_not_enrolled() -> None:
    bundle = example_bundle()
    bundle["entry"] = [
        e for e in bundle["entry"] if e["resource"]["resourceType"] != "EpisodeOfCare"
    ]
    with pytest.raises(NotEnrolledError):
        history_from_bundle(bundle)


def _without_intake_fact(bundle: dict[str, Any]) -> dict[str, Any]:
    episode = resources(bundle, "EpisodeOfCare")[0]
    episode["extension"] = [
        e for e in episode["extension"] if e["url"] != codes.EXT_HISTORY_OF_VIOLENCE
    ]
    return bundle


def _without_sessions(bundle: dict[str, Any]) -> dict[str, Any]:
    kept = ("Patient", "Practitioner", "EpisodeOfCare")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] in kept]
    return bundle


def _observation_without_code(bundle: dict[str, Any]) -> dict[str, Any]:
    del resources(bundle, "Observation")[0]["code"]
    return bundle


def _score_marker(bundle: dict[str, Any]) -> dict[str, Any]:
    resources(bundle, "Observation")[0]["valueQuantity"]["value"] = 987654
    return bundle


@pytest.mark.parametrize(
    ("make_body", "status", "issue_code"),
    [
        pytest.param(lambda: b"{not json", 400, "structure", id="not-json"),
        pytest.param(
            lambda: {"resourceType": "Patient", "id": "p"}, 400, "structure", id="not-a-bundle"
        ),
        pytest.param(lambda: {"resourceType": "Nonsense"}, 400, "not-supported", id="unknown-type"),
        pytest.param(
            lambda: _observation_without_code(example_bundle()), 400, "required", id="invalid-r4"
        ),
        pytest.param(lambda: _score_marker(example_bundle()), 422, "invalid", id="contract-rule"),
        pytest.param(
            lambda: _without_intake_fact(example_bundle()), 422, "required", id="no-intake-fact"
        ),
        pytest.param(
            lambda: _without_sessions(example_bundle()), 422, "processing", id="no-sessions"
        ),
    ],
)
def test_invalid_fhir_gets_an_operation_outcome_never_a_500(
    client: TestClient, make_body: Any, status: int, issue_code: str
) -> None:
    response = evaluate(client, make_body())
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = OperationOutcome.model_validate(response.json())
    assert outcome.issue[0].severity == "error"
    assert outcome.issue[0].code == issue_code
    assert "987654" not in response.text


def test_a_body_that_is_not_fhir_json_gets_415(client: TestClient) -> None:
    response = client.post(
        EVALUATE, content=b"<Bundle/>", headers={"content-type": "application/fhir+xml"}
    )
    assert response.status_code == 415
    OperationOutcome.model_validate(response.json())


def test_an_incident_recorded_on_the_episode_withholds_the_violence_risk_assessment(
    client: TestClient,
) -> None:
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["client"]["violent_incident_this_episode"] = True
    history = ClientHistory.model_validate(body)
    bundle = json.loads(bundle_from_history(history).model_dump_json())
    assert history_from_bundle(bundle).history.client.violent_incident_this_episode is True
    response = evaluate(client, bundle)
    assert response.status_code == 200, response.text
    (dropout,) = resources(response.json(), "RiskAssessment")
    assert dropout["prediction"][0]["outcome"]["coding"][0]["code"] == "dropout"
    assert any("first incident" in note["text"] for note in dropout["note"])


def test_without_the_incident_extension_the_flag_stays_unknown() -> None:
    read = history_from_bundle(example_bundle()).history
    assert read.client.violent_incident_this_episode is None
