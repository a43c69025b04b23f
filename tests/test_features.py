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
from features.alliance_norms import AllianceNorms
from features.labels import OutcomeDefinitions
from training.synthetic import generate_cohort

RATE = "therapist_dropout_rate_oof"

#: Norms set by hand for the arithmetic tests: the SRS's usual first rating is 20, SD 10, so
#: an SRS total t is (t - 20) / 10 SDs: 30 -> 1.0, 20 -> 0.0, 24 -> 0.4, 16 -> -0.4, 28 -> 0.8.
NORMS = AllianceNorms(
    mean={"WAI-SR": 45.0, "SRS": 20.0, "TASC-R": 38.0},
    sd={"WAI-SR": 8.0, "SRS": 10.0, "TASC-R": 6.0},
    clients={"WAI-SR": 100, "SRS": 100, "TASC-R": 100},
)
RUPTURE = [30, 20, 24, 16, 28]


def one_client(alliance: list[float | None], **kwargs: object) -> ClinicTables:
    return clinic_tables([client("A")], trajectory("A", alliance, **kwargs))


def features_of(tables: ClinicTables, **params: object) -> pd.DataFrame:
    """Rows of client A from the builder (fitted on the tables, alliance norms `NORMS`),
    indexed by landmark."""
    builder = LandmarkFeatureBuilder(**params).fit(tables)
    builder.alliance_norms_ = NORMS
    return builder.transform(tables).loc["A"]


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
    assert format_value("alliance_z_min", math.nan) == "not recorded"
    assert format_value(RATE, 0.183) == "18%"
    assert format_value("alliance_z_last", -1.24) == "-1.2 SD"
    assert format_value("alliance_z_slope", 0.3) == "+0.3 SD per session"
    assert format_value("days_since_intake", 62.5) == "62.5"
    assert format_value("missed_sessions", 2.0) == "2"


def test_unknown_feature_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="alliance_z_last"):
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


def test_each_rating_is_standardised_within_its_own_questionnaire() -> None:
    """A total at its questionnaire's usual first rating is 0 SD, one SD above it is +1,
    whatever the questionnaire's range: percent of maximum would call SRS 30 (75%) higher
    than WAI-SR 53 (85%-ish of its range is 85.4), which the norms do not."""
    scores = {"WAI-SR": [45.0, 53.0], "SRS": [20.0, 30.0], "TASC-R": [38.0, 44.0]}
    tables = clinic_tables(
        [client(code) for code in scores],
        [row for code, pair in scores.items() for row in trajectory(code, pair, instrument=code)],
    )
    builder = LandmarkFeatureBuilder().fit(tables)
    builder.alliance_norms_ = NORMS
    frame = builder.transform(tables)
    assert (frame.xs(1, level="landmark")["alliance_z_last"] == 0.0).all()
    assert (frame.xs(2, level="landmark")["alliance_z_last"] == 1.0).all()
    instrument = feature("alliance_instrument_last")
    for code in scores:
        assert instrument.category(frame.loc[(code, 1), "alliance_instrument_last"]) == code


def test_norms_are_each_questionnaires_first_ratings_among_training_clients() -> None:
    firsts = {"W1": 40.0, "W2": 50.0, "W3": 48.0, "S1": 30.0}
    tables = clinic_tables(
        [client(c) for c in firsts],
        [
            *trajectory("W1", [40, 20]),
            *trajectory("W2", [None, 50, 12]),
            *trajectory("W3", [48]),
            *trajectory("S1", [30], instrument="SRS"),
        ],
    )
    norms = LandmarkFeatureBuilder().fit(tables).alliance_norms_
    waisr = np.array([40.0, 50.0, 48.0])
    assert norms.mean["WAI-SR"] == pytest.approx(waisr.mean())
    assert norms.sd["WAI-SR"] == pytest.approx(waisr.std(ddof=1))
    assert norms.clients == {"WAI-SR": 3, "SRS": 1, "TASC-R": 0}
    # One SRS client gives no spread: its ratings have no standardised value.
    assert math.isnan(norms.sd["SRS"])
    rows = LandmarkFeatureBuilder().fit_transform(tables)
    assert math.isnan(rows.loc[("S1", 1), "alliance_z_last"])
    assert rows.loc[("S1", 1), "alliance_n_rated"] == 1.0


def test_reliable_change_uses_each_questionnaires_published_reliability() -> None:
    for code, instrument in ranges.INSTRUMENTS.items():
        expected = 1.96 * math.sqrt(2.0) * 10.0 * math.sqrt(1.0 - instrument.reliability)
        assert instrument.reliable_change(10.0) == pytest.approx(expected), code
    assert NORMS.reliable_change_points("SRS") == pytest.approx(1.96 * math.sqrt(2 * 0.12) * 10)


