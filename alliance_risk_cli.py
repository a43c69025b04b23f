"""The `alliance-risk` command: the one place that reaches every layer.

Each command parses its options and calls into the packages below; no logic lives here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="alliance-risk",
    help=(
        "Early-session risk of premature dropout and violence toward others in psychotherapy: "
        "validate clinic data, make a synthetic cohort, train, score and serve."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

DataDir = Annotated[
    Path,
    typer.Argument(
        help="Folder holding clients, therapists and sessions, each as a .csv or .parquet "
        "file or a partitioned Parquet dataset folder.",
        exists=True,
        file_okay=False,
    ),
]


def _print_problems(problems: list) -> None:
    table = Table(title=f"{len(problems)} problem(s) found", show_lines=False)
    for heading in ("table", "row", "column", "value", "reason"):
        table.add_column(heading, overflow="fold")
    for problem in problems:
        table.add_row(
            problem.table,
            "" if problem.row is None else str(problem.row),
            problem.column or "",
            "" if problem.value is None else problem.value,
            problem.reason,
        )
    errors.print(table)
    errors.print("Rows are counted from 1, after the header line. Nothing was used.")


@app.command()
def validate(
    data: DataDir,
    require_outcomes: Annotated[
        bool, typer.Option(help="Also require the outcome columns needed for training.")
    ] = False,
) -> None:
    """Check a clinic data folder against the data contract and list every problem."""
    from data_schemas.problems import DataValidationError
    from data_schemas.tables import load_clinic_data

    try:
        tables = load_clinic_data(data, require_outcomes=require_outcomes)
    except DataValidationError as error:
        _print_problems(error.problems)
        raise typer.Exit(code=1) from None
    console.print(
        f"[green]valid[/green]: {len(tables.clients)} clients, {len(tables.therapists)} "
        f"therapists, {len(tables.sessions)} sessions"
        + (" (with outcomes)" if tables.has_outcomes else "")
    )


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Folder to write the cohort to.")],
    clients: Annotated[int, typer.Option(min=10, help="Number of clients.")] = 20_000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives identical files.")
    ] = 7,
    file_format: Annotated[
        str, typer.Option("--format", help="File format of the three tables: parquet or csv.")
    ] = "parquet",
) -> None:
    """Write a synthetic cohort (three tables, oracle.parquet, parameters.json).

    The cohort follows published effect sizes; see training/synthetic/parameters.py for
    every parameter and its source. It is not real clinical data.
    """
    from training.synthetic import generate_cohort, write_cohort

    cohort = generate_cohort(clients, seed)
    write_cohort(cohort, out, file_format=file_format)
    console.print(f"wrote a synthetic cohort of {clients} clients (seed {seed}) to {out}")


def _refuse_invalid(error: Exception) -> None:
    _print_problems(error.problems)
    errors.print(
        "[red]Training refused:[/red] the data break the contract; nothing was registered."
    )
    raise typer.Exit(code=1)


@app.command()
def train(
    data: Annotated[
        Path,
        typer.Option(help="Clinic data folder with outcome columns.", exists=True, file_okay=False),
    ],
    experiment: Annotated[str, typer.Option(help="MLflow experiment name.")] = "alliance-risk",
    seed: Annotated[
        int, typer.Option(help="Seed for the split, the boosters and the bootstrap.")
    ] = 0,
    split: Annotated[
        str,
        typer.Option(
            help="How to hold out test clients: client, therapist, site or temporal (by intake date)."
        ),
    ] = "client",
    tune: Annotated[int, typer.Option(min=0, help="Optuna trials per outcome (0 = defaults).")] = 0,
    bootstrap: Annotated[
        int, typer.Option(min=20, help="Bootstrap draws for the 95% intervals.")
    ] = 200,
    dask: Annotated[
        str | None,
        typer.Option(help="Train on this Dask scheduler (e.g. tcp://10.0.0.5:8786)."),
    ] = None,
) -> None:
    """Validate, train both outcome models, evaluate on held-out clients and register a version.

    The new version is not live until `alliance-risk promote VERSION` makes it champion.
    """
    from data_schemas.problems import DataValidationError
    from models.store import MODEL_NAME
    from training.pipeline import train as run_training
    from training.splits import SplitStrategy

    try:
        strategy = SplitStrategy(split)
    except ValueError:
        raise typer.BadParameter(
            "choose client, therapist, site or temporal", param_hint="--split"
        ) from None
    if dask and tune:
        raise typer.BadParameter("tuning is not available with --dask", param_hint="--tune")
    try:
        if dask:
            from distributed import Client

            from training.distributed.pipeline import train_on_cluster

            with Client(dask) as cluster:
                outcome = train_on_cluster(
                    data,
                    cluster,
                    experiment=experiment,
                    seed=seed,
                    strategy=strategy,
                    n_boot=bootstrap,
                )
        else:
            outcome = run_training(
                data,
                experiment=experiment,
                seed=seed,
                strategy=strategy,
                tune_trials=tune,
                n_boot=bootstrap,
            )
    except DataValidationError as error:
        _refuse_invalid(error)
    headline = outcome.fitted.model.metadata.headline_metrics
    for name, metrics in headline.items():
        auroc = metrics["auroc"]
        console.print(
            f"{name}: AUROC {auroc['value']:.3f} ({auroc['lower']:.3f}-{auroc['upper']:.3f}), "
            f"calibration slope {metrics['calibration_slope']['value']:.2f}, ECE {metrics['ece']['value']:.3f}"
        )
        oracle = outcome.fitted.evaluations[name].oracle
        if oracle:
            console.print(
                f"  oracle AUROC {oracle['auroc']:.3f}, model/oracle {oracle['model_to_oracle_ratio']:.3f}"
            )
    console.print(f"registered {MODEL_NAME} version {outcome.version} (run {outcome.run_id})")
    if outcome.fitted.model.metadata.synthetic_data:
        console.print("[yellow]Trained on synthetic data: not for clinical use.[/yellow]")


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered version to make champion.")],
    data: Annotated[
        Path | None,
        typer.Option(
            help="Held-out clients to compare on (default: the candidate's own test clients).",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Promote even if the gate fails (recorded on the version).")
    ] = False,
    reason: Annotated[
        str, typer.Option(help="Why the gate is being overridden (with --force).")
    ] = "",
) -> None:
    """Make VERSION the champion if it is not worse than the current one on AUROC and calibration."""
    from training.promotion import promote as run_promotion

    decision = run_promotion(version, data=data, force=force, reason=reason)
    for check in decision.checks:
        mark = "[green]pass[/green]" if check.passed else "[red]fail[/red]"
        console.print(
            f"{mark} {check.outcome} {check.metric}: candidate {check.candidate:.4f}, champion {check.champion:.4f}"
        )
    if not decision.promoted:
        errors.print(
            f"[red]Refused:[/red] version {version} is worse than champion {decision.previous_champion}:"
        )
        for reason_line in decision.reasons():
            errors.print(f"  - {reason_line}")
        errors.print("Use --force --reason '...' to override; the override is recorded.")
        raise typer.Exit(code=1)
    suffix = " (forced; recorded on the version)" if decision.forced else ""
    console.print(f"version {version} is now champion ({decision.note}){suffix}")


@app.command(name="models")
def list_models() -> None:
    """List registered versions, their aliases and headline metrics."""
    from training.promotion import list_versions

    versions = list_versions()
    if versions.empty:
        console.print("no registered versions yet; run `alliance-risk train` first")
        return
    console.print(
        versions.to_string(index=False, float_format=lambda v: f"{v:.3f}"), soft_wrap=True
    )


@app.command()
def score(
    data: Annotated[
        Path, typer.Option(help="Clinic data folder to score.", exists=True, file_okay=False)
    ],
    out: Annotated[Path, typer.Option(help="Parquet file to write.")],
    explain: Annotated[
        bool, typer.Option(help="Add exact SHAP contributions per feature.")
    ] = False,
    every_landmark: Annotated[
        bool, typer.Option(help="Score every landmark, not only the latest.")
    ] = False,
    model_uri: Annotated[
        str, typer.Option(help="Model to use.")
    ] = "models:/alliance-risk@champion",
    dask: Annotated[
        str | None,
        typer.Option(
            help="Score on this Dask scheduler; OUT becomes a partitioned Parquet dataset folder."
        ),
    ] = None,
) -> None:
    """Score every client at their latest session (1 to 5) with the champion model."""
    from data_schemas.problems import DataValidationError
    from models.predictor import SYNTHETIC_DATA_NOTICE
    from training.scoring import score_folder

    try:
        if dask:
            from distributed import Client

            from training.distributed.scoring import score_dataset_on_cluster

            with Client(dask) as cluster:
                rows, synthetic = score_dataset_on_cluster(
                    data,
                    out,
                    cluster,
                    model_uri=model_uri,
                    explain=explain,
                    every_landmark=every_landmark,
                )
        else:
            rows, synthetic = score_folder(
                data, out, model_uri=model_uri, explain=explain, every_landmark=every_landmark
            )
    except DataValidationError as error:
        _print_problems(error.problems)
        raise typer.Exit(code=1) from None
    console.print(f"wrote {rows} scored rows to {out}")
    if synthetic:
        console.print(f"[yellow]{SYNTHETIC_DATA_NOTICE}[/yellow]")


@app.command()
def report(
    data: Annotated[Path, typer.Option(help="Clinic data folder.", exists=True, file_okay=False)],
    client: Annotated[str, typer.Option(help="Pseudonymous client id.")],
    out: Annotated[Path, typer.Option(help="File to write: .html or .pdf picks the format.")],
    as_of: Annotated[
        int | None, typer.Option(min=1, help="Report after this session (default: the latest).")
    ] = None,
    model_uri: Annotated[
        str, typer.Option(help="Model to use.")
    ] = "models:/alliance-risk@champion",
    paper: Annotated[str, typer.Option(help="PDF page size: a4 or letter.")] = "a4",
) -> None:
    """Write the one-page clinician report for one client, as HTML or PDF."""
    from data_schemas.histories import HistoryNotFoundError
    from data_schemas.problems import DataValidationError
    from models.predictor import NotPredictableError
    from service.model.holder import ModelNotReadyError
    from service.reports.files import write_report

    if paper not in ("a4", "letter"):
        raise typer.BadParameter("choose a4 or letter", param_hint="--paper")
    try:
        content = write_report(data, client, out, model_uri=model_uri, as_of=as_of, paper=paper)
    except DataValidationError as error:
        _print_problems(error.problems)
        raise typer.Exit(code=1) from None
    except (
        ValueError,
        HistoryNotFoundError,
        ModelNotReadyError,
        NotPredictableError,
    ) as error:
        errors.print(f"[red]No report written:[/red] {error}")
        raise typer.Exit(code=1) from None
    console.print(
        f"wrote the report for client {client} after session "
        f"{content.header.as_of_session} to {out}"
    )
    if content.synthetic_notice:
        console.print(f"[yellow]{content.synthetic_notice}[/yellow]")


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; keep 127.0.0.1 unless behind a proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the REST API (model from ALLIANCE_RISK_MODEL_URI, default the champion).

    Logs are JSON lines on stderr. With ALLIANCE_RISK_AUTH=disabled only a loopback
    address is allowed.
    """
    import os

    import uvicorn

    from service.observability.logs import LOG_CONFIG

    _refuse_unsafe_bind(host)
    os.environ["ALLIANCE_RISK_HOST"] = host  # the app checks the address again at start-up
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=LOG_CONFIG,
        access_log=False,
    )


