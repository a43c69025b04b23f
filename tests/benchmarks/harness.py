"""Shared pieces of the benchmark suite: the machine, child processes, servers and wrk.

Benchmarks run outside pytest (`make bench`), on loopback only, each bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def machine() -> dict[str, str]:
    """Cores, CPU model and memory of this machine, for the report's header."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f"{kib / 1024**2:.1f} GiB"
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
    }


@dataclass(frozen=True)
class Measured:
    """Wall time and peak resident memory of one child process."""

    seconds: float
    peak_rss_mib: float
    stdout: str


def measure(command: list[str], env: dict[str, str], timeout: float) -> Measured:
    """Run a command and read its peak RSS from the kernel (wait4), not from sampling."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                raise TimeoutError(f"{command[:3]} took longer than {timeout:.0f} s")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode(errors="replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{text[-3000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, text)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready within {timeout:.0f} s")


@contextlib.contextmanager
def server(
    command: list[str], env: dict[str, str], ready_url: str, timeout: float = 120
) -> Iterator[subprocess.Popen]:
    """Start a server, wait for its ready URL, and stop it (and its workers) afterwards."""
    process = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(ready_url, timeout)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _with_children(pid: int) -> list[int]:
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    return pids


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its children (workers), all threads."""
    total = 0
    for one in _with_children(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident set size of a process and its children (uvicorn workers), in MiB."""
    total = 0
    for one in _with_children(pid):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{one}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    return total / 1024


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _milliseconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    url: str, body: dict, *, connections: int, seconds: int, headers: dict[str, str] | None = None
) -> LoadResult:
    """POST the same JSON body with wrk at a fixed number of connections."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}"]
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            lines.append(f'wrk.headers["{name}"] = "{value}"')
        script.write("\n".join(lines) + "\n")
    try:
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "--timeout",
                "10s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        os.unlink(script.name)
    # A round in which no request finished (an overloaded server) prints no percentiles.
    latencies = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, flags=re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(group) for group in socket_errors.groups())
    return LoadResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=_milliseconds(latencies["50"]) if "50" in latencies else math.nan,
        p99_ms=_milliseconds(latencies["99"]) if "99" in latencies else math.nan,
        requests=requests,
        errors=errors,
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, printed beside every figure: other work on a
    shared machine moves the numbers, and this says how much there was."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def our_server(port: int, *, workers: int = 1, server: str = "uvicorn") -> list[str]:
    """Our API as the benchmarks serve it: one or more workers, no per-request URL log."""
    app = "service.app:create_app"
    address = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if server == "granian":
        return [
            str(BIN / "granian"),
            "--interface",
            "asgi",
            "--factory",
            *address,
            "--log-level",
            "warning",
            "--no-access-log",
            app,
        ]
    return [
        str(BIN / "uvicorn"),
        app,
        "--factory",
        *address,
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def mlflow_server(port: int) -> list[str]:
    """`mlflow models serve` of the champion, one worker, in this Python environment."""
    return [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        "models:/alliance-risk@champion",
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def with_api_key(env: dict[str, str], caller: str = "benchmark") -> dict[str, str]:
    """`env` with authentication on and one fresh API key; returns the header to send.

    The key is made for this run and lives only in the benchmark's memory.
    """
    from service.security.api_keys import hash_api_key, new_api_key

    key = new_api_key()
    env.update(
        ALLIANCE_RISK_AUTH="enabled",
        ALLIANCE_RISK_API_KEYS=json.dumps({caller: hash_api_key(key)}),
    )
    return {"X-API-Key": key}


#: Where BENCHMARKS.md's records measured by hand begin (long runs, before/after
#: comparisons): `make bench` rewrites everything above this line and keeps the rest.
HAND_KEPT = "<!-- Recorded by hand below: `make bench` keeps everything from this line. -->"


def kept_by_hand(report: Path) -> str:
    """The hand-kept records at the end of `report` (from `HAND_KEPT` on), or ''."""
    text = report.read_text() if report.exists() else ""
    at = text.find(HAND_KEPT)
    return "" if at < 0 else "\n" + text[at:]


def add_section(report: Path, section: str) -> None:
    """Add a generated section to `report`, before its hand-kept records."""
    text = report.read_text() if report.exists() else ""
    at = text.find(HAND_KEPT)
    if at < 0:
        report.write_text(text + section)
    else:
        report.write_text(text[:at].rstrip("\n") + "\n" + section.rstrip("\n") + "\n\n" + text[at:])
