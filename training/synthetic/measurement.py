"""Turn simulated episodes into the sessions table a clinic would record.

Only here do latent quantities become observations: the true alliance becomes a noisy,
rounded questionnaire total on the client's instrument, latent anxiety becomes GAD-7 and
pre-session distress ratings, and session indices become dates. Questionnaires are left
out more often when the alliance is poor (missing not at random). Nothing drawn here feeds
back into dropout or violence, so measurement noise is pure noise to a model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_schemas.ranges import GAD7, INSTRUMENTS, PRE_SESSION_DISTRESS, AllianceRater
from training.synthetic.dynamics import EpisodeHistory, latent_alliance
from training.synthetic.parameters import CohortParameters
from training.synthetic.population import Population


def session_dates(
    rng: np.random.Generator, intake: np.ndarray, sessions: int, parameters: CohortParameters
) -> np.ndarray:
    """Dates of sessions 1..`sessions` per client: strictly increasing, never before intake."""
    att = parameters.attendance
    delay = rng.integers(
        att.first_session_delay_days[0], att.first_session_delay_days[1] + 1, len(intake)
    )
    gaps = rng.integers(
        att.session_gap_days[0], att.session_gap_days[1] + 1, (len(intake), sessions)
    )
    gaps[:, 0] = delay
    return intake[:, None] + np.cumsum(gaps, axis=1).astype("timedelta64[D]")


def _true_alliance(
    population: Population, history: EpisodeHistory, parameters: CohortParameters
) -> np.ndarray:
    """The latent alliance at every session (clients x sessions)."""
    sessions = history.held.shape[1]
    return np.column_stack(
        [
            latent_alliance(population.latents, s, history.rupture[:, s - 1], parameters)
            for s in range(1, sessions + 1)
        ]
    )


def _filled_in(
    rng: np.random.Generator,
    history: EpisodeHistory,
    true_alliance: np.ndarray,
    base_share_missing: float,
    parameters: CohortParameters,
) -> np.ndarray:
    """Whether a questionnaire was filled in at each session: only when attended, and less
    often the poorer the alliance at that session."""
    log_odds = np.log(base_share_missing / (1.0 - base_share_missing))
    log_odds = log_odds + parameters.alliance.unrated_per_alliance_sd * true_alliance
    missing = 1.0 / (1.0 + np.exp(-log_odds))
    return history.attended & (rng.random(true_alliance.shape) >= missing)


def _alliance_scores(
    rng: np.random.Generator,
    population: Population,
    history: EpisodeHistory,
    true_alliance: np.ndarray,
    parameters: CohortParameters,
) -> np.ndarray:
    """Observed alliance totals on each client's instrument, per session (NaN = unrated)."""
    al = parameters.alliance
    clients, sessions = history.held.shape
    pomp_of = {code: (mean, sd) for code, mean, sd in al.instrument_pomp_mean_sd}
    mean = np.array([pomp_of[code][0] for code in INSTRUMENTS])
    sd = np.array([pomp_of[code][1] for code in INSTRUMENTS])
    low = np.array([spec.min_score for spec in INSTRUMENTS.values()], dtype=float)
    high = np.array([spec.max_score for spec in INSTRUMENTS.values()], dtype=float)
    which = pd.Index(list(INSTRUMENTS)).get_indexer(population.instrument)[:, None]
    # Noise SD such that true variance / observed variance equals the reliability.
    noise_sd = sd[which] * np.sqrt((1.0 - al.reliability) / al.reliability)
    rater_shift = np.where(population.client_rates_alliance, 0.0, al.therapist_rater_shift_pomp)
    pomp = (
        mean[which]
        + sd[which] * true_alliance
        + rater_shift[:, None]
        + noise_sd * rng.standard_normal((clients, sessions))
    )
    score = np.clip(
        np.round(low[which] + pomp / 100.0 * (high[which] - low[which])), low[which], high[which]
    )
    rated = _filled_in(rng, history, true_alliance, al.unrated_share, parameters)
    return np.where(rated, score, np.nan)


def _anxiety_ratings(
    rng: np.random.Generator,
    population: Population,
    history: EpisodeHistory,
    true_alliance: np.ndarray,
    parameters: CohortParameters,
) -> tuple[np.ndarray, np.ndarray]:
    """GAD-7 and distress per session (NaN when not attended or not filled in)."""
    ax = parameters.anxiety
    clients, sessions = history.held.shape
    latents = population.latents
    elapsed = np.arange(sessions)[None, :]
    rate = ax.improvement_per_session + ax.improvement_per_alliance_sd * latents.alliance_level
    anxiety = latents.anxiety_level[:, None] - rate[:, None] * elapsed
    gad7 = np.clip(
        np.round(
            ax.gad7_mean
            + ax.gad7_sd * anxiety
            + ax.gad7_noise_sd * rng.standard_normal((clients, sessions))
        ),
        GAD7.minimum,
        GAD7.maximum,
    )
    distress = np.clip(
        np.round(
            ax.distress_mean
            + ax.distress_sd * anxiety
            + ax.distress_noise_sd * rng.standard_normal((clients, sessions))
        ),
        PRE_SESSION_DISTRESS.minimum,
        PRE_SESSION_DISTRESS.maximum,
    )
    gad7_given = _filled_in(rng, history, true_alliance, ax.gad7_missing_share, parameters)
    distress_given = _filled_in(rng, history, true_alliance, ax.distress_missing_share, parameters)
    return np.where(gad7_given, gad7, np.nan), np.where(distress_given, distress, np.nan)


def _nullable_int(values: np.ndarray) -> pd.arrays.IntegerArray:
    missing = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)


def sessions_table(
    rng: np.random.Generator,
    population: Population,
    history: EpisodeHistory,
    parameters: CohortParameters,
    dates: np.ndarray,
    exported: np.ndarray,
) -> pd.DataFrame:
    """One row per exported session, sorted by client and session, typed per the contract.

    `dates` holds every booked session's date and `exported` which sessions the export
    holds (booked, and not after the export date).
    """
    true_alliance = _true_alliance(population, history, parameters)
    alliance = _alliance_scores(rng, population, history, true_alliance, parameters)
    gad7, distress = _anxiety_ratings(rng, population, history, true_alliance, parameters)

    client_index, column = np.nonzero(exported)
    score = alliance[client_index, column]
    rated = ~np.isnan(score)
    rater = np.where(
        population.client_rates_alliance, AllianceRater.CLIENT.value, AllianceRater.THERAPIST.value
    )
    return pd.DataFrame(
        {
            "client_id": population.clients["client_id"].to_numpy()[client_index],
            "session_number": pd.array(column + 1, dtype="Int64"),
            "session_date": dates[client_index, column].astype("datetime64[ns]"),
            "attended": pd.array(history.attended[client_index, column], dtype="boolean"),
            "alliance_instrument": pd.array(
                np.where(rated, population.instrument[client_index], None), dtype="string"
            ),
            "alliance_score": pd.arrays.FloatingArray(np.nan_to_num(score), ~rated),
            "alliance_rater": pd.array(rater[client_index].astype(object), dtype="string"),
            "anxiety_gad7": _nullable_int(gad7[client_index, column]),
            "pre_session_distress": _nullable_int(distress[client_index, column]),
        }
    ).astype({"client_id": "string"})
