"""Dependencies as typed aliases, so a route's signature reads like its contract."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.audit.store import AuditTrail
from service.model.holder import ModelHolder, ServedModel
from service.settings import Settings


def _holder(request: Request) -> ModelHolder:
    return request.app.state.model_holder


def _served(request: Request) -> ServedModel:
    return _holder(request).get()


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _request_id(request: Request) -> str:
    return request.state.request_id


def _audit_trail(request: Request) -> AuditTrail:
    return request.app.state.audit_trail


HolderDep = Annotated[ModelHolder, Depends(_holder)]
ServedModelDep = Annotated[ServedModel, Depends(_served)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RequestIdDep = Annotated[str, Depends(_request_id)]
AuditTrailDep = Annotated[AuditTrail, Depends(_audit_trail)]
