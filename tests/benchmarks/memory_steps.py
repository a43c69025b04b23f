"""Peak memory per process and per step of `alliance-risk train` and `score`, single or Dask.

Usage: .venv/bin/python tests/benchmarks/memory_steps.py --data COHORT [--paths single dask]
[--train-only]

The command runs as its own process (the driver), as `dask_comparison.py` runs it; the
cluster (two single-thread workers) lives in this process, so the scheduler is not counted
as the driver's. Inside the driver a thread samples, every `--every` seconds, the resident
memory of the driver and of each worker, and names the step the driver's main thread is in
(the function a step-holding function such as `fit_and_evaluate_on_cluster` is calling, or
its current line). Whole-process peaks come from the kernel (`ru_maxrss`); the per-step
figures are the largest samples, so a peak shorter than one interval can be missed.

For the driver each sample also says who holds its memory: Arrow's memory pool (string
columns), the C heap in use (NumPy arrays, pandas blocks, large Python objects) and the heap
glibc keeps free without returning it to the system; what is left of the resident set is
code, libraries, Python's small objects (kept in arenas of their own) and memory mapped by
other allocators.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import linecache
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))

from harness import ROOT

# The cluster starts in this process: its scheduler and workers must unpickle this
# checkout's modules, not those of another install of the package in the same venv.
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = str(ROOT)

MIB = 1024**2
#: Functions whose callee (or current line) names the step a sample belongs to.
STEP_HOLDERS = (
    "fit_and_evaluate_on_cluster",
    "fit_and_evaluate",
    "evaluate_outcome",
    "train",
    "score_dataset_on_cluster",
    "score_folder",
)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _heap_mib() -> tuple[float, float, float]:
    """Arrow's pool, glibc's heap in use (arenas and mmapped blocks), and its free heap."""
    import pyarrow

    glibc = ctypes.CDLL("libc.so.6")
    glibc.mallinfo2.restype = _MallInfo2
    info = glibc.mallinfo2()
    return (
        pyarrow.total_allocated_bytes() / MIB,
        (info.uordblks + info.hblkhd) / MIB,
        info.fordblks / MIB,
    )


def _step(frame: object) -> str:
    """The innermost step-holding function of our code on the stack, and what it does now."""
    chain = []
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(str(ROOT)) and "/tests/" not in path:
            chain.append(frame)
        frame = frame.f_back
    chain.reverse()
    for depth in range(len(chain) - 1, -1, -1):
        holder = chain[depth]
        if holder.f_code.co_name in STEP_HOLDERS:
            if depth + 1 < len(chain):
                return f"{holder.f_code.co_name} > {chain[depth + 1].f_code.co_name}"
            line = linecache.getline(holder.f_code.co_filename, holder.f_lineno).strip()
            return f"{holder.f_code.co_name}: {line[:60]}"
    return "start-up and logging"


def _drive(timeline: Path, pids: list[int], every: float, command: list[str]) -> None:
    """Run the CLI command in this process while a thread samples memory and steps."""
    from alliance_risk_cli import app

    main = threading.main_thread().ident
    processes = [psutil.Process(), *(psutil.Process(pid) for pid in pids)]
    samples: list[list[object]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            frame = sys._current_frames().get(main)
            rss = []
            for process in processes:
                try:
                    rss.append(process.memory_info().rss / MIB)
                except psutil.Error:  # a worker that has gone
                    rss.append(0.0)
            samples.append([time.time(), _step(frame), *rss, *_heap_mib()])

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        app(command, standalone_mode=False)
    finally:
        done.set()
        thread.join()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        timeline.write_text(json.dumps({"driver_peak_mib": peak, "samples": samples}))


def _by_step(samples: list[list[object]], n_workers: int) -> dict[str, dict[str, list[float]]]:
    """Per step, in the order steps began: the largest driver and worker memory seen, and
    who held the driver's memory at its largest sample (Arrow, heap in use, heap free)."""
    steps: dict[str, dict[str, list[float]]] = {}
    for _, step, *figures in samples:
        rss, held = [float(v) for v in figures[: 1 + n_workers]], figures[1 + n_workers :]
        best = steps.setdefault(str(step), {"peak_mib": [0.0] * len(rss), "driver_held": []})
        if rss[0] > best["peak_mib"][0]:
            best["driver_held"] = [round(float(v)) for v in held]
        best["peak_mib"] = [max(a, b) for a, b in zip(best["peak_mib"], rss, strict=True)]
    return steps


