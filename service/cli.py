"""The serving commands: `serve`, `score`, `report`, `keys create`, `audit` and `db upgrade`.

Everything here runs in the image that serves the model (which leaves `training` out);
`alliance_risk_cli` adds these commands to the `alliance-risk` command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from data_schemas.cli import print_problems
from data_schemas.problems import DataValidationError
from models.store import CHAMPION_URI

app = typer.Typer()
console = Console()
errors = Console(stderr=True)

ModelUri = Annotated[str, typer.Option(help="Model to use.")]


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
    model_uri: ModelUri = CHAMPION_URI,
    dask: Annotated[
        str | None,
        typer.Option(
            help="Score on this Dask scheduler; OUT becomes a partitioned Parquet dataset folder."
        ),
    ] = None,
) -> None:
    """Score every client at their latest session (1 to 5) with the champion model."""
    from models.predictor import SYNTHETIC_DATA_NOTICE
    from models.store import StoreSettings

    options = {
        "model_uri": model_uri,
        "store": StoreSettings(),
        "explain": explain,
        "every_landmark": every_landmark,
    }
    try:
        if dask:
            from distributed import Client

            from service.batch.cluster import score_dataset_on_cluster

            with Client(dask) as cluster:
                rows, synthetic = score_dataset_on_cluster(data, out, cluster, **options)
        else:
            from service.batch.scoring import score_folder

            rows, synthetic = score_folder(data, out, **options)
    except DataValidationError as error:
        print_problems(error.problems)
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
    model_uri: ModelUri = CHAMPION_URI,
    paper: Annotated[str, typer.Option(help="PDF page size: a4 or letter.")] = "a4",
) -> None:
    """Write the one-page clinician report for one client, as HTML or PDF."""
    from data_schemas.histories import HistoryNotFoundError
    from models.predictor import NotPredictableError
    from service.model.holder import ModelNotReadyError
    from service.reports.files import write_report
    from service.settings import Settings

    if paper not in ("a4", "letter"):
        raise typer.BadParameter("choose a4 or letter", param_hint="--paper")
    try:
        content = write_report(
            data,
            client,
            out,
            settings=Settings(model_uri=model_uri),
            as_of=as_of,
            paper=paper,
        )
    except DataValidationError as error:
        print_problems(error.problems)
        raise typer.Exit(code=1) from None
    except (ValueError, HistoryNotFoundError, ModelNotReadyError, NotPredictableError) as error:
        errors.print(f"[red]No report written:[/red] {error}")
        raise typer.Exit(code=1) from None
    console.print(
        f"wrote the report for client {client} after session "
        f"{content.header.as_of_session} to {out}"
    )
    if content.synthetic_notice:
        console.print(f"[yellow]{content.synthetic_notice}[/yellow]")


def refuse_unsafe_bind(host: str) -> None:
    """Stop before anything starts when the address is not allowed with these settings."""
    from service.security.auth import InsecureConfigurationError
    from service.security.auth import refuse_unsafe_bind as check
    from service.settings import Settings

    try:
        check(Settings(), host)
    except InsecureConfigurationError as error:
        errors.print(f"[red]Refused:[/red] {error}")
        raise typer.Exit(code=1) from None


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
    import uvicorn

    from service.observability.logs import LOG_CONFIG

    refuse_unsafe_bind(host)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=LOG_CONFIG,
        access_log=False,
    )


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
    from service.db.schema import SchemaMismatchError
    from service.settings import Settings

    try:
        start = parse_since(since) if since else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None
    trail = audit_trail_from(Settings(), writing=False)
    try:
        found = trail.records(since=start, caller=caller, limit=limit)
    except SchemaMismatchError as error:
        errors.print(f"[red]Cannot read the audit trail:[/red] {error}")
        raise typer.Exit(code=1) from None
    finally:
        trail.dispose()
    rows = [as_row(record) for record in found]
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


db_app = typer.Typer(
    help="The service's database: the audit trail and the CDS state replicas share.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade_database() -> None:
    """Bring the database to this code's schema; run it once before a rollout.

    Uses ALLIANCE_RISK_AUDIT_DATABASE_URL, or audit.db in ALLIANCE_RISK_HOME. Safe to run
    again, and from several machines at once: the ones that come second find nothing to do.
    """
    from service.audit.store import audit_trail_from
    from service.db.schema import SchemaMismatchError, upgrade
    from service.settings import Settings

    trail = audit_trail_from(Settings(), writing=False)
    try:
        before, after = upgrade(trail.engine)
    except SchemaMismatchError as error:
        errors.print(f"[red]Not upgraded:[/red] {error}")
        raise typer.Exit(code=1) from None
    finally:
        trail.dispose()
    if before == after:
        console.print(f"the database is already at revision {after}")
    else:
        console.print(f"the database was at revision {before or '(none)'}, now {after}")
