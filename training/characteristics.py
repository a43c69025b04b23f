"""Baseline characteristics of each split part and missing predictor values (TRIPOD+AI 5b,
11 and 20b): what a reader needs to judge whom the figures describe and how complete the
inputs were.

Built from the clients table (one row per client, which every back-end holds on the driver)
and the evaluated feature rows, so a Dask run reports the same table as a single machine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import FEATURE_NAMES
from training.flow import PARTS
from training.splits import ClientSplit


def _share(values: pd.Series, value: object) -> str:
    return f"{(values == value).mean():.1%}" if len(values) else "-"


def _characteristics(clients: pd.DataFrame) -> dict[str, str]:
    """One column of the table: the characteristics of one group of clients."""
    age = clients["age_years"].astype(float)
    intake = pd.to_datetime(clients["intake_date"])
    out = {
        "clients": f"{len(clients):,}",
        "therapists": f"{clients['therapist_id'].nunique():,}",
        "sites": f"{clients['site_id'].nunique():,}",
        "first intake": intake.min().date().isoformat() if len(clients) else "-",
        "last intake": intake.max().date().isoformat() if len(clients) else "-",
        "age, mean (SD)": f"{age.mean():.1f} ({age.std():.1f})" if len(clients) else "-",
        "interpreter used": _share(clients["interpreter_used"].astype(bool), True),
        "history of violence": _share(clients["history_of_violence"].astype(bool), True),
        "substance misuse": _share(clients["substance_misuse"].astype(bool), True),
    }
    for column in ("sex", "setting", "primary_problem", "episode_end_reason"):
        values = clients[column].astype("string").fillna("ongoing")
        for category in sorted(values.unique()):
            out[f"{column.replace('_', ' ')}: {category}"] = _share(values, category)
    return out


def baseline_characteristics(clients: pd.DataFrame, split: ClientSplit) -> pd.DataFrame:
    """Characteristics (rows) of the training, calibration and test clients (columns)."""
    ids = clients["client_id"].astype(str)
    columns = {
        part: _characteristics(clients[ids.isin(getattr(split, part)).to_numpy()]) for part in PARTS
    }
    return pd.DataFrame(columns).fillna("0.0%")


def missing_counts(features: pd.DataFrame) -> pd.Series:
    """Rows without a value per predictor (of those trained on): counts add up over parts of
    the rows, so a cluster can count where the rows live and the driver sum."""
    return features[[name for name in FEATURE_NAMES if name in features]].isna().sum()


def missing_shares(features: pd.DataFrame) -> dict[str, float]:
    """Share of rows without a value, per predictor (of those trained on) that has any gap."""
    return shares_of_missing(missing_counts(features), len(features))


def shares_of_missing(counts: pd.Series, n_rows: int) -> dict[str, float]:
    """`missing_shares` from `missing_counts` summed over `n_rows` rows."""
    shares = counts / n_rows if n_rows else counts * np.nan
    return {name: float(share) for name, share in shares.items() if np.isfinite(share) and share}
