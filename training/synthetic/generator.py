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
from training.synthetic.measurement import sessions_table
from training.synthetic.oracle import oracle_table
from training.synthetic.parameters import CohortParameters
from training.synthetic.population import draw_population


@dataclass(frozen=True)
class SyntheticCohort:
    """Clinic tables with outcomes, the true risk per (client, landmark), and how it was made.

    `latents` holds the hidden per-client quantities in clients-table order; it is there to
    check the oracle and diagnose models, never to feed one.
    """

    tables: ClinicTables
    oracle: pd.DataFrame
    parameters: CohortParameters
    seed: int
    latents: ClientLatents


def _with_outcomes(clients: pd.DataFrame, history: EpisodeHistory) -> pd.DataFrame:
    dropout = history.dropout_after > 0
    violence = history.violence_after >= 0
    outcomes = pd.DataFrame(
        {
            "dropout": pd.array(dropout, dtype="boolean"),
            "dropout_after_session": pd.arrays.IntegerArray(history.dropout_after, ~dropout),
            "violence": pd.array(violence, dtype="boolean"),
            "violence_after_session": pd.arrays.IntegerArray(
                np.maximum(history.violence_after, 0), ~violence
            ),
        },
        index=clients.index,
    )
    return pd.concat([clients, outcomes], axis=1)


def generate_cohort(
    n_clients: int, seed: int, parameters: CohortParameters | None = None
) -> SyntheticCohort:
    """Draw a cohort of `n_clients` episodes; the same seed and parameters give the same cohort.

    Population, episodes and measurements each get their own random stream, so changing
    how scores are measured does not change who drops out.
    """
    if n_clients < 1:
        raise ValueError(f"n_clients must be at least 1; got {n_clients}")
    parameters = CohortParameters() if parameters is None else parameters
    population_rng, episode_rng, measurement_rng = np.random.default_rng(seed).spawn(3)
    population = draw_population(population_rng, n_clients, parameters)
    history = simulate_episodes(
        population.latents, parameters, episode_rng, EpisodeStart.at_intake(n_clients)
    )
    tables = ClinicTables(
        clients=_with_outcomes(population.clients, history),
        therapists=population.therapists,
        sessions=sessions_table(measurement_rng, population, history, parameters),
    )
    oracle = oracle_table(population.clients["client_id"], population.latents, history, parameters)
    return SyntheticCohort(
        tables=tables,
        oracle=oracle,
        parameters=parameters,
        seed=seed,
        latents=population.latents,
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
        "parameters": asdict(cohort.parameters),
    }
    (out_dir / "parameters.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
