"""The estimates the service released, over time, from an export of its audit trail.

`alliance-risk audit --json` writes one record per line; training cannot read the
service's database itself (the floors of the house keep `training` out of `service`), so
the export is the interface. Only the time, caller, model version and each outcome's
probability and band are read: request ids and client hashes are never kept, and every
figure is an aggregate over at least `MIN_RECORDS` estimates, so no row can be traced to
a person.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from data_schemas.problems import DataValidationError, Problem

#: Groups with fewer released estimates are pooled under `POOLED`.
MIN_RECORDS = 5
POOLED = f"(fewer than {MIN_RECORDS})"
BANDS = ("low", "moderate", "high")


def read_audit_export(path: Path) -> pd.DataFrame:
    """One row per released estimate: week, caller, model version, outcome, probability,
    band. A line that is not a JSON audit record stops the run, naming its line number."""
    rows = []
    problems = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                recorded = pd.Timestamp(record["recorded_at"])
                outcomes = record.get("outcomes") or {}
                status = record.get("item_status") or record["status"]
            except (ValueError, KeyError, TypeError) as error:
                problems.append(
                    Problem(path.name, number, None, None, f"not an audit record: {error}")
                )
                continue
            if status != 200:
                continue
            for outcome, values in outcomes.items():
                if values.get("probability") is None:
                    continue  # withheld estimates have no probability
                rows.append(
                    {
                        "week": recorded.strftime("%G-W%V"),
                        "caller": str(record.get("caller")),
                        "model_version": str(record.get("model_version")),
                        "outcome": outcome,
                        "probability": float(values["probability"]),
                        "band": str(values.get("band")),
                    }
                )
    if problems:
        raise DataValidationError(problems)
    return pd.DataFrame(
        rows, columns=["week", "caller", "model_version", "outcome", "probability", "band"]
    )


def estimates_over_time(released: pd.DataFrame) -> pd.DataFrame:
    """Per week, caller, model version and outcome: how many estimates, their mean and
    quartiles, and the share in each band; groups under `MIN_RECORDS` are shown pooled."""
    keys = ["week", "caller", "model_version", "outcome"]
    if released.empty:
        return pd.DataFrame(columns=[*keys, "estimates", "mean", "q25", "median", "q75"])
    sizes = released.groupby(keys)["probability"].transform("size")
    released = released.assign(
        caller=released["caller"].where(sizes >= MIN_RECORDS, POOLED),
        model_version=released["model_version"].where(sizes >= MIN_RECORDS, POOLED),
    )
    grouped = released.groupby(keys)
    table = grouped["probability"].agg(
        estimates="size",
        mean="mean",
        q25=lambda p: p.quantile(0.25),
        median="median",
        q75=lambda p: p.quantile(0.75),
    )
    shares = pd.crosstab(
        [released[key] for key in keys], released["band"], normalize="index"
    ).reindex(columns=list(BANDS), fill_value=0.0)
    return table.join(shares.add_prefix("share_")).reset_index()
