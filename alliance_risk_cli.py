"""The `alliance-risk` command: it only assembles the commands each package contributes.

- `data_schemas.cli`: validate
- `training.cli`: synth, train, promote, models
- `service.cli`: serve, score, report, keys, audit, db

An install without `training` (the Docker image) has no training commands and no
`quickstart`; everything else works there.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Annotated

import typer

app = typer.Typer(
    name="alliance-risk",
    help=(
        "Early-session risk of premature dropout and violence toward others in psychotherapy: "
        "validate clinic data, make a synthetic cohort, train, score and serve."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _commands_of(package: str) -> ModuleType | None:
    """The package's `cli` module, or `None` when the package is not installed here."""
    try:
        return importlib.import_module(f"{package}.cli")
    except ModuleNotFoundError as error:
        if error.name == package:
            return None
        raise


_PACKAGES = {name: _commands_of(name) for name in ("data_schemas", "training", "service")}
for _module in _PACKAGES.values():
    if _module is not None:
        app.add_typer(_module.app)


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
    from models.store import StoreSettings
    from service.cli import refuse_unsafe_bind, serve
    from training.quickstart import ensure_default_champion

    refuse_unsafe_bind(host)
    version = ensure_default_champion(StoreSettings(), clients=clients, say=typer.echo)
    if version is not None:
        typer.secho(
            f"version {version} is champion; trained on synthetic data, not for clinical use",
            fg=typer.colors.YELLOW,
        )
    serve(host=host, port=port, workers=1)


if _PACKAGES["training"] is not None and _PACKAGES["service"] is not None:
    app.command()(quickstart)


if __name__ == "__main__":
    app()
