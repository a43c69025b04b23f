"""The training commands: `synth`, `train`, `promote`, `models`, and (from
`training.deployed_cli`) `monitor` and `recalibrate`.

Each parses its options, makes the one `StoreSettings` of the process and calls into the
training package; `alliance_risk_cli` adds them to the `alliance-risk` command.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from data_schemas.cli import print_problems
from data_schemas.problems import DataValidationError
from models.store import MODEL_NAME, StoreSettings
from training.deployed_cli import monitor, recalibrate
from training.options import BootstrapDraws

if TYPE_CHECKING:
    from training.sample_size import SampleSizeCheck

app = typer.Typer()
console = Console()
errors = Console(stderr=True)


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
    alliance_shift: Annotated[
        float,
        typer.Option(
            help="Drift scenario: shift every client's latent alliance by this many SDs "
            "(e.g. -0.8 for a service whose clients form a weaker alliance)."
        ),
    ] = 0.0,
    dropout_shift: Annotated[
        float,
        typer.Option(
            help="Drift scenario: add this to the log-odds of dropping out after each "
            "session, beyond what the alliance explains (e.g. 0.7)."
        ),
    ] = 0.0,
) -> None:
    """Write a synthetic cohort (three tables, oracle.parquet, parameters.json).

    The cohort follows published effect sizes; see training/synthetic/parameters.py for
    every parameter and its source. It is not real clinical data. The shift options
    simulate a clinic unlike the development cohort (for trying `monitor` and
    `recalibrate`); the oracle follows them.
    """
    from training.synthetic import generate_cohort, write_cohort
    from training.synthetic.scenarios import shifted

    parameters = shifted(alliance_shift, dropout_shift)
    write_cohort(generate_cohort(clients, seed, parameters), out, file_format=file_format)
    console.print(f"wrote a synthetic cohort of {clients} clients (seed {seed}) to {out}")


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
    bootstrap: BootstrapDraws = 200,
    dask: Annotated[
        str | None,
        typer.Option(help="Train on this Dask scheduler (e.g. tcp://10.0.0.5:8786)."),
    ] = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Export date (YYYY-MM-DD): follow-up of ongoing episodes ends here "
            "(default: the latest date in the data).",
        ),
    ] = None,
    violence_horizon_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Count a first violent incident only within this many days after each "
            "landmark session (default: the rest of the episode).",
        ),
    ] = None,
    exclude_features: Annotated[
        list[str] | None,
        typer.Option(
            help="Leave a feature out of the model, e.g. sex (repeat the option, or give a "
            "comma-separated list); the model card lists what was left out.",
        ),
    ] = None,
    bootstrap_cluster: Annotated[
        str,
        typer.Option(
            help="What the bootstrap resamples: client (default) or therapist (keeps each "
            "therapist's clients together; wider intervals when therapists differ)."
        ),
    ] = "client",
    subgroup_min_events: Annotated[
        int,
        typer.Option(
            min=1,
            help="Subgroups with fewer clients with (or without) the event are shown as too "
            "small (default 100; Vergouwe et al. 2005).",
        ),
    ] = 100,
    allow_small_sample: Annotated[
        bool,
        typer.Option(
            help="Train even below 5 events per candidate predictor parameter (the model "
            "card says so)."
        ),
    ] = False,
) -> None:
    """Validate, train both outcome models, evaluate on held-out clients and register a version.

    Dropout is an episode that ended with reason 'dropout'; other endings count as no
    dropout, and episodes still ongoing at the export date are left out (censored). The
    new version is not live until `alliance-risk promote VERSION` makes it champion.
    """
    from features.registry import FEATURE_NAMES
    from training.evaluation import BootstrapCluster
    from training.heap import return_freed_memory
    from training.pipeline import train as run_training
    from training.sample_size import SampleSizeError
    from training.splits import SplitStrategy

    try:
        strategy = SplitStrategy(split)
    except ValueError:
        raise typer.BadParameter(
            "choose client, therapist, site or temporal", param_hint="--split"
        ) from None
    try:
        cluster = BootstrapCluster(bootstrap_cluster)
    except ValueError:
        raise typer.BadParameter(
            "choose client or therapist", param_hint="--bootstrap-cluster"
        ) from None
    if dask and tune:
        raise typer.BadParameter("tuning is not available with --dask", param_hint="--tune")
    excluded = tuple(
        name.strip() for given in exclude_features or () for name in given.split(",") if name
    )
    unknown = sorted(set(excluded) - set(FEATURE_NAMES)) + (
        ["landmark"] if "landmark" in excluded else []
    )
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)}: not a feature that can be left out; features are "
            + ", ".join(name for name in FEATURE_NAMES if name != "landmark"),
            param_hint="--exclude-features",
        )
    return_freed_memory()
    options = {
        "store": StoreSettings(),
        "experiment": experiment,
        "seed": seed,
        "strategy": strategy,
        "tune_trials": tune,
        "n_boot": bootstrap,
        "as_of": as_of.date() if as_of else None,
        "violence_horizon_days": violence_horizon_days,
        "exclude_features": excluded,
        "bootstrap_cluster": cluster,
        "subgroup_min_events": subgroup_min_events,
        "allow_small_sample": allow_small_sample,
        "report_sample_size": print_sample_size,
    }
    try:
        if dask:
            from distributed import Client

            from training.distributed.backend import DaskCluster

            with Client(dask) as cluster:
                outcome = run_training(data, backend=DaskCluster(cluster), **options)
        else:
            outcome = run_training(data, **options)
    except DataValidationError as error:
        print_problems(error.problems)
        errors.print(
            "[red]Training refused:[/red] the data break the contract; nothing was registered."
        )
        raise typer.Exit(code=1) from None
    except SampleSizeError as error:
        errors.print(f"[red]Training refused:[/red] {error}; nothing was registered.")
        raise typer.Exit(code=1) from None
    for name, metrics in outcome.fitted.model.metadata.headline_metrics.items():
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


def print_sample_size(check: SampleSizeCheck) -> None:
    """Each outcome's training clients and events against Riley et al.'s minimum."""
    for name, outcome in check.outcomes.items():
        minimum = outcome.minimum_clients
        status = (
            "[red]below the floor[/red]"
            if outcome.below_floor
            else "[yellow]below the minimum[/yellow]"
            if outcome.below_minimum
            else "meets the minimum"
        )
        console.print(
            f"{name}: {outcome.clients:,} training clients, {outcome.events:,} with the event, "
            f"{outcome.events_per_parameter:.1f} events per candidate parameter "
            f"({outcome.parameters}); minimum sample size (Riley et al. 2020) "
            f"{f'{minimum:,}' if minimum is not None else 'not computable'} clients: {status}"
        )


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
    """Make VERSION the champion if it is non-inferior to the current one (AUROC, ECE and
    calibration slope per outcome and session, paired 95% intervals against fixed margins)
    on clients neither version was fitted on."""
    from training.promotion import promote as run_promotion

    try:
        decision = run_promotion(
            version, data=data, force=force, reason=reason, store=StoreSettings()
        )
    except ValueError as error:
        errors.print(f"[red]Refused:[/red] {error}")
        raise typer.Exit(code=1) from None
    if decision.evaluated:
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in decision.evaluated.items())
        console.print(f"compared on clients neither version was fitted on: {counts}")
    for check in decision.checks:
        mark = "[green]pass[/green]" if check.passed else "[red]fail[/red]"
        console.print(
            f"{mark} {check.outcome} session {check.landmark} {check.metric}: candidate "
            f"{check.candidate:.4f}, champion {check.champion:.4f}, difference "
            f"{check.difference:+.4f} ({check.lower:+.4f} to {check.upper:+.4f})"
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

    versions = list_versions(StoreSettings())
    if versions.empty:
        console.print("no registered versions yet; run `alliance-risk train` first")
        return
    console.print(
        versions.to_string(index=False, float_format=lambda v: f"{v:.3f}"), soft_wrap=True
    )


app.command()(monitor)
app.command()(recalibrate)