def _refuse_unsafe_bind(host: str) -> None:
    from service.security.auth import InsecureConfigurationError, refuse_unsafe_bind
    from service.settings import Settings

    try:
        refuse_unsafe_bind(Settings(), host)
    except InsecureConfigurationError as error:
        errors.print(f"[red]Refused:[/red] {error}")
        raise typer.Exit(code=1) from None


@app.command()
def quickstart(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    clients: Annotated[
        int, typer.Option(help="Size of the synthetic cohort to train on.")
    ] = 20_000,
) -> None:
    """Train and promote a default model on a synthetic cohort if none is champion, then serve.

    This is what `make run` does: one command from a fresh clone to a working API.
    """
    from models.store import configure_mlflow, home_directory
    from training.pipeline import train as run_training
    from training.promotion import current_champion
    from training.promotion import promote as run_promotion

    _refuse_unsafe_bind(host)
    configure_mlflow()
    if current_champion() is None:
        cohort = home_directory() / "synthetic-cohort"
        if not (cohort / "parameters.json").exists():
            console.print(
                f"no champion model yet: generating {clients} synthetic clients in {cohort}"
            )
            synth(out=cohort, clients=clients, seed=7, file_format="parquet")
        console.print("training the default model (about a minute on two cores)")
        outcome = run_training(cohort, seed=0)
        run_promotion(outcome.version)
        console.print(
            f"[yellow]version {outcome.version} is champion; trained on synthetic data, not for clinical use[/yellow]"
        )
    serve(host=host, port=port, workers=1)


