"""No leakage: a landmark-k row sees sessions 1..k and never the client's own outcome.

Also the therapist's dropout rate with other clients: shrinkage, cross-fitting by folds of
client ids, and the temporal mode that counts only episodes ended before intake.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from factories import (
    Row,
    client,
    clinic_tables,
    small_clinic,
    small_clinic_rows,
    therapist,
    trajectory,
)
from sklearn.base import clone

from data_schemas import ranges
from data_schemas.tables import ClinicTables
from features import LandmarkFeatureBuilder
from features.therapist_history import client_folds
from training.synthetic import generate_cohort

RATE = "therapist_dropout_rate_oof"


@pytest.fixture(name="small_clinic")
def small_clinic_fixture() -> ClinicTables:
    return small_clinic()


@pytest.fixture(scope="module")
def cohort() -> ClinicTables:
    return generate_cohort(800, seed=3).tables


# --- No leakage ---------------------------------------------------------------------------


def _change_scores(rows: list[Row], k: int) -> list[Row]:
    low = {"alliance_score": 12.0, "alliance_instrument": "WAI-SR", "anxiety_gad7": 21}
    return [r | low if r["session_number"] > k and r["attended"] else r for r in rows]


def _miss_sessions(rows: list[Row], k: int) -> list[Row]:
    empty = dict.fromkeys(
        ("alliance_instrument", "alliance_score", "anxiety_gad7", "pre_session_distress")
    )
    empty["attended"] = False
    return [r | empty if r["session_number"] > k else r for r in rows]


def _move_dates(rows: list[Row], k: int) -> list[Row]:
    def later(row: Row) -> Row:
        date = dt.date.fromisoformat(row["session_date"]) + dt.timedelta(days=90)
        return row | {"session_date": date.isoformat()}

    return [later(r) if r["session_number"] > k else r for r in rows]


def _add_sessions(rows: list[Row], k: int) -> list[Row]:
    extra = trajectory(rows[0]["client_id"], [12.0] * 3, first_date="2025-06-01")
    return rows + [r | {"session_number": len(rows) + r["session_number"]} for r in extra]


def _drop_sessions(rows: list[Row], k: int) -> list[Row]:
    return [r for r in rows if r["session_number"] <= k]


@pytest.mark.parametrize(
    "change", [_change_scores, _miss_sessions, _move_dates, _add_sessions, _drop_sessions]
)
@pytest.mark.parametrize("therapist_history", ["cross_fit", "temporal"])
def test_landmark_features_ignore_sessions_after_k(
    change: Callable[[list[Row], int], list[Row]], therapist_history: str
) -> None:
    clients, sessions, therapists = small_clinic_rows()
    target = "C06"  # seven sessions
    before = LandmarkFeatureBuilder(therapist_history=therapist_history).fit_transform(
        clinic_tables(clients, sessions, therapists)
    )
    own = [r for r in sessions if r["client_id"] == target]
    others = [r for r in sessions if r["client_id"] != target]
    for k in range(1, 6):
        changed = clinic_tables(clients, others + change(own, k), therapists)
        after = LandmarkFeatureBuilder(therapist_history=therapist_history).fit_transform(changed)
        kept = [(target, j) for j in range(1, k + 1)]
        pd.testing.assert_frame_equal(after.loc[kept], before.loc[kept])


@pytest.mark.parametrize("therapist_history", ["cross_fit", "temporal"])
def test_landmark_features_ignore_the_clients_own_outcomes(therapist_history: str) -> None:
    clients, sessions, therapists = small_clinic_rows()
    builder = LandmarkFeatureBuilder(therapist_history=therapist_history)
    before = builder.fit_transform(clinic_tables(clients, sessions, therapists))
    for i, row in enumerate(clients):
        dropped = row["episode_end_reason"] == "dropout"
        flipped = row | {
            "episode_end_reason": "completed" if dropped else "dropout",
            "first_violence_date": None,
        }
        changed = clinic_tables([*clients[:i], flipped, *clients[i + 1 :]], sessions, therapists)
        after = clone(builder).fit_transform(changed)
        pd.testing.assert_frame_equal(after.loc[[row["client_id"]]], before.loc[[row["client_id"]]])


def test_fit_reads_no_outcome_but_how_and_when_episodes_ended(
    small_clinic: ClinicTables,
) -> None:
    no_incidents = small_clinic.clients.assign(first_violence_date=pd.NaT)
    only_endings = dataclasses.replace(small_clinic, clients=no_incidents)
    for mode in ("cross_fit", "temporal"):
        pd.testing.assert_frame_equal(
            LandmarkFeatureBuilder(therapist_history=mode).fit_transform(only_endings),
            LandmarkFeatureBuilder(therapist_history=mode).fit_transform(small_clinic),
        )


def test_fit_without_outcome_columns_says_what_is_missing(small_clinic: ClinicTables) -> None:
    no_outcomes = dataclasses.replace(
        small_clinic, clients=small_clinic.clients.drop(columns=list(ranges.OUTCOME_COLUMNS))
    )
    with pytest.raises(ValueError, match="outcome columns"):
        LandmarkFeatureBuilder().fit(no_outcomes)
    fitted = LandmarkFeatureBuilder().fit(small_clinic)
    assert len(fitted.transform(no_outcomes)) == len(fitted.transform(small_clinic))


# --- The therapist's dropout rate ---------------------------------------------------------


def _rate_tables(dropouts: dict[str, list[bool]]) -> ClinicTables:
    """One session per client; `dropouts` maps each therapist to their clients' dropout."""
    clients = [
        client(f"{t}C{i}", t, episode_end_reason="dropout" if d else "completed")
        for t, flags in dropouts.items()
        for i, d in enumerate(flags)
    ]
    sessions = [r for c in clients for r in trajectory(c["client_id"], [40])]
    return clinic_tables(clients, sessions, [therapist(t) for t in ("T1", "T2", "T3")])


