"""Serving replicas: the service holds no state of its own beyond the shared database, so two
processes started together, as a rollout behind a load balancer would start them (after
`alliance-risk db upgrade`), serve the same champion with the same answers, audit every
request exactly once into one PostgreSQL database, and keep the CDS Hooks state there: a
token used on one replica is refused by the other, feedback on a card one replica issued
is recognised by the other, and headless Chromium opens a card's report link from one
replica at the other (and is refused an altered or expired one).
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from browser import console_messages, run_chromium
from cds_support import ENDPOINT, full_prefetch, hook_call
from credentials import AUDIENCE, CDS_SETTINGS, CLINIC_KEY, cds_token, key_header
from postgres import create_database
from security_env import server_environment
from servers import RunningServer, start_server
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alliance_risk_cli import app as cli
from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from service.audit.store import AuditTrail
from service.ehr.cds.records import FeedbackRecord
from service.reports.links import ReportLinks
from training.pipeline import TrainingOutcome

pytestmark = pytest.mark.slow

REPLICAS = 2
#: Client histories; each goes to every replica, in turn.
HISTORIES = 10
HMAC_KEY = "replica-test-key-0123456789abcdef"
LINK_KEY = "replica-report-link-key-0123456789"


@dataclass(frozen=True)
class Answer:
    replica: int
    client_id: str
    status: int
    request_id: str
    body: dict[str, Any]


@pytest.fixture(scope="module")
def database_url(postgres_url: str) -> str:
    """The shared database, brought to this code's schema as before a rollout."""
    url = create_database(postgres_url, "replicas")
    upgraded = CliRunner().invoke(
        cli, ["db", "upgrade"], env={"ALLIANCE_RISK_AUDIT_DATABASE_URL": url}
    )
    assert upgraded.exit_code == 0, upgraded.output
    return url


@pytest.fixture(scope="module")
def replicas(
    trained_model: TrainingOutcome, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningServer]]:
    """Two `alliance-risk serve` processes, started at once on the shared database, with
    the same registry, database URL, HMAC key, API keys and CDS client keys."""
    logs = tmp_path_factory.mktemp("replica_logs")
    env = server_environment(
        audit_database_url=database_url,
        audit_hmac_key=HMAC_KEY,
        clinic_key=CLINIC_KEY,
        report_link_key=LINK_KEY,
        **{
            name: json.dumps(value) if isinstance(value, list) else value
            for name, value in CDS_SETTINGS.items()
        },
    )
    with ThreadPoolExecutor(REPLICAS) as pool:
        starting = [
            pool.submit(start_server, env, logs / f"replica-{number}.log")
            for number in range(REPLICAS)
        ]
    started = [future.result() for future in starting if future.exception() is None]
    failures = [future.exception() for future in starting if future.exception() is not None]
    try:
        if failures:
            raise failures[0]
        yield started
    finally:
        for server in started:
            server.stop()


def client_history(number: int) -> dict[str, Any]:
    """The example history with its own client id and session-3 alliance (WAI-SR 15-51)."""
    body = copy.deepcopy(EXAMPLE_HISTORY)
    body["client"]["client_id"] = f"replica-client-{number}"
    body["sessions"][2]["alliance_score"] = 15 + 4 * number
    return body


@pytest.fixture(scope="module")
def answers(replicas: list[RunningServer]) -> list[Answer]:
    """Every history sent to each replica, alternating between them."""
    http = [
        httpx.Client(base_url=server.url, headers=key_header(), timeout=30) for server in replicas
    ]
    collected = []
    try:
        for number in range(HISTORIES):
            body = client_history(number)
            for replica, client in enumerate(http):
                response = client.post("/v1/predictions", json=body)
                collected.append(
                    Answer(
                        replica,
                        body["client"]["client_id"],
                        response.status_code,
                        response.headers.get("X-Request-ID", ""),
                        response.json(),
                    )
                )
    finally:
        for client in http:
            client.close()
    return collected


def probabilities(answer: Answer) -> dict[str, float]:
    return {
        outcome: result["probability"] for outcome, result in answer.body["predictions"].items()
    }


def test_both_replicas_answer_with_the_same_champion(
    answers: list[Answer], trained_model: TrainingOutcome
) -> None:
    assert [answer.status for answer in answers] == [200] * len(answers)
    assert Counter(answer.replica for answer in answers) == dict.fromkeys(
        range(REPLICAS), HISTORIES
    )
    assert {answer.body["model"]["version"] for answer in answers} == {trained_model.version}


