"""The held-out rows of a cluster run are scored where they live; the driver gets columns.

Each bucket's rows stay on its worker (`training.distributed.fitting`). From them the
driver asks for what `training.held_out` needs and nothing more:

- calibration: each labelled calibration row's margin, label and landmark;
- baselines: a bounded sample of training rows;
- evaluation: each labelled test row's client, landmark, label, probabilities (model and
  baselines, which travel to the workers once) and subgroup code; a seeded sample of at
  most `training.held_out.BEESWARM_ROWS` feature rows with their explanations for the plots;
  the count of missing values per predictor for the model card;
- the reference profile: the probabilities of every test row, then one feature column
  of the test rows at a time (`models.reference.ReferenceProfile.of_columns`).

So the driver's memory grows with a few numbers per held-out row, never with whole rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, Future
from sklearn.pipeline import Pipeline

from features.landmarks import by_landmark
from models.outcome import OutcomeModel
from models.predictor import AllianceRiskModel
from models.reference import ReferenceProfile
from training.baselines import BASELINE_ROWS, fit_baselines
from training.characteristics import missing_counts, shares_of_missing
from training.held_out import (
    BEESWARM_ROWS,
    MODEL_SCORES,
    SUBGROUP_FEATURE,
    ScoredTest,
    plot_rows,
)


def fitted_baselines(
    client: Client, train: dd.DataFrame, outcome: str, names: list[str], n_rows: int, seed: int
) -> dict[str, Pipeline]:
    """The comparison baselines, fitted on the driver on the `n_rows` labelled training rows
    `train`, their predictors `names` and label only (a seeded sample of `BASELINE_ROWS`
    when there are more).

    The sample's frame is let go before the pipelines copy its matrix: the fit is the
    driver's largest step.
    """
    if n_rows > BASELINE_ROWS:
        train = train.sample(frac=BASELINE_ROWS / n_rows, random_state=seed)
    sample = client.compute(train).result()
    matrix = sample[names].to_numpy(np.float64)
    y = sample[f"label_{outcome}"].to_numpy(np.float64)
    del sample
    return fit_baselines(matrix, y, names)


def _labelled(rows: pd.DataFrame, part: str, outcome: str) -> pd.DataFrame:
    return rows[(rows["part"] == part).to_numpy() & rows[f"label_{outcome}"].notna().to_numpy()]


def _labelled_count(rows: pd.DataFrame, part: str, outcome: str) -> int:
    return len(_labelled(rows, part, outcome))


def _calibration_margins(
    rows: pd.DataFrame, booster: lgb.Booster, outcome: str, names: list[str]
) -> pd.DataFrame:
    kept = _labelled(rows, "calibration", outcome)
    return pd.DataFrame(
        {
            "margin": booster.predict(kept[names].to_numpy(np.float64), raw_score=True),
            "y": kept[f"label_{outcome}"].to_numpy(np.float64),
            "landmark": kept["landmark"].to_numpy(np.int64),
        }
    )


def calibration_margins(
    client: Client, row_parts: list[Future], booster: lgb.Booster, outcome: str, names: list[str]
) -> pd.DataFrame:
    """Margin (raw score), label and landmark of every labelled calibration row."""
    [booster_on_workers] = client.scatter([booster], broadcast=True)
    return pd.concat(
        client.gather(
            client.map(
                _calibration_margins,
                row_parts,
                booster=booster_on_workers,
                outcome=outcome,
                names=names,
            )
        ),
        ignore_index=True,
    )


def _scored_test_part(
    rows: pd.DataFrame,
    n_sample: int,
    seed: int,
    *,
    model: OutcomeModel,
    baselines: dict[str, Pipeline],
    names: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, pd.Series]:
    """One bucket's scored test rows, its sample of feature rows with their explanations,
    and its missing-value counts per predictor."""
    kept = by_landmark(_labelled(rows, "test", model.name))
    features = kept[names]
    matrix = features.to_numpy(np.float64)
    landmark = kept.index.get_level_values("landmark").to_numpy()
    columns = {
        "y": kept[f"label_{model.name}"].to_numpy(np.float64),
        MODEL_SCORES: model.score(matrix, landmark).probability,
    }
    columns |= {name: b.predict_proba(matrix)[:, 1] for name, b in baselines.items()}
    columns[SUBGROUP_FEATURE] = features[SUBGROUP_FEATURE].to_numpy(dtype=float)
    chosen = plot_rows(len(features), n_sample, seed)
    sample = features.iloc[chosen]
    contributions = model.explain(matrix[chosen]).contributions
    return pd.DataFrame(columns, index=kept.index), sample, contributions, missing_counts(features)


def scored_test(
    client: Client,
    row_parts: list[Future],
    model: OutcomeModel,
    baselines: dict[str, Pipeline],
    names: list[str],
    seed: int,
) -> ScoredTest:
    """`ScoredTest.of` for the test rows on the cluster, with a seeded sample of at most
    `BEESWARM_ROWS` feature rows (every row when there are no more), spread over the
    buckets in proportion to their rows."""
    counts = client.gather(client.map(_labelled_count, row_parts, part="test", outcome=model.name))
    total = sum(counts)
    quotas = counts if total <= BEESWARM_ROWS else [n * BEESWARM_ROWS // total for n in counts]
    [model_on_workers, baselines_on_workers] = client.scatter([model, baselines], broadcast=True)
    occupied = [i for i, n in enumerate(counts) if n]
    parts = client.gather(
        client.map(
            _scored_test_part,
            [row_parts[i] for i in occupied],
            [quotas[i] for i in occupied],
            [seed + i for i in occupied],
            model=model_on_workers,
            baselines=baselines_on_workers,
            names=names,
        )
    )
    scored = pd.concat([part[0] for part in parts])
    return ScoredTest(
        y=scored["y"].to_numpy(),
        clients=scored.index.get_level_values("client_id").to_numpy(),
        landmark=scored.index.get_level_values("landmark").to_numpy(),
        index=scored.index,
        subgroup_codes=scored[SUBGROUP_FEATURE].to_numpy(),
        scores={name: scored[name].to_numpy() for name in [MODEL_SCORES, *baselines]},
        sample=pd.concat([part[1] for part in parts]),
        contributions=np.concatenate([part[2] for part in parts]),
        missing=shares_of_missing(sum(part[3] for part in parts), total),
    )


def _test_probabilities(rows: pd.DataFrame, model: AllianceRiskModel) -> dict[str, np.ndarray]:
    # The predictors of the test rows go straight into one matrix: the worker's largest
    # step once held the test rows three times over (all columns, re-indexed, predictors).
    test = (rows["part"] == "test").to_numpy()
    matrix = rows.loc[test, list(model.feature_names)].to_numpy(np.float64)
    landmarks = rows["landmark"].to_numpy()[test]
    return {
        outcome: outcome_model.score(matrix, landmarks).probability
        for outcome, outcome_model in model.outcomes.items()
    }


def _test_column(rows: pd.DataFrame, name: str) -> np.ndarray:
    return rows[name].to_numpy()[(rows["part"] == "test").to_numpy()]


def reference_on_cluster(
    client: Client, row_parts: list[Future], names: list[str]
) -> Callable[[AllianceRiskModel, dict[str, Any]], ReferenceProfile]:
    """`training.fitting.assemble`'s `reference_of` for the test rows on the cluster: every
    test row's probabilities, then the feature values one column at a time."""

    def reference_of(model: AllianceRiskModel, validation: dict[str, Any]) -> ReferenceProfile:
        [model_on_workers] = client.scatter([model], broadcast=True)
        per_bucket = client.gather(
            client.map(_test_probabilities, row_parts, model=model_on_workers)
        )
        probabilities = {
            outcome: np.concatenate([bucket[outcome] for bucket in per_bucket])
            for outcome in model.outcomes
        }
        columns = (
            (name, np.concatenate(client.gather(client.map(_test_column, row_parts, name=name))))
            for name in names
        )
        n_rows = len(next(iter(probabilities.values())))
        return ReferenceProfile.of_columns(columns, probabilities, validation, n_rows=n_rows)

    return reference_of
