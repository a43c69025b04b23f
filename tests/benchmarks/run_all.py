"""`make bench`: measure serving, batch scoring and training, and write BENCHMARKS.md.

Every figure is measured in this run on this machine. Comparisons with `mlflow models
serve` alternate the two systems round by round, so load from anything else on the
machine falls on both; the reported ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from harness import (
    BIN,
    ROOT,
    LoadResult,
    cpu_seconds,
    free_port,
    kept_by_hand,
    load_average,
    machine,
    measure,
    mlflow_server,
    our_server,
    rss_mib,
    server,
    with_api_key,
    wrk,
)

CONCURRENCY = (1, 8, 32)


def environment(home: Path) -> dict[str, str]:
    """Each benchmark's own data directory and MLflow store; auth off on loopback."""
    env = dict(os.environ)
    env.update(
        ALLIANCE_RISK_HOME=str(home),
        MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}",
        ALLIANCE_RISK_AUTH="disabled",
        # The per-caller rate limit would answer most of a load test with 429.
        ALLIANCE_RISK_RATE_LIMIT_PER_MINUTE="0",
        PYTHONPATH=str(ROOT),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def cli(*args: str) -> list[str]:
    return [str(BIN / "alliance-risk"), *args]


def training(home: Path, clients: int, timeout: float) -> dict[str, float]:
    """Synthesise a cohort, then time `alliance-risk train` on it as a separate process."""
    env = environment(home / f"train-{clients}")
    data = home / f"cohort-{clients}"
    measure(cli("synth", "--clients", str(clients), "--seed", "7", "--out", str(data)), env, 600)
    run = measure(cli("train", "--data", str(data), "--seed", "0"), env, timeout)
    return {"clients": clients, "seconds": run.seconds, "peak_rss_mib": run.peak_rss_mib}


