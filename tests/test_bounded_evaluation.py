"""What one machine keeps of its held-out rows is bounded at any cohort size, as on a
cluster: the plots' sample of explained rows and the baselines' training rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.registry import FEATURE_NAMES
from training import baselines as baselines_module
from training import held_out
from training.baselines import fit_baselines
from training.heap import return_freed_memory
from training.held_out import (
    MODEL_SCORES,
    OracleFile,
    ScoredTest,
    oracle_of_test_clients,
    plot_rows,
)
from training.pipeline import TrainingOutcome
from training.synthetic import SyntheticCohort


def test_plot_rows_are_a_seeded_ordered_sample_or_every_row() -> None:
    assert plot_rows(5, 10, seed=1).tolist() == [0, 1, 2, 3, 4]
    chosen = plot_rows(1000, 100, seed=1)
    assert len(chosen) == 100 == len(set(chosen))
    assert (np.diff(chosen) > 0).all()
    assert chosen.tolist() == plot_rows(1000, 100, seed=1).tolist()
    assert chosen.tolist() != plot_rows(1000, 100, seed=2).tolist()


@pytest.mark.slow
def test_one_machine_scores_every_test_row_but_explains_a_bounded_sample(
    trained_model: TrainingOutcome,
    small_cohort: SyntheticCohort,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = trained_model.fitted.model
    features = model.features.transform(small_cohort.tables)[list(FEATURE_NAMES)]
    y = (np.arange(len(features)) % 5 == 0).astype(float)
    monkeypatch.setattr(held_out, "BEESWARM_ROWS", 300)
    scored = ScoredTest.of(model.outcomes["dropout"], features, y, {}, seed=3)
    assert len(scored.scores[MODEL_SCORES]) == len(features) > 300
    assert len(scored.sample) == 300 == len(scored.contributions)
    rows = plot_rows(len(features), 300, seed=3)
    expected = model.outcomes["dropout"].explain(features.to_numpy(np.float64)[rows])
    np.testing.assert_array_equal(scored.contributions, expected.contributions)
    assert scored.sample.index.equals(features.index[rows])


@pytest.mark.slow
def test_baselines_are_fitted_on_a_seeded_sample_of_many_rows(
    trained_model: TrainingOutcome,
    small_cohort: SyntheticCohort,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    features = trained_model.fitted.model.features.transform(small_cohort.tables)
    matrix = features[list(FEATURE_NAMES)].to_numpy(np.float64)
    y = (np.arange(len(matrix)) % 4 == 0).astype(float)
    monkeypatch.setattr(baselines_module, "BASELINE_ROWS", 500)
    sampled = fit_baselines(matrix, y, list(FEATURE_NAMES), seed=4)
    rows = np.sort(np.random.default_rng(4).choice(len(y), 500, replace=False))
    monkeypatch.setattr(baselines_module, "BASELINE_ROWS", len(y))
    explicit = fit_baselines(matrix[rows], y[rows], list(FEATURE_NAMES), seed=4)
    for name, pipeline in sampled.items():
        np.testing.assert_array_equal(
            pipeline.predict_proba(matrix), explicit[name].predict_proba(matrix)
        )


def test_only_the_test_clients_oracle_rows_are_read(small_cohort_dir: Path, tmp_path: Path) -> None:
    """The oracle file is read row group by row group for the test clients only: the rows
    and values the whole file filtered in memory gives, in the same order."""
    whole = pd.read_parquet(small_cohort_dir / "oracle.parquet")
    test = frozenset(whole["client_id"].drop_duplicates().iloc[::5])
    expected = whole[whole["client_id"].isin(test)].reset_index(drop=True)
    # Several row groups, so rows are kept from each and put back in order.
    split_file = tmp_path / "oracle.parquet"
    whole.to_parquet(split_file, row_group_size=len(whole) // 7)
    for folder in (small_cohort_dir, tmp_path):
        oracle = OracleFile.in_folder(folder)
        assert oracle is not None
        pd.testing.assert_frame_equal(oracle_of_test_clients(oracle, test), expected)
    assert oracle_of_test_clients(None, test) is None
    assert OracleFile.in_folder(tmp_path / "clinic-export") is None
    assert len(OracleFile(split_file).rows_of(frozenset())) == 0


def test_training_returns_freed_heap_to_the_system_on_glibc() -> None:
    """`alliance-risk train` lowers glibc's trim threshold for its own process, as Dask's
    nanny does for its workers (training.heap); on this Linux machine glibc accepts it."""
    assert return_freed_memory() is True
