"""Time `alliance-risk train` on one synthetic cohort size, as `make bench` does, on its own.

`make bench` measures training among everything else; this measures only training, so a
change to the training run can be compared before and after in a few minutes:

    .venv/bin/python tests/benchmarks/training_time.py --clients 100000 --work /tmp/bench

The cohort is written once into `--work` (seed 7) and reused by later runs; each run trains
into a fresh MLflow store. Extra arguments after `--` go to `alliance-risk train`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import machine, measure
from run_all import cli, environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path("var/bench"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("train_args", nargs="*", help="extra arguments of alliance-risk train")
    args = parser.parse_args()
    data = args.work / f"cohort-{args.clients}"
    env = environment(args.work / f"train-{args.clients}")
    if not (data / "parameters.json").exists():
        synth = ["synth", "--clients", str(args.clients), "--seed", "7", "--out", str(data)]
        measure(cli(*synth), env, args.timeout)
    shutil.rmtree(args.work / f"train-{args.clients}", ignore_errors=True)
    command = cli("train", "--data", str(data), "--seed", "0", *args.train_args)
    run = measure(command, env, args.timeout)
    print(run.stdout)
    print(machine())
    print(
        f"{args.clients:,} clients: {run.seconds:.0f} s wall, "
        f"{run.peak_rss_mib:,.0f} MiB peak memory ({' '.join(command[1:])})"
    )


if __name__ == "__main__":
    main()
