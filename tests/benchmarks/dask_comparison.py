"""Distributed (Dask LocalCluster, 2 workers) against single-machine training and scoring.

Usage: .venv/bin/python tests/benchmarks/dask_comparison.py [--clients N] [--work DIR]
Appends its table to BENCHMARKS.md. The cluster runs on this machine, so the comparison
shows the cost of the distributed path where it cannot pay off (two cores in all).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from distributed import LocalCluster

sys.path.insert(0, str(Path(__file__).parent))

from harness import ROOT, measure
from run_all import cli, environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-distributed")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / f"cohort-{args.clients}"
    if not (data / "parameters.json").exists():
        measure(
            cli("synth", "--clients", str(args.clients), "--seed", "7", "--out", str(data)),
            environment(args.work / "synth"),
            900,
        )
    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        for name, extra in (
            ("single machine", []),
            ("Dask LocalCluster, 2 workers", ["--dask", cluster.scheduler_address]),
        ):
            home = args.work / name.split()[0].lower()
            env = environment(home)
            trained = measure(cli("train", "--data", str(data), "--seed", "0", *extra), env, 1200)
            measure(cli("promote", "1", "--force", "--reason", "benchmark"), env, 300)
            suffix = "" if extra else ".parquet"
            out = args.work / f"scores-{name.split()[0].lower()}{suffix}"
            scored = measure(
                cli("score", "--data", str(data), "--out", str(out), "--explain", *extra), env, 1200
            )
            rows.append((name, trained.seconds, trained.peak_rss_mib, scored.seconds))
    lines = [
        "",
        f"## 7. Distributed against single machine ({args.clients:,} clients)",
        "",
        "Training includes validation, features, both models, calibration, evaluation and MLflow "
        "logging; scoring writes every client's latest landmark with explanations. Peak memory "
        "is the command's own process (the Dask workers are separate processes).",
        "",
        "| path | training | training peak memory | scoring with explanations |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {t:.0f} s | {m:.0f} MiB | {s:.0f} s |" for name, t, m, s in rows]
    lines += [
        "",
        f"`.venv/bin/python tests/benchmarks/dask_comparison.py --clients {args.clients}`",
        "",
    ]
    with args.out.open("a") as handle:
        handle.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
