"""The synthetic cohort: calibrated to the literature, valid under the contract, exact oracle.

Calibration targets are checked on one large cohort (20,000 clients, seed 7) generated
once for the module; tolerances are wide enough for sampling error at that size and
narrow enough to catch a mis-set parameter.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from sklearn.linear_model import LogisticRegression

from data_schemas.columns import CLIENTS, PANDAS_DTYPES, SESSIONS, THERAPISTS
from data_schemas.ranges import INSTRUMENTS, LANDMARKS
from data_schemas.tables import load_clinic_data
from features.labels import OutcomeDefinitions, landmark_labels
from training.synthetic import CohortParameters, SyntheticCohort, generate_cohort, write_cohort
from training.synthetic.dynamics import DROPOUT, EpisodeStart, simulate_episodes
from training.synthetic.oracle import landmark_risks


@pytest.fixture(scope="module")
def large_cohort() -> SyntheticCohort:
    """20,000 clients as the export shows them: some episodes still ongoing."""
    return generate_cohort(20000, seed=7)


@pytest.fixture(scope="module")
def complete_cohort() -> SyntheticCohort:
    """20,000 clients followed to the end of every episode, for the calibration targets,
    which the literature states for complete episodes."""
    parameters = CohortParameters()
    followed = replace(parameters.population, export_after_last_intake_days=None)
    return generate_cohort(20000, seed=7, parameters=replace(parameters, population=followed))


def _alliance_pomp(sessions: pd.DataFrame) -> pd.Series:
    """Alliance scores as percent of maximum on each row's instrument (NaN when unrated)."""
    low = sessions["alliance_instrument"].map({c: s.min_score for c, s in INSTRUMENTS.items()})
    high = sessions["alliance_instrument"].map({c: s.max_score for c, s in INSTRUMENTS.items()})
    score = sessions["alliance_score"].astype(float)
    return 100.0 * (score - low.astype(float)) / (high.astype(float) - low.astype(float))


def _dropped_out(cohort: SyntheticCohort) -> pd.Series:
    """Per client id: whether the episode ended in dropout (NaN while ongoing)."""
    reason = cohort.tables.clients.set_index("client_id")["episode_end_reason"]
    return reason.eq("dropout").where(reason.notna())


def _landmark_labels(cohort: SyntheticCohort) -> pd.DataFrame:
    """Oracle rows with the task labels of `features.labels`, as of the export date."""
    index = pd.MultiIndex.from_frame(
        cohort.oracle[["client_id", "landmark"]].astype({"client_id": object})
    )
    labels = landmark_labels(
        cohort.tables, index, OutcomeDefinitions(as_of=cohort.tables.latest_date())
    ).reset_index(drop=True)
    rows = pd.concat([cohort.oracle, labels.add_prefix("label_")], axis=1)
    rows["in_dropout_task"] = rows["label_dropout"].notna()
    rows["in_violence_task"] = rows["label_violence"].notna()
    return rows


def test_dropout_rate_is_near_twenty_percent(complete_cohort: SyntheticCohort) -> None:
    # Swift & Greenberg (2012): weighted mean premature dropout 19.7%.
    rate = _dropped_out(complete_cohort).mean()
    assert 0.17 <= rate <= 0.23


def test_completers_report_better_early_alliance_than_dropouts_by_d_near_055(
    complete_cohort: SyntheticCohort,
) -> None:
    """d = (non-dropout mean - dropout mean) / pooled SD of each client's mean POMP alliance
    over attended, rated sessions among 1..3 (Sharf, Primavera & Diener 2010: d = 0.55)."""
    sessions = complete_cohort.tables.sessions
    early = sessions[(sessions["session_number"] <= 3) & sessions["alliance_score"].notna()]
    mean_pomp = _alliance_pomp(early).groupby(early["client_id"]).mean()
    dropped = _dropped_out(complete_cohort).reindex(mean_pomp.index).astype(bool)
    completers, dropouts = mean_pomp[~dropped], mean_pomp[dropped]
    pooled_variance = (
        (len(completers) - 1) * completers.var() + (len(dropouts) - 1) * dropouts.var()
    ) / (len(completers) + len(dropouts) - 2)
    d = (completers.mean() - dropouts.mean()) / np.sqrt(pooled_variance)
    assert 0.45 <= d <= 0.65


def test_most_dropout_happens_by_session_five(complete_cohort: SyntheticCohort) -> None:
    """More than half of all dropouts last attended one of the five landmark sessions,
    although planned episodes run 8 to 24 sessions."""
    sessions = complete_cohort.tables.sessions
    last_attended = sessions[sessions["attended"]].groupby("client_id")["session_number"].max()
    dropped = _dropped_out(complete_cohort).astype(bool)
    share = (last_attended.reindex(dropped.index[dropped]).fillna(0) <= max(LANDMARKS)).mean()
    assert 0.5 < share < 0.85


