"""What the clinic's export says of each episode: its sessions, end and first incident.

The chain (`dynamics`) says what happened; here it becomes what a clinic records, as a
real export shows it: the end of an episode is recorded some days after its last booked
session (weeks later for a client who stopped coming), an incident has a date between two
booked sessions, and the export is taken on one day, so episodes still running then are
ongoing: their later sessions, their end and any later incident are not in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.synthetic.dynamics import COMPLETED, DROPOUT, ENDING_NAMES, EpisodeHistory
from training.synthetic.parameters import CohortParameters

NOT_A_DATE = np.datetime64("NaT", "D")


@dataclass(frozen=True)
class EpisodeRecords:
    """Per client (and session), as of the export date."""

    exported: np.ndarray  # clients x sessions: the session is in the sessions table
    end_date: np.ndarray  # datetime64[D]; NaT while the episode is ongoing at the export
    end_reason: np.ndarray  # object; None while ongoing
    first_violence_date: np.ndarray  # datetime64[D]; NaT when none is recorded by the export
    export_date: np.datetime64 | None  # None: every episode followed to its end


def export_date(parameters: CohortParameters) -> np.datetime64 | None:
    """The day the export is taken (`PopulationParameters.export_after_last_intake_days`)."""
    population = parameters.population
    if population.export_after_last_intake_days is None:
        return None
    last_intake = np.datetime64(population.intake_start, "D") + population.intake_span_days - 1
    return last_intake + population.export_after_last_intake_days


def _uniform_days(rng: np.random.Generator, bounds: tuple[int, int], size: int) -> np.ndarray:
    return rng.integers(bounds[0], bounds[1] + 1, size).astype("timedelta64[D]")


def episode_records(
    rng: np.random.Generator,
    intake: np.ndarray,
    dates: np.ndarray,
    history: EpisodeHistory,
    parameters: CohortParameters,
) -> EpisodeRecords:
    """End dates, reasons and incident dates, then what the export date leaves of them."""
    clients = len(intake)
    rows = np.arange(clients)
    ending = parameters.ending
    last_date = dates[rows, history.last_session - 1]
    delay = np.where(
        history.ending == DROPOUT,
        _uniform_days(rng, ending.dropout_record_delay_days, clients),
        _uniform_days(rng, ending.other_record_delay_days, clients),
    )
    end = last_date + np.where(history.ending == COMPLETED, np.timedelta64(0, "D"), delay)
    reason = np.array([ENDING_NAMES[code] for code in history.ending], dtype=object)

    # Interval s runs from session s (intake for s = 0) to session s + 1, which is booked
    # whenever the interval was at risk; the incident falls on one of its days after the first.
    interval = np.maximum(history.violence_after, 0)
    starts = np.where(interval == 0, intake, dates[rows, np.maximum(interval - 1, 0)])
    stops = dates[rows, np.minimum(interval, dates.shape[1] - 1)]
    length = (stops - starts).astype(np.int64)
    offset = np.floor(rng.random(clients) * length).astype(np.int64) + 1
    incident = np.where(
        history.violence_after >= 0, starts + offset.astype("timedelta64[D]"), NOT_A_DATE
    )

    day = export_date(parameters)
    if day is None:
        return EpisodeRecords(history.held.copy(), end, reason, incident, None)
    ended = end <= day
    return EpisodeRecords(
        exported=history.held & (dates <= day),
        end_date=np.where(ended, end, NOT_A_DATE),
        end_reason=np.where(ended, reason, None),
        first_violence_date=np.where(incident <= day, incident, NOT_A_DATE),
        export_date=day,
    )
