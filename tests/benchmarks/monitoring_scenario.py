"""The README's monitoring and recalibration table: one synthetic clinic split by intake
(the first 60% train the model, the rest are its later clients), the same clinic shifted
(alliance 0.8 SD weaker, 0.8 more log-odds of dropout per session), and a recalibration
fitted on one half of the shifted clinic and checked on the other. Runs the CLI in a
private ALLIANCE_RISK_HOME under --work.

    .venv/bin/python tests/benchmarks/monitoring_scenario.py [--clients 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from data_schemas.tables import write_clinic_data
from training.pipeline import SYNTHETIC_MARKER
from training.synthetic import generate_cohort
from training.synthetic.scenarios import alternate_halves, by_intake, shifted

DEVELOPMENT_SHARE = 0.6
FOLLOW_UP_DAYS = "240"  # synthetic episodes end within about seven months of intake


def cli(work: Path, *arguments: str) -> int:
    command = [str(Path(sys.executable).parent / "alliance-risk"), *arguments]
    env = {**os.environ, "ALLIANCE_RISK_HOME": str(work / "home")}
    return subprocess.run(command, cwd=work, env=env, check=False).returncode


def row(label: str, summary: dict) -> str:
    def figure(outcome: str, metric: str) -> str:
        f = summary["performance"][outcome]["figures"]["overall"][metric]
        return f"{f['value']:.3f} ({f['lower']:.3f} to {f['upper']:.3f})"

    inputs = sorted({a["name"] for a in summary["alarms"] if a["kind"] == "input drift"})
    return (
        f"| {label} | {len(summary['alarms'])} ({', '.join(inputs) or 'no input'}) | "
        f"{figure('dropout', 'auroc')} | {figure('dropout', 'observed_expected')} | "
        f"{figure('violence', 'observed_expected')} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/alliance-risk-monitoring"))
    options = parser.parse_args()
    work = options.work
    same = generate_cohort(options.clients, options.seed).tables
    moved = generate_cohort(options.clients, options.seed, shifted(-0.8, 0.8)).tables
    later_shifted = by_intake(moved, DEVELOPMENT_SHARE, earlier=False)
    folders = {
        "development": by_intake(same, DEVELOPMENT_SHARE, earlier=True),
        "later": by_intake(same, DEVELOPMENT_SHARE, earlier=False),
        "shifted": later_shifted,
        **dict(zip(("fit", "check"), alternate_halves(later_shifted), strict=True)),
    }
    for name, tables in folders.items():
        write_clinic_data(tables, work / name, file_format="parquet")
    (work / "development" / SYNTHETIC_MARKER).write_text(json.dumps({"synthetic": True}))
    cli(work, "train", "--data", "development")
    cli(work, "promote", "1")
    follow = ("--follow-up-days", FOLLOW_UP_DAYS)
    for name in ("later", "shifted", "check"):
        cli(work, "monitor", "--data", name, "--out", f"{name}.html", *follow)
    cli(work, "recalibrate", "1", "--data", "fit", "--method", "intercept", *follow)
    cli(
        work,
        "monitor",
        "--data",
        "check",
        "--model-uri",
        "models:/alliance-risk/2",
        "--out",
        "check_recalibrated.html",
        *follow,
    )
    print(
        "| data | alarms | dropout AUROC | dropout observed/expected | violence observed/expected |"
    )
    print("|---|---|---|---|---|")
    for name in ("later", "shifted", "check", "check_recalibrated"):
        print(row(name, json.loads((work / f"{name}.json").read_text())))


if __name__ == "__main__":
    main()