def test_many_dropouts_miss_booked_sessions_before_the_dropout_is_recorded(
    complete_cohort: SyntheticCohort,
) -> None:
    """As in real exports, a client who stops often just does not come back: their last
    booked sessions are missed ones, and the end is recorded after them."""
    sessions = complete_cohort.tables.sessions.sort_values(["client_id", "session_number"])
    last = sessions.groupby("client_id").tail(1).set_index("client_id")
    dropped = _dropped_out(complete_cohort).astype(bool)
    missed_last = ~last["attended"].reindex(dropped.index).astype(bool)
    assert 0.4 < missed_last[dropped].mean() < 0.9
    assert missed_last[~dropped].mean() < 0.2


def test_episodes_end_in_completion_dropout_transfer_or_otherwise(
    complete_cohort: SyntheticCohort,
) -> None:
    shares = complete_cohort.tables.clients["episode_end_reason"].value_counts(normalize=True)
    assert shares["completed"] > 0.6
    assert 0.04 < shares["transferred"] < 0.15
    assert 0.005 < shares["other"] < 0.05


def test_the_export_leaves_about_one_episode_in_ten_ongoing(
    large_cohort: SyntheticCohort,
) -> None:
    clients = large_cohort.tables.clients
    ongoing = clients["episode_end_reason"].isna()
    assert 0.05 < ongoing.mean() < 0.2
    assert clients.loc[ongoing, "episode_end_date"].isna().all()
    export = pd.Timestamp(large_cohort.export_date)
    assert (large_cohort.tables.sessions["session_date"] <= export).all()
    assert (clients["first_violence_date"].dropna() <= export).all()
    # Recent intakes are the ones still running.
    assert clients.loc[ongoing, "intake_date"].median() > clients["intake_date"].quantile(0.8)


def test_incidents_are_recorded_only_during_the_episode(large_cohort: SyntheticCohort) -> None:
    clients = large_cohort.tables.clients
    incident = clients["first_violence_date"]
    assert incident.notna().sum() > 100
    assert (incident.dropna() > clients.loc[incident.notna(), "intake_date"]).all()
    ended = incident.notna() & clients["episode_end_date"].notna()
    assert (incident[ended] <= clients.loc[ended, "episode_end_date"]).all()
    # In an ended episode the incident falls between two of its booked sessions.
    last_session = large_cohort.tables.sessions.groupby("client_id")["session_date"].max()
    with_incident = clients[ended].set_index("client_id")["first_violence_date"]
    assert (with_incident <= last_session.reindex(with_incident.index)).all()


def test_questionnaires_are_missing_more_often_when_the_alliance_is_poor(
    large_cohort: SyntheticCohort,
) -> None:
    """Missing not at random: among attended sessions, the alliance is unrated more often in
    the lowest quarter of the true (latent) alliance than in the highest."""
    oracle = large_cohort.oracle[large_cohort.oracle["attended"]]
    sessions = large_cohort.tables.sessions
    rated = sessions.set_index(["client_id", "session_number"])["alliance_score"].notna()
    unrated = ~rated.reindex(
        pd.MultiIndex.from_arrays([oracle["client_id"], oracle["landmark"]])
    ).to_numpy()
    latent = oracle["latent_alliance"].to_numpy()
    low, high = np.quantile(latent, [0.25, 0.75])
    assert unrated[latent <= low].mean() > 1.5 * unrated[latent >= high].mean()


def test_sites_differ_in_dropout_rates(complete_cohort: SyntheticCohort) -> None:
    clients = complete_cohort.tables.clients
    table = pd.crosstab(clients["site_id"], clients["episode_end_reason"].eq("dropout"))
    assert chi2_contingency(table)[1] < 1e-6


def test_violence_is_rare_in_outpatients_and_common_in_inpatients(
    complete_cohort: SyntheticCohort,
) -> None:
    # A few percent of outpatients; about 17% of acute inpatients (Iozzino et al. 2015).
    clients = complete_cohort.tables.clients
    rate = clients["first_violence_date"].notna().groupby(clients["setting"]).mean()
    assert 0.01 <= rate["outpatient"] <= 0.06
    assert 0.10 <= rate["inpatient"] <= 0.25
    assert rate["outpatient"] < rate["day_clinic"] < rate["inpatient"]


