"""Request bodies read as JSON and checked strictly against the schema the API publishes.

FastAPI validates a parsed body in pydantic's lax Python mode, where `false` passes as the
integer 0 and `0` as the date 1970-01-01: values of the wrong JSON type that the API
description says are refused. These bodies are read with pydantic's strict JSON mode
instead, which takes exactly the JSON types the description names (a date as a
`YYYY-MM-DD` string, an integer as an integer). Each route documents its body with
`openapi_body`, and `service.answers.contract` adds the schemas to the description.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def _integral(text: str) -> int | float:
    """A JSON number with a fraction or exponent; an integer when it has no fractional part.

    JSON Schema counts 24.0 as an integer, so the description lets a caller send it where
    an integer is asked for; pydantic's strict mode would not.
    """
    number = float(text)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def strict(model: type[Model], data: bytes | str, *, every_field_typed: bool = False) -> Model:
    """`data` (JSON text) as `model`, strictly; `RequestValidationError` names each field.

    With `every_field_typed` (a model without free-form `Any` values, such as a client
    history), a body is first read in one pass by pydantic-core; a body that pass refuses
    (24.0 for an integer, say, or text that is not UTF-8) is read again as below, so the
    answer and every error stay those of the two-step reading. A free-form value would
    keep 24.0 where the two-step reading makes it 24, so such models always take it.
    """
    if every_field_typed:
        try:
            return model.model_validate_json(data, strict=True)
        except ValidationError:
            pass
    return reparsed(model, data)


def reparsed(model: type[Model], data: bytes | str) -> Model:
    """`data` read by Python's JSON parser, integral numbers as integers, then validated."""
    try:
        value = json.loads(data, parse_float=_integral)
    except ValueError:  # not JSON, or not UTF-8
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": (), "msg": "the body must be JSON text in UTF-8"}]
        ) from None
    try:
        return strict_item(model, value)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False, include_input=False)) from None


def strict_item(model: type[Model], item: Any) -> Model:
    """One already-parsed JSON value (such as a batch item) as `model`, as strictly.

    Strict JSON mode, not strict Python mode: JSON has no date or enum type, so only its
    JSON form can be checked as the description states it (a date as a string).
    """
    return model.model_validate_json(json.dumps(item), strict=True)


def strict_json(
    model: type[Model], *, every_field_typed: bool = False
) -> Callable[[Request], Awaitable[Model]]:
    """A dependency that reads the request body as `model`, strictly (see `strict`)."""

    async def read(request: Request) -> Model:
        return strict(model, await request.body(), every_field_typed=every_field_typed)

    read.__name__ = f"read_{model.__name__}"
    return read


def openapi_body(model: type[BaseModel], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `openapi_extra` of a route whose required JSON body is `model`."""
    content: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    if examples:
        content["examples"] = examples
    return {"requestBody": {"required": True, "content": {"application/json": content}}}
