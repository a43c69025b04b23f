"""`POST /v1/predictions` for one client and `POST /v1/predictions:batch` for many."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from models.predictor import NotPredictableError
from service.answers.bodies import openapi_body, strict_item
from service.answers.predictions import identity, predict
from service.answers.problems import PREDICTION_ERRORS, invalid_input, problem, problem_response
from service.answers.schemas import BatchItem, BatchRequest, BatchResponse, PredictionResponse
from service.deps import (
    HISTORY_BODY_DOC,
    AuditNotesDep,
    BatchBody,
    HistoryBody,
    RequestIdDep,
    ServedModelDep,
    SettingsDep,
    ThreadTripsDep,
)

router = APIRouter(prefix="/v1", tags=["predictions"])


@router.post(
    "/predictions",
    response_model=PredictionResponse,
    responses=PREDICTION_ERRORS,
    summary="Dropout and violence risk for one client, with explanations",
    openapi_extra=HISTORY_BODY_DOC,
)
async def create_prediction(
    history: HistoryBody,
    served: ServedModelDep,
    request_id: RequestIdDep,
    audit: AuditNotesDep,
    threads: ThreadTripsDep,
    request: Request,
) -> Response:
    """Calibrated probabilities, bands, percentiles and exact SHAP explanations after the
    sessions given (the first five are used)."""
    try:
        answer = await threads.run(predict, served, history, request_id)
    except NotPredictableError as error:
        audit.add(history.client.client_id, model_version=served.version)
        return problem_response(
            problem(422, "Cannot predict", str(error), slug="not-predictable", request=request)
        )
    audit.add_prediction(history.client.client_id, answer)
    # Serialised here rather than by FastAPI, which would validate the finished answer
    # against its own model a second time; the schema is still published via response_model.
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post(
    "/predictions:batch",
    response_model=BatchResponse,
    responses=PREDICTION_ERRORS,
    summary="The same answer for many clients; a bad item fails alone",
    openapi_extra=openapi_body(
        BatchRequest, {"two clients": {"value": {"items": [EXAMPLE_HISTORY, EXAMPLE_HISTORY]}}}
    ),
)
def create_predictions_batch(
    batch: BatchBody,
    served: ServedModelDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
    audit: AuditNotesDep,
    request: Request,
) -> BatchResponse | JSONResponse:
    """Each item is validated and predicted on its own: its result carries either a
    prediction (status 200) or a problem document (status 422) naming the field."""
    if len(batch.items) > settings.max_batch_size:
        limit = f"a batch holds at most {settings.max_batch_size} clients; split it"
        return problem_response(
            problem(
                422,
                "Invalid input",
                limit,
                slug="invalid-input",
                request=request,
                errors=[{"pointer": "/items", "message": limit}],
            )
        )
    results = []
    for index, item in enumerate(batch.items):
        item_id = f"{request_id}-{index}"
        try:
            history = strict_item(ClientHistory, item)
            answer = predict(served, history, item_id)
            results.append(BatchItem(index=index, status=200, prediction=answer))
            audit.add_prediction(history.client.client_id, answer, item_index=index)
        except ValidationError as error:
            detail = invalid_input(list(error.errors()))
            for entry in detail.errors:
                entry["pointer"] = f"/items/{index}" + entry["pointer"].rstrip("/")
            results.append(BatchItem(index=index, status=422, error=detail))
            audit.add(
                _client_id(item), model_version=served.version, item_index=index, item_status=422
            )
        except NotPredictableError as error:
            results.append(
                BatchItem(
                    index=index,
                    status=422,
                    error=problem(422, "Cannot predict", str(error), slug="not-predictable"),
                )
            )
            audit.add(
                _client_id(item), model_version=served.version, item_index=index, item_status=422
            )
    return BatchResponse(request_id=request_id, model=identity(served), results=results)


def _client_id(item: dict[str, Any]) -> str | None:
    """The client id of an item that failed validation, if it has one, for the audit trail."""
    client = item.get("client")
    client_id = client.get("client_id") if isinstance(client, dict) else None
    return client_id if isinstance(client_id, str) else None
