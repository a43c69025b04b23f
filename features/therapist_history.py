"""A therapist's dropout rate with their other clients, without leaking the client's own.

Therapists differ in how many of their clients drop out (Saxon, Barkham, Foster & Parry
2017, Clin Psychol Psychother 24(3)), so the therapist's track record is a feature. Learned naively it leaks: a
client's own dropout would be counted in their own feature. Two leak-free ways are given:

- cross-fit (like scikit-learn's `TargetEncoder`): clients are split into K folds by a
  seeded permutation of their ids, and a training client's rate comes from the other folds;
- temporal: a client's rate counts only the therapist's clients whose episode ended
  (`episode_end_date`) before this client's intake, as it would have been known at the time.

Only ended episodes count: an episode still ongoing has no known outcome yet, so it adds
neither a dropout nor a client to anyone's rate (it still gets a rate of its own).

Rates are shrunk toward the clinic-wide rate: rate = (dropouts + m * mean) / (n + m),
with prior strength m (an empirical-Bayes style pseudo-count of m average clients), so a
therapist with 2 clients is not labelled 0 % or 100 %. A therapist with no history gets
the clinic-wide rate.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd

from data_schemas.ranges import EpisodeEndReason


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.full(np.shape(numerator), np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _cumulative(dropped: np.ndarray) -> np.ndarray:
    """Dropouts among the first i episodes, for i = 0..n."""
    return np.concatenate(([0.0], np.cumsum(dropped)))


def shrunk_rate(
    dropouts: np.ndarray, clients: np.ndarray, mean: np.ndarray, prior_strength: float
) -> np.ndarray:
    """(dropouts + m * mean) / (clients + m); exactly `mean` for a therapist without clients."""
    shrunk = _divide(dropouts + prior_strength * mean, clients + prior_strength)
    return np.where(clients > 0, shrunk, mean)


@dataclass(frozen=True)
class TherapistDropoutHistory:
    """Per therapist, the end days of their clients' episodes (sorted) and dropouts so far.

    `dropouts_before[t][i]` is the number of dropouts among therapist t's first i episodes
    to end, so "clients ended before day d" is one binary search. The clinic-wide arrays
    give the mean in the same way.
    """

    prior_strength: float
    temporal: bool
    therapist_codes: dict[str, int]
    episode_ends: tuple[np.ndarray, ...]
    dropouts_before: tuple[np.ndarray, ...]
    clinic_episode_ends: np.ndarray
    clinic_dropouts_before: np.ndarray

    @classmethod
    def learn(
        cls,
        therapist_ids: np.ndarray,
        dropout: np.ndarray,
        episode_end_days: np.ndarray,
        *,
        prior_strength: float,
        temporal: bool,
    ) -> Self:
        """Count dropouts per therapist from clients' therapist, dropout flag and end day."""
        codes, therapists = pd.factorize(pd.Index(therapist_ids, dtype=object), sort=True)
        order = np.lexsort((episode_end_days, codes))
        ends, dropped = episode_end_days[order], dropout[order].astype(np.float64)
        bounds = np.searchsorted(codes[order], np.arange(len(therapists) + 1))
        segments = list(itertools.pairwise(bounds))
        clinic_order = np.argsort(episode_end_days, kind="stable")
        return cls(
            prior_strength=prior_strength,
            temporal=temporal,
            therapist_codes={str(t): i for i, t in enumerate(therapists)},
            episode_ends=tuple(ends[a:b] for a, b in segments),
            dropouts_before=tuple(_cumulative(dropped[a:b]) for a, b in segments),
            clinic_episode_ends=episode_end_days[clinic_order],
            clinic_dropouts_before=_cumulative(dropout[clinic_order].astype(np.float64)),
        )

    def _known_before(self, ends: np.ndarray, intake_days: np.ndarray) -> np.ndarray:
        """How many of the (sorted) episodes count for clients with these intake days."""
        if self.temporal:
            return np.searchsorted(ends, intake_days, side="left")
        return np.full(intake_days.shape, len(ends))

    def rates(self, therapist_ids: Sequence[str], intake_days: np.ndarray) -> np.ndarray:
        """Shrunk dropout rate of each client's therapist, from the learned clients only."""
        clinic_n = self._known_before(self.clinic_episode_ends, intake_days)
        mean = _divide(self.clinic_dropouts_before[clinic_n], clinic_n)
        codes = np.array([self.therapist_codes.get(t, -1) for t in therapist_ids], dtype=np.int64)
        clients = np.zeros(len(codes), dtype=np.int64)
        known_codes = codes[codes >= 0]
        dropouts = np.zeros(len(codes))
        # One client (the API's case) needs no sort.
        for code in known_codes if len(known_codes) == 1 else np.unique(known_codes):
            at = np.flatnonzero(codes == code)
            known = self._known_before(self.episode_ends[code], intake_days[at])
            clients[at] = known
            dropouts[at] = self.dropouts_before[code][known]
        return shrunk_rate(dropouts, clients, mean, self.prior_strength)


