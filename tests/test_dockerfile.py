"""What can be checked of the Dockerfile without a Docker engine."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from alliance_risk_cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_every_file_the_image_copies_exists() -> None:
    sources = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            sources += shlex.split(line)[1:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source


def test_image_installs_like_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -c constraints.txt" in DOCKERFILE
    assert "-c constraints.txt" in makefile


def test_image_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, flags=re.MULTILINE)
    assert "HEALTHCHECK" in DOCKERFILE
    assert "/healthz" in DOCKERFILE


def test_the_entrypoint_command_works_outside_docker() -> None:
    command = re.search(r"^CMD \[(.*)\]$", DOCKERFILE, flags=re.MULTILINE).group(1)
    arguments = [part.strip().strip('"') for part in command.split(",")]
    assert arguments[:2] == ["alliance-risk", "serve"]
    result = CliRunner().invoke(app, [*arguments[1:], "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output
