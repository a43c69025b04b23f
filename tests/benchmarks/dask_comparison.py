"""Distributed (Dask LocalCluster, 2 workers) against single-machine training and scoring.

Usage: .venv/bin/python tests/benchmarks/dask_comparison.py [--clients N ...] [--paths ...]
Each path's figures are kept in `<work>/figures-<clients>.json`, so the two paths can be
measured in separate runs; the table of all figures recorded is appended to BENCHMARKS.md. The cluster runs on this machine, so the comparison shows the cost of the
distributed path where it has only two cores in all.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import sys
from pathlib import Path

import pyarrow.dataset
from distributed import Client, LocalCluster

sys.path.insert(0, str(Path(__file__).parent))

from harness import ROOT, add_section, measure
from run_all import cli, environment

# The cluster starts in this process: its scheduler and workers must unpickle this
# checkout's modules, not those of another install of the package in the same venv.
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = str(ROOT)

PATHS = {"single": "single machine", "dask": "Dask LocalCluster, 2 workers"}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scores(work: Path, path: str, clients: int) -> Path:
    """Where `score` writes: one Parquet file, or a partitioned dataset with --dask."""
    return work / f"scores-{path}-{clients}{'' if path == 'dask' else '.parquet'}"


def _run_path(path: str, data: Path, work: Path, clients: int) -> dict[str, float]:
    """Train, promote and score with explanations through the CLI; time each step."""
    timeout = max(1200.0, clients / 100_000 * 1200.0)
    env = environment(work / f"{path}-{clients}")
    with contextlib.ExitStack() as stack:
        extra: list[str] = []
        if path == "dask":
            cluster = stack.enter_context(
                LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
            )
            client = stack.enter_context(Client(cluster))
            extra = ["--dask", cluster.scheduler_address]
        trained = measure(cli("train", "--data", str(data), "--seed", "0", *extra), env, timeout)
        measure(cli("promote", "1", "--force", "--reason", "benchmark"), env, 300)
        out = _scores(work, path, clients)
        scored = measure(
            cli("score", "--data", str(data), "--out", str(out), "--explain", *extra), env, timeout
        )
        workers = client.run(_peak_rss_mib) if extra else {}
    return {
        "training_seconds": trained.seconds,
        "training_peak_mib": trained.peak_rss_mib,
        "worker_peaks_mib": sorted(workers.values()),
        "scoring_seconds": scored.seconds,
    }


def _table(records: dict[int, dict[str, dict[str, float | str]]], work: Path) -> list[str]:
    lines = [
        "",
        "## 8. Distributed against single machine",
        "",
        "Training includes validation, features, both models, calibration, evaluation and "
        "MLflow logging. Scoring writes every client's latest landmark with explanations; its "
        "rows/s count the whole command (start-up, validation, features, explanations, "
        "writing). Peak memory is the command's own process; for Dask, each worker's peak "
        "(separate processes, over training and scoring) follows the plus sign; figures "
        "recorded before issue 20 show the two workers' sum. These runs take "
        "about an hour, so `make bench` shows the figures last recorded, with their date.",
        "",
        "| clients | path | training | peak memory | scoring with explanations | scored rows/s "
        "| measured |",
        "|---|---|---|---|---|---|---|",
    ]
    for clients, figures in records.items():
        for path, name in PATHS.items():
            if path not in figures:
                continue
            row = figures[path]
            memory = f"{row['training_peak_mib']:,.0f} MiB"
            # Figures recorded before issue 20 kept only the workers' sum.
            peaks = row.get("worker_peaks_mib") or [row.get("worker_peak_mib", 0)]
            if any(peaks):
                memory += " + " + " / ".join(f"{peak:,.0f}" for peak in peaks) + " MiB"
            rows = pyarrow.dataset.dataset(_scores(work, path, clients)).count_rows()
            lines.append(
                f"| {clients:,} | {name} | {row['training_seconds']:,.0f} s | {memory} "
                f"| {row['scoring_seconds']:,.0f} s | {rows / row['scoring_seconds']:,.0f} "
                f"| {row.get('measured_on', 'not recorded')} |"
            )
    if not any(records.values()):
        lines.append("| | not measured on this machine yet | | | | | |")
    sizes = " ".join(str(clients) for clients in records)
    return [
        *lines,
        "",
        f"`.venv/bin/python tests/benchmarks/dask_comparison.py --clients {sizes}` measures "
        "both paths; `--paths single` or `--paths dask` one of them, and `--paths` alone "
        "only prints the table.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, nargs="+", default=[100_000])
    parser.add_argument("--paths", nargs="*", choices=sorted(PATHS), default=sorted(PATHS))
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-distributed")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    records = {}
    for clients in args.clients:
        record = args.work / f"figures-{clients}.json"
        figures = json.loads(record.read_text()) if record.exists() else {}
        if args.paths:
            data = args.work / f"cohort-{clients}"
            if not (data / "parameters.json").exists():
                measure(
                    cli("synth", "--clients", str(clients), "--seed", "7", "--out", str(data)),
                    environment(args.work / "synth"),
                    3600,
                )
        for path in args.paths:
            figures[path] = _run_path(path, data, args.work, clients) | {
                "measured_on": dt.date.today().isoformat()
            }
            record.write_text(json.dumps(figures, indent=2))
        records[clients] = figures
    lines = _table(records, args.work)
    add_section(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