keys_app = typer.Typer(help="API keys of the service's callers.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create_key(
    name: Annotated[
        str,
        typer.Argument(help="Caller name, e.g. ehr-gateway; it is what the audit trail records."),
    ],
) -> None:
    """Make a new API key: print it once, and the hash line for ALLIANCE_RISK_API_KEYS."""
    import json
    import re

    from service.security.api_keys import hash_api_key, new_api_key

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise typer.BadParameter(
            "use letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit",
            param_hint="NAME",
        )
    key = new_api_key()
    entry = json.dumps({name: hash_api_key(key)})
    typer.echo(f"API key for {name} (shown only now; hand it to the caller, keep no copy):")
    typer.echo(key)
    typer.echo("Add the caller to the service's configuration (merge with any other keys):")
    typer.echo(f"ALLIANCE_RISK_API_KEYS='{entry}'")


@app.command()
def audit(
    since: Annotated[
        str | None,
        typer.Option(
            help="From this time on: ISO date or time (UTC), or a duration like 24h or 7d."
        ),
    ] = None,
    caller: Annotated[str | None, typer.Option(help="Only this caller's calls.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, the newest.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List audit records: who called what, when, with which model, and the answer's bands.

    Reads the trail the service writes (ALLIANCE_RISK_AUDIT_DATABASE_URL, or audit.db in
    ALLIANCE_RISK_HOME). Clients appear only as keyed hashes.
    """
    import json

    from service.audit.listing import TABLE_HEADINGS, as_row, parse_since, table_cells
    from service.audit.store import audit_trail_from
    from service.settings import Settings

    try:
        start = parse_since(since) if since else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None
    trail = audit_trail_from(Settings(), writing=False)
    rows = [as_row(record) for record in trail.records(since=start, caller=caller, limit=limit)]
    trail.dispose()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    if not rows:
        console.print("no audit records match")
        return
    table = Table(title=f"{len(rows)} audit record(s)")
    for heading in TABLE_HEADINGS:
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(*table_cells(row))
    console.print(table)


if __name__ == "__main__":
    app()
