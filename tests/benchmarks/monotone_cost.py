"""What the registry's monotone constraints cost: the same cohort, seed and split trained with
and without them, held-out AUROC and calibration side by side (README, "Directions from the
evidence").

    .venv/bin/python tests/benchmarks/monotone_cost.py [--clients 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import functools
from unittest import mock

from training import fitting
from training.boosting import fit_booster
from training.synthetic import generate_cohort

METRICS = ("auroc", "calibration_slope", "calibration_intercept", "ece")


def _row(label: str, fitted: fitting.FittedModel) -> str:
    cells = []
    for outcome in ("dropout", "violence"):
        overall = fitted.evaluations[outcome].metrics["overall"]
        for name in METRICS:
            m = overall[name]
            cells.append(f"{m['value']:.3f} ({m['lower']:.3f}-{m['upper']:.3f})")
    return f"| {label} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    tables = generate_cohort(args.clients, args.seed).tables
    constrained = fitting.fit_and_evaluate(tables, seed=0)
    unconstrained_booster = functools.partial(fit_booster, monotone=False)
    with mock.patch.object(fitting, "fit_booster", unconstrained_booster):
        free = fitting.fit_and_evaluate(tables, seed=0)
    header = [f"{o} {m}" for o in ("dropout", "violence") for m in METRICS]
    print("| booster | " + " | ".join(header) + " |")
    print("|---" * (len(header) + 1) + "|")
    print(_row("monotone constraints (the product)", constrained))
    print(_row("no constraints", free))


if __name__ == "__main__":
    main()