def dropout_flags(clients: pd.DataFrame) -> np.ndarray:
    """1.0 for an episode that ended in dropout, 0.0 for any other ending, NaN while ongoing."""
    reason = clients["episode_end_reason"]
    is_dropout = reason.eq(EpisodeEndReason.DROPOUT.value).fillna(False).to_numpy(dtype=bool)
    return np.where(reason.notna().to_numpy(), is_dropout * 1.0, np.nan)


def episode_end_days(clients: pd.DataFrame) -> np.ndarray:
    """Day (since 1970) each client's episode ended; meaningless for an ongoing episode,
    which `dropout_flags` marks and nothing counts."""
    return (
        clients["episode_end_date"]
        .to_numpy(dtype="datetime64[ns]")
        .astype("datetime64[D]")
        .astype(np.int64)
    )


def client_folds(client_ids: np.ndarray, n_folds: int, random_state: int) -> np.ndarray:
    """Fold 0..K-1 of each client from a seeded permutation of the sorted ids.

    Depends only on the set of ids and the seed, never on outcomes or row order.
    """
    order = np.argsort(client_ids, kind="stable")
    folds = np.empty(len(client_ids), dtype=np.int64)
    permuted = np.random.default_rng(random_state).permutation(len(client_ids))
    folds[order[permuted]] = np.arange(len(client_ids)) % n_folds
    return folds


def fold_dropout_counts(
    therapist_ids: np.ndarray, dropout: np.ndarray, folds: np.ndarray
) -> pd.DataFrame:
    """Ended episodes and dropouts per (therapist, fold), columns `clients` and `dropouts`.

    `dropout` is NaN for an ongoing episode, which is not counted. Counts of disjoint sets of
    clients add up, so the partitions of a distributed table can each count their own
    clients and the sums are the counts of the whole clinic.
    """
    dropout = np.asarray(dropout, dtype=np.float64)
    known = ~np.isnan(dropout)
    frame = pd.DataFrame(
        {
            "therapist_id": pd.Index(therapist_ids, dtype=object),
            "fold": np.asarray(folds, dtype=np.int64),
            "clients": known.astype(np.int64),
            "dropouts": np.where(known, dropout, 0.0),
        }
    )
    return frame.groupby(["therapist_id", "fold"]).sum()


def out_of_fold_rates(
    therapist_ids: np.ndarray,
    folds: np.ndarray,
    counts: pd.DataFrame,
    *,
    prior_strength: float,
) -> np.ndarray:
    """Each client's therapist rate from the `fold_dropout_counts` of the other folds only."""
    own = counts.reindex(pd.MultiIndex.from_arrays([therapist_ids, folds]), fill_value=0)
    therapist = counts.groupby(level="therapist_id").sum().reindex(therapist_ids, fill_value=0)
    fold = counts.groupby(level="fold").sum().reindex(folds, fill_value=0)
    total = counts.sum()
    clients = therapist["clients"].to_numpy() - own["clients"].to_numpy()
    dropouts = therapist["dropouts"].to_numpy() - own["dropouts"].to_numpy()
    mean = _divide(
        total["dropouts"] - fold["dropouts"].to_numpy(),
        total["clients"] - fold["clients"].to_numpy(),
    )
    return shrunk_rate(dropouts, clients, mean, prior_strength)


def cross_fitted_rates(
    therapist_ids: np.ndarray,
    dropout: np.ndarray,
    folds: np.ndarray,
    *,
    prior_strength: float,
) -> np.ndarray:
    """Each client's therapist rate learned from the clients of the other folds only."""
    counts = fold_dropout_counts(therapist_ids, dropout, folds)
    return out_of_fold_rates(therapist_ids, folds, counts, prior_strength=prior_strength)
