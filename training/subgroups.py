"""Performance per subgroup, with intervals, for fairness review (TRIPOD+AI items 14, 23a).

Each group gets AUROC, calibration slope, calibration intercept and the observed/expected
ratio, each with a 95% interval from the outcome's cluster draws. A group with fewer than
`MIN_SUBGROUP_EVENTS` clients with the event, or without it, is shown as too small
instead of as numbers: Vergouwe et al. (2005, J Clin Epidemiol 58:475) found that
validating a logistic model needs at least 100 events and 100 non-events, and Collins et
al. (2016, Stat Med 35:214) confirmed 100 as a minimum (200 preferred). Clients, not
rows, are counted: a client's landmark rows share one outcome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.registry import feature
from training.intervals import estimates
from training.resampling import ClusterDraws

#: The attributes reported, in order: client characteristics and how the alliance was rated.
SUBGROUP_COLUMNS: tuple[str, ...] = (
    "sex",
    "age_band",
    "interpreter_used",
    "setting",
    "site_id",
    "questionnaire",
    "primary_problem",
)
SUBGROUP_METRICS: tuple[str, ...] = (
    "auroc",
    "calibration_slope",
    "calibration_intercept",
    "observed_expected",
)
MIN_SUBGROUP_EVENTS = 100
AGE_BANDS = (0, 18, 26, 46, 66, 200)
AGE_BAND_LABELS = ("under 18", "18-25", "26-45", "46-65", "66 and over")
NO_RATING = "(no rating yet)"


#: The clients table's columns the attributes come from.
_CLIENT_COLUMNS = ("sex", "age_years", "interpreter_used", "setting", "site_id", "primary_problem")


def attribute_text(values: pd.Series) -> np.ndarray:
    """`values.astype(str)` as an object array holding one string per distinct value rather
    than one per row: at a million test rows that is hundreds of megabytes less."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    texts = pd.Series(uniques, dtype=values.dtype).astype(str).to_numpy(dtype=object)
    return texts[codes]


def subgroup_attributes(clients: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """The attributes that define subgroups, one row per evaluated landmark row.

    `features` are the evaluated rows (indexed by client_id and landmark); the
    questionnaire is the one of the latest alliance rating at that landmark.
    """
    by_id = (
        clients[["client_id", *_CLIENT_COLUMNS]].drop_duplicates("client_id").set_index("client_id")
    )
    rows = by_id.loc[features.index.get_level_values("client_id")]
    instrument = feature("alliance_instrument_last")
    codes = features["alliance_instrument_last"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "sex": attribute_text(rows["sex"]),
            "age_band": attribute_text(
                pd.Series(
                    pd.cut(
                        rows["age_years"].astype(float),
                        AGE_BANDS,
                        right=False,
                        labels=AGE_BAND_LABELS,
                    )
                )
            ),
            "interpreter_used": rows["interpreter_used"].map({True: "yes", False: "no"}).to_numpy(),
            "setting": attribute_text(rows["setting"]),
            "site_id": attribute_text(rows["site_id"].astype("string").fillna("(none)")),
            "questionnaire": [
                NO_RATING if np.isnan(code) else instrument.category(code) for code in codes
            ],
            "primary_problem": attribute_text(rows["primary_problem"]),
        }
    )


def _clients_with(client_ids: np.ndarray, y: np.ndarray, outcome: float) -> int:
    return len(np.unique(client_ids[y == outcome]))


def subgroup_table(
    y: np.ndarray,
    p: np.ndarray,
    client_ids: np.ndarray,
    attributes: pd.DataFrame,
    draws: ClusterDraws,
    *,
    min_events: int = MIN_SUBGROUP_EVENTS,
) -> pd.DataFrame:
    """One row per (attribute, group): counts, observed and mean predicted risk, `too_small`,
    and each metric with `_lower` and `_upper` (NaN where the group is too small)."""
    records = []
    for column in SUBGROUP_COLUMNS:
        values = attributes[column].to_numpy()
        for group in sorted(pd.unique(values)):
            mask = values == group
            events = _clients_with(client_ids[mask], y[mask], 1.0)
            non_events = _clients_with(client_ids[mask], y[mask], 0.0)
            record: dict[str, object] = {
                "attribute": column,
                "group": str(group),
                "n_rows": int(mask.sum()),
                "n_clients": len(np.unique(client_ids[mask])),
                "n_event_clients": events,
                "n_non_event_clients": non_events,
                "observed_rate": float(y[mask].mean()),
                "mean_predicted": float(p[mask].mean()),
                "too_small": min(events, non_events) < min_events,
            }
            found = (
                {}
                if record["too_small"]
                else estimates(draws.restrict(mask), y[mask], p[mask], SUBGROUP_METRICS)
            )
            for name in SUBGROUP_METRICS:
                estimate = found.get(name)
                record[name] = estimate.value if estimate else np.nan
                record[f"{name}_lower"] = estimate.lower if estimate else np.nan
                record[f"{name}_upper"] = estimate.upper if estimate else np.nan
            records.append(record)
    return pd.DataFrame(records).set_index(["attribute", "group"])
