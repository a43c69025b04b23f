"""The session-by-session chain behind each episode, shared by the generator and the oracle.

Given a client's hidden quantities (`ClientLatents`), an episode is a Markov chain over its
booked sessions. While the client is *engaged*, the state is the rupture state and the
number of missed sessions so far: at each booked session s the rupture state moves on and
the client attends or not; after it (before the last planned session) the client may
decide to stop (the dropout hazard, after attended and missed sessions alike), be
transferred, or leave for another reason. A client who decides to stop often does not say
so: they miss a few more booked sessions (*no-shows*) before the clinic records the
dropout, so a dropout can follow missed sessions in the data, as it does in real exports.
An episode not stopped early ends after its last planned session (completed).

Between booked sessions (interval s, from session s to s+1; interval 0 runs from intake to
session 1) a first violent incident toward others may be recorded while the episode is open,
no-show weeks included; nothing is recorded after the episode ends.

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


def transfer_hazard(parameters: CohortParameters) -> float:
    """P(transferred right after a held session | engaged, not stopping)."""
    return parameters.ending.transfer_per_session


def other_ending_hazard(parameters: CohortParameters) -> float:
    """P(ending for another reason right after a held session | engaged, not stopping,
    not transferred)."""
    return parameters.ending.other_per_session


def no_show_probabilities(parameters: CohortParameters, booked_left: np.ndarray) -> np.ndarray:
    """P(a client who stops now misses j more booked sessions before the dropout is
    recorded), j = 0..max(booked_left), per client; j never exceeds the sessions still booked.

    Shape (clients, max(booked_left) + 1). The tail beyond a client's booked sessions is
    folded into its last possible j.
    """
    ending = parameters.ending
    width = int(np.max(booked_left, initial=0)) + 1
    j = np.arange(width)
    geometric = np.where(
        j == 0,
        1.0 - ending.no_show_share,
        ending.no_show_share
        * (1.0 - ending.no_show_continue)
        * ending.no_show_continue ** np.maximum(j - 1, 0),
    )
    left = np.asarray(booked_left)[:, None]
    probabilities = np.where(j[None, :] <= left, geometric[None, :], 0.0)
    beyond = 1.0 - probabilities.sum(axis=1)
    probabilities[np.arange(len(left)), np.asarray(booked_left)] += beyond
    return probabilities


#: How an episode ended, as the generator codes it (`EpisodeHistory.ending`).
ONGOING, COMPLETED, DROPOUT, TRANSFERRED, OTHER = 0, 1, 2, 3, 4
ENDING_NAMES: dict[int, str] = {
    COMPLETED: "completed",
    DROPOUT: "dropout",
    TRANSFERRED: "transferred",
    OTHER: "other",
}


@dataclass(frozen=True)
class EpisodeStart:
    """Where simulation begins: `session` has been held and its attendance is known.

    `session == 0` is intake (nothing held yet). For a later session the decisions after it
    and everything beyond are still to be drawn. `no_shows_left` is -1 for an engaged
    client, else the booked sessions a client who has stopped will still miss (0: the
    dropout is recorded after this session).
    """

    session: int
    rupture: np.ndarray
    missed: np.ndarray
    attended: np.ndarray
    no_shows_left: np.ndarray

    @classmethod
    def at_intake(cls, clients: int) -> EpisodeStart:
        return cls(
            session=0,
            rupture=np.full(clients, INTACT, dtype=np.int8),
            missed=np.zeros(clients, dtype=np.int8),
            attended=np.zeros(clients, dtype=bool),
            no_shows_left=np.full(clients, -1, dtype=np.int64),
        )


@dataclass(frozen=True)
class EpisodeHistory:
    """What happened in each episode; session arrays have one column per session 1..max."""

    held: np.ndarray  # the session was booked while the episode was open: it is in the data
    attended: np.ndarray
    rupture: np.ndarray  # latent rupture state at each held session
    missed: np.ndarray  # missed sessions up to and including this one, capped
    no_shows_left: np.ndarray  # -1 while engaged, else booked sessions still to be missed
    last_session: np.ndarray  # the last booked session (0: none)
    ending: np.ndarray  # COMPLETED, DROPOUT, TRANSFERRED or OTHER
    violence_after: np.ndarray  # interval of the first incident; -1 = no incident

    @property
    def dropout_after(self) -> np.ndarray:
        """The last booked session of each episode that ended in dropout; 0 otherwise."""
        return np.where(self.ending == DROPOUT, self.last_session, 0)


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
    no_show_history = np.full((clients, last), -1, dtype=np.int64)
    last_session = np.full(clients, start.session, dtype=np.int64)
    ending = np.full(clients, ONGOING, dtype=np.int64)
    violence_after = np.full(clients, -1, dtype=np.int64)

    rupture = start.rupture.astype(np.int8)
    missed = start.missed.astype(np.int8)
    attended = start.attended.copy()
    no_shows_left = start.no_shows_left.astype(np.int64).copy()
    is_open = np.ones(clients, dtype=bool)
    incident_free = np.ones(clients, dtype=bool)

    for session in range(start.session, last + 1):
        if session > start.session:
            booked = is_open
            engaged = booked & (no_shows_left < 0)
            stopping = booked & ~engaged
            moved = (rng.random(clients)[:, None] > cumulative[rupture]).sum(axis=1)
            rupture = np.where(engaged, moved, rupture).astype(np.int8)
            miss = miss_probability(latents, session, rupture, missed, parameters)
            attended = engaged & (rng.random(clients) >= miss)
            no_shows_left = np.where(stopping, no_shows_left - 1, no_shows_left)
            missed = np.where(booked & ~attended, np.minimum(missed + 1, cap), missed)
            missed = missed.astype(np.int8)
            column = session - 1
            held[:, column] = booked
            attended_history[:, column] = attended
            rupture_history[:, column] = np.where(booked, rupture, 0)
            missed_history[:, column] = np.where(booked, missed, 0)
            no_show_history[:, column] = np.where(booked, no_shows_left, -1)
            last_session[booked] = session
        engaged = is_open & (no_shows_left < 0)
        before_last = session < planned
        # Stopping clients end once their last no-show has passed.
        recorded = is_open & (no_shows_left == 0)
        ending[recorded] = DROPOUT
        is_open &= ~recorded
        # Engaged clients: stop, be transferred, leave otherwise, or go on.
        deciding = engaged & before_last & (session > 0)
        hazard = dropout_hazard(latents, session, rupture, missed, parameters)
        draw = rng.random(clients)
        stops = deciding & (draw < hazard)
        rest = deciding & ~stops
        transfer = transfer_hazard(parameters)
        other = other_ending_hazard(parameters)
        transferred = rest & (draw < hazard + (1.0 - hazard) * transfer)
        others = (
            rest
            & ~transferred
            & (draw < hazard + (1.0 - hazard) * (transfer + (1.0 - transfer) * other))
        )
        no_shows = _draw_no_shows(rng, parameters, np.maximum(planned - session, 0))
        no_shows_left = np.where(stops, no_shows, no_shows_left)
        stopped_now = stops & (no_shows == 0)
        ending[stopped_now] = DROPOUT
        ending[transferred] = TRANSFERRED
        ending[others] = OTHER
        completed = engaged & ~before_last
        ending[completed] = COMPLETED
        is_open &= ~(stopped_now | transferred | others | completed)
        at_risk = is_open & incident_free
        incident = at_risk & (rng.random(clients) < violence_hazard(latents, session, parameters))
        violence_after[incident] = session
        incident_free &= ~incident

    return EpisodeHistory(
        held=held,
        attended=attended_history,
        rupture=rupture_history,
        missed=missed_history,
        no_shows_left=no_show_history,
        last_session=last_session,
        ending=ending,
        violence_after=violence_after,
    )


def _draw_no_shows(
    rng: np.random.Generator, parameters: CohortParameters, booked_left: np.ndarray
) -> np.ndarray:
    """For every client, the no-shows they would have if they stopped now."""
    cumulative = no_show_probabilities(parameters, booked_left).cumsum(axis=1)
    cumulative[:, -1] = 1.0
    return (rng.random(len(booked_left))[:, None] > cumulative).sum(axis=1)