def test_full_fit_rate_is_shrunk_toward_the_clinic_mean() -> None:
    tables = _rate_tables({"T1": [True, True, True, False], "T2": [False] * 4})
    builder = LandmarkFeatureBuilder(prior_strength=4.0).fit(tables)
    rates = builder.transform(tables)[RATE]
    clinic_mean = 3 / 8
    assert (rates.loc[["T1C0", "T1C3"]] == (3 + 4.0 * clinic_mean) / (4 + 4.0)).all()
    assert (rates.loc[["T2C0", "T2C3"]] == (0 + 4.0 * clinic_mean) / (4 + 4.0)).all()


def test_an_ongoing_episode_adds_nothing_to_any_rate() -> None:
    ended = _rate_tables({"T1": [True, False, False, False]})
    ongoing = client("T1C9", episode_end_reason=None)
    both = clinic_tables(
        [*ended.clients.to_dict("records"), ongoing],
        [*ended.sessions.to_dict("records"), *trajectory("T1C9", [40])],
        [therapist(t) for t in ("T1", "T2", "T3")],
    )
    rates = LandmarkFeatureBuilder().fit(both).transform(both)[RATE]
    alone = LandmarkFeatureBuilder().fit(ended).transform(ended)[RATE]
    assert rates.loc["T1C9"].iloc[0] == alone.loc["T1C0"].iloc[0] == 0.25


def test_therapist_without_history_gets_the_clinic_mean() -> None:
    builder = LandmarkFeatureBuilder().fit(_rate_tables({"T1": [True, False, False, False]}))
    newcomer = _rate_tables({"T3": [False]})
    assert builder.transform(newcomer)[RATE].iloc[0] == 0.25


