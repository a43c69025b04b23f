"""The true risk at each landmark, computed exactly from the generator's own chain.

At landmark k (after session k) the generator knows each client's latents, the rupture
state and missed-session count at session k and whether session k was attended. The
future is a Markov chain over (rupture state, missed sessions) with two absorbing exits,
dropout and completion, and an independent violence hazard per interval in treatment.
`landmark_risks` carries the probability mass of that chain forward session by session
(forward recursion), so the risks are exact, not Monte Carlo estimates. A model trained
on observed data can at best approach them: the oracle sees the hidden alliance level,
the therapist effects, the rupture state and the planned episode length.
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
    rupture_transitions,
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
) -> tuple[np.ndarray, np.ndarray]:
    """P(dropout after session >= k) and P(first incident in an interval >= k), per client.

    Every client must still be in treatment at session k (session k is held) and, for the
    violence risk to be meaningful, free of incidents before session k. The state given
    is the one at session k, after its attendance is known.
    """
    clients = len(latents.planned_sessions)
    planned = latents.planned_sessions
    grid = latents.with_trailing_axes(2)
    missed_levels = parameters.dropout.missed_cap + 1
    rupture_grid = np.arange(RUPTURE_STATES)[None, :, None]
    missed_grid = np.arange(missed_levels)[None, None, :]
    transitions = rupture_transitions(parameters)

    mass = np.zeros((clients, RUPTURE_STATES, missed_levels))
    mass[np.arange(clients), rupture, missed] = 1.0
    came = mass * attended[:, None, None]
    stayed_away = mass * ~attended[:, None, None]

    p_dropout = np.zeros(clients)
    p_violence = np.zeros(clients)
    incident_free = np.ones(clients)
    for session in range(landmark, int(planned.max()) + 1):
        if session > landmark:
            mass = np.einsum("crm,rq->cqm", mass, transitions)
            miss = miss_probability(grid, session, rupture_grid, missed_grid, parameters)
            came = mass * (1.0 - miss)
            stayed_away = _count_one_more_miss(mass * miss)
        before_last = session < planned
        hazard = dropout_hazard(grid, session, rupture_grid, missed_grid, parameters)
        hazard = hazard * before_last[:, None, None]
        p_dropout += (came * hazard).sum(axis=(1, 2))
        mass = came * (1.0 - hazard) + stayed_away
        in_treatment = mass.sum(axis=(1, 2)) * before_last
        incident = violence_hazard(latents, session, parameters)
        p_violence += incident_free * in_treatment * incident
        incident_free *= np.where(before_last, 1.0 - incident, 1.0)
    return p_dropout, p_violence


def oracle_table(
    client_ids: pd.Series,
    latents: ClientLatents,
    history: EpisodeHistory,
    parameters: CohortParameters,
) -> pd.DataFrame:
    """One row per (client, landmark) with session k held: true risks and hidden state.

    `p_dropout` is NaN for rows outside the dropout task (never, since a held session k
    means no dropout before k) and `p_violence` for rows outside the violence task (a
    first incident before session k). The other columns describe the state the risks are
    conditioned on: `attended` and `missed_sessions` (misses so far, capped at
    `DropoutParameters.missed_cap`) are observable; `rupture_state` (0 intact, 1 rupture,
    2 repaired), `latent_alliance` at session k and `planned_sessions` are hidden from
    any model.
    """
    frames = []
    for landmark in LANDMARKS:
        rows = np.flatnonzero(history.held[:, landmark - 1])
        column = landmark - 1
        state = {
            "rupture": history.rupture[rows, column],
            "missed": history.missed[rows, column],
            "attended": history.attended[rows, column],
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
                    "latent_alliance": latent_alliance(
                        latents.take(rows), landmark, state["rupture"], parameters
                    ),
                    "planned_sessions": latents.planned_sessions[rows].astype(np.int64),
                }
            )
        )
    oracle = pd.concat(frames, ignore_index=True).astype({"client_id": "string"})
    return oracle.sort_values(["client_id", "landmark"], ignore_index=True)
