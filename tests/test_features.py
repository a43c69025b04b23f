"""Landmark features: what each feature means, which rows exist, and that both paths agree.

Leakage and the therapist dropout rate are tested in `test_feature_leakage.py`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from factories import client, client_histories, clinic_tables, small_clinic, trajectory
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from data_schemas import ranges
from data_schemas.tables import ClinicTables
from features import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FEATURES,
    LandmarkFeatureBuilder,
    feature,
    format_value,
    landmark_labels,
)
from features.labels import OutcomeDefinitions
from training.synthetic import generate_cohort

RATE = "therapist_dropout_rate_oof"

# SRS runs 0..40, so POMP = 2.5 * score: 30 -> 75, 20 -> 50, 24 -> 60, 16 -> 40, 28 -> 70.
RUPTURE = [30, 20, 24, 16, 28]


def _srs(*pomp: float | None) -> list[float | None]:
    """SRS scores for the given POMP values (None: attended without an alliance rating)."""
    return [None if p is None else p / 2.5 for p in pomp]


def one_client(alliance: list[float | None], **kwargs: object) -> ClinicTables:
    return clinic_tables([client("A")], trajectory("A", alliance, **kwargs))


def features_of(tables: ClinicTables, **params: object) -> pd.DataFrame:
    """Rows of client A from `fit_transform`, indexed by landmark."""
    return LandmarkFeatureBuilder(**params).fit_transform(tables).loc["A"]


@pytest.fixture(name="small_clinic")
def small_clinic_fixture() -> ClinicTables:
    return small_clinic()


# --- The registry ------------------------------------------------------------------------


def test_registry_covers_exactly_the_output_columns_with_label_and_unit(
    small_clinic: ClinicTables,
) -> None:
    builder = LandmarkFeatureBuilder()
    frame = builder.fit_transform(small_clinic)
    assert tuple(frame.columns) == FEATURE_NAMES == tuple(builder.get_feature_names_out())
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for spec in FEATURES:
        assert spec.label, spec.name
        assert spec.unit, spec.name
        assert spec.description, spec.name
        assert spec.kind in ("numeric", "binary", "categorical")
    assert not {"client_id", "site_id", *ranges.OUTCOME_COLUMNS} & set(FEATURE_NAMES)


def test_categorical_features_are_coded_in_the_order_of_the_contract_enums() -> None:
    assert tuple(s.name for s in FEATURES if s.kind == "categorical") == CATEGORICAL_FEATURES
    assert feature("therapist_profession").categories == tuple(ranges.Profession)
    assert feature("sex").categories == tuple(ranges.Sex)
    assert feature("alliance_instrument_last").categories == tuple(ranges.INSTRUMENTS)
    assert feature("therapist_profession").code("trainee") == 4.0


def test_format_value_speaks_plain_language() -> None:
    trainee = feature("therapist_profession").code("trainee")
    assert format_value("therapist_profession", trainee) == "trainee"
    assert format_value("sex", feature("sex").code("F")) == "female"
    assert format_value("setting", feature("setting").code("day_clinic")) == "day clinic"
    assert format_value("history_of_violence", 1.0) == "yes"
    assert format_value("history_of_violence", 0.0) == "no"
    assert format_value("alliance_pomp_min", math.nan) == "not recorded"
    assert format_value(RATE, 0.183) == "18%"
    assert format_value("alliance_pomp_last", 62.5) == "62.5"
    assert format_value("missed_sessions", 2.0) == "2"


def test_unknown_feature_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="alliance_pomp_last"):
        feature("alliance_score")


# --- Rows, shape and the scikit-learn contract --------------------------------------------


def test_rows_exist_only_when_session_k_exists() -> None:
    tables = clinic_tables(
        [client("A"), client("B"), client("C"), client("D")],
        trajectory("A", [40, 42])
        + trajectory("B", [40, 42, 44, 46, 48, 50, 52])
        + trajectory("C", [40, None, None], missed=[2, 3]),
    )
    index = LandmarkFeatureBuilder().fit_transform(tables).index
    expected = [("A", k) for k in (1, 2)] + [("B", k) for k in range(1, 6)]
    assert list(index) == expected + [("C", k) for k in (1, 2, 3)]
    assert index.names == ["client_id", "landmark"]


def test_output_is_float64_sorted_by_client_then_landmark(small_clinic: ClinicTables) -> None:
    shuffled = dataclasses.replace(
        small_clinic,
        clients=small_clinic.clients.sample(frac=1.0, random_state=1),
        sessions=small_clinic.sessions.sample(frac=1.0, random_state=2),
    )
    frame = LandmarkFeatureBuilder().fit_transform(shuffled)
    assert (frame.dtypes == np.float64).all()
    assert frame.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(frame, LandmarkFeatureBuilder().fit_transform(small_clinic))


def test_builder_follows_the_scikit_learn_contract(small_clinic: ClinicTables) -> None:
    builder = LandmarkFeatureBuilder(landmarks=(1, 3), n_folds=3, therapist_history="temporal")
    copy = clone(builder)
    assert copy.get_params() == builder.get_params()
    assert builder.fit(small_clinic) is builder
    assert hasattr(builder, "therapist_dropouts_")
    assert not hasattr(clone(builder), "therapist_dropouts_")
    assert set(builder.transform(small_clinic).index.get_level_values("landmark")) == {1, 3}


def test_transform_before_fit_is_refused(small_clinic: ClinicTables) -> None:
    with pytest.raises(NotFittedError):
        LandmarkFeatureBuilder().transform(small_clinic)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"landmarks": (0, 1)}, "landmarks"),
        ({"n_folds": 1}, "n_folds"),
        ({"prior_strength": -1.0}, "prior_strength"),
        ({"therapist_history": "future"}, "therapist_history"),
    ],
)
def test_invalid_parameters_are_explained(
    small_clinic: ClinicTables, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LandmarkFeatureBuilder(**params).fit(small_clinic)


# --- Alliance -----------------------------------------------------------------------------


def test_alliance_is_compared_across_instruments_on_percent_of_maximum() -> None:
    halfway = {"WAI-SR": 36.0, "SRS": 20.0, "TASC-R": 30.0}
    tables = clinic_tables(
        [client(code) for code in halfway],
        [
            row
            for code, score in halfway.items()
            for row in trajectory(code, [score], instrument=code)
        ],
    )
    frame = LandmarkFeatureBuilder().fit_transform(tables)
    assert (frame["alliance_pomp_last"] == 50.0).all()
    instrument = feature("alliance_instrument_last")
    for code in halfway:
        assert instrument.category(frame.loc[(code, 1), "alliance_instrument_last"]) == code


def test_alliance_pomp_uses_the_contract_ranges_at_both_ends() -> None:
    for code, instrument in ranges.INSTRUMENTS.items():
        rows = features_of(
            one_client([instrument.min_score, instrument.max_score], instrument=code)
        )
        assert rows.loc[2, "alliance_pomp_first"] == 0.0
        assert rows.loc[2, "alliance_pomp_last"] == 100.0


def test_alliance_summaries_skip_unrated_and_missed_sessions() -> None:
    # Session 3 is missed, so the factory drops its rating (40).
    rows = features_of(one_client(_srs(60, 70, 40, 80, 20), instrument="SRS", missed=[3]))
    at_5 = rows.loc[5]
    assert at_5["alliance_n_rated"] == 4
    assert at_5["alliance_pomp_first"] == 60.0
    assert at_5["alliance_pomp_last"] == 20.0
    assert at_5["alliance_pomp_mean"] == pytest.approx((60 + 70 + 80 + 20) / 4)
    assert at_5["alliance_pomp_min"] == 20.0
    assert rows.loc[3, "alliance_pomp_last"] == 70.0


def test_alliance_slope_is_least_squares_per_session() -> None:
    rows = features_of(one_client(_srs(50, 60, None, 40, 75), instrument="SRS"))
    sessions, pomp = np.array([1.0, 2.0, 4.0, 5.0]), np.array([50.0, 60.0, 40.0, 75.0])
    assert rows.loc[5, "alliance_pomp_slope"] == pytest.approx(np.polyfit(sessions, pomp, 1)[0])
    assert rows.loc[2, "alliance_pomp_slope"] == pytest.approx(10.0)
    assert math.isnan(rows.loc[1, "alliance_pomp_slope"])
    assert rows.loc[3, "alliance_pomp_slope"] == rows.loc[2, "alliance_pomp_slope"]


def test_largest_drop_and_recovery_follow_a_rupture() -> None:
    rows = features_of(one_client(RUPTURE, instrument="SRS"))  # POMP 75, 50, 60, 40, 70
    assert math.isnan(rows.loc[1, "alliance_largest_drop"])
    assert math.isnan(rows.loc[1, "alliance_recovery_since_drop"])
    assert list(rows["alliance_largest_drop"].iloc[1:]) == [25.0, 25.0, 25.0, 25.0]
    # Low point after the fall: 50, then 50, then 40, then 40; recovery = last - low.
    assert list(rows["alliance_recovery_since_drop"].iloc[1:]) == [0.0, 10.0, 0.0, 30.0]


def test_largest_drop_spans_sessions_without_a_rating() -> None:
    rows = features_of(one_client(_srs(80, None, 50, 55), instrument="SRS", missed=[2]))
    assert rows.loc[3, "alliance_largest_drop"] == 30.0
    assert rows.loc[4, "alliance_recovery_since_drop"] == 5.0


def test_rising_alliance_has_no_drop_and_nothing_to_recover() -> None:
    rows = features_of(one_client(_srs(40, 50, 70), instrument="SRS"))
    assert rows.loc[3, "alliance_largest_drop"] == 0.0
    assert rows.loc[3, "alliance_recovery_since_drop"] == 0.0


def test_latest_rating_gives_instrument_and_rater() -> None:
    srs = trajectory("A", [30, 30, None, None], instrument="SRS")
    by_therapist = trajectory("A", [40, 40, 40], instrument="WAI-SR", rater="therapist")
    tables = clinic_tables([client("A")], [*srs[:2], by_therapist[2], srs[3]])
    rows = features_of(tables)
    assert rows.loc[2, "alliance_instrument_last"] == feature("alliance_instrument_last").code(
        "SRS"
    )
    assert rows.loc[2, "alliance_rated_by_therapist_last"] == 0.0
    # Session 4 has no rating, so session 3 is still the latest rating at landmark 4.
    for k in (3, 4):
        assert rows.loc[k, "alliance_instrument_last"] == 0.0  # WAI-SR
        assert rows.loc[k, "alliance_rated_by_therapist_last"] == 1.0


def test_no_alliance_rating_is_not_recorded() -> None:
    rows = features_of(one_client([None, None]))
    assert rows.loc[2, "alliance_n_rated"] == 0.0
    for name in FEATURE_NAMES:
        if name.startswith("alliance_") and name != "alliance_n_rated":
            assert math.isnan(rows.loc[2, name]), name


# --- Attendance, time and anxiety ---------------------------------------------------------


def test_missed_sessions_and_days_since_intake() -> None:
    rows = features_of(one_client([40, 40, 40, 40], missed=[2, 4], first_date="2024-01-10"))
    assert list(rows["missed_sessions"]) == [0.0, 1.0, 1.0, 2.0]
    assert list(rows["latest_session_missed"]) == [0.0, 1.0, 0.0, 1.0]
    assert list(rows["days_since_intake"]) == [2.0, 9.0, 16.0, 23.0]  # intake 2024-01-08


def test_gad7_and_distress_summaries_use_recorded_values() -> None:
    rows = features_of(
        one_client([40] * 5, missed=[3], gad7=[15, None, 0, 12, 9], distress=[8, 6, 0, None, 1])
    )
    assert math.isnan(rows.loc[1, "gad7_change"])
    assert rows.loc[4, "gad7_first"] == 15.0
    assert rows.loc[4, "gad7_last"] == 12.0
    assert rows.loc[5, "gad7_change"] == -6.0
    assert rows.loc[4, "pre_session_distress_last"] == 6.0
    assert rows.loc[5, "pre_session_distress_mean"] == pytest.approx((8 + 6 + 1) / 3)


def test_client_and_therapist_attributes_are_encoded(small_clinic: ClinicTables) -> None:
    frame = LandmarkFeatureBuilder().fit_transform(small_clinic)
    row = frame.loc[("C01", 1)]  # therapist T2, a trainee; client M, interpreter used
    assert format_value("therapist_profession", row["therapist_profession"]) == "trainee"
    assert format_value("therapist_orientation", row["therapist_orientation"]) == "systemic"
    assert row["therapist_years_experience"] == 1.5
    assert format_value("sex", row["sex"]) == "male"
    assert row["interpreter_used"] == 1.0
    assert row["age_years"] == 18.0


# --- Labels -------------------------------------------------------------------------------


AS_OF = dt.date(2024, 6, 1)


def _labels(
    clients: list[dict], sessions: list[dict], *, horizon: int | None = None
) -> pd.DataFrame:
    tables = clinic_tables(clients, sessions)
    index = LandmarkFeatureBuilder().fit(tables).transform(tables).index
    return landmark_labels(tables, index, OutcomeDefinitions(AS_OF, horizon))


def test_labels_follow_the_task_definitions() -> None:
    """Sessions weekly from 2024-01-15 (session k on 2024-01-15 + 7 (k - 1) days)."""
    labels = _labels(
        [
            client("none"),
            client("drop", episode_end_reason="dropout"),
            client("moved", episode_end_reason="transferred"),
            client("viol0", first_violence_date="2024-01-10"),
            client("viol3", first_violence_date="2024-01-29"),
        ],
        [r for c in ("none", "drop", "moved", "viol0", "viol3") for r in trajectory(c, [40] * 5)],
    )
    dropout = labels["dropout"].groupby(level="client_id").first()
    assert dropout.to_dict() == {"drop": 1.0, "moved": 0.0, "none": 0.0, "viol0": 0.0, "viol3": 0.0}
    assert labels["violence"].loc["none"].tolist() == [0.0] * 5
    assert labels["violence"].loc["viol0"].isna().all()
    assert labels["violence_status"].loc["viol0"].eq("excluded").all()
    # The incident on 2024-01-29 is on session 3's date: rows 1 and 2 see it coming.
    np.testing.assert_array_equal(
        labels["violence"].loc["viol3"], [1.0, 1.0, math.nan, math.nan, math.nan]
    )
    assert labels["violence_status"].loc["viol3"].tolist() == ["event"] * 2 + ["excluded"] * 3


def test_a_client_who_missed_a_session_and_never_came_back_has_a_dropout_row_at_it() -> None:
    """Attended sessions 1 and 2, missed session 3, and the clinic recorded the dropout
    a few weeks later: the missed session is a landmark row, labelled dropout."""
    sessions = trajectory("gone", [46, 36, None], missed=[3])
    tables = clinic_tables(
        [client("gone", episode_end_reason="dropout", episode_end_date="2024-02-20")], sessions
    )
    features = LandmarkFeatureBuilder().fit(tables).transform(tables)
    labels = landmark_labels(tables, features.index, OutcomeDefinitions(AS_OF))
    assert labels.loc[("gone", 3), "dropout"] == 1.0
    assert features.loc[("gone", 3), "latest_session_missed"] == 1.0


def test_an_ongoing_episode_is_in_no_dropout_row_and_counted_as_censored() -> None:
    labels = _labels([client("open", episode_end_reason=None)], trajectory("open", [40] * 4))
    assert labels["dropout"].isna().all()
    assert labels["dropout_status"].eq("censored").all()
    assert labels["violence_status"].eq("censored").all()


def test_an_ongoing_episode_with_an_incident_keeps_its_violence_event() -> None:
    labels = _labels(
        [client("open", episode_end_reason=None, first_violence_date="2024-01-23")],
        trajectory("open", [40] * 4),
    )
    assert labels["violence"].tolist()[:2] == [1.0, 1.0]
    assert labels["violence_status"].tolist() == ["event", "event", "excluded", "excluded"]


def test_a_violence_horizon_counts_incidents_within_it_and_censors_short_follow_up() -> None:
    """Horizon 30 days. `soon` has an incident 20 days after session 1; `late` 50 days after
    session 1 and completed later; `short` ended (no incident) 10 days after session 5."""
    sessions = [
        *trajectory("soon", [40] * 5),
        *trajectory("late", [40] * 5),
        *trajectory("short", [40] * 5),
    ]
    labels = _labels(
        [
            client("soon", first_violence_date="2024-02-04", episode_end_date="2024-04-01"),
            client("late", first_violence_date="2024-03-05", episode_end_date="2024-04-01"),
            client("short", episode_end_date="2024-02-22"),
        ],
        sessions,
        horizon=30,
    )
    nan = math.nan
    # soon: sessions 1 (01-15) and 2 (01-22) see it within 30 days; 3 (01-29) too; 4 is after.
    np.testing.assert_array_equal(labels.loc["soon", "violence"], [1.0, 1.0, 1.0, nan, nan])
    # late: 03-05 is 50, 43, 36, 29 and 22 days after sessions 1 to 5.
    np.testing.assert_array_equal(labels.loc["late", "violence"], [0.0, 0.0, 0.0, 1.0, 1.0])
    # short: followed to 02-22, which is 30 days or more after sessions 1 and 2 only.
    np.testing.assert_array_equal(labels.loc["short", "violence"], [0.0, 0.0, nan, nan, nan])
    assert labels.loc["short", "violence_status"].tolist()[2:] == ["censored"] * 3


def test_labels_need_the_outcome_columns(small_clinic: ClinicTables) -> None:
    no_outcomes = dataclasses.replace(
        small_clinic, clients=small_clinic.clients.drop(columns=list(ranges.OUTCOME_COLUMNS))
    )
    index = LandmarkFeatureBuilder().fit(small_clinic).transform(small_clinic).index
    with pytest.raises(ValueError, match="outcome columns"):
        landmark_labels(no_outcomes, index, OutcomeDefinitions(AS_OF))


# --- The API path ------------------------------------------------------------------------


def _assert_history_rows_equal_transform(
    tables: ClinicTables, builder: LandmarkFeatureBuilder
) -> None:
    frame = builder.transform(tables)
    histories = client_histories(tables)
    rows = np.vstack([builder.transform_history(histories[c], k) for c, k in frame.index])
    np.testing.assert_array_equal(rows, frame.to_numpy())


@pytest.mark.parametrize("therapist_history", ["cross_fit", "temporal"])
def test_transform_history_equals_transform(
    small_clinic: ClinicTables, therapist_history: str
) -> None:
    builder = LandmarkFeatureBuilder(therapist_history=therapist_history).fit(small_clinic)
    _assert_history_rows_equal_transform(small_clinic, builder)


def test_transform_history_ignores_sessions_after_the_landmark(small_clinic: ClinicTables) -> None:
    builder = LandmarkFeatureBuilder().fit(small_clinic)
    history = client_histories(small_clinic)["C06"]  # seven sessions
    cut = history.model_copy(update={"sessions": history.sessions[:5]})
    np.testing.assert_array_equal(
        builder.transform_history(history, 5), builder.transform_history(cut, 5)
    )


def test_transform_history_needs_session_k(small_clinic: ClinicTables) -> None:
    builder = LandmarkFeatureBuilder(landmarks=(1, 2, 3)).fit(small_clinic)
    history = client_histories(small_clinic)["C01"]  # two sessions
    with pytest.raises(ValueError, match="needs session 3"):
        builder.transform_history(history, 3)
    with pytest.raises(ValueError, match="landmark must be one of"):
        builder.transform_history(history, 4)


# --- On a generated cohort ----------------------------------------------------------------


# --- On a generated cohort ----------------------------------------------------------------


def test_transform_history_equals_transform_on_generated_cohort() -> None:
    cohort = generate_cohort(800, seed=3).tables
    _assert_history_rows_equal_transform(cohort, LandmarkFeatureBuilder().fit(cohort))
