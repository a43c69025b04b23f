"""The commands for a model in use: `monitor` (is it still fitting the clinic?) and
`recalibrate` (correct its calibration on the clinic's own outcomes). `training.cli` adds
them to the `alliance-risk` command.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from data_schemas.cli import print_problems
from data_schemas.problems import DataValidationError
from models.store import CHAMPION_URI, MODEL_NAME, StoreSettings, configure_mlflow
from training.follow_up import DEFAULT_FOLLOW_UP_DAYS
from training.options import BootstrapDraws, LabelExportDate

console = Console()
errors = Console(stderr=True)

#: Exit code of `monitor` when it raised an alarm (0: none; 1: it could not run).
ALARM_EXIT_CODE = 3
MONITORING_EXPERIMENT = "alliance-risk-monitoring"


def monitor(
    data: Annotated[
        Path,
        typer.Option(
            help="Clinic data folder (outcome columns optional).", exists=True, file_okay=False
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="HTML report to write; the JSON summary goes beside it.")
    ],
    model_uri: Annotated[str, typer.Option(help="Model to monitor.")] = CHAMPION_URI,
    since: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="Only landmark rows whose session is on or after this date."
        ),
    ] = None,
    as_of: LabelExportDate = None,
    audit: Annotated[
        Path | None,
        typer.Option(
            help="Output of `alliance-risk audit --json`: estimates released over time.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    bootstrap: BootstrapDraws = 200,
    min_events: Annotated[
        int,
        typer.Option(
            min=1,
            help="Subgroups with fewer clients with (or without) the outcome are too small to judge.",
        ),
    ] = 100,
    follow_up_days: Annotated[
        int,
        typer.Option(
            min=1,
            help="Measure outcomes only for clients with at least this many days between "
            "intake and the export date, so that their episodes had time to end.",
        ),
    ] = DEFAULT_FOLLOW_UP_DAYS,
    experiment: Annotated[
        str, typer.Option(help="MLflow experiment for the monitoring run.")
    ] = MONITORING_EXPERIMENT,
) -> None:
    """Check that a model still fits the clinic: input drift, drift of its estimates, the
    AUROC to expect, and (when outcomes are in the data) measured discrimination and
    calibration per session, site and subgroup against the model's validation figures.

    Writes an HTML report and a JSON summary, logs an MLflow run tagged with the model
    version, and exits 0 without an alarm, 3 with one, 1 when it could not run.
    """
    import mlflow

    from training.monitoring.report import write_report
    from training.monitoring.run import NoReferenceError, NoRowsError
    from training.monitoring.run import monitor as run_monitor
    from training.tracking import ensure_experiment

    store = StoreSettings()
    configure_mlflow(store)
    try:
        result = run_monitor(
            data,
            model_uri,
            since=since.date() if since else None,
            as_of=as_of.date() if as_of else None,
            audit=audit,
            n_boot=bootstrap,
            min_events=min_events,
            follow_up_days=follow_up_days,
        )
    except DataValidationError as error:
        print_problems(error.problems)
        errors.print("[red]Monitoring stopped:[/red] the data break the contract.")
        raise typer.Exit(code=1) from None
    except (NoReferenceError, NoRowsError, mlflow.exceptions.MlflowException) as error:
        errors.print(f"[red]Monitoring stopped:[/red] {error}")
        raise typer.Exit(code=1) from None
    summary_path = write_report(result, out)
    experiment_id = ensure_experiment(experiment, store)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"monitor-{result.model_version or 'model'}"
    ):
        mlflow.set_tags(
            {
                "model_uri": model_uri,
                "model_version": str(result.model_version),
                "alarm": str(bool(result.alarms)).lower(),
            }
        )
        mlflow.log_params(
            {"data_path": str(data), "since": str(result.since), "rows": result.n_rows}
        )
        mlflow.log_metrics(
            {
                "alarms": len(result.alarms),
                **{f"drift_{d.name}": d.value for d in result.feature_drift},
                **{f"{d.name}_estimate_psi": d.value for d in result.probability_drift},
                **{f"{o}_expected_auroc": v["expected"] for o, v in result.expected_auroc.items()},
                **{
                    f"{o}_{m}": p.figures["overall"][m]["value"]
                    for o, p in result.performance.items()
                    for m in ("auroc", "calibration_slope", "observed_expected")
                },
            }
        )
        mlflow.log_artifact(str(out))
        mlflow.log_artifact(str(summary_path))
    console.print(f"{result.n_rows} landmark rows of {result.n_clients} clients; report {out}")
    for alarm in result.alarms:
        console.print(f"[red]alarm[/red] {alarm['message']}")
    if result.alarms:
        raise typer.Exit(code=ALARM_EXIT_CODE)
    console.print("no alarm")


def recalibrate(
    version: Annotated[str, typer.Argument(help="Registered version to recalibrate.")],
    data: Annotated[
        Path,
        typer.Option(
            help="The clinic's own data, with outcome columns.", exists=True, file_okay=False
        ),
    ],
    method: Annotated[
        str,
        typer.Option(
            help="intercept (the clinic's base rate differs) or logistic (also the slope)."
        ),
    ] = "intercept",
    as_of: LabelExportDate = None,
    bootstrap: BootstrapDraws = 200,
    follow_up_days: Annotated[
        int,
        typer.Option(
            min=1,
            help="Fit only on clients with at least this many days between intake and the "
            "export date, so that their episodes had time to end.",
        ),
    ] = DEFAULT_FOLLOW_UP_DAYS,
    experiment: Annotated[str, typer.Option(help="MLflow experiment name.")] = "alliance-risk",
) -> None:
    """Refit only the calibration map of VERSION on the clinic's outcomes and register the
    result as a new version with its lineage; boosters and rankings stay as they are.

    It is not live until `alliance-risk promote NEW_VERSION --data DIR` passes on local
    clients that were not used here.
    """
    from training.recalibration import (
        RecalibrationError,
        RecalibrationMethod,
        register_recalibration,
    )

    try:
        chosen = RecalibrationMethod(method)
    except ValueError:
        raise typer.BadParameter("choose intercept or logistic", param_hint="--method") from None
    try:
        new_version, result = register_recalibration(
            version,
            data,
            chosen,
            as_of=as_of.date() if as_of else None,
            n_boot=bootstrap,
            follow_up_days=follow_up_days,
            experiment=experiment,
            store=StoreSettings(),
        )
    except DataValidationError as error:
        print_problems(error.problems)
        errors.print("[red]Recalibration refused:[/red] the data break the contract.")
        raise typer.Exit(code=1) from None
    except RecalibrationError as error:
        errors.print(f"[red]Recalibration refused:[/red] {error}; nothing was registered.")
        raise typer.Exit(code=1) from None
    for outcome, update in result.updates.items():
        before = result.before[outcome]["overall"]["observed_expected"]
        after = result.after[outcome]["overall"]["observed_expected"]
        console.print(
            f"{outcome}: new log-odds = {update.slope:.3f} x old + {update.intercept:.3f}; "
            f"observed/expected {before['value']:.2f} -> {after['value']:.2f} "
            f"({after['lower']:.2f}-{after['upper']:.2f})"
        )
    console.print(
        f"registered {MODEL_NAME} version {new_version} (recalibrated from {version}); "
        f"promote it with `alliance-risk promote {new_version} --data DIR` on clients not used here"
    )
