"""Training and batch scoring on a Dask cluster give what a single machine gives."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster, wait
from homes import private_home
from typer.testing import CliRunner

from alliance_risk_cli import app
from data_schemas.buckets import (
    client_bucket,
    load_bucketed,
    worker_addresses,
)
from data_schemas.problems import DataValidationError
from data_schemas.tables import ClinicTables, load_clinic_data, write_clinic_data
from features.landmarks import LandmarkFeatureBuilder
from features.therapist_history import (
    client_folds,
    dropout_flags,
    fold_dropout_counts,
    out_of_fold_rates,
)
from models.pyfunc import load_predictor
from service.batch.cluster import score_dataset_on_cluster
from service.batch.scoring import score_folder
from training.boosting import BoosterParameters
from training.distributed.boosting import require_equal_threads
from training.distributed.fitting import fit_and_evaluate_on_cluster
from training.fitting import FittedModel, fit_and_evaluate
from training.pipeline import TrainingOutcome, content_hash
from training.splits import subset
from training.synthetic import SyntheticCohort, generate_cohort

pytestmark = pytest.mark.slow


def write_partitioned(tables: ClinicTables, folder: Path, *, n_files: int) -> None:
    """The tables as partitioned Parquet datasets (`clients/part.0.parquet`, ...), in order."""
    for name in ("clients", "therapists", "sessions"):
        frame = getattr(tables, name)
        (folder / name).mkdir(parents=True)
        for number, rows in enumerate(np.array_split(np.arange(len(frame)), n_files)):
            frame.iloc[rows].to_parquet(folder / name / f"part.{number}.parquet", index=False)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """Two single-threaded worker processes (LightGBM's network layer is per process)."""
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as local,
        Client(local) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def partitioned_cohort(
    small_cohort: SyntheticCohort, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """`small_cohort` as partitioned Parquet datasets of three files per table."""
    folder = tmp_path_factory.mktemp("partitioned_cohort")
    write_partitioned(small_cohort.tables, folder, n_files=3)
    return folder


@pytest.fixture(scope="module")
def fitted_both_ways(
    cluster: Client, tmp_path_factory: pytest.TempPathFactory
) -> tuple[FittedModel, FittedModel]:
    """Both paths on 10,000 clients (about 2,000 test clients).

    Fewer clients would not do: with 1,500 clients the early-stopping rows are so few that
    two honest fits differing only in bin edges pick 30 or 180 trees, and AUROC moves by
    up to 0.025 between them.
    """
    cohort = generate_cohort(10_000, seed=11)
    folder = tmp_path_factory.mktemp("cohort_10k")
    write_partitioned(cohort.tables, folder, n_files=3)
    single = fit_and_evaluate(cohort.tables, seed=0, n_boot=20)
    tables = load_bucketed(cluster, folder, n_buckets=4, require_outcomes=True)
    distributed = fit_and_evaluate_on_cluster(cluster, tables, seed=0, n_boot=20)
    return single, distributed


def test_bucketed_out_of_fold_rates_equal_single_machine_training_rows(
    small_cohort: SyntheticCohort,
) -> None:
    tables = small_cohort.tables
    builder = LandmarkFeatureBuilder(random_state=3)
    expected = builder.fit_transform(tables)
    clients = tables.clients
    ids = np.sort(clients["client_id"].to_numpy(dtype=object))
    folds = pd.Series(client_folds(ids, builder.n_folds, 3), index=ids)
    buckets = client_bucket(clients["client_id"], 5)
    parts = [subset(tables, frozenset(clients.loc[buckets == b, "client_id"])) for b in range(5)]
    counts = (
        pd.concat(
            fold_dropout_counts(
                p.clients["therapist_id"].to_numpy(dtype=object),
                dropout_flags(p.clients),
                folds.reindex(p.clients["client_id"]).to_numpy(),
            )
            for p in parts
        )
        .groupby(level=["therapist_id", "fold"])
        .sum()
    )
    rows = []
    for part in parts:
        part_ids = part.clients["client_id"].to_numpy(dtype=object)
        rates = out_of_fold_rates(
            part.clients["therapist_id"].to_numpy(dtype=object),
            folds.reindex(part_ids).to_numpy(),
            counts,
            prior_strength=builder.prior_strength,
        )
        rows.append(builder.transform_with_therapist_rates(part, pd.Series(rates, index=part_ids)))
    pd.testing.assert_frame_equal(pd.concat(rows).sort_index(), expected.sort_index())


def test_bucket_validation_reports_the_rows_of_the_source_files(
    small_cohort: SyntheticCohort, cluster: Client, tmp_path: Path
) -> None:
    sessions = small_cohort.tables.sessions.copy()
    sessions.loc[sessions.index[[10, 900]], "alliance_score"] = 999.0
    broken = ClinicTables(small_cohort.tables.clients, small_cohort.tables.therapists, sessions)
    write_clinic_data(broken, tmp_path / "flat", file_format="parquet")
    write_partitioned(broken, tmp_path / "partitioned", n_files=3)
    with pytest.raises(DataValidationError) as single:
        load_clinic_data(tmp_path / "flat")
    with pytest.raises(DataValidationError) as distributed:
        load_bucketed(cluster, tmp_path / "partitioned", n_buckets=4)
    assert {(p.table, p.row, p.column) for p in distributed.value.problems} == {
        (p.table, p.row, p.column) for p in single.value.problems
    }


def test_a_partitioned_dataset_reads_as_the_plain_files_do(
    small_cohort_dir: Path, partitioned_cohort: Path, tmp_path: Path
) -> None:
    """Single-machine commands read `NAME/` datasets too, and hash every file of them."""
    plain, partitioned = load_clinic_data(small_cohort_dir), load_clinic_data(partitioned_cohort)
    for name in ("clients", "therapists", "sessions"):
        pd.testing.assert_frame_equal(getattr(partitioned, name), getattr(plain, name))
    copy = tmp_path / "copy"
    shutil.copytree(partitioned_cohort, copy)
    assert content_hash(copy) == content_hash(partitioned_cohort)
    last_part = sorted((copy / "sessions").iterdir())[-1]
    pd.read_parquet(last_part).iloc[:-1].to_parquet(last_part, index=False)
    assert content_hash(copy) != content_hash(partitioned_cohort)


def test_each_bucket_is_read_from_every_part_and_marker_files_are_skipped(
    cluster: Client, partitioned_cohort: Path, small_cohort_dir: Path, tmp_path: Path
) -> None:
    """Buckets read from a partitioned dataset hold every client once, whole, with its rows
    as one machine reads them; Spark's `_SUCCESS` is not a part; a truncated part is
    reported by name, not raised from a worker."""
    copy = tmp_path / "copy"
    shutil.copytree(partitioned_cohort, copy)
    (copy / "sessions" / "_SUCCESS").write_bytes(b"")
    tables = load_bucketed(cluster, copy, n_buckets=3)
    buckets = cluster.gather(tables.buckets)
    plain = load_clinic_data(small_cohort_dir)
    for name in ("clients", "sessions"):
        gathered = pd.concat([getattr(bucket, name) for bucket in buckets]).sort_index()
        pd.testing.assert_frame_equal(gathered, getattr(plain, name))
    for bucket in buckets:
        assert set(bucket.sessions["client_id"]) <= set(bucket.clients["client_id"])
    last_part = sorted((copy / "sessions").glob("part.*"))[-1]
    last_part.write_bytes(last_part.read_bytes()[:100])
    with pytest.raises(DataValidationError) as caught:
        load_bucketed(cluster, copy, n_buckets=3)
    [problem] = caught.value.problems
    assert problem.table == "sessions"
    assert problem.reason == f"{last_part.name} is not a readable Parquet file: ArrowInvalid"


def test_hive_partition_folders_are_columns_on_both_paths(
    cluster: Client, small_cohort_dir: Path, tmp_path: Path
) -> None:
    """`clients/setting=inpatient/...`: the partition folder's value is the column's, read
    the same on a cluster as on one machine, never dropped."""
    folder = tmp_path / "hive"
    shutil.copytree(small_cohort_dir, folder)
    clients = pd.read_parquet(folder / "clients.parquet")
    (folder / "clients.parquet").unlink()
    clients.to_parquet(folder / "clients", partition_cols=["setting"], index=False)
    single = load_clinic_data(folder).clients
    assert set(single["setting"]) == set(clients["setting"])
    buckets = cluster.gather(load_bucketed(cluster, folder, n_buckets=3).buckets)
    gathered = pd.concat([bucket.clients for bucket in buckets]).sort_index()
    pd.testing.assert_frame_equal(gathered, single)


def test_distributed_feature_values_equal_single_machine(
    fitted_both_ways: tuple[FittedModel, FittedModel],
) -> None:
    single, distributed = fitted_both_ways
    assert distributed.split == single.split
    assert distributed.model.metadata.instrument_shares == pytest.approx(
        single.model.metadata.instrument_shares
    )
    for outcome in ("dropout", "violence"):
        pd.testing.assert_frame_equal(
            distributed.evaluations[outcome].test_features.sort_index(),
            single.evaluations[outcome].test_features.sort_index(),
        )


def test_distributed_reference_profile_and_missing_shares_equal_single_machine(
    fitted_both_ways: tuple[FittedModel, FittedModel],
) -> None:
    """The driver fetches the test rows one feature at a time, yet profiles them exactly."""
    single, distributed = fitted_both_ways
    ours, theirs = distributed.model.metadata.reference, single.model.metadata.reference
    assert ours.n_rows == theirs.n_rows
    assert ours.features == theirs.features
    for outcome in ("dropout", "violence"):
        assert ours.probabilities[outcome].n_rows == theirs.probabilities[outcome].n_rows
        assert distributed.evaluations[outcome].test_missing == pytest.approx(
            single.evaluations[outcome].test_missing
        )


def test_distributed_training_matches_single_machine_auroc(
    fitted_both_ways: tuple[FittedModel, FittedModel],
) -> None:
    single, distributed = fitted_both_ways
    for outcome in ("dropout", "violence"):
        ours = distributed.evaluations[outcome].metrics["overall"]["auroc"]["value"]
        theirs = single.evaluations[outcome].metrics["overall"]["auroc"]["value"]
        assert abs(ours - theirs) <= 0.01, (outcome, ours, theirs)
        # Early stopping ran on the cluster: a full run would have kept every round.
        assert distributed.evaluations[outcome].n_trees < BoosterParameters().max_rounds


def test_buckets_stay_on_the_worker_they_were_pinned_to(
    cluster: Client, partitioned_cohort: Path
) -> None:
    """Bucket i lives on worker i mod n, so the same buckets train together on every run."""
    tables = load_bucketed(cluster, partitioned_cohort, n_buckets=5)
    workers = worker_addresses(cluster)
    wait(tables.buckets)
    held = cluster.who_has(tables.buckets)
    for i, bucket in enumerate(tables.buckets):
        assert list(held[bucket.key]) == [workers[i % len(workers)]]


def test_distributed_model_is_the_single_machine_artifact(
    fitted_both_ways: tuple[FittedModel, FittedModel],
) -> None:
    single, distributed = fitted_both_ways
    assert type(distributed.model) is type(single.model)
    for outcome in ("dropout", "violence"):
        assert type(distributed.model.outcomes[outcome].booster) is type(
            single.model.outcomes[outcome].booster
        )
    history = single.model.features.therapist_dropouts_
    assert distributed.model.features.therapist_dropouts_.therapist_codes == history.therapist_codes


def test_distributed_scoring_equals_single_machine_row_for_row(
    trained_model: TrainingOutcome,
    small_cohort_dir: Path,
    partitioned_cohort: Path,
    cluster: Client,
    tmp_path: Path,
) -> None:
    score_folder(small_cohort_dir, tmp_path / "single.parquet", explain=True)
    n_rows, _ = score_dataset_on_cluster(
        partitioned_cohort, tmp_path / "scored", cluster, explain=True, show_progress=False
    )
    keys = ["client_id", "landmark"]
    single = pd.read_parquet(tmp_path / "single.parquet").sort_values(keys, ignore_index=True)
    distributed = pd.read_parquet(tmp_path / "scored").sort_values(keys, ignore_index=True)
    assert n_rows == len(single)
    pd.testing.assert_frame_equal(distributed, single)


def test_train_command_on_a_cluster_registers_a_servable_model(
    cluster: Client, partitioned_cohort: Path, tmp_path: Path
) -> None:
    """`alliance-risk train --dask` end to end: validation, training, model card, registry."""
    with private_home(tmp_path):
        result = CliRunner().invoke(
            app,
            [
                "train",
                "--data",
                str(partitioned_cohort),
                "--dask",
                cluster.scheduler.address,
                "--bootstrap",
                "20",
                "--allow-small-sample",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "registered alliance-risk version 1" in result.output
        model = load_predictor("models:/alliance-risk/1")
        assert model.metadata.training_summary["n_clients"] == 1500
        assert "Model card" in model.metadata.model_card_markdown


def test_workers_with_different_thread_counts_are_refused_before_training() -> None:
    require_equal_threads({"tcp://a:1": 2, "tcp://b:1": 2})
    with pytest.raises(ValueError, match="same number of threads"):
        require_equal_threads({"tcp://a:1": 2, "tcp://b:1": 4})
