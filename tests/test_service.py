"""The REST API end to end: contract, explanations, errors and readiness."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from models.predictor import AllianceRiskModel, ModelMetadata
from service.app import create_app
from service.settings import Settings
from training.pipeline import TrainingOutcome


@pytest.fixture(scope="module")
def client(trained_model: TrainingOutcome) -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


def history(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE_HISTORY)
    for path, value in changes.items():
        target = body
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        target[keys[-1]] = value
    return body


def schema_validator(client: TestClient, component: str) -> Draft202012Validator:
    spec = client.get("/openapi.json").json()
    registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(spec))
    schema = {"$ref": f"urn:openapi#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=registry)


def test_prediction_round_trip_names_the_model(
    client: TestClient, trained_model: TrainingOutcome
) -> None:
    response = client.post("/v1/predictions", json=EXAMPLE_HISTORY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of_session"] == 3
    assert body["model"]["version"] == trained_model.version
    assert body["model"]["alias"] == "champion"
    assert body["model"]["synthetic_data"] is True
    assert any("synthetic data" in notice for notice in body["notices"])
    assert response.headers["X-Request-ID"] == body["request_id"]
    for outcome in ("dropout", "violence"):
        result = body["predictions"][outcome]
        assert 0 < result["probability"] < 1
        assert result["band"] in {"low", "moderate", "high"}
        assert 0 <= result["percentile"] <= 100
        assert result["summary"].endswith(".")


def test_explanations_add_up_to_the_logit_of_the_probability(client: TestClient) -> None:
    body = client.post("/v1/predictions", json=EXAMPLE_HISTORY).json()
    for result in body["predictions"].values():
        explanation = result["explanation"]
        total = explanation["base_value"] + sum(
            c["contribution"] for c in explanation["contributions"]
        )
        p = result["probability"]
        assert math.isclose(total, math.log(p / (1 - p)), abs_tol=1e-6)
        magnitudes = [abs(c["contribution"]) for c in explanation["contributions"]]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert all(c["label"] and c["display_value"] for c in explanation["contributions"])


def example_row(model: AllianceRiskModel) -> np.ndarray:
    """The example client's feature row at its landmark (session 3), built directly."""
    return model.features.transform_history(ClientHistory.model_validate(EXAMPLE_HISTORY), 3)


def test_each_contribution_is_the_shap_value_of_the_feature_it_names(
    client: TestClient, trained_model: TrainingOutcome
) -> None:
    body = client.post("/v1/predictions", json=EXAMPLE_HISTORY).json()
    model = trained_model.fitted.model
    row = example_row(model)
    names = list(model.features.get_feature_names_out())
    for outcome in ("dropout", "violence"):
        shap_values = model.outcomes[outcome].explain(row).contributions[0]
        expected = dict(zip(names, shap_values, strict=True))
        contributions = body["predictions"][outcome]["explanation"]["contributions"]
        assert sorted(c["feature"] for c in contributions) == sorted(names)
        for c in contributions:
            assert math.isclose(c["contribution"], expected[c["feature"]], abs_tol=1e-12)


def test_api_answer_equals_batch_scoring_of_the_same_client(
    client: TestClient, trained_model: TrainingOutcome
) -> None:
    body = client.post("/v1/predictions", json=EXAMPLE_HISTORY).json()
    model = trained_model.fitted.model
    row = example_row(model)
    for outcome in ("dropout", "violence"):
        expected = model.outcomes[outcome].score(row, np.array([3])).probability[0]
        assert math.isclose(body["predictions"][outcome]["probability"], expected, rel_tol=1e-12)


def test_responses_match_the_openapi_schema(client: TestClient) -> None:
    validator = schema_validator(client, "PredictionResponse")
    validator.validate(client.post("/v1/predictions", json=EXAMPLE_HISTORY).json())
    error = client.post("/v1/predictions", json=history(sessions__0__alliance_score=99))
    schema_validator(client, "ProblemDetail").validate(error.json())
    schema_validator(client, "ModelInfo").validate(client.get("/v1/model").json())


