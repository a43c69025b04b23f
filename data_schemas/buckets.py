"""Read the clinic tables on a Dask cluster, bucket them by client and validate each bucket.

Training and batch scoring on a cluster both start here, so the contract's checks run on
every bucket exactly as `data_schemas.tables.load_clinic_data` runs them on one machine.
A table is `<name>.parquet` (one file), `<name>/` (a partitioned Parquet dataset) or
`<name>.csv` inside the data folder. Clients and sessions go into `n_buckets` buckets by
a stable hash of the client id, so every bucket is a small clinic of whole clients that the
single-machine contract checks and the feature builder read unchanged.

Each bucket of a Parquet table is read by its own task, batch by batch, keeping only its
clients' rows: reading a table once per bucket costs less than shuffling it, whose buffers
made one worker hold twice its share. A CSV table, slow to parse, is read once and shuffled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from dask.delayed import Delayed
from distributed import Client, Future

from data_schemas.problems import DataValidationError, Problem
from data_schemas.ranges import OUTCOME_COLUMNS
from data_schemas.tables import (
    ClinicTables,
    parse_and_check,
    table_source,
    unreadable_parquet,
)

TABLES = ("clients", "therapists", "sessions")
ROW = "_source_row"
BUCKET = "_bucket"


@dataclass(frozen=True)
class BucketedTables:
    """Validated tables: one `ClinicTables` per bucket, bucket i held on worker i mod n."""

    buckets: list[Future]
    therapists: pd.DataFrame
    n_buckets: int

    def release(self) -> None:
        """Let the workers drop the buckets once the tasks already given them are done.

        Training reads a bucket's tables only to build its rows; held to the end, they
        took a third of each worker's memory through every later step. The list of
        futures is emptied: the tables cannot be read through this object again.
        """
        self.buckets.clear()


def read_table(folder: Path, name: str) -> dd.DataFrame:
    """Table `name` as a Dask DataFrame with its 1-based row in the source: text cells from
    CSV, typed cells from Parquet (the contract's parser reads both)."""
    path = table_source(folder, name)
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig") as handle:
            header = handle.readline()
        frame = dd.read_csv(
            path,
            sep=";" if header.count(";") > header.count(",") else ",",
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            blocksize="64MB",
        )
    else:
        frame = dd.read_parquet(path, split_row_groups=True)
    lengths = frame.map_partitions(len).compute()
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    meta = frame._meta.assign(**{ROW: pd.Series(dtype=np.int64)})
    parts = [
        dask.delayed(_numbered)(part, int(offset))
        for part, offset in zip(frame.to_delayed(), offsets, strict=True)
    ]
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def _numbered(part: pd.DataFrame, offset: int) -> pd.DataFrame:
    return part.assign(**{ROW: np.arange(offset + 1, offset + len(part) + 1, dtype=np.int64)})


def client_bucket(client_ids: pd.Series, n_buckets: int) -> pd.Series:
    """Bucket 0..n-1 of each client id: a hash that is the same in every process."""
    hashes = pd.util.hash_array(client_ids.astype(str).to_numpy(dtype=object))
    return pd.Series((hashes % np.uint64(n_buckets)).astype(np.int64), index=client_ids.index)


#: Rows read at a time when a Parquet table is read bucket by bucket.
BATCH_ROWS = 65_536


def _parquet_dataset(source: Path) -> ds.Dataset:
    """A Parquet table as Arrow's dataset, as `pyarrow.parquet.read_table` reads it on one
    machine: its files in the same order, hive partition folders (`site_id=s1/`) as columns,
    files named `_*` or `.*` (`_SUCCESS`, checksums) skipped."""
    return ds.dataset(source, format="parquet", partitioning="hive")


def _parquet_parts(source: Path, name: str) -> list[int]:
    """The number of rows before each file of Parquet table `name` (from the files'
    footers; no data is read). A file that cannot be read is reported here, by name."""
    before, rows = [], 0
    for fragment in _parquet_dataset(source).get_fragments():
        try:
            count = fragment.count_rows()
        except (pa.ArrowException, OSError) as error:
            problem = unreadable_parquet(name, Path(fragment.path), error)
            raise DataValidationError([problem]) from None
        before.append(rows)
        rows += count
    return before


def _parquet_bucket(source: Path, before: list[int], bucket: int, n_buckets: int) -> pd.DataFrame:
    """The rows of a Parquet table whose client falls in `bucket` (all rows in bucket 0
    without a client_id column, which the contract then reports), numbered by their row in
    the source: the task holds its bucket and one batch, never the whole table."""
    dataset = _parquet_dataset(source)
    frames = []
    for fragment, rows_before in zip(dataset.get_fragments(), before, strict=True):
        kept, rows, offset = [], [np.empty(0, dtype=np.int64)], rows_before
        # One batch at a time: Arrow would otherwise read 16 ahead, a worker's memory for
        # nothing when each batch is filtered as soon as it is read.
        batches = fragment.to_batches(
            schema=dataset.schema, batch_size=BATCH_ROWS, batch_readahead=0, use_threads=False
        )
        for batch in batches:
            if "client_id" in batch.schema.names:
                ids = batch.column("client_id").to_pandas()
                in_bucket = (client_bucket(ids, n_buckets) == bucket).to_numpy()
            else:
                in_bucket = np.full(batch.num_rows, bucket == 0)
            kept.append(batch.filter(pa.array(in_bucket)))
            rows.append(offset + 1 + np.flatnonzero(in_bucket))
            offset += batch.num_rows
        table = pa.Table.from_batches(kept, schema=dataset.schema)
        del kept
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        frames.append(frame.assign(**{ROW: np.concatenate(rows)}))
    return pd.concat(frames, ignore_index=True)


def bucketed(folder: Path, name: str, n_buckets: int) -> list[Delayed]:
    """Table `name` in `n_buckets` buckets of whole clients, bucket i in element i, each with
    its rows' numbers in the source (see the module's docstring for how)."""
    source = table_source(folder, name)
    if source.suffix == ".csv":
        return by_client(read_table(folder, name), n_buckets)
    before = _parquet_parts(source, name)
    return [
        dask.delayed(_parquet_bucket)(source, before, bucket, n_buckets)
        for bucket in range(n_buckets)
    ]


def by_client(frame: dd.DataFrame, n_buckets: int) -> list[Delayed]:
    """The frame shuffled into `n_buckets` partitions, bucket i in partition i."""
    bucketed = frame.assign(
        **{BUCKET: frame["client_id"].map_partitions(client_bucket, n_buckets, meta=(BUCKET, "i8"))}
    )
    shuffled = bucketed.set_index(BUCKET, divisions=[*range(n_buckets), n_buckets])
    return shuffled.to_delayed()


def _source_rows(problems: list[Problem], table: str, rows: np.ndarray) -> list[Problem]:
    """Bucket-local row numbers (from 1) turned back into rows of the source file."""
    return [
        dataclasses.replace(problem, row=int(rows[problem.row - 1]))
        if problem.table == table and problem.row is not None
        else problem
        for problem in problems
    ]


def validate_bucket(
    raw_clients: pd.DataFrame, raw_sessions: pd.DataFrame, raw_therapists: pd.DataFrame
) -> tuple[ClinicTables, list[Problem]]:
    """The contract's checks on one bucket of whole clients and all therapists."""
    raw_clients = raw_clients.sort_values(ROW, kind="stable").reset_index(drop=True)
    raw_sessions = raw_sessions.sort_values(ROW, kind="stable").reset_index(drop=True)
    tables, problems = parse_and_check(
        raw_clients.drop(columns=ROW),
        raw_therapists.drop(columns=ROW),
        raw_sessions.drop(columns=ROW),
    )
    problems = _source_rows(problems, "clients", raw_clients[ROW].to_numpy())
    problems = _source_rows(problems, "sessions", raw_sessions[ROW].to_numpy())
    problems = _source_rows(problems, "therapists", raw_therapists[ROW].to_numpy())
    # The source rows as index, so the gathered clients table equals `load_clinic_data`'s.
    typed = ClinicTables(
        tables.clients.set_axis(pd.Index(raw_clients[ROW].to_numpy())),
        tables.therapists,
        tables.sessions.set_axis(pd.Index(raw_sessions[ROW].to_numpy())),
    )
    return typed, problems


def _tables_of(checked: tuple[ClinicTables, list[Problem]]) -> ClinicTables:
    return checked[0]


def _problems_of(checked: tuple[ClinicTables, list[Problem]]) -> list[Problem]:
    return checked[1]


def load_bucketed(
    client: Client, folder: Path, *, n_buckets: int, require_outcomes: bool = False
) -> BucketedTables:
    """Read, bucket and validate the tables on the cluster; raise with every problem found.

    Therapist-table problems are found by every bucket and reported once.
    """
    folder = Path(folder)
    raw_therapists = read_table(folder, "therapists").compute()
    therapists = dask.delayed(raw_therapists, pure=True)
    clients = bucketed(folder, "clients", n_buckets)
    sessions = bucketed(folder, "sessions", n_buckets)
    checked = [
        dask.delayed(validate_bucket)(c, s, therapists)
        for c, s in zip(clients, sessions, strict=True)
    ]
    checked = client.compute(checked)
    found = list(
        dict.fromkeys(
            p for bucket in client.gather(client.map(_problems_of, checked)) for p in bucket
        )
    )
    buckets = pinned(client, _tables_of, checked)
    del checked  # the buckets now hold the tables; the cluster may drop the pairs
    if not found and require_outcomes:
        outcomes = client.submit(_has_outcomes, buckets[0]).result()
        if not outcomes:
            found.append(
                Problem(
                    "clients",
                    None,
                    "episode_end_reason",
                    None,
                    "training needs the outcome columns " + ", ".join(OUTCOME_COLUMNS),
                )
            )
    if found:
        raise DataValidationError(sorted(found, key=_problem_order))
    typed_therapists = client.submit(_therapists_of, buckets[0]).result()
    return BucketedTables(buckets, typed_therapists, n_buckets)


def default_buckets(client: Client) -> int:
    """Two buckets per worker thread: enough to balance, few enough to keep tasks large."""
    return max(2, 2 * sum(client.nthreads().values()))


def worker_addresses(client: Client) -> list[str]:
    """The cluster's workers in a fixed order."""
    return sorted(client.scheduler_info()["workers"])


def pinned(
    client: Client, function: Callable[..., Any], items: list[Any], *args: Any
) -> list[Future]:
    """`function(item, *args)` for each item, item i computed and kept on worker i mod n.

    The scheduler alone puts tasks wherever it finds room, so a worker could end up with
    most buckets, or none. Fixed placement balances the workers, lets training build one
    partition per worker, and keeps the same buckets together on every run (data-parallel
    LightGBM learns bin edges from each worker's own rows). Runs can still differ in which
    worker LightGBM numbers first, which also moves bin edges: the same seed gives one of
    two models on two workers. The placement is a preference, not a requirement, so a
    lost worker's buckets can be recomputed elsewhere, as Dask recovers any lost result.
    """
    workers = worker_addresses(client)
    return [
        client.submit(
            function, item, *args, workers=[workers[i % len(workers)]], allow_other_workers=True
        )
        for i, item in enumerate(items)
    ]


def _has_outcomes(tables: ClinicTables) -> bool:
    return tables.has_outcomes


def _therapists_of(tables: ClinicTables) -> pd.DataFrame:
    return tables.therapists


def _problem_order(problem: Problem) -> tuple[int, int]:
    return TABLES.index(problem.table) if problem.table in TABLES else 3, problem.row or 0
