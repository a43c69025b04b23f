"""`GET /metrics`: Prometheus text for whoever holds the scrape token, and for no one else.

Off unless `ALLIANCE_RISK_METRICS_TOKEN` is set (then 404, as for any unknown path), and
left out of the API description: it is for the people who run the service, not for its
callers. The token is compared in constant time.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.deps import MetricsDep, SettingsDep

router = APIRouter(tags=["operations"], include_in_schema=False)


@router.get("/metrics")
def scrape(request: Request, settings: SettingsDep, metrics: MetricsDep) -> Response:
    if settings.metrics_token is None:
        raise HTTPException(404, "no resource here")
    expected = f"Bearer {settings.metrics_token.get_secret_value()}"
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(
            401,
            "send the scrape token as 'Authorization: Bearer <ALLIANCE_RISK_METRICS_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="alliance-risk metrics"'},
        )
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