def test_cross_fitted_rate_is_learned_from_the_other_folds(small_clinic: ClinicTables) -> None:
    builder = LandmarkFeatureBuilder(n_folds=4, random_state=7)
    frame = builder.fit_transform(small_clinic)
    ids = small_clinic.clients["client_id"].to_numpy(dtype=object)
    folds = client_folds(ids, 4, 7)
    assert sorted(np.bincount(folds)) == [3, 3, 3, 3]
    for fold in range(4):
        outside = dataclasses.replace(small_clinic, clients=small_clinic.clients[folds != fold])
        reference = LandmarkFeatureBuilder().fit(outside).transform(small_clinic)
        inside = list(ids[folds == fold])
        np.testing.assert_array_equal(frame.loc[inside, RATE], reference.loc[inside, RATE])


def test_folds_depend_only_on_client_ids_and_seed() -> None:
    ids = np.array([f"C{i:03d}" for i in range(50)], dtype=object)
    folds = dict(zip(ids, client_folds(ids, 5, 0), strict=True))
    shuffled = np.random.default_rng(1).permutation(ids)
    assert dict(zip(shuffled, client_folds(shuffled, 5, 0), strict=True)) == folds
    assert dict(zip(ids, client_folds(ids, 5, 1), strict=True)) != folds


def test_temporal_rate_counts_only_clients_who_ended_before_intake() -> None:
    clients = [
        client("P1", intake_date="2023-01-02", episode_end_reason="dropout"),
        client("P2", intake_date="2023-03-01"),
        client("P3", intake_date="2023-06-01", episode_end_reason="dropout"),
        client("P4", "T2", intake_date="2023-02-01", episode_end_reason="dropout"),
        client("X", intake_date="2024-01-08"),
    ]
    sessions = (
        trajectory("P1", [40], first_date="2023-01-09")
        + trajectory("P2", [40, 40], first_date="2023-03-06")
        + trajectory("P3", [40] * 3, first_date="2023-12-25")  # ends 2024-01-08: not before
        + trajectory("P4", [40], first_date="2023-02-06")
        + trajectory("X", [40], first_date="2024-01-10")
    )
    tables = clinic_tables(clients, sessions, [therapist("T1"), therapist("T2")])
    builder = LandmarkFeatureBuilder(therapist_history="temporal", prior_strength=2.0)
    rate = builder.fit_transform(tables).loc["X", RATE]
    clinic_mean = 2 / 3  # P1, P2 and P4 ended before X's intake
    assert rate.iloc[0] == pytest.approx((1 + 2.0 * clinic_mean) / (2 + 2.0))
    first = builder.fit_transform(tables).loc["P1", RATE]
    assert math.isnan(first.iloc[0])  # nothing in the clinic had ended yet


# --- On a generated cohort ----------------------------------------------------------------


def test_landmark_features_ignore_sessions_after_k_on_generated_cohort(
    cohort: ClinicTables,
) -> None:
    builder = LandmarkFeatureBuilder().fit(cohort)
    full = builder.transform(cohort)
    for k in range(1, 5):
        cut = dataclasses.replace(
            cohort, sessions=cohort.sessions[cohort.sessions["session_number"] <= k]
        )
        pd.testing.assert_frame_equal(
            builder.transform(cut), full[full.index.get_level_values("landmark") <= k]
        )


def test_cross_fitted_rate_ignores_own_fold_outcomes_on_generated_cohort(
    cohort: ClinicTables,
) -> None:
    ids = cohort.clients["client_id"].to_numpy(dtype=object)
    in_fold_0 = client_folds(ids, 5, 0) == 0
    clients = cohort.clients.copy()
    dropped = clients["episode_end_reason"].eq("dropout")
    clients.loc[in_fold_0, "episode_end_reason"] = dropped[in_fold_0].map(
        {True: "completed", False: "dropout"}
    )
    flipped = dataclasses.replace(cohort, clients=clients)
    before = LandmarkFeatureBuilder().fit_transform(cohort)
    after = LandmarkFeatureBuilder().fit_transform(flipped)
    with_rows = set(before.index.get_level_values("client_id"))
    fold_0 = [client_id for client_id in ids[in_fold_0] if client_id in with_rows]
    pd.testing.assert_frame_equal(after.loc[fold_0], before.loc[fold_0])
    assert not after[RATE].equals(before[RATE])