def test_poor_first_session_alliance_predicts_violence_beyond_history(
    complete_cohort: SyntheticCohort,
) -> None:
    """Beauford, McNiel & Binder (1997): the alliance coefficient, adjusted for history of
    violence, substance misuse and setting, is negative with a Wald z below -3."""
    sessions = complete_cohort.tables.sessions
    first = sessions[(sessions["session_number"] == 1) & sessions["alliance_score"].notna()]
    pomp = pd.Series(_alliance_pomp(first).to_numpy(), index=first["client_id"], name="pomp")
    data = complete_cohort.tables.clients.join(pomp, on="client_id", how="inner")
    design = np.column_stack(
        [
            np.ones(len(data)),
            data["history_of_violence"].astype(float),
            data["substance_misuse"].astype(float),
            data["setting"].eq("inpatient").astype(float),
            data["setting"].eq("day_clinic").astype(float),
            data["pomp"].to_numpy(dtype=float) / 10.0,
        ]
    )
    outcome = data["first_violence_date"].notna().astype(int).to_numpy()
    fit = LogisticRegression(C=np.inf, fit_intercept=False, max_iter=2000).fit(design, outcome)
    fitted = fit.predict_proba(design)[:, 1]
    information = (design * (fitted * (1.0 - fitted))[:, None]).T @ design
    standard_errors = np.sqrt(np.diag(np.linalg.inv(information)))
    z = fit.coef_[0] / standard_errors
    assert z[1] > 3  # history of violence still counts
    assert z[-1] < -3


def test_ruptures_raise_dropout(complete_cohort: SyntheticCohort) -> None:
    """Clients in an unrepaired rupture at session 1 drop out more (two-proportion z > 3)."""
    rows = _landmark_labels(complete_cohort)
    first = rows[rows["landmark"] == 1]
    in_rupture = first.loc[first["rupture_state"] == 1, "label_dropout"]
    intact = first.loc[first["rupture_state"] == 0, "label_dropout"]
    difference = in_rupture.mean() - intact.mean()
    standard_error = np.sqrt(in_rupture.var() / len(in_rupture) + intact.var() / len(intact))
    assert difference / standard_error > 3


def test_therapists_differ_in_dropout_rates(complete_cohort: SyntheticCohort) -> None:
    # Saxon et al. (2017): therapists account for a substantial share of dropout variance.
    clients = complete_cohort.tables.clients
    table = pd.crosstab(clients["therapist_id"], clients["episode_end_reason"].eq("dropout"))
    assert chi2_contingency(table)[1] < 1e-6


def test_tables_have_the_contract_columns_and_dtypes(small_cohort: SyntheticCohort) -> None:
    tables = small_cohort.tables
    for spec, frame in (
        (CLIENTS, tables.clients),
        (THERAPISTS, tables.therapists),
        (SESSIONS, tables.sessions),
    ):
        assert tuple(frame.columns) == spec.column_names
        for column in spec.columns:
            assert str(frame[column.name].dtype) == PANDAS_DTYPES[column.kind], column.name


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_written_cohort_passes_validation_and_reads_back_unchanged(
    small_cohort: SyntheticCohort, tmp_path: Path, file_format: str
) -> None:
    write_cohort(small_cohort, tmp_path, file_format=file_format)
    loaded = load_clinic_data(tmp_path, require_outcomes=True)
    for name in ("clients", "therapists", "sessions"):
        pd.testing.assert_frame_equal(
            getattr(loaded, name).reset_index(drop=True), getattr(small_cohort.tables, name)
        )
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "oracle.parquet"), small_cohort.oracle)
    recorded = json.loads((tmp_path / "parameters.json").read_text(encoding="utf-8"))
    assert recorded["seed"] == 11
    assert recorded["n_clients"] == 1500
    assert (
        recorded["parameters"]["dropout"]["intercept"] == small_cohort.parameters.dropout.intercept
    )


def test_small_cohort_dir_holds_every_file(small_cohort_dir: Path) -> None:
    names = {path.name for path in small_cohort_dir.iterdir()}
    expected = {
        "clients.parquet",
        "therapists.parquet",
        "sessions.parquet",
        "oracle.parquet",
        "parameters.json",
    }
    assert names == expected


def test_same_seed_gives_identical_cohort(small_cohort: SyntheticCohort) -> None:
    again = generate_cohort(1500, seed=11)
    for name in ("clients", "therapists", "sessions"):
        pd.testing.assert_frame_equal(
            getattr(again.tables, name), getattr(small_cohort.tables, name), check_exact=True
        )
    pd.testing.assert_frame_equal(again.oracle, small_cohort.oracle, check_exact=True)


def test_different_seed_gives_different_cohort(small_cohort: SyntheticCohort) -> None:
    other = generate_cohort(1500, seed=12)
    reason = "episode_end_reason"
    assert not other.tables.clients[reason].equals(small_cohort.tables.clients[reason])


