"""Test helper: a throwaway PostgreSQL cluster on a free loopback port.

PostgreSQL refuses to run as root, so under root (as in CI) the cluster belongs to the
unprivileged `postgres` user that Debian's package creates (or `nobody`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from servers import free_port

from service.audit.store import make_engine
from service.db.schema import upgrade


def postgres_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _run_as() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no unprivileged user for PostgreSQL was found")


@contextmanager
def throwaway_cluster(binaries: Path) -> Iterator[str]:
    """Start a cluster, yield its SQLAlchemy URL, then stop it and delete every file."""
    owner = _run_as()
    base = Path(tempfile.mkdtemp(prefix="alliance-risk-pg-"))
    user_kwargs = {}
    if owner is not None:
        os.chown(base, *owner)
        user_kwargs = {"user": owner[0], "group": owner[1], "extra_groups": []}
    data, port = base / "data", free_port()
    environment = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(base)}

    def run(*command: str) -> None:
        subprocess.run(
            command, check=True, capture_output=True, env=environment, cwd=base, **user_kwargs
        )

    try:
        run(
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "alliance",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        run(
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
            "start",
        )
        yield f"postgresql+psycopg://alliance@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                check=False,
                capture_output=True,
                env=environment,
                cwd=base,
                **user_kwargs,
            )
        shutil.rmtree(base, ignore_errors=True)


def create_database(cluster_url: str, name: str) -> str:
    """A new, empty database on the cluster; its URL."""
    engine = sqlalchemy.create_engine(cluster_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return sqlalchemy.make_url(cluster_url).set(database=name).render_as_string(False)


def migrated(url: str) -> str:
    """The database brought to this code's schema, as `alliance-risk db upgrade` leaves it."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url
