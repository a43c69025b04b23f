"""Participant flow: how many clients, landmark rows, events, censored and excluded rows
each split part holds per outcome and landmark (TRIPOD+AI asks for the flow and the events
per split; a reader needs it to judge what the metrics rest on).

Counts of disjoint sets of clients add up, so each bucket of a Dask run counts its own rows
and the driver sums them; a client is never split between buckets.
"""

from __future__ import annotations

import pandas as pd

from features.labels import OUTCOMES, LabelStatus

STATUSES: tuple[str, ...] = tuple(status.value for status in LabelStatus)
PARTS: tuple[str, ...] = ("train", "calibration", "test")


def flow_counts(rows: pd.DataFrame) -> pd.DataFrame:
    """Additive counts from labelled rows with columns client_id, part, landmark and
    `<outcome>_status`: one row per (part, outcome, landmark), columns `rows`, one per
    status, and `clients` (clients with a row at that landmark)."""
    rows = rows.assign(landmark=rows["landmark"].astype(int))
    frames = []
    for outcome in OUTCOMES:
        grouped = rows.groupby(["part", "landmark"])
        counts = (
            rows.groupby(["part", "landmark", f"{outcome}_status"])
            .size()
            .unstack(fill_value=0)
            .reindex(columns=list(STATUSES), fill_value=0)
        )
        counts["rows"] = grouped.size()
        counts["clients"] = grouped["client_id"].nunique()
        counts.insert(0, "outcome", outcome)
        frames.append(counts.reset_index())
    columns = ["part", "outcome", "landmark", "clients", "rows", *STATUSES]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def add_counts(counts: list[pd.DataFrame]) -> pd.DataFrame:
    """The sum of several buckets' `flow_counts`."""
    keys = ["part", "outcome", "landmark"]
    return pd.concat(counts).groupby(keys, as_index=False).sum()


def participant_flow(counts: pd.DataFrame, clients_per_part: dict[str, int]) -> pd.DataFrame:
    """The flow table logged with a run and shown in its model card, ordered by part,
    outcome and landmark, with a total over landmarks per part and outcome."""
    order = {part: i for i, part in enumerate(PARTS)}
    totals = counts.groupby(["part", "outcome"], as_index=False)[["rows", *STATUSES]].sum()
    totals["landmark"] = "all"
    totals["clients"] = totals["part"].map(clients_per_part)
    table = pd.concat([counts.astype({"landmark": str}), totals], ignore_index=True)
    table["_part"] = table["part"].map(order)
    table["_landmark"] = table["landmark"].map(lambda k: 99 if k == "all" else int(k))
    table = table.sort_values(["_part", "outcome", "_landmark"], kind="stable")
    return table.drop(columns=["_part", "_landmark"]).reset_index(drop=True)
