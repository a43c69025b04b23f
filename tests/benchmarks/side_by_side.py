"""The serving target alone, in under two minutes: ours against `mlflow models serve` at c=8.

Usage: .venv/bin/python tests/benchmarks/side_by_side.py [--server granian] [--workers 2]
(after `make bench`, which trains and promotes the model both serve).

Ours runs as the issue states the target: API-key authentication and the SQLite audit
trail (synchronous=FULL) on, explanations in every answer. The two systems take turns,
round by round, so load from anything else on this 2-core machine falls on both; the ratio
is the median of the per-round ratios, and the load average is printed with the figures.
Nothing is asserted: speed is measured, not tested.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import ROOT
from run_all import http


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=5, help="Length of one load round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="Our worker processes.")
    parser.add_argument(
        "--server",
        choices=("uvicorn", "granian"),
        default="uvicorn",
        help="Our ASGI server; granian is not a dependency (pip install granian to compare).",
    )
    args = parser.parse_args()
    rows, _ = http(
        args.work / "train-20000",
        args.work / "cohort-20000",
        args.seconds,
        args.rounds,
        connections=(args.connections,),
        workers=args.workers,
        server_name=args.server,
    )
    row = rows[0]
    print(
        f"c={args.connections}, {args.rounds} alternating rounds of {args.seconds} s, ours on "
        f"{args.server} with {args.workers} worker(s); load average {row['load_average']}"
    )
    print(
        f"ours {row['ours_requests_per_second']:.0f} req/s, p50 {row['ours_p50_ms']:.1f} ms, "
        f"p99 {row['ours_p99_ms']:.1f} ms, {row['ours_cpu_ms_per_request']:.2f} CPU ms/request, "
        f"{row['ours_errors']} errors; MLflow {row['mlflow_requests_per_second']:.0f} req/s, "
        f"p99 {row['mlflow_p99_ms']:.1f} ms, {row['mlflow_errors']} errors"
    )
    rounds = ", ".join(f"{ratio:.1f}x" for ratio in row["round_ratios"])
    print(f"throughput ours/MLflow: median {row['throughput_ratio']:.1f}x (rounds: {rounds})")


if __name__ == "__main__":
    main()
