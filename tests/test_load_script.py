"""The load-test script runs, keeps to loopback, and reports percentiles and errors.

The 60-second run itself is not part of `make test`; see README "Load".
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from credentials import CLINIC_KEY, secured_settings
from servers import free_port

from service.app import create_app
from training.pipeline import TrainingOutcome

sys.path.insert(0, str(Path(__file__).parent / "load"))
from load_test import run_load


@pytest.fixture(scope="module")
def live_url(
    trained_model: TrainingOutcome, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The service in this process, on a loopback port, through uvicorn."""
    folder = tmp_path_factory.mktemp("load")
    settings = secured_settings(
        audit_database_url=f"sqlite:///{folder / 'audit.db'}", rate_limit_per_minute=0
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_a_short_steady_run_reports_latency_percentiles_and_no_errors(live_url: str) -> None:
    report = run_load(live_url, rate=20, duration=2, api_key=CLINIC_KEY)
    assert report.sent == 40
    assert report.errors == 0, report.statuses
    assert 0 < report.p50_ms <= report.p95_ms <= report.p99_ms <= report.max_ms


def test_wrong_credentials_count_as_errors(live_url: str) -> None:
    report = run_load(live_url, rate=10, duration=0.5, api_key="ar_wrong")
    assert report.errors == report.sent == 5
    assert report.statuses == {"401": 5}


@pytest.mark.parametrize("url", ["http://192.0.2.1:8000", "http://example.org"])
def test_the_script_refuses_any_address_but_loopback(url: str) -> None:
    with pytest.raises(SystemExit, match="loopback"):
        run_load(url, rate=1, duration=1)