def test_batch_with_a_bad_item_fails_only_that_item(client: TestClient) -> None:
    bad = history(sessions__1__alliance_score=99)
    response = client.post(
        "/v1/predictions:batch", json={"items": [EXAMPLE_HISTORY, bad, EXAMPLE_HISTORY]}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 422, 200]
    assert results[1]["error"]["errors"][0]["pointer"] == "/items/1/sessions/1/alliance_score"
    assert results[0]["prediction"]["predictions"] == results[2]["prediction"]["predictions"]
    schema_validator(client, "BatchResponse").validate(response.json())


def test_batch_larger_than_the_cap_is_refused(trained_model: TrainingOutcome) -> None:
    with TestClient(create_app(Settings(max_batch_size=2))) as small:
        response = small.post("/v1/predictions:batch", json={"items": [EXAMPLE_HISTORY] * 3})
    assert response.status_code == 422
    assert "at most 2" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (history(client__favourite_colour="blue"), "/client/favourite_colour"),
        (history(sessions__0__alliance_score=61), "/sessions/0/alliance_score"),
        (history(sessions__2__session_number=4), "/sessions/2/session_number"),
        (history(sessions__2__session_number=2), "/sessions/2/session_number"),
        (history(sessions__1__session_date="2026-03-08"), "/sessions/1/session_date"),
        (history(sessions__0__session_date="2026-03-01"), "/sessions/0/session_date"),
        (history(sessions__2__attended=False), "/sessions/2/alliance_instrument"),
        (history(sessions__0__anxiety_gad7=22), "/sessions/0/anxiety_gad7"),
        (history(client__age_years=3), "/client/age_years"),
    ],
    ids=[
        "unknown-field",
        "score-out-of-range",
        "numbers-not-consecutive",
        "number-duplicated",
        "dates-out-of-order",
        "session-before-intake",
        "missed-session-with-rating",
        "gad7-out-of-range",
        "age-out-of-range",
    ],
)
def test_input_rules_give_422_with_the_field_pointer(
    client: TestClient, body: dict[str, Any], pointer: str
) -> None:
    response = client.post("/v1/predictions", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert pointer in [error["pointer"] for error in response.json()["errors"]]


def test_attended_session_without_rating_is_allowed(client: TestClient) -> None:
    body = history()
    for key in ("alliance_instrument", "alliance_score", "anxiety_gad7", "pre_session_distress"):
        body["sessions"][2].pop(key)
    response = client.post("/v1/predictions", json=body)
    assert response.status_code == 200
    values = {
        c["feature"]: c["display_value"]
        for c in response.json()["predictions"]["dropout"]["explanation"]["contributions"]
    }
    assert values["alliance_n_rated"] == "2"


def test_empty_session_list_is_refused_clearly(client: TestClient) -> None:
    response = client.post("/v1/predictions", json=history(sessions=[]))
    assert response.status_code == 422
    assert "not at intake" in response.json()["detail"]


def test_more_than_five_sessions_warns_and_uses_landmark_five(client: TestClient) -> None:
    body = history()
    for number in range(4, 8):
        body["sessions"].append(
            {
                "session_number": number,
                "session_date": f"2026-04-{number:02d}",
                "attended": True,
                "alliance_instrument": "WAI-SR",
                "alliance_score": 50,
            }
        )
    response = client.post("/v1/predictions", json=body).json()
    assert response["as_of_session"] == 5
    assert any("sessions after 5 were not used" in warning for warning in response["warnings"])


def test_error_bodies_do_not_repeat_submitted_values(client: TestClient) -> None:
    body = history(client__client_id="marker-7f3a9", sessions__0__alliance_score=59.123)
    body["client"]["therapist_id"] = "therapist-marker-55"
    response = client.post("/v1/predictions", json=body)
    assert response.status_code == 422
    assert "marker-7f3a9" not in response.text
    assert "59.123" not in response.text
    assert "therapist-marker-55" not in response.text


def test_model_endpoint_describes_the_champion(
    client: TestClient, trained_model: TrainingOutcome
) -> None:
    body = client.get("/v1/model").json()
    assert body["model"]["version"] == trained_model.version
    assert {f["name"] for f in body["features"]} >= {
        "alliance_z_last",
        "therapist_dropout_rate_oof",
    }
    assert set(body["band_thresholds"]) == {"dropout", "violence"}
    assert set(body["band_thresholds"]["dropout"]) == {"1", "2", "3", "4", "5"}
    assert "per session" in body["band_rule"]
    assert "synthetic data" in body["model_card_markdown"]


def test_model_endpoint_shows_decision_curves_with_the_band_thresholds(
    client: TestClient, trained_model: TrainingOutcome
) -> None:
    curves = client.get("/v1/model").json()["validation"]["decision_curves"]
    for outcome in ("dropout", "violence"):
        assert len(curves[outcome]["thresholds"]) == 50
        net_benefit = curves[outcome]["net_benefit"]
        assert {"LightGBM (calibrated)", "alliance_only_logistic", "treat all"} <= set(net_benefit)
        assert set(net_benefit["treat none"]) == {0.0}
        at_bands = curves[outcome]["at_band_thresholds"]
        bands = trained_model.fitted.model.outcomes[outcome].thresholds.by_landmark
        assert set(at_bands) == {str(k) for k in bands}
        for k, thresholds in bands.items():
            assert at_bands[str(k)]["high"]["threshold"] == pytest.approx(thresholds.high)


def test_a_model_registered_before_decision_curves_is_still_described(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions pickled without `validation` load with it empty and are served as before."""
    served = client.app.state.model_holder.get()
    older = ModelMetadata.__new__(ModelMetadata)
    older.__dict__.update(
        {k: v for k, v in served.predictor.metadata.__dict__.items() if k != "validation"}
    )
    monkeypatch.setattr(served.predictor, "metadata", pickle.loads(pickle.dumps(older)))
    response = client.get("/v1/model")
    assert response.status_code == 200, response.text
    assert response.json()["validation"] == {}


def test_band_thresholds_can_be_overridden(trained_model: TrainingOutcome) -> None:
    settings = Settings(band_thresholds={"dropout": {"moderate": 0.001, "high": 0.002}})
    with TestClient(create_app(settings)) as overridden:
        body = overridden.post("/v1/predictions", json=EXAMPLE_HISTORY).json()
    assert body["predictions"]["dropout"]["band"] == "high"
    assert body["predictions"]["dropout"]["band_thresholds"] == {"moderate": 0.001, "high": 0.002}


def test_without_a_model_the_service_is_alive_but_not_ready(mlflow_home: Any) -> None:
    settings = Settings(model_uri="models:/alliance-risk@no-such-alias")
    with TestClient(create_app(settings)) as unready:
        assert unready.get("/healthz").status_code == 200
        ready = unready.get("/readyz")
        assert ready.status_code == 503
        assert "could not be loaded" in ready.json()["reason"]
        predicted = unready.post("/v1/predictions", json=EXAMPLE_HISTORY)
        assert predicted.status_code == 503
        assert predicted.json()["title"] == "Model not ready"


def test_no_violence_estimate_once_an_incident_is_recorded_in_the_episode(
    client: TestClient,
) -> None:
    response = client.post(
        "/v1/predictions", json=history(client__violent_incident_this_episode=True)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["predictions"]) == {"dropout"}
    assert "first incident" in body["withheld"]["violence"]
    schema_validator(client, "PredictionResponse").validate(body)


def test_the_violence_estimate_says_when_it_assumes_no_incident_so_far(client: TestClient) -> None:
    unknown = client.post("/v1/predictions", json=EXAMPLE_HISTORY).json()
    assert any("assumes no violent incident" in warning for warning in unknown["warnings"])
    told = client.post(
        "/v1/predictions", json=history(client__violent_incident_this_episode=False)
    ).json()
    assert not any("assumes no violent incident" in warning for warning in told["warnings"])
    assert set(told["predictions"]) == {"dropout", "violence"}
    assert told["withheld"] == {}
