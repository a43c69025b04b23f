"""`LandmarkFeatureBuilder`: clinic tables in, one feature row per client and landmark out.

A landmark is the moment after session k (k = 1..5) when a prediction is made. The row
for (client, k) uses only sessions 1..k, so training rows look exactly like what the
clinic knows when it asks. The builder is a scikit-learn transformer, so training, batch
scoring and the API share it; `transform_history` is the API's one-client path and runs
the same numpy core as `transform`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from data_schemas.ranges import LANDMARKS
from data_schemas.records import ClientHistory
from data_schemas.tables import ClinicTables
from features.alliance_norms import AllianceNorms
from features.arrays import ClientArrays, arrays_from_history, arrays_from_tables
from features.core import landmark_feature_matrix
from features.registry import FEATURE_NAMES
from features.therapist_history import (
    TherapistDropoutHistory,
    client_folds,
    cross_fitted_rates,
    dropout_flags,
    episode_end_days,
)

TherapistHistoryMode = Literal["cross_fit", "temporal"]


class LandmarkFeatureBuilder(TransformerMixin, BaseEstimator):
    """Build landmark feature rows from `ClinicTables`.

    Parameters
    ----------
    landmarks : the sessions k after which rows are made (a subset of 1..5).
    n_folds : folds K for the cross-fitted therapist dropout rate of training rows.
    prior_strength : pseudo-count m pulling a therapist's dropout rate toward the clinic
        rate, rate = (dropouts + m * mean) / (n + m). 10 means a therapist needs about ten
        clients before their own record outweighs the clinic average.
    random_state : seed of the fold assignment (a permutation of the sorted client ids).
    therapist_history : "cross_fit" (random splits) or "temporal" (count only clients
        whose episode ended before this client's intake; use for temporal splits).
    exclude : registry features to leave out of the output (a data scientist's choice, for
        example an attribute the clinic decides the model must not use); not `landmark`.

    `fit` reads how and when each client's episode ended (`episode_end_reason`,
    `episode_end_date`) and no other outcome; ongoing episodes add nothing to any rate. It
    also learns each alliance questionnaire's usual first rating (`alliance_norms_`).
    `fit_transform` gives training rows their out-of-fold therapist rate; `transform` uses
    the full fit.
    Output: a float64 DataFrame indexed by (client_id, landmark), columns
    `get_feature_names_out()`: the registry's features in its order, less `exclude`.
    """

    def __init__(
        self,
        landmarks: tuple[int, ...] = LANDMARKS,
        n_folds: int = 5,
        prior_strength: float = 10.0,
        random_state: int = 0,
        therapist_history: TherapistHistoryMode = "cross_fit",
        exclude: tuple[str, ...] = (),
    ) -> None:
        self.landmarks = landmarks
        self.n_folds = n_folds
        self.prior_strength = prior_strength
        self.random_state = random_state
        self.therapist_history = therapist_history
        self.exclude = exclude

    def _check_params(self) -> None:
        landmarks = tuple(self.landmarks)
        if not landmarks or not set(landmarks) <= set(LANDMARKS):
            raise ValueError(
                f"landmarks must be a non-empty subset of {LANDMARKS}, got {landmarks}"
            )
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be at least 2, got {self.n_folds}")
        if self.prior_strength < 0:
            raise ValueError(f"prior_strength must be 0 or more, got {self.prior_strength}")
        if self.therapist_history not in ("cross_fit", "temporal"):
            raise ValueError(
                "therapist_history must be 'cross_fit' or 'temporal', "
                f"got {self.therapist_history!r}"
            )
        unknown = sorted(set(self.exclude) - set(FEATURE_NAMES))
        if unknown:
            raise ValueError(
                f"cannot leave out unknown features {unknown}; known features are "
                + ", ".join(FEATURE_NAMES)
            )
        if "landmark" in self.exclude:
            raise ValueError("landmark cannot be left out: bands and percentiles are per session")

    @property
    def _width(self) -> int:
        return max(self.landmarks)

    def _training_clients(
        self, tables: ClinicTables
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Client ids (sorted), therapist ids, dropout flags (NaN while the episode is
        ongoing) and end days: all that fit may read of the outcomes."""
        if not tables.has_outcomes:
            raise ValueError(
                "fit needs the clients table's outcome columns (training data) to learn each "
                "therapist's dropout rate from how their clients' episodes ended"
            )
        clients = tables.clients.sort_values("client_id", kind="stable")
        return (
            clients["client_id"].to_numpy(dtype=object),
            clients["therapist_id"].to_numpy(dtype=object),
            dropout_flags(clients),
            episode_end_days(clients),
        )

    def fit(self, tables: ClinicTables, y: None = None) -> Self:
        """Learn each therapist's dropout counts from the ended episodes' endings."""
        self._fit(tables)
        return self

    def _fit(self, tables: ClinicTables) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._check_params()
        client_ids, therapist_ids, dropout, end_days = self._training_clients(tables)
        self.alliance_norms_ = AllianceNorms.learn(
            tables.sessions[tables.sessions["client_id"].isin(client_ids)]
        )
        ended = ~np.isnan(dropout)
        self.therapist_dropouts_ = TherapistDropoutHistory.learn(
            therapist_ids[ended],
            dropout[ended],
            end_days[ended],
            prior_strength=float(self.prior_strength),
            temporal=self.therapist_history == "temporal",
        )
        return client_ids, therapist_ids, dropout

    def fit_transform(self, tables: ClinicTables, y: None = None) -> pd.DataFrame:
        """Fit, then build the training rows with a leak-free therapist dropout rate.

        Cross-fit: each client's rate comes from the folds that do not hold the client.
        Temporal: the full fit already excludes the client (their episode cannot have
        ended before their own intake).
        """
        client_ids, therapist_ids, dropout = self._fit(tables)
        arrays = arrays_from_tables(tables, self._width)
        if self.therapist_history == "temporal":
            rates = self.therapist_dropouts_.rates(arrays.therapist_ids, arrays.intake_days)
        else:
            folds = client_folds(client_ids, self.n_folds, self.random_state)
            rates = cross_fitted_rates(
                therapist_ids, dropout, folds, prior_strength=float(self.prior_strength)
            )
        return self._frame(arrays, rates)

    def transform(self, tables: ClinicTables) -> pd.DataFrame:
        """Feature rows for every client and landmark k whose session k exists."""
        check_is_fitted(self)
        arrays = arrays_from_tables(tables, self._width)
        rates = self.therapist_dropouts_.rates(arrays.therapist_ids, arrays.intake_days)
        return self._frame(arrays, rates)

    def transform_with_therapist_rates(
        self, tables: ClinicTables, rates: pd.Series
    ) -> pd.DataFrame:
        """Feature rows whose therapist dropout rate is given per client id.

        For training rows whose out-of-fold rate was computed elsewhere, such as from
        `fold_dropout_counts` summed over the partitions of a distributed table; equal to
        `fit_transform`'s rows when the rates are.
        """
        self._check_params()
        arrays = arrays_from_tables(tables, self._width)
        return self._frame(arrays, rates.reindex(arrays.client_ids).to_numpy(np.float64))

    def transform_history(self, history: ClientHistory, landmark: int) -> np.ndarray:
        """One client's feature row at `landmark`, shape (1, n_features), without pandas.

        Sessions after `landmark` are ignored. Equal to the row `transform` gives.
        """
        check_is_fitted(self)
        if landmark not in self.landmarks:
            raise ValueError(f"landmark must be one of {tuple(self.landmarks)}, got {landmark}")
        if len(history.sessions) < landmark:
            raise ValueError(
                f"a landmark-{landmark} row needs session {landmark}; "
                f"the history has {len(history.sessions)} session(s)"
            )
        arrays = arrays_from_history(history, landmark)
        rate = self.therapist_dropouts_.rates(arrays.therapist_ids, arrays.intake_days)
        return landmark_feature_matrix(arrays, rate, landmark, self.alliance_norms_)[:, self._kept]

    def get_feature_names_out(self, input_features: None = None) -> np.ndarray:
        """The output columns: the registry's features in its order, less `exclude`."""
        return np.asarray(_kept_names(tuple(self.exclude)), dtype=object)

    @property
    def _kept(self) -> np.ndarray:
        """Positions of the output columns among the feature core's `FEATURE_NAMES`."""
        return _kept_positions(tuple(self.exclude))

    def _frame(self, arrays: ClientArrays, rates: np.ndarray) -> pd.DataFrame:
        # Each landmark's block is written straight to its rows' places in the output, in
        # the column-major layout pandas keeps: stacking the blocks, ordering the stack and
        # letting pandas copy it held the rows three times over.
        ks = sorted(self.landmarks)
        client_rows = [np.flatnonzero(arrays.n_sessions >= k) for k in ks]
        row = np.concatenate(client_rows)
        landmark = np.repeat(np.array(ks, dtype=np.int64), [len(rows) for rows in client_rows])
        order = np.lexsort((landmark, row))
        place = np.empty_like(order)
        place[order] = np.arange(len(order))
        columns = list(self.get_feature_names_out())
        values = np.empty((len(order), len(columns)), dtype=np.float64, order="F")
        start = 0
        for k, rows in zip(ks, client_rows, strict=True):
            block = landmark_feature_matrix(arrays.take(rows), rates[rows], k, self.alliance_norms_)
            values[place[start : start + len(rows)]] = block[:, self._kept]
            start += len(rows)
        index = pd.MultiIndex.from_arrays(
            [arrays.client_ids[row[order]], landmark[order]], names=["client_id", "landmark"]
        )
        return pd.DataFrame(values, index=index, columns=columns, copy=False)


@lru_cache(maxsize=32)
def _kept_names(exclude: tuple[str, ...]) -> tuple[str, ...]:
    """The registry's feature names less `exclude`; cached, as the API asks once per call."""
    return tuple(name for name in FEATURE_NAMES if name not in set(exclude))


@lru_cache(maxsize=32)
def _kept_positions(exclude: tuple[str, ...]) -> np.ndarray:
    """Positions of `_kept_names(exclude)` among `FEATURE_NAMES` (read-only)."""
    positions = np.flatnonzero([name not in set(exclude) for name in FEATURE_NAMES])
    positions.flags.writeable = False
    return positions


def by_landmark(rows: pd.DataFrame) -> pd.DataFrame:
    """Flat rows with `client_id` and `landmark` columns, indexed by (client_id, landmark)
    as `LandmarkFeatureBuilder` indexes its output (rows that travelled through Dask are flat).
    """
    return rows.set_axis(
        pd.MultiIndex.from_arrays(
            [rows["client_id"].to_numpy(dtype=object), rows["landmark"].to_numpy(np.int64)],
            names=["client_id", "landmark"],
        )
    )
