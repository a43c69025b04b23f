"""Generate a synthetic cohort with known true risks, and write it to disk.

The cohort stands in for clinic data until real data exist: three tables in the data
contract, with outcomes, plus the oracle table of true probabilities that lets training
code measure how close a model gets to the best achievable prediction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data_schemas.tables import ClinicTables, write_clinic_data
from training.synthetic.dynamics import (
    ClientLatents,
    EpisodeHistory,
    EpisodeStart,
    simulate_episodes,
)
from training.synthetic.measurement import session_dates, sessions_table
from training.synthetic.oracle import oracle_table
from training.synthetic.parameters import CohortParameters
from training.synthetic.population import draw_population
from training.synthetic.records import EpisodeRecords, episode_records


@dataclass(frozen=True)
class SyntheticCohort:
    """Clinic tables with outcomes, the true risk per (client, landmark), and how it was made.

    `latents` holds the hidden per-client quantities in clients-table order and `history`
    what really happened in each episode (sessions the export cuts off included); they are
    there to check the oracle and diagnose models, never to feed one. `export_date` is the
    day the export was taken (`None`: every episode followed to its end).
    """

    tables: ClinicTables
    oracle: pd.DataFrame
    parameters: CohortParameters
    seed: int
    latents: ClientLatents
    history: EpisodeHistory
    export_date: np.datetime64 | None


def _with_outcomes(clients: pd.DataFrame, records: EpisodeRecords) -> pd.DataFrame:
    """The clients table with the contract's outcome columns, as of the export date."""
    incident = pd.Series(records.first_violence_date.astype("datetime64[ns]"), index=clients.index)
    outcomes = pd.DataFrame(
        {
            "violent_incident_this_episode": pd.array(incident.notna(), dtype="boolean"),
            "episode_end_date": records.end_date.astype("datetime64[ns]"),
            "episode_end_reason": pd.array(records.end_reason, dtype="string"),
            "first_violence_date": incident,
        },
        index=clients.index,
    )
    return pd.concat([clients, outcomes], axis=1)


def generate_cohort(
    n_clients: int, seed: int, parameters: CohortParameters | None = None
) -> SyntheticCohort:
    """Draw a cohort of `n_clients` episodes; the same seed and parameters give the same cohort.

    Population, episodes, measurements and the clinic's records each get their own random
    stream, so changing how scores are measured does not change who drops out.
    """
    if n_clients < 1:
        raise ValueError(f"n_clients must be at least 1; got {n_clients}")
    parameters = CohortParameters() if parameters is None else parameters
    population_rng, episode_rng, measurement_rng, records_rng = np.random.default_rng(seed).spawn(4)
    population = draw_population(population_rng, n_clients, parameters)
    history = simulate_episodes(
        population.latents, parameters, episode_rng, EpisodeStart.at_intake(n_clients)
    )
    intake = population.clients["intake_date"].to_numpy().astype("datetime64[D]")
    dates = session_dates(measurement_rng, intake, history.held.shape[1], parameters)
    records = episode_records(records_rng, intake, dates, history, parameters)
    tables = ClinicTables(
        clients=_with_outcomes(population.clients, records),
        therapists=population.therapists,
        sessions=sessions_table(
            measurement_rng, population, history, parameters, dates, records.exported
        ),
    )
    oracle = oracle_table(
        population.clients["client_id"], population.latents, history, parameters, records.exported
    )
    return SyntheticCohort(
        tables=tables,
        oracle=oracle,
        parameters=parameters,
        seed=seed,
        latents=population.latents,
        history=history,
        export_date=records.export_date,
    )


def write_cohort(cohort: SyntheticCohort, out_dir: Path, file_format: str = "parquet") -> None:
    """Write the clinic tables, `oracle.parquet` and `parameters.json` (with seed and size)."""
    out_dir = Path(out_dir)
    write_clinic_data(cohort.tables, out_dir, file_format=file_format)
    cohort.oracle.to_parquet(out_dir / "oracle.parquet", index=False)
    record = {
        "synthetic": True,
        "generator": "alliance-risk synth",
        "seed": cohort.seed,
        "n_clients": len(cohort.tables.clients),
        "export_date": None if cohort.export_date is None else str(cohort.export_date),
        "parameters": asdict(cohort.parameters),
    }
    (out_dir / "parameters.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