def test_both_replicas_give_the_same_probabilities_for_the_same_history(
    answers: list[Answer],
) -> None:
    by_client: dict[str, list[dict[str, float]]] = {}
    for answer in answers:
        by_client.setdefault(answer.client_id, []).append(probabilities(answer))
    assert len(by_client) == HISTORIES
    for client_id, per_replica in by_client.items():
        assert len(per_replica) == REPLICAS
        assert all(p == per_replica[0] for p in per_replica), client_id
    # The histories differ, so the replicas agree on answers that are not one constant.
    assert len({probabilities(answer)["dropout"] for answer in answers}) > 1


def test_every_request_is_audited_exactly_once_in_the_shared_database(
    answers: list[Answer], database_url: str, trained_model: TrainingOutcome
) -> None:
    trail = AuditTrail(database_url, HMAC_KEY.encode())
    try:
        records = [r for r in trail.records() if r.endpoint == "POST /v1/predictions"]
        expected_hash = {
            answer.request_id: trail.client_hash(answer.client_id) for answer in answers
        }
    finally:
        trail.dispose()
    assert Counter(record.request_id for record in records) == dict.fromkeys(expected_hash, 1)
    for record in records:
        assert (record.caller, record.status) == ("clinic-ehr", 200)
        assert record.model_version == trained_model.version
        assert record.client_hash == expected_hash[record.request_id]


def cds_call(server: RunningServer, token: str) -> httpx.Response:
    return httpx.post(
        server.url + ENDPOINT,
        json=hook_call(full_prefetch()),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_cds_token_used_on_one_replica_is_refused_by_the_other(
    replicas: list[RunningServer],
) -> None:
    token = cds_token(ENDPOINT)
    assert cds_call(replicas[0], token).status_code == 200
    replayed = cds_call(replicas[1], token)
    assert replayed.status_code == 401
    assert "already used" in replayed.json()["detail"]


def test_feedback_on_a_card_from_one_replica_is_recognised_by_the_other(
    replicas: list[RunningServer], database_url: str
) -> None:
    (card,) = cds_call(replicas[0], cds_token(ENDPOINT)).json()["cards"]
    feedback = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-03-24T10:05:31Z",
    }
    response = httpx.post(
        f"{replicas[1].url}{ENDPOINT}/feedback",
        json={"feedback": [feedback]},
        headers={"Authorization": f"Bearer {cds_token(f'{ENDPOINT}/feedback')}"},
        timeout=30,
    )
    assert response.status_code == 200
    trail = AuditTrail(database_url, None)
    try:
        with Session(trail.engine) as session:
            kept = session.scalars(
                select(FeedbackRecord.known_card).where(FeedbackRecord.card == card["uuid"])
            ).all()
    finally:
        trail.dispose()
    assert kept == [True]


def card_link_at(replicas: list[RunningServer]) -> tuple[dict[str, Any], str]:
    """A card from the first replica, and its report link as the second one serves it (the
    load balancer in front of both answers at the configured public URL)."""
    (card,) = cds_call(replicas[0], cds_token(ENDPOINT)).json()["cards"]
    link = card["links"][0]["url"]
    assert link.startswith(f"{AUDIENCE}/v1/reports/")
    return card, link.replace(AUDIENCE, replicas[1].url, 1)


def test_chromium_opens_a_card_link_from_one_replica_at_the_other(
    replicas: list[RunningServer], chromium: str
) -> None:
    card, link = card_link_at(replicas)
    dom = run_chromium(chromium, "--dump-dom", link)
    assert "Estimated risks after session 3" in dom.stdout, dom.stderr[-2000:]
    dropout = re.search(r"Dropout risk \w+ \((\d+%)\)", card["summary"])
    assert dropout is not None
    assert dropout[1] in dom.stdout
    assert console_messages(dom.stderr) == []


def test_chromium_is_refused_an_altered_or_expired_link_with_a_problem_page(
    replicas: list[RunningServer], chromium: str, trained_model: TrainingOutcome
) -> None:
    _, link = card_link_at(replicas)
    base, token = link.rsplit("/", 1)
    altered = f"{base}/{token[:30]}{'A' if token[30] != 'A' else 'B'}{token[31:]}"
    sixteen_minutes_ago = ReportLinks(
        LINK_KEY.encode(), ttl_seconds=15 * 60, clock=lambda: time.time() - 16 * 60
    )
    expired = f"{base}/" + sixteen_minutes_ago.seal(
        ClientHistory.model_validate(EXAMPLE_HISTORY),
        model_version=trained_model.version,
        issued_to="cds:https://idp.example.org",
    )
    for url, heading in ((altered, "Report link not valid"), (expired, "Report link expired")):
        dom = run_chromium(chromium, "--dump-dom", url)
        assert f"<h1>{heading}</h1>" in dom.stdout, dom.stderr[-2000:]
        assert "Estimated risks" not in dom.stdout
