"""The session-by-session chain behind each episode, shared by the generator and the oracle.

Given a client's hidden quantities (`ClientLatents`), an episode is a Markov chain over
sessions whose state is the rupture state and the number of missed sessions so far.
At each scheduled session s the rupture state moves on, the client attends or not, and
after an attended session before the last planned one the dropout hazard may end the
episode. Between sessions (interval s, from session s to s+1; interval 0 runs from intake
to session 1) a first violent incident may happen while the client is in treatment.

The generator samples this chain (`simulate_episodes`); the oracle computes the same
probabilities exactly. Both call the probability functions below, so they cannot drift
apart, and a test checks the oracle against simulated futures.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from training.synthetic.parameters import CohortParameters

INTACT, RUPTURE, REPAIRED = 0, 1, 2
RUPTURE_STATES = 3


@dataclass(frozen=True)
class ClientLatents:
    """What the generator knows about each client that no model can observe directly.

    Arrays are per client; the oracle reshapes them to broadcast over its state grid.
    """

    alliance_level: np.ndarray  # latent alliance level in client SDs, before growth and ruptures
    anxiety_level: np.ndarray  # latent baseline anxiety in SDs
    planned_sessions: np.ndarray  # sessions the episode lasts if the client does not drop out
    miss_offset: np.ndarray  # time-constant log-odds of missing a session
    dropout_offset: np.ndarray  # time-constant log-odds of the dropout hazard (incl. therapist)
    violence_offset: np.ndarray  # time-constant log-odds of the violence hazard (incl. alliance)

    def take(self, index: np.ndarray) -> ClientLatents:
        """The latents of the selected clients (used to replay futures from a state)."""
        return ClientLatents(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def with_trailing_axes(self, count: int) -> ClientLatents:
        """Reshape every array to (clients, 1, ..., 1) so it broadcasts over a state grid."""
        shape = (-1,) + (1,) * count
        return ClientLatents(**{f.name: getattr(self, f.name).reshape(shape) for f in fields(self)})


def rupture_transitions(parameters: CohortParameters) -> np.ndarray:
    """3x3 matrix of P(next rupture state | current state), rows intact, rupture, repaired."""
    onset = parameters.alliance.rupture_onset
    repair = parameters.alliance.rupture_repair
    return np.array(
        [
            [1.0 - onset, onset, 0.0],
            [0.0, 1.0 - repair, repair],
            [0.0, onset, 1.0 - onset],
        ]
    )


def latent_alliance(
    latents: ClientLatents, session: int, rupture: np.ndarray, parameters: CohortParameters
) -> np.ndarray:
    """The true alliance at a session: level, early growth, rupture penalty or repair bonus."""
    alliance = parameters.alliance
    growth = alliance.growth_per_session * min(session - 1, alliance.growth_sessions)
    return (
        latents.alliance_level
        + growth
        - alliance.rupture_penalty * (rupture == RUPTURE)
        + alliance.repair_bonus * (rupture == REPAIRED)
    )


def _logistic(log_odds: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-log_odds))


def miss_probability(
    latents: ClientLatents,
    session: int,
    rupture: np.ndarray,
    missed_before: np.ndarray,
    parameters: CohortParameters,
) -> np.ndarray:
    """P(the client misses this scheduled session), given rupture state and earlier misses."""
    attendance = parameters.attendance
    log_odds = (
        latents.miss_offset
        + attendance.miss_per_alliance_sd * latent_alliance(latents, session, rupture, parameters)
        + attendance.miss_rupture * (rupture == RUPTURE)
        + attendance.miss_after_earlier_miss * (missed_before > 0)
    )
    return _logistic(log_odds)


def dropout_hazard(
    latents: ClientLatents,
    session: int,
    rupture: np.ndarray,
    missed: np.ndarray,
    parameters: CohortParameters,
) -> np.ndarray:
    """P(dropout right after this attended session | still in treatment)."""
    dropout = parameters.dropout
    early = session <= dropout.early_sessions
    log_odds = (
        latents.dropout_offset
        + dropout.per_session * (session - 1)
        + dropout.per_alliance_sd * latent_alliance(latents, session, rupture, parameters)
        + dropout.rupture * (rupture == RUPTURE)
        + dropout.per_missed_session * missed
        + dropout.per_anxiety_sd_early * early * latents.anxiety_level
    )
    return _logistic(log_odds)


def violence_hazard(
    latents: ClientLatents, interval: int, parameters: CohortParameters
) -> np.ndarray:
    """P(first violent incident in this interval | in treatment, no incident so far)."""
    return _logistic(latents.violence_offset + parameters.violence.per_interval * interval)


@dataclass(frozen=True)
class EpisodeStart:
    """Where simulation begins: `session` has been held and its attendance is known.

    `session == 0` is intake (nothing held yet). For a later session the dropout decision
    after it and everything beyond are still to be drawn.
    """

    session: int
    rupture: np.ndarray
    missed: np.ndarray
    attended: np.ndarray

    @classmethod
    def at_intake(cls, clients: int) -> EpisodeStart:
        return cls(
            session=0,
            rupture=np.full(clients, INTACT, dtype=np.int8),
            missed=np.zeros(clients, dtype=np.int8),
            attended=np.zeros(clients, dtype=bool),
        )


@dataclass(frozen=True)
class EpisodeHistory:
    """What happened in each episode; session arrays have one column per session 1..max."""

    held: np.ndarray  # session was scheduled while in treatment, so it appears in the data
    attended: np.ndarray
    rupture: np.ndarray  # latent rupture state at each held session
    missed: np.ndarray  # missed sessions up to and including this one, capped
    dropout_after: np.ndarray  # session after which the client dropped out; 0 = no dropout
    violence_after: np.ndarray  # interval of the first incident; -1 = no incident


def simulate_episodes(
    latents: ClientLatents,
    parameters: CohortParameters,
    rng: np.random.Generator,
    start: EpisodeStart,
) -> EpisodeHistory:
    """Draw every episode forward from `start` until it ends, vectorised over clients."""
    clients = len(latents.planned_sessions)
    planned = latents.planned_sessions
    last = int(planned.max())
    cap = parameters.dropout.missed_cap
    cumulative = rupture_transitions(parameters).cumsum(axis=1)
    cumulative[:, -1] = 1.0  # so rounding can never push a draw past the last state

    held = np.zeros((clients, last), dtype=bool)
    attended_history = np.zeros((clients, last), dtype=bool)
    rupture_history = np.zeros((clients, last), dtype=np.int8)
    missed_history = np.zeros((clients, last), dtype=np.int8)
    dropout_after = np.zeros(clients, dtype=np.int64)
    violence_after = np.full(clients, -1, dtype=np.int64)

    rupture = start.rupture.astype(np.int8)
    missed = start.missed.astype(np.int8)
    attended = start.attended.copy()
    in_treatment = np.ones(clients, dtype=bool)
    incident_free = np.ones(clients, dtype=bool)

    for session in range(start.session, last + 1):
        if session > start.session:
            now_held = in_treatment
            moved = (rng.random(clients)[:, None] > cumulative[rupture]).sum(axis=1)
            rupture = np.where(now_held, moved, rupture).astype(np.int8)
            miss = miss_probability(latents, session, rupture, missed, parameters)
            attended = now_held & (rng.random(clients) >= miss)
            missed = np.where(now_held & ~attended, np.minimum(missed + 1, cap), missed)
            missed = missed.astype(np.int8)
            column = session - 1
            held[:, column] = now_held
            attended_history[:, column] = attended
            rupture_history[:, column] = np.where(now_held, rupture, 0)
            missed_history[:, column] = np.where(now_held, missed, 0)
        before_last = session < planned
        decides = in_treatment & attended & before_last
        hazard = dropout_hazard(latents, session, rupture, missed, parameters)
        drops = decides & (rng.random(clients) < hazard)
        dropout_after[drops] = session
        in_treatment &= ~drops & before_last
        at_risk = in_treatment & incident_free
        incident = at_risk & (rng.random(clients) < violence_hazard(latents, session, parameters))
        violence_after[incident] = session
        incident_free &= ~incident

    return EpisodeHistory(
        held=held,
        attended=attended_history,
        rupture=rupture_history,
        missed=missed_history,
        dropout_after=dropout_after,
        violence_after=violence_after,
    )
