"""What the model's held-out data looked like: the reference a deployed model is watched against.

Training records, with every model, the distribution of each feature and of each outcome's
calibrated probability on its held-out test rows, and the validation figures measured on
those rows. `alliance-risk monitor` compares a clinic's recent rows with this profile:
input drift needs no outcomes, and the validation figures are what monitored performance
is judged against. Only binned shares are kept (never a row), so the profile holds no
client's data and stays small.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.registry import feature

#: Interior cut points of a numeric feature are its deciles among the reference rows.
DECILES = np.linspace(0.1, 0.9, 9)


@dataclass(frozen=True)
class Distribution:
    """Shares of the reference rows per bin (numbers) or per category code (categories),
    among rows with a value, and the share of rows without one."""

    kind: str
    edges: tuple[float, ...]
    categories: tuple[float, ...]
    shares: tuple[float, ...]
    missing_share: float
    n_rows: int
    #: Mean of the rows with a value (numbers only): the typical value an explanation's
    #: contributions are read against. None for categories, and in profiles recorded
    #: before it was kept (the class default fills it when they are unpickled).
    mean: float | None = None

    @classmethod
    def of_numbers(cls, values: np.ndarray) -> Distribution:
        """Deciles as bin edges (ties merged, so a count with few values keeps few bins)."""
        values = np.asarray(values, dtype=float)
        present = values[~np.isnan(values)]
        edges = (
            tuple(float(e) for e in np.unique(np.quantile(present, DECILES)))
            if len(present)
            else ()
        )
        # fsum: correctly rounded, so rows gathered in any order give the same mean.
        mean = math.fsum(present) / len(present) if len(present) else None
        reference = cls("numeric", edges, (), (), _missing(values), len(values), mean)
        return reference._with_shares(reference.counts(values)[0])

    @classmethod
    def of_categories(cls, codes: np.ndarray) -> Distribution:
        codes = np.asarray(codes, dtype=float)
        present = np.unique(codes[~np.isnan(codes)])
        reference = cls(
            "categorical", (), tuple(float(c) for c in present), (), _missing(codes), len(codes)
        )
        return reference._with_shares(reference.counts(codes)[0])

    def _with_shares(self, counts: np.ndarray) -> Distribution:
        total = counts.sum()
        shares = counts / total if total else counts.astype(float)
        return Distribution(
            self.kind,
            self.edges,
            self.categories,
            tuple(float(s) for s in shares),
            self.missing_share,
            self.n_rows,
            self.mean,
        )

    def counts(self, values: np.ndarray) -> tuple[np.ndarray, int]:
        """Rows per reference bin or category among `values` with a value, and rows whose
        category the reference never saw (always 0 for numbers: the outer bins are open)."""
        values = np.asarray(values, dtype=float)
        present = values[~np.isnan(values)]
        if self.kind == "numeric":
            bins = np.searchsorted(np.asarray(self.edges), present, side="left")
            return np.bincount(bins, minlength=len(self.edges) + 1), 0
        categories = np.asarray(self.categories)
        if not len(categories):
            return np.zeros(0, dtype=np.int64), len(present)
        positions = np.minimum(np.searchsorted(categories, present), len(categories) - 1)
        known = categories[positions] == present
        return np.bincount(positions[known], minlength=len(categories)), int((~known).sum())

    def labels(self, name: str) -> list[str]:
        """Readable names of the bins or of feature `name`'s categories, for tables."""
        if self.kind == "categorical":
            return [feature(name).category(c) for c in self.categories]
        bounds = ["-inf", *(f"{e:.3g}" for e in self.edges), "inf"]
        return [f"({low}, {high}]" for low, high in itertools.pairwise(bounds)]


def _missing(values: np.ndarray) -> float:
    return float(np.isnan(values).mean()) if len(values) else 0.0


@dataclass(frozen=True)
class ReferenceProfile:
    """The held-out test rows a model was validated on, as distributions and figures.

    `validation` holds each outcome's test-set figures (`training.evaluation`
    `evaluate_predictions`: overall and per landmark, each with its interval).
    """

    features: dict[str, Distribution]
    probabilities: dict[str, Distribution]
    validation: dict[str, Any] = field(default_factory=dict)
    n_rows: int = 0

    @classmethod
    def of(
        cls,
        features: pd.DataFrame,
        probabilities: dict[str, np.ndarray],
        validation: dict[str, Any],
    ) -> ReferenceProfile:
        """From landmark feature rows (columns named as the registry names them) and each
        outcome's calibrated probability on the same rows."""
        return cls.of_columns(
            ((name, features[name].to_numpy()) for name in features),
            probabilities,
            validation,
            n_rows=len(features),
        )

    @classmethod
    def of_columns(
        cls,
        columns: Iterable[tuple[str, np.ndarray]],
        probabilities: dict[str, np.ndarray],
        validation: dict[str, Any],
        *,
        n_rows: int,
    ) -> ReferenceProfile:
        """`of`, from (name, values) pairs taken one at a time: a Dask driver fetches the
        test rows' values of one feature at a time and never holds whole rows. The bins
        are those of the rows themselves (deciles do not depend on the rows' order), so
        the profile equals the one-machine profile of the same rows."""
        return cls(
            features={name: distribution_of(name, values) for name, values in columns},
            probabilities={
                outcome: Distribution.of_numbers(p) for outcome, p in probabilities.items()
            },
            validation=validation,
            n_rows=n_rows,
        )

    def typical_values(self) -> dict[str, float]:
        """Each numeric feature's mean among the reference rows with a value."""
        return {
            name: distribution.mean
            for name, distribution in self.features.items()
            if distribution.mean is not None
        }


def distribution_of(name: str, values: np.ndarray) -> Distribution:
    """A registry feature's distribution, binned as its kind asks."""
    if feature(name).kind == "categorical":
        return Distribution.of_categories(values)
    return Distribution.of_numbers(values)
