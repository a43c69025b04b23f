"""Split clients into training, calibration and test sets without sharing a client.

Every landmark row of a client goes to the same split, so a model is never scored on a
client it has seen. Grouped splits keep whole therapists or sites out of training (does
the model carry over to new staff or a new clinic?); the temporal split trains on earlier
intakes and tests on later ones (does it survive drift?).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from data_schemas.tables import ClinicTables


class SplitStrategy(StrEnum):
    CLIENT = "client"
    THERAPIST = "therapist"
    SITE = "site"
    TEMPORAL = "temporal"


@dataclass(frozen=True)
class ClientSplit:
    """Client ids in each part; disjoint by construction and checked on creation."""

    train: frozenset[str]
    calibration: frozenset[str]
    test: frozenset[str]
    strategy: SplitStrategy

    def __post_init__(self) -> None:
        if self.train & self.calibration or self.train & self.test or self.calibration & self.test:
            raise ValueError("a client appears in more than one split")

    def sizes(self) -> dict[str, int]:
        """Clients in each part."""
        return {name: len(getattr(self, name)) for name in ("train", "calibration", "test")}

    def part_of(self, client_ids: pd.Index | pd.Series) -> np.ndarray:
        """The split name ('train', 'calibration', 'test') of each client id."""
        ids = pd.Series(np.asarray(client_ids))
        out = np.full(len(ids), "", dtype=object)
        for name in ("train", "calibration", "test"):
            out[ids.isin(getattr(self, name)).to_numpy()] = name
        return out


def split_clients(
    clients: pd.DataFrame,
    *,
    strategy: SplitStrategy = SplitStrategy.CLIENT,
    calibration_share: float = 0.2,
    test_share: float = 0.2,
    seed: int = 0,
) -> ClientSplit:
    """Assign each client to train, calibration or test.

    Random and grouped splits permute the units (clients, therapists or sites) with the
    seed and fill the test part first, then calibration, until each holds its share of
    clients. The temporal split orders clients by intake date: the latest `test_share`
    are the test set, the ones before them calibration, the earliest train.
    """
    ids = clients["client_id"].astype(str).to_numpy()
    if strategy is SplitStrategy.TEMPORAL:
        order = np.argsort(clients["intake_date"].to_numpy(), kind="stable")
        ordered = ids[order]
        n = len(ordered)
        n_test = round(n * test_share)
        n_cal = round(n * calibration_share)
        return ClientSplit(
            train=frozenset(ordered[: n - n_test - n_cal]),
            calibration=frozenset(ordered[n - n_test - n_cal : n - n_test]),
            test=frozenset(ordered[n - n_test :]),
            strategy=strategy,
        )

    group_column = {
        SplitStrategy.CLIENT: "client_id",
        SplitStrategy.THERAPIST: "therapist_id",
        SplitStrategy.SITE: "site_id",
    }[strategy]
    groups = clients[group_column].astype("string").fillna("(no site)").to_numpy(dtype=str)
    units = np.unique(groups)
    if strategy is not SplitStrategy.CLIENT and len(units) < 3:
        raise ValueError(
            f"a split by {strategy.value} needs at least 3 distinct {group_column} values, "
            f"found {len(units)}"
        )
    rng = np.random.default_rng(seed)
    units = units[rng.permutation(len(units))]
    sizes = pd.Series(groups).value_counts()
    cumulative = np.cumsum(sizes.reindex(units).to_numpy()) / len(ids)
    test_units = set(units[: max(1, int(np.searchsorted(cumulative, test_share)) + 1)])
    cal_end = np.searchsorted(cumulative, test_share + calibration_share) + 1
    cal_units = set(units[len(test_units) : max(len(test_units) + 1, int(cal_end))])
    in_test = np.isin(groups, list(test_units))
    in_cal = np.isin(groups, list(cal_units))
    return ClientSplit(
        train=frozenset(ids[~in_test & ~in_cal]),
        calibration=frozenset(ids[in_cal]),
        test=frozenset(ids[in_test]),
        strategy=strategy,
    )


def subset(tables: ClinicTables, client_ids: frozenset[str]) -> ClinicTables:
    """The tables restricted to some clients (therapists kept whole)."""
    keep_clients = tables.clients["client_id"].isin(client_ids)
    keep_sessions = tables.sessions["client_id"].isin(client_ids)
    return ClinicTables(
        tables.clients[keep_clients], tables.therapists, tables.sessions[keep_sessions]
    )
