"""Data-parallel LightGBM on the cluster, trained where the rows are.

Each worker that holds training rows builds its LightGBM datasets from them and joins
LightGBM's own socket network (`tree_learner="data"`), as `lightgbm.dask` does; only the
finished model comes back to the driver. `lightgbm.dask.DaskLGBMClassifier` did this for
us until 2026-12-07, but with an evaluation set its `_train` (lightgbm 4.x) checks that each
worker received validation rows by fetching one of that worker's whole data parts to the
driver: at 1,000,000 clients that was about 0.8 GiB on the driver, the step that set its
peak (BENCHMARKS.md, "Recorded by hand", C and D). Each worker trains with
`training.boosting.train_early_stopped`, the call and parameters of one machine's booster.
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, Future

from features.registry import monotone_constraints
from training.boosting import BoosterParameters, train_early_stopped


class HeldPort:
    """A port kept bound on a worker until LightGBM listens on it, so that no other process
    takes it in between. It stays in the worker's memory as a task result (never sent)."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("", 0))
        self.port: int = self.socket.getsockname()[1]

    def release(self) -> None:
        self.socket.close()


def _port_of(held: HeldPort) -> int:
    return held.port


def require_equal_threads(threads_by_worker: dict[str, int]) -> None:
    """Refuse workers with different thread counts before training starts.

    LightGBM sums the early-stopping loss over each worker's threads; a different number
    of threads sums in a different order, and a last-bit difference could make one worker
    stop while another trains on, waiting for it until LightGBM's network timeout.
    """
    counts = sorted(set(threads_by_worker.values()))
    if len(counts) > 1:
        raise ValueError(
            "distributed training needs the same number of threads on every Dask worker "
            f"(found {', '.join(map(str, counts))}); start the workers with the same "
            "`dask worker --nthreads N`"
        )


#: Rows as LightGBM takes them: the predictors as one float64 matrix, and the labels.
LightgbmRows = tuple[np.ndarray, np.ndarray]


def lightgbm_rows(
    frames: list[pd.DataFrame], masks: list[np.ndarray], names: list[str], label: str
) -> LightgbmRows:
    """The rows of `frames` that `masks` keep, in order, filled into the matrix one column
    of one frame at a time: a frame of all the kept rows, then its matrix, held the
    worker's training rows twice over in its largest step, the booster's fit."""
    n_rows = sum(int(mask.sum()) for mask in masks)
    matrix = np.empty((n_rows, len(names)), dtype=np.float64)
    labels = np.empty(n_rows, dtype=np.float64)
    start = 0
    for frame, mask in zip(frames, masks, strict=True):
        end = start + int(mask.sum())
        for j, name in enumerate(names):
            matrix[start:end, j] = frame[name].to_numpy(np.float64)[mask]
        labels[start:end] = frame[label].to_numpy(np.float64)[mask]
        start = end
    return matrix, labels


def _train_rank(
    training: LightgbmRows,
    stopping: LightgbmRows,
    held: HeldPort,
    *,
    params: dict[str, object],
    names: list[str],
    parameters: BoosterParameters,
    return_model: bool,
) -> str | None:
    """One worker's share of the training: its rows, the early-stopping rows (the same on
    every worker, so all see the same loss and stop at the same round), LightGBM's network.
    """
    held.release()  # LightGBM binds the port when training starts, just below
    booster = train_early_stopped(
        params, training, stopping, feature_names=names, parameters=parameters
    )
    try:
        return (
            booster.model_to_string(num_iteration=booster.best_iteration) if return_model else None
        )
    finally:
        booster.free_network()


def train_data_parallel(
    client: Client,
    training: dict[str, Future],
    stopping: dict[str, Future],
    *,
    outcome: str,
    parameters: BoosterParameters,
    seed: int,
    names: list[str],
) -> lgb.Booster:
    """A booster trained by the workers `training` names (worker address -> its rows),
    each also given its copy of the early-stopping rows (`stopping`, same keys), both as
    `LightgbmRows`, under the registry's monotone constraints like a single machine's
    booster."""
    threads = client.nthreads()
    require_equal_threads(threads)
    workers = list(training)
    held = {
        worker: client.submit(HeldPort, workers=[worker], allow_other_workers=False, pure=False)
        for worker in workers
    }
    ports = client.gather(
        {
            worker: client.submit(_port_of, future, workers=[worker], allow_other_workers=False)
            for worker, future in held.items()
        }
    )
    machines = ",".join(f"{urlparse(worker).hostname}:{ports[worker]}" for worker in workers)
    params = {
        **parameters.lightgbm_params(seed, monotone_constraints(names, outcome)),
        "tree_learner": "data",
        "machines": machines,
        "num_machines": len(workers),
    }
    ranks = [
        client.submit(
            _train_rank,
            training[worker],
            stopping[worker],
            held[worker],
            params={**params, "local_listen_port": ports[worker], "num_threads": threads[worker]},
            names=names,
            parameters=parameters,
            return_model=rank == 0,
            workers=[worker],
            allow_other_workers=False,
            # Not pure: each call joins the others' network; a cached result would not.
            pure=False,
        )
        for rank, worker in enumerate(workers)
    ]
    model = client.gather(ranks)[0]
    return lgb.Booster(model_str=model)