def test_oracle_has_a_row_per_exported_landmark_session(small_cohort: SyntheticCohort) -> None:
    sessions = small_cohort.tables.sessions
    held = sessions.loc[
        sessions["session_number"] <= max(LANDMARKS), ["client_id", "session_number"]
    ]
    expected = held.rename(columns={"session_number": "landmark"}).astype({"landmark": "int64"})
    pd.testing.assert_frame_equal(
        small_cohort.oracle[["client_id", "landmark"]], expected.reset_index(drop=True)
    )


def test_oracle_violence_risk_is_missing_exactly_where_an_incident_came_first(
    small_cohort: SyntheticCohort,
) -> None:
    rows = _landmark_labels(small_cohort)
    assert rows["p_dropout"].notna().all()
    excluded = rows["label_violence_status"] == "excluded"
    assert (rows["p_violence"].isna() == excluded).all()
    assert excluded.any()


def test_a_client_who_has_stopped_has_an_oracle_dropout_risk_of_one(
    small_cohort: SyntheticCohort,
) -> None:
    stopped = small_cohort.oracle[small_cohort.oracle["no_shows_left"] >= 0]
    assert len(stopped) > 10
    assert (stopped["p_dropout"] == 1.0).all()
    assert not stopped["attended"].any()


def _replay_rows(cohort: SyntheticCohort) -> pd.DataFrame:
    """A few dozen oracle rows covering every landmark, missed sessions and rupture states."""
    oracle = cohort.oracle
    picks = [
        oracle[~oracle["attended"]].head(6),
        oracle[oracle["rupture_state"] == 1].head(6),
        oracle[oracle["rupture_state"] == 2].head(6),
        oracle[oracle["missed_sessions"] == 2].head(4),
        oracle[oracle["no_shows_left"] >= 1].head(4),
        oracle.nlargest(6, "p_violence"),
        oracle.nlargest(4, "p_dropout"),
        oracle.groupby("landmark").head(2),
    ]
    return pd.concat(picks)


def test_oracle_matches_simulated_futures(small_cohort: SyntheticCohort) -> None:
    """Replay 4,000 futures from each picked row's state with the generator's own sampler;
    the share of futures with each outcome agrees with the exact risk within 4.5 SE."""
    futures = 4000
    rows = _replay_rows(small_cohort)
    clients = pd.Index(small_cohort.tables.clients["client_id"])
    rng = np.random.default_rng(2024)
    for landmark, group in rows.groupby("landmark"):
        latents = small_cohort.latents.take(clients.get_indexer(group["client_id"]))
        state = {
            "rupture": group["rupture_state"].to_numpy(),
            "missed": group["missed_sessions"].to_numpy(),
            "attended": group["attended"].to_numpy(),
            "no_shows_left": group["no_shows_left"].to_numpy(),
        }
        exact_dropout, exact_violence = landmark_risks(
            latents, small_cohort.parameters, landmark, **state
        )
        np.testing.assert_allclose(exact_dropout, group["p_dropout"], rtol=1e-12)
        replayed = np.repeat(np.arange(len(group)), futures)
        start = EpisodeStart(
            landmark, **{name: np.repeat(part, futures) for name, part in state.items()}
        )
        history = simulate_episodes(latents.take(replayed), small_cohort.parameters, rng, start)
        for exact, simulated in (
            (exact_dropout, history.ending == DROPOUT),
            (exact_violence, history.violence_after >= landmark),
        ):
            share = simulated.reshape(-1, futures).mean(axis=1)
            standard_error = np.sqrt(exact * (1.0 - exact) / futures) + 1e-4
            assert np.all(np.abs(share - exact) / standard_error < 4.5)


@pytest.mark.parametrize("outcome", ["dropout", "violence"])
def test_oracle_mean_risk_matches_realized_rate_per_landmark(
    complete_cohort: SyntheticCohort, outcome: str
) -> None:
    """Given the latents, labels are independent Bernoulli(p), so mean(label) - mean(p)
    has standard error sqrt(sum p(1-p)) / n; the gap stays within 4 of them. Every episode
    is followed to its end here: leaving out ongoing ones would favour short episodes."""
    rows = _landmark_labels(complete_cohort)
    rows = rows[rows[f"in_{outcome}_task"]]
    for _, at_landmark in rows.groupby("landmark"):
        risk = at_landmark[f"p_{outcome}"].to_numpy()
        label = at_landmark[f"label_{outcome}"].to_numpy()
        standard_error = np.sqrt(np.sum(risk * (1.0 - risk))) / len(risk)
        assert abs(label.mean() - risk.mean()) < 4 * standard_error