def test_alliance_summaries_skip_unrated_and_missed_sessions() -> None:
    # Session 3 is missed, so the factory drops its rating (16).
    rows = features_of(one_client([24, 28, 16, 32, 8], instrument="SRS", missed=[3]))
    at_5 = rows.loc[5]
    assert at_5["alliance_n_rated"] == 4
    assert at_5["alliance_z_first"] == pytest.approx(0.4)
    assert at_5["alliance_z_last"] == pytest.approx(-1.2)
    assert at_5["alliance_z_mean"] == pytest.approx((0.4 + 0.8 + 1.2 - 1.2) / 4)
    assert at_5["alliance_z_min"] == pytest.approx(-1.2)
    assert rows.loc[3, "alliance_z_last"] == pytest.approx(0.8)


def test_alliance_slope_is_least_squares_per_session() -> None:
    rows = features_of(one_client([20, 24, None, 16, 30], instrument="SRS"))
    sessions, z = np.array([1.0, 2.0, 4.0, 5.0]), np.array([0.0, 0.4, -0.4, 1.0])
    assert rows.loc[5, "alliance_z_slope"] == pytest.approx(np.polyfit(sessions, z, 1)[0])
    assert rows.loc[2, "alliance_z_slope"] == pytest.approx(0.4)
    assert math.isnan(rows.loc[1, "alliance_z_slope"])
    assert rows.loc[3, "alliance_z_slope"] == rows.loc[2, "alliance_z_slope"]


def test_largest_drop_and_recovery_follow_a_rupture() -> None:
    rows = features_of(one_client(RUPTURE, instrument="SRS"))  # z 1.0, 0.0, 0.4, -0.4, 0.8
    assert math.isnan(rows.loc[1, "alliance_largest_drop"])
    assert math.isnan(rows.loc[1, "alliance_recovery_since_drop"])
    np.testing.assert_allclose(rows["alliance_largest_drop"].iloc[1:], [1.0] * 4)
    # Low point after the fall: 0.0, then 0.0, then -0.4, then -0.4; recovery = last - low.
    np.testing.assert_allclose(
        rows["alliance_recovery_since_drop"].iloc[1:], [0.0, 0.4, 0.0, 1.2], atol=1e-12
    )


def test_largest_drop_spans_sessions_without_a_rating() -> None:
    rows = features_of(one_client([32, None, 20, 22], instrument="SRS", missed=[2]))
    assert rows.loc[3, "alliance_largest_drop"] == pytest.approx(1.2)
    assert rows.loc[4, "alliance_recovery_since_drop"] == pytest.approx(0.2)


def test_rising_alliance_has_no_drop_and_nothing_to_recover() -> None:
    rows = features_of(one_client([16, 20, 28], instrument="SRS"))
    assert rows.loc[3, "alliance_largest_drop"] == 0.0
    assert rows.loc[3, "alliance_recovery_since_drop"] == 0.0
    assert rows.loc[3, "alliance_reliable_fall"] == 0.0


def test_a_fall_beyond_the_questionnaires_reliable_change_is_a_possible_rupture() -> None:
    """SRS reliability .88: reliable change = 1.96 * sqrt(2 * 0.12) = 0.96 SD (9.6 points
    with SD 10). A 10-point fall counts; a 9-point one does not; nor does a fall between two
    different questionnaires, which the reliable change cannot judge."""
    assert features_of(one_client([30, 20], instrument="SRS")).loc[2, "alliance_reliable_fall"]
    small = features_of(one_client([30, 21], instrument="SRS"))
    assert small.loc[2, "alliance_reliable_fall"] == 0.0
    mixed = trajectory("A", [30, None], instrument="SRS")
    mixed[1] |= {"alliance_instrument": "WAI-SR", "alliance_score": 25}  # z -2.5
    rows = features_of(clinic_tables([client("A")], mixed))
    assert rows.loc[2, "alliance_largest_drop"] == pytest.approx(3.5)
    assert rows.loc[2, "alliance_reliable_fall"] == 0.0


def test_an_srs_total_of_36_or_lower_raises_the_pcoms_flag() -> None:
    rows = features_of(one_client([38, 36, 37], instrument="SRS"))
    assert list(rows["alliance_alert"]) == [0.0, 1.0, 0.0]
    other = features_of(one_client([20, 30], instrument="WAI-SR"))
    assert other["alliance_alert"].isna().all()


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
