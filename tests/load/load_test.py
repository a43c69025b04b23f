"""Hold a steady request rate against a running alliance-risk service and report latency.

    .venv/bin/python tests/load/load_test.py --url http://127.0.0.1:8000 --rate 20 --duration 60

Requests go out on a fixed schedule (an open loop: one every 1/rate seconds, whatever the
answers' pace), each for a different synthetic client, to `POST /v1/predictions`. The run
is bounded in time and count and refuses any address but this machine's loopback. It
prints the p50/p95/p99 latency and the error count, and exits 1 if any request failed.
The API key comes from --api-key or ALLIANCE_RISK_LOAD_API_KEY (none with auth disabled).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import ipaddress
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from data_schemas.examples import EXAMPLE_HISTORY

MAX_DURATION_SECONDS = 600
MAX_RATE = 500
MAX_IN_FLIGHT = 64


@dataclass
class LoadReport:
    target_rate: float
    duration_seconds: float
    sent: int
    achieved_rate: float
    statuses: dict[str, int]
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(
            f"refusing to load {host!r}: only loopback addresses (127.0.0.1) are allowed"
        )


def _body(number: int) -> dict:
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["client"]["client_id"] = f"load-{number:06d}"
    return body


def _percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _run(url: str, rate: float, duration: float, api_key: str | None) -> LoadReport:
    total = int(rate * duration)
    headers = {"X-API-Key": api_key} if api_key else {}
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as http:

        async def one(number: int) -> None:
            async with in_flight:
                started = time.perf_counter()
                try:
                    response = await http.post("/v1/predictions", json=_body(number))
                    statuses[str(response.status_code)] += 1
                except httpx.HTTPError as error:
                    statuses[type(error).__name__] += 1
                    return
                latencies.append((time.perf_counter() - started) * 1000)

        start = time.perf_counter()
        tasks = []
        for number in range(total):
            delay = start + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(number)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return LoadReport(
        target_rate=rate,
        duration_seconds=round(elapsed, 2),
        sent=total,
        achieved_rate=round(total / elapsed, 2),
        statuses=dict(statuses),
        errors=total - statuses.get("200", 0),
        p50_ms=round(statistics.median(ordered), 1) if ordered else float("nan"),
        p95_ms=round(_percentile(ordered, 0.95), 1),
        p99_ms=round(_percentile(ordered, 0.99), 1),
        max_ms=round(ordered[-1], 1) if ordered else float("nan"),
    )


def run_load(url: str, rate: float, duration: float, api_key: str | None = None) -> LoadReport:
    """Send `rate` requests a second for `duration` seconds; bounded and loopback only."""
    _loopback_only(url)
    if not 0 < rate <= MAX_RATE or not 0 < duration <= MAX_DURATION_SECONDS:
        raise SystemExit(f"keep 0 < rate <= {MAX_RATE} and 0 < duration <= {MAX_DURATION_SECONDS}")
    return asyncio.run(_run(url.rstrip("/"), rate, duration, api_key))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=20, help="requests per second")
    parser.add_argument("--duration", type=float, default=60, help="seconds")
    parser.add_argument("--api-key", default=os.environ.get("ALLIANCE_RISK_LOAD_API_KEY"))
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    options = parser.parse_args()
    report = run_load(options.url, options.rate, options.duration, options.api_key)
    if options.json:
        print(json.dumps(asdict(report)))
    else:
        print(
            f"{report.sent} requests in {report.duration_seconds} s "
            f"({report.achieved_rate}/s, target {report.target_rate}/s): "
            f"p50 {report.p50_ms} ms, p95 {report.p95_ms} ms, p99 {report.p99_ms} ms, "
            f"max {report.max_ms} ms; errors {report.errors}; statuses {report.statuses}"
        )
    sys.exit(1 if report.errors else 0)


if __name__ == "__main__":
    main()
