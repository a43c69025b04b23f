"""Subgroups: every metric with an interval, and groups with too few events shown as such."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from training.resampling import ClusterDraws
from training.subgroups import SUBGROUP_COLUMNS, SUBGROUP_METRICS, attribute_text, subgroup_table


def test_large_groups_get_intervals_and_small_groups_are_too_small() -> None:
    rng = np.random.default_rng(2)
    n = 6000
    clients = np.arange(n)
    p = expit(rng.normal(-1.5, 1.0, n))
    y = (rng.random(n) < p).astype(float)
    attributes = pd.DataFrame(dict.fromkeys(SUBGROUP_COLUMNS, "common"), index=range(n))
    attributes.loc[: n - 201, "sex"] = "F"
    attributes.loc[n - 200 :, "sex"] = "X"  # about 35 clients with the event
    draws = ClusterDraws.draw(clients, n_boot=100, seed=0)
    table = subgroup_table(y, p, clients, attributes, draws, min_events=100)
    large, small = table.loc[("sex", "F")], table.loc[("sex", "X")]
    assert not large["too_small"]
    for name in SUBGROUP_METRICS:
        assert large[f"{name}_lower"] <= large[name] <= large[f"{name}_upper"], name
    assert small["too_small"]
    assert small["n_event_clients"] < 100
    assert all(np.isnan(small[name]) for name in SUBGROUP_METRICS)
    assert set(table.index.get_level_values("attribute")) == set(SUBGROUP_COLUMNS)


@pytest.mark.parametrize("dtype", ["string[pyarrow]", "string[python]", "object", "category"])
def test_attribute_text_is_astype_str_with_one_string_per_value(dtype: str) -> None:
    """Subgroup attributes read as `astype(str)` did, missing values included, but hold
    one string object per distinct value, not one per evaluated row."""
    values = pd.Series(["F", "M", None, "F", "X", "M", None] * 50, dtype=dtype)
    text = attribute_text(values)
    assert list(text) == list(values.astype(str))
    assert len({id(item) for item in text}) == values.nunique(dropna=False)
