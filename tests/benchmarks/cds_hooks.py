"""CDS Hooks `patient-view` call with full prefetch: latency of the card service.

Usage: .venv/bin/python tests/benchmarks/cds_hooks.py (after `make bench`, which trains the
model it serves). Appends its table to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import (
    ROOT,
    add_section,
    cpu_seconds,
    free_port,
    load_average,
    our_server,
    server,
    wrk,
)
from run_all import environment

SERVICE = "/cds-services/alliance-risk-patient-view"


def prefetch_call(data: Path) -> dict:
    """A patient-view call whose prefetch holds one synthetic client's FHIR resources."""
    from data_schemas.fhir.writing import bundle_from_history
    from data_schemas.histories import history_from_tables
    from data_schemas.tables import load_clinic_data

    tables = load_clinic_data(data)
    history = history_from_tables(tables, str(tables.clients["client_id"].iloc[0]), as_of=3)
    resources = [
        e["resource"] for e in json.loads(bundle_from_history(history).model_dump_json())["entry"]
    ]

    def searchset(*types: str) -> dict:
        found = [r for r in resources if r["resourceType"] in types]
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "entry": [{"resource": r} for r in found],
        }

    patient = next(r for r in resources if r["resourceType"] == "Patient")
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/benchmark", "patientId": patient["id"]},
        "prefetch": {
            "patient": patient,
            "episodes": searchset("EpisodeOfCare", "Practitioner"),
            "sessions": searchset("Encounter"),
            "ratings": searchset("Observation"),
            "questionnaires": None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    home, data = args.work / "train-20000", args.work / "cohort-20000"
    body = prefetch_call(data)
    port = free_port()
    command = our_server(port)
    rows = []
    loads = [load_average()]
    with server(command, environment(home), f"http://127.0.0.1:{port}/readyz") as process:
        for connections in (1, 8):
            before = cpu_seconds(process.pid)
            result = wrk(
                f"http://127.0.0.1:{port}{SERVICE}",
                body,
                connections=connections,
                seconds=args.seconds,
            )
            # The server's CPU per call moves less with other load than its latency does.
            cpu_ms = (cpu_seconds(process.pid) - before) / max(result.requests, 1) * 1000
            rows.append((connections, result, cpu_ms))
    loads.append(load_average())
    lines = [
        "",
        "## 7. CDS Hooks `patient-view` with full prefetch (one worker)",
        "",
        "| connections | req/s | p50 ms | p99 ms | server CPU ms per call | errors |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {c} | {r.requests_per_second:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {cpu:.1f} "
        f"| {r.errors} |"
        for c, r, cpu in rows
    ]
    lines += [
        "",
        f"Load average (1/5/15 min) {' to '.join(loads)}. Authentication is off here: a CDS "
        "client signs a fresh single-use JWT for every call, which a replayed wrk request "
        "cannot carry.",
        "",
        "`.venv/bin/python tests/benchmarks/cds_hooks.py`",
        "",
    ]
    add_section(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