def _fixed_cost_mib() -> float:
    """A worker's memory once Python, pandas, LightGBM and our model code are imported."""
    import lightgbm  # noqa: F401
    import pandas  # noqa: F401

    import models.predictor  # noqa: F401
    import training.distributed.fitting  # noqa: F401

    return psutil.Process().memory_info().rss / MIB


def _run(
    command: list[str], env: dict[str, str], pids: list[int], timeline: Path, every: float
) -> dict[str, object]:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--drive",
            str(timeline),
            "--every",
            str(every),
            "--pids",
            *map(str, pids),
            "--",
            *command,
        ],
        env=env,
        cwd=ROOT,
        check=True,
    )
    recorded = json.loads(timeline.read_text())
    return {
        "seconds": time.perf_counter() - started,
        "driver_peak_mib": recorded["driver_peak_mib"],
        "steps": _by_step(recorded["samples"], len(pids)),
    }


def measure_path(
    path: str, data: Path, work: Path, every: float, *, score: bool = True
) -> dict[str, object]:
    """Train, promote and score with explanations (unless `score` is false), with
    per-process and per-step peaks."""
    from distributed import Client, LocalCluster

    home = work / f"memory-{path}-{data.name}"
    env = dict(os.environ)
    env.update(
        ALLIANCE_RISK_HOME=str(home),
        MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}",
        PYTHONPATH=str(ROOT),
    )
    home.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        extra: list[str] = []
        pids: list[int] = []
        figures: dict[str, object] = {"load_before": os.getloadavg()}
        if path == "dask":
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
                )
            )
            client = stack.enter_context(Client(cluster))
            pids = list(client.run(os.getpid).values())
            extra = ["--dask", cluster.scheduler_address]
            figures["worker_fixed_mib"] = list(client.run(_fixed_cost_mib).values())
        train = ["train", "--data", str(data), "--seed", "0", *extra]
        figures["train"] = _run(train, env, pids, work / f"{path}-train.json", every)
        if pids:
            figures["worker_peak_after_train_mib"] = list(client.run(_peak_mib).values())
        if not score:
            figures["load_after"] = os.getloadavg()
            return figures
        promote = ["promote", "1", "--force", "--reason", "benchmark"]
        subprocess.run([sys.executable, "-m", "alliance_risk_cli", *promote], env=env, check=True)
        out = work / f"scores-{path}-{data.name}{'' if pids else '.parquet'}"
        score = ["score", "--data", str(data), "--out", str(out), "--explain", *extra]
        figures["score"] = _run(score, env, pids, work / f"{path}-score.json", every)
        if pids:
            figures["worker_peak_mib"] = list(client.run(_peak_mib).values())
        figures["load_after"] = os.getloadavg()
    return figures


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--paths", nargs="+", choices=["single", "dask"], default=["dask"])
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-memory")
    parser.add_argument("--every", type=float, default=0.25)
    parser.add_argument("--train-only", action="store_true", help="skip promote and score")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pids", type=int, nargs="*", default=[], help=argparse.SUPPRESS)
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        _drive(args.drive, args.pids, args.every, args.command)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    for path in args.paths:
        figures = measure_path(path, args.data, args.work, args.every, score=not args.train_only)
        record = args.work / f"memory-{path}-{args.data.name}.json"
        record.write_text(json.dumps(figures, indent=2))
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
