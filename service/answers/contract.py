"""The API description states every rule the server enforces on a request body.

Request bodies are read strictly (`service.answers.bodies`), so FastAPI does not derive
their schemas: they are added here from the same pydantic models, which carry their own
cross-field rules as JSON Schema (`if`/`then`). Added here are the rules of this service
rather than of the models: a prediction needs at least one session, a batch holds at
most the configured number of clients, a CDS call names a hook this service answers and
a FHIR patient id, and CDS endpoints take the CDS client's JWT. Rules JSON Schema cannot
state (fields that must be equal, dates that must increase) are in the descriptions.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from data_schemas.records import ClientHistory
from service.answers.schemas import BatchRequest
from service.ehr.cds.catalog import SERVICES
from service.ehr.cds.client_auth import CDS_CLIENT_JWT, CDS_CLIENT_JWT_SCHEME
from service.ehr.cds.gather import FHIR_ID
from service.ehr.cds.hooks import CdsRequest, FeedbackRequest
from service.settings import Settings

REQUEST_MODELS = (ClientHistory, BatchRequest, CdsRequest, FeedbackRequest)


def _request_schemas(settings: Settings) -> dict[str, Any]:
    _, generated = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = generated["$defs"]
    history = schemas["ClientHistory"]
    history["required"] = sorted({*history["required"], "sessions"})
    history["properties"]["sessions"]["minItems"] = 1
    history["description"] += (
        " At least one session: the model predicts after sessions 1 to 5, not at intake."
    )
    schemas["BatchRequest"]["properties"]["items"]["maxItems"] = settings.max_batch_size
    call = schemas["CdsRequest"]["properties"]
    call["hook"]["enum"] = sorted({service.hook for service in SERVICES.values()})
    call["context"].update(
        {
            "required": ["patientId"],
            "properties": {
                "patientId": {"type": "string", "pattern": FHIR_ID.pattern, "maxLength": 64}
            },
        }
    )
    return schemas


def describe_request_bodies(app: FastAPI, settings: Settings) -> None:
    """Add the request bodies' schemas, and the CDS client JWT scheme, to the description."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()
        components = spec.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name, schema in _request_schemas(settings).items():
            schemas.setdefault(name, schema)
        components.setdefault("securitySchemes", {})[CDS_CLIENT_JWT] = CDS_CLIENT_JWT_SCHEME
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
