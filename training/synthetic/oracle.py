"""The true risk at each landmark, computed exactly from the generator's own chain.

At landmark k (after session k) the generator knows each client's latents and state: for an
engaged client the rupture state and missed-session count at session k and whether session
k was attended; for a client who has already decided to stop, how many booked sessions they
will still miss. The future is a Markov chain over (rupture state, missed sessions) for
engaged clients, with exits by dropout (through a no-show phase of known length
distribution), transfer, another ending and completion, and an independent violence hazard
per interval while the episode is open. `landmark_risks` carries the probability mass of
that chain forward session by session (forward recursion), so the risks are exact, not
Monte Carlo estimates: P(the episode ends in dropout) and P(a first incident after session
k, during the episode). A model trained on observed data can at best approach them: the
oracle sees the hidden alliance level, the therapist and site effects, the rupture state,
whether a client has already stopped and the planned episode length.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_schemas.ranges import LANDMARKS
from training.synthetic.dynamics import (
    RUPTURE_STATES,
    ClientLatents,
    EpisodeHistory,
    dropout_hazard,
    latent_alliance,
    miss_probability,
    no_show_probabilities,
    other_ending_hazard,
    rupture_transitions,
    transfer_hazard,
    violence_hazard,
)
from training.synthetic.parameters import CohortParameters


def _count_one_more_miss(mass: np.ndarray) -> np.ndarray:
    """Move mass along the missed-sessions axis by one, keeping the capped last bin."""
    shifted = np.zeros_like(mass)
    shifted[:, :, 1:] = mass[:, :, :-1]
    shifted[:, :, -1] += mass[:, :, -1]
    return shifted


def landmark_risks(
    latents: ClientLatents,
    parameters: CohortParameters,
    landmark: int,
    *,
    rupture: np.ndarray,
    missed: np.ndarray,
    attended: np.ndarray,
    no_shows_left: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """P(the episode ends in dropout) and P(first incident in an interval >= k), per client.

    Every client must still have session k booked and, for the violence risk to be
    meaningful, be free of incidents before session k. The state given is the one at
    session k, after its attendance is known; `no_shows_left` is -1 for an engaged client.
    """
    clients = len(latents.planned_sessions)
    planned = latents.planned_sessions
    last = int(planned.max())
    grid = latents.with_trailing_axes(2)
    missed_levels = parameters.dropout.missed_cap + 1
    rupture_grid = np.arange(RUPTURE_STATES)[None, :, None]
    missed_grid = np.arange(missed_levels)[None, None, :]
    transitions = rupture_transitions(parameters)
    transfer = transfer_hazard(parameters)
    other = other_ending_hazard(parameters)
    rows = np.arange(clients)

    engaged = no_shows_left < 0
    mass = np.zeros((clients, RUPTURE_STATES, missed_levels))
    mass[rows, rupture, missed] = engaged * 1.0
    came = mass * attended[:, None, None]
    stayed_away = mass * ~attended[:, None, None]
    # stopping[c, j]: probability of having stopped with j booked no-shows still to come.
    stopping = np.zeros((clients, last + 1))
    stopping[rows[~engaged], no_shows_left[~engaged]] = 1.0

    p_dropout = np.where(engaged, 0.0, 1.0)
    p_violence = np.zeros(clients)
    incident_free = np.ones(clients)
    for session in range(landmark, last + 1):
        if session > landmark:
            mass = np.einsum("crm,rq->cqm", mass, transitions)
            miss = miss_probability(grid, session, rupture_grid, missed_grid, parameters)
            came = mass * (1.0 - miss)
            stayed_away = _count_one_more_miss(mass * miss)
            # Each stopping client misses this booked session: one no-show fewer to come.
            stopping = np.concatenate([stopping[:, 1:], np.zeros((clients, 1))], axis=1)
        before_last = session < planned
        held = came + stayed_away
        hazard = dropout_hazard(grid, session, rupture_grid, missed_grid, parameters)
        hazard = hazard * before_last[:, None, None]
        stops = (held * hazard).sum(axis=(1, 2))
        p_dropout += stops
        no_shows = no_show_probabilities(parameters, np.maximum(planned - session, 0))
        stopping[:, : no_shows.shape[1]] += stops[:, None] * no_shows
        # With no no-show to come, the dropout is recorded now and the episode is closed.
        stopping[:, 0] = 0.0
        goes_on = held * (1.0 - hazard) * (1.0 - transfer) * (1.0 - other)
        mass = np.where(before_last[:, None, None], goes_on, 0.0)
        still_open = mass.sum(axis=(1, 2)) + stopping.sum(axis=1)
        incident = violence_hazard(latents, session, parameters)
        p_violence += incident_free * still_open * incident
        incident_free *= 1.0 - incident
    return p_dropout, p_violence


def oracle_table(
    client_ids: pd.Series,
    latents: ClientLatents,
    history: EpisodeHistory,
    parameters: CohortParameters,
    exported: np.ndarray,
) -> pd.DataFrame:
    """One row per (client, landmark) whose session k is in the export: true risks and state.

    `exported[c, s]` says whether session s+1 of client c is in the exported sessions table
    (booked, and not after the export date). `p_dropout` is the probability that the episode
    ends in dropout (1 for a client who has already stopped, whose no-shows the data show as
    missed sessions) and `p_violence` that of a first incident after session k during the
    episode; it is NaN for rows outside the violence task (an incident before session k).
    The other columns describe the state the risks are conditioned on: `attended` and
    `missed_sessions` (misses so far, capped at `DropoutParameters.missed_cap`) are
    observable; `rupture_state` (0 intact, 1 rupture, 2 repaired), `no_shows_left` (-1 while
    engaged), `latent_alliance` at session k and `planned_sessions` are hidden from any
    model.
    """
    frames = []
    for landmark in LANDMARKS:
        column = landmark - 1
        rows = np.flatnonzero(exported[:, column]) if exported.shape[1] > column else []
        rows = np.asarray(rows, dtype=np.int64)
        state = {
            "rupture": history.rupture[rows, column],
            "missed": history.missed[rows, column],
            "attended": history.attended[rows, column],
            "no_shows_left": history.no_shows_left[rows, column],
        }
        p_dropout, p_violence = landmark_risks(latents.take(rows), parameters, landmark, **state)
        incident_before = (history.violence_after[rows] >= 0) & (
            history.violence_after[rows] < landmark
        )
        frames.append(
            pd.DataFrame(
                {
                    "client_id": client_ids.to_numpy()[rows],
                    "landmark": landmark,
                    "p_dropout": p_dropout,
                    "p_violence": np.where(incident_before, np.nan, p_violence),
                    "rupture_state": state["rupture"].astype(np.int64),
                    "missed_sessions": state["missed"].astype(np.int64),
                    "attended": state["attended"],
                    "no_shows_left": state["no_shows_left"].astype(np.int64),
                    "latent_alliance": latent_alliance(
                        latents.take(rows), landmark, state["rupture"], parameters
                    ),
                    "planned_sessions": latents.planned_sessions[rows].astype(np.int64),
                }
            )
        )
    oracle = pd.concat(frames, ignore_index=True).astype({"client_id": "string"})
    return oracle.sort_values(["client_id", "landmark"], ignore_index=True)