def in_process(home: Path, data: Path, calls: int) -> dict[str, float]:
    """The endpoint's own code path (predict + JSON) called directly, one client at a time."""
    os.environ.update(environment(home))
    from data_schemas.histories import history_from_tables
    from data_schemas.tables import load_clinic_data
    from models.pyfunc import load_predictor
    from models.store import CHAMPION_URI, StoreSettings, configure_mlflow
    from service.answers.predictions import predict
    from service.model.holder import ServedModel

    configure_mlflow(StoreSettings())
    served = ServedModel(
        load_predictor(CHAMPION_URI), "alliance-risk", None, "champion", CHAMPION_URI
    )
    tables = load_clinic_data(data)
    ids = tables.clients["client_id"].sample(500, random_state=0).tolist()
    # A client with no session yet gets a 422 from the API, not a prediction: left out.
    histories = [
        history
        for history in (history_from_tables(tables, client_id) for client_id in ids)
        if history.sessions
    ]
    for history in histories[:50]:
        predict(served, history, "warm-up").model_dump_json()
    timings = []
    for call in range(calls):
        history = histories[call % len(histories)]
        started = time.perf_counter()
        predict(served, history, "bench").model_dump_json()
        timings.append(time.perf_counter() - started)
    ms = np.asarray(timings) * 1000
    return {
        "calls": calls,
        "mean_ms": float(ms.mean()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        # One core doing nothing but this work, back to back: the ceiling HTTP approaches.
        "one_core_requests_per_second": 1000 / float(ms.mean()),
        "load_average": load_average(),
    }


def example_bodies(home: Path, data: Path) -> tuple[dict, dict]:
    """One client's request for our API and the same client's feature row for MLflow."""
    os.environ.update(environment(home))
    from data_schemas.histories import history_from_tables
    from data_schemas.tables import load_clinic_data
    from features.registry import FEATURE_NAMES
    from models.pyfunc import load_predictor
    from models.store import CHAMPION_URI, StoreSettings, configure_mlflow

    configure_mlflow(StoreSettings())
    tables = load_clinic_data(data)
    client_id = str(tables.clients["client_id"].iloc[0])
    history = history_from_tables(tables, client_id, as_of=1)
    row = load_predictor(CHAMPION_URI).features.transform_history(history, 1)[0]
    ours = json.loads(history.model_dump_json())
    theirs = {
        "dataframe_split": {
            "columns": list(FEATURE_NAMES),
            "data": [[None if np.isnan(v) else float(v) for v in row]],
        }
    }
    return ours, theirs


def http(
    home: Path,
    data: Path,
    seconds: int,
    rounds: int,
    *,
    connections: tuple[int, ...] = CONCURRENCY,
    workers: int = 1,
    server_name: str = "uvicorn",
) -> tuple[list[dict], dict[str, float]]:
    """Our API (with explanations) against `mlflow models serve` (probabilities only).

    Ours runs as in production: API-key authentication and the SQLite audit trail
    (synchronous=FULL) on. The server's CPU time per request is read from the kernel.
    """
    env = environment(home)
    headers = with_api_key(env)
    ours_body, mlflow_body = example_bodies(home, data)
    ours_port, mlflow_port = free_port(), free_port()
    ours_url = f"http://127.0.0.1:{ours_port}/v1/predictions"
    mlflow_url = f"http://127.0.0.1:{mlflow_port}/invocations"
    rows = []
    memory: dict[str, float] = {}
    with (
        server(
            our_server(ours_port, workers=workers, server=server_name),
            env,
            f"http://127.0.0.1:{ours_port}/readyz",
        ) as ours,
        server(mlflow_server(mlflow_port), env, f"http://127.0.0.1:{mlflow_port}/ping", 180),
    ):
        memory["rss_after_start_mib"] = rss_mib(ours.pid)
        # Warm both up: first requests load lazily initialised code paths.
        wrk(ours_url, ours_body, connections=8, seconds=1, headers=headers)
        wrk(mlflow_url, mlflow_body, connections=8, seconds=1)
        served = 0
        for count in connections:
            results: dict[str, list[LoadResult]] = {"ours": [], "mlflow": []}
            cpu: list[float] = []
            loads = [load_average()]
            for _ in range(rounds):
                before = cpu_seconds(ours.pid)
                results["ours"].append(
                    wrk(ours_url, ours_body, connections=count, seconds=seconds, headers=headers)
                )
                cpu.append((cpu_seconds(ours.pid) - before) / max(results["ours"][-1].requests, 1))
                results["mlflow"].append(
                    wrk(mlflow_url, mlflow_body, connections=count, seconds=seconds)
                )
            loads.append(load_average())
            served += sum(r.requests for r in results["ours"])
            ratios = [
                o.requests_per_second / m.requests_per_second if m.requests_per_second else math.inf
                for o, m in zip(results["ours"], results["mlflow"], strict=True)
            ]
            rows.append(
                {
                    "connections": count,
                    "workers": workers,
                    **{
                        f"{name}_{field}": statistics.median(
                            getattr(r, field) for r in results[name]
                        )
                        for name in results
                        for field in ("requests_per_second", "p50_ms", "p99_ms")
                    },
                    "ours_errors": sum(r.errors for r in results["ours"]),
                    "mlflow_errors": sum(r.errors for r in results["mlflow"]),
                    "throughput_ratio": statistics.median(ratios),
                    "round_ratios": ratios,
                    "ours_cpu_ms_per_request": statistics.median(cpu) * 1000,
                    "load_average": " to ".join(loads),
                }
            )
        memory["requests_served"] = served
        memory["rss_after_requests_mib"] = rss_mib(ours.pid)
    return rows, memory


def batch(home: Path, data: Path, rows: int, repeats: int) -> list[dict]:
    env = environment(home)
    worker = str(Path(__file__).parent / "batch_worker.py")
    results: dict[str, list] = {mode: [] for mode in ("features", "scores", "explained", "mlflow")}
    for _ in range(repeats):
        for mode, measured in results.items():
            run = measure([sys.executable, worker, mode, str(data), str(rows)], env, 900)
            figures = json.loads(run.stdout.strip().splitlines()[-1])
            measured.append(
                (figures["rows"] / figures["seconds"], run.peak_rss_mib, figures["rows"])
            )
    return [
        {
            "mode": mode,
            "rows": values[0][2],
            "rows_per_second": statistics.median(v[0] for v in values),
            "peak_rss_mib": max(v[1] for v in values),
        }
        for mode, values in results.items()
    ]


#: (leaves, learning rate) pairs compared for accuracy against explanation cost.
MODEL_SIZES = ((2, 0.1), (3, 0.1), (3, 0.05), (7, 0.03), (15, 0.03))


def model_sizes(home: Path, data: Path) -> list[dict]:
    """Held-out AUROC and single-thread TreeSHAP cost per row for a few booster sizes."""
    os.environ.update(environment(home))

    from data_schemas.tables import load_clinic_data
    from features.registry import FEATURE_NAMES
    from training.boosting import BoosterParameters
    from training.fitting import fit_and_evaluate
    from training.held_out import OracleFile

    tables = load_clinic_data(data)
    oracle = OracleFile.in_folder(data)
    rows = []
    for leaves, rate in MODEL_SIZES:
        parameters = BoosterParameters(num_leaves=leaves, learning_rate=rate)
        fitted = fit_and_evaluate(
            tables,
            seed=0,
            parameters={"dropout": parameters, "violence": parameters},
            oracle=oracle,
            n_boot=20,
        )
        sample = (
            fitted.evaluations["dropout"]
            .test_features[list(FEATURE_NAMES)]
            .to_numpy(np.float64)[:5000]
        )
        row: dict = {"leaves": leaves, "learning_rate": rate}
        for outcome, evaluation in fitted.evaluations.items():
            booster = fitted.model.outcomes[outcome].booster
            started = time.perf_counter()
            booster.predict(sample, pred_contrib=True, num_threads=1)
            row[outcome] = {
                "auroc": evaluation.metrics["overall"]["auroc"]["value"],
                "slope": evaluation.metrics["overall"]["calibration_slope"]["value"],
                "trees": evaluation.n_trees,
                "shap_ms_per_row": (time.perf_counter() - started) / len(sample) * 1000,
            }
        rows.append(row)
    return rows


def report(figures: dict, commands: list[str]) -> str:
    m = figures["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured {figures['date']} by `make bench` on {m['cores']} cores ({m['cpu']}), "
        f"{m['memory']} memory, Python {m['python']}. All traffic on 127.0.0.1. Medians over "
        f"{figures['rounds']} alternating rounds where two systems are compared.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    inproc = figures["in_process"]
    http8 = next(r for r in figures["http"] if r["connections"] == 8)
    batch_by = {row["mode"]: row for row in figures["batch"]}
    train_by = {row["clients"]: row for row in figures["training"]}
    targets = [
        (
            "in-process, both outcomes with explanations: p99 <= 5 ms",
            f"{inproc['p99_ms']:.2f} ms",
            inproc["p99_ms"] <= 5,
        ),
        (
            "HTTP c=8: throughput >= 10x `mlflow models serve`, without errors",
            f"{http8['throughput_ratio']:.1f}x, {http8['ours_errors']} errors",
            http8["throughput_ratio"] >= 10 and http8["ours_errors"] == 0,
        ),
        ("HTTP c=8: p99 <= 25 ms", f"{http8['ours_p99_ms']:.1f} ms", http8["ours_p99_ms"] <= 25),
        (
            "batch without explanations >= 200,000 rows/s",
            f"{batch_by['scores']['rows_per_second']:,.0f} rows/s",
            batch_by["scores"]["rows_per_second"] >= 200_000,
        ),
        (
            "batch with exact explanations >= 20,000 rows/s",
            f"{batch_by['explained']['rows_per_second']:,.0f} rows/s",
            batch_by["explained"]["rows_per_second"] >= 20_000,
        ),
    ]
    if 100_000 in train_by:
        big = train_by[100_000]
        targets += [
            (
                "training 100,000 clients <= 5 min",
                f"{big['seconds'] / 60:.1f} min",
                big["seconds"] <= 300,
            ),
            (
                "training 100,000 clients peak memory < 4 GB",
                f"{big['peak_rss_mib'] / 1024:.2f} GiB",
                big["peak_rss_mib"] < 4096,
            ),
        ]
    mem = figures["memory"]
    targets.append(
        (
            "service RSS < 400 MB",
            f"{mem['rss_after_start_mib']:.0f} MiB after start, "
            f"{mem['rss_after_requests_mib']:.0f} MiB after {mem['requests_served']:,} requests",
            mem["rss_after_requests_mib"] < 400,
        )
    )
    lines += [f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, value, ok in targets]
    lines += [
        "",
        "## 1. In-process prediction (the endpoint's code path, one client, both outcomes, explanations, JSON)",
        "",
        f"{inproc['calls']:,} calls over 500 synthetic clients: mean {inproc['mean_ms']:.2f} ms, "
        f"p50 {inproc['p50_ms']:.2f} ms, p99 {inproc['p99_ms']:.2f} ms (load average "
        f"{inproc['load_average']}). At that cost one core could answer at most "
        f"{inproc['one_core_requests_per_second']:,.0f} requests/s; the HTTP figures below show "
        "how far the full request (HTTP, authentication, validation, audit commit, log line) "
        "stays from that limit.",
        "",
        "## 2. HTTP, one client per request",
        "",
        "Ours: `POST /v1/predictions` with both outcomes and full explanations, API-key "
        "authentication and the SQLite audit trail (synchronous=FULL) on. MLflow: `mlflow models "
        "serve` of the same registered version, one worker, `POST /invocations` with the client's "
        "feature row, probabilities only. Server CPU is our server's user and system time per "
        "request, from the kernel.",
        "",
        "| our workers | connections | ours req/s | ours p50 ms | ours p99 ms | server CPU ms/request | MLflow req/s | MLflow p50 ms | MLflow p99 ms | ours/MLflow throughput | errors (ours, MLflow) | load average (1/5/15 min, start to end) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in figures["http"] + figures["http_two_workers"]:
        lines.append(
            f"| {r['workers']} | {r['connections']} | {r['ours_requests_per_second']:.0f} | {r['ours_p50_ms']:.1f} | {r['ours_p99_ms']:.1f} "
            f"| {r['ours_cpu_ms_per_request']:.2f} | {r['mlflow_requests_per_second']:.0f} | {r['mlflow_p50_ms']:.1f} | {r['mlflow_p99_ms']:.1f} "
            f"| {r['throughput_ratio']:.1f}x | {r['ours_errors']}, {r['mlflow_errors']} | {r['load_average']} |"
        )
    lines += [
        "",
        "## 3. Batch scoring of landmark rows",
        "",
        "| what | rows | rows/s | peak memory |",
        "|---|---|---|---|",
    ]
    names = {
        "features": "landmark features from the three tables",
        "scores": "probabilities, bands, percentiles (no explanations)",
        "explained": "the same with exact TreeSHAP contributions (LightGBM `pred_contrib`)",
        "mlflow": "`mlflow.pyfunc` predict of the same version (probabilities, bands)",
    }
    for row in figures["batch"]:
        lines.append(
            f"| {names[row['mode']]} | {row['rows']:,} | {row['rows_per_second']:,.0f} | {row['peak_rss_mib']:.0f} MiB |"
        )
    lines += [
        "",
        "## 4. Training (synthetic cohort, features, both models, calibration, evaluation, MLflow logging)",
        "",
        "| clients | wall time | peak memory |",
        "|---|---|---|",
    ]
    for row in figures["training"]:
        lines.append(
            f"| {row['clients']:,} | {row['seconds']:.0f} s | {row['peak_rss_mib']:.0f} MiB |"
        )
    if len(figures["training"]) == 2:
        small, big = figures["training"]
        lines += [
            "",
            f"From {small['clients']:,} to {big['clients']:,} clients ({big['clients'] / small['clients']:.0f}x) time grew {big['seconds'] / small['seconds']:.1f}x and peak memory {big['peak_rss_mib'] / small['peak_rss_mib']:.1f}x.",
        ]
    if figures.get("model_sizes"):
        lines += [
            "",
            "## 5. Model size against accuracy and explanation cost (20,000 clients, held-out test)",
            "",
            "TreeSHAP time is LightGBM `pred_contrib` on one thread. The default (3 leaves, rate 0.1) is marked.",
            "",
            "| leaves | learning rate | dropout AUROC | dropout slope | dropout trees | dropout SHAP ms/row | violence AUROC | violence slope | violence trees | violence SHAP ms/row |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in figures["model_sizes"]:
            mark = " (default)" if (row["leaves"], row["learning_rate"]) == (3, 0.1) else ""
            d, v = row["dropout"], row["violence"]
            lines.append(
                f"| {row['leaves']}{mark} | {row['learning_rate']} | {d['auroc']:.4f} | {d['slope']:.3f} | {d['trees']} | {d['shap_ms_per_row']:.3f} "
                f"| {v['auroc']:.4f} | {v['slope']:.3f} | {v['trees']} | {v['shap_ms_per_row']:.3f} |"
            )
    lines += [
        "",
        "## 6. Service memory",
        "",
        f"Resident set size of the uvicorn process: {mem['rss_after_start_mib']:.0f} MiB after start-up, "
        f"{mem['rss_after_requests_mib']:.0f} MiB after serving {mem['requests_served']:,} prediction requests.",
        "",
        "## Commands",
        "",
        "```sh",
        *commands,
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench", help="Scratch folder.")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--seconds", type=int, default=5, help="Length of one load round.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds per comparison.")
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    parser.add_argument("--large-cohort", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument(
        "--sizes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Compare booster sizes (accuracy against explanation cost).",
    )
    args = parser.parse_args()
    started = time.monotonic()
    args.work.mkdir(parents=True, exist_ok=True)
    home = args.work / "train-20000"
    data = args.work / "cohort-20000"
    figures: dict = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "rounds": args.rounds,
    }
    print("training on 20,000 clients", flush=True)
    figures["training"] = [training(args.work, 20_000, 600)]
    measure(cli("promote", "1", "--force", "--reason", "benchmark"), environment(home), 300)
    print("in-process latency", flush=True)
    figures["in_process"] = in_process(home, data, args.calls)
    print("HTTP against mlflow models serve", flush=True)
    figures["http"], figures["memory"] = http(home, data, args.seconds, args.rounds)
    print("HTTP with two workers", flush=True)
    figures["http_two_workers"], _ = http(
        home, data, args.seconds, args.rounds, connections=(8,), workers=2
    )
    print("batch scoring", flush=True)
    figures["batch"] = batch(home, data, args.batch_rows, 2)
    if args.sizes:
        print("model sizes", flush=True)
        figures["model_sizes"] = model_sizes(home, data)
    if args.large_cohort:
        print(f"training on {args.large_cohort:,} clients", flush=True)
        figures["training"].append(training(args.work, args.large_cohort, 900))
    commands = [
        "make bench    # = .venv/bin/python tests/benchmarks/run_all.py, then",
        "              #   tests/benchmarks/cds_hooks.py (section 7) and the last recorded",
        "              #   tests/benchmarks/dask_comparison.py figures (section 8)",
        f"# run_all.py: {' '.join(sys.argv[1:]) or '(defaults)'}; "
        f"took {(time.monotonic() - started) / 60:.1f} min",
    ]
    args.out.write_text(report(figures, commands) + kept_by_hand(args.out))
    (args.work / "figures.json").write_text(json.dumps(figures, indent=2))
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
