"""Synthetic clinics for trying monitoring and recalibration: the same clinic over time, and
a clinic unlike the development one.

A deployed model meets the later clients of the clinic it was trained on (same therapists,
new clients) or another clinic's clients. `by_intake` makes the first from one cohort; a
cohort drawn with `shifted` parameters and the same seed is the same clinic with a weaker
alliance and more dropout than the alliance explains, so both shifts are known exactly.
"""

from __future__ import annotations

import dataclasses

from data_schemas.tables import ClinicTables
from training.synthetic.parameters import CohortParameters


def shifted(alliance_shift: float, dropout_shift: float) -> CohortParameters:
    """The default parameters with every client's latent alliance moved by `alliance_shift`
    SDs and `dropout_shift` added to the log-odds of dropping out after each session."""
    defaults = CohortParameters()
    return dataclasses.replace(
        defaults,
        alliance=dataclasses.replace(defaults.alliance, level_shift=alliance_shift),
        dropout=dataclasses.replace(
            defaults.dropout, intercept=defaults.dropout.intercept + dropout_shift
        ),
    )


def by_intake(tables: ClinicTables, share: float, *, earlier: bool) -> ClinicTables:
    """The clients whose intake falls in the first `share` of intakes (`earlier`), or the
    rest, with their sessions and every therapist."""
    cut = tables.clients["intake_date"].quantile(share)
    keep = (tables.clients["intake_date"] < cut) == earlier
    return _clients(tables, keep)


def alternate_halves(tables: ClinicTables) -> tuple[ClinicTables, ClinicTables]:
    """Two halves of the clients, alternating by client id."""
    ids = sorted(tables.clients["client_id"])
    first = tables.clients["client_id"].isin(set(ids[::2]))
    return _clients(tables, first), _clients(tables, ~first)


def _clients(tables: ClinicTables, keep: object) -> ClinicTables:
    chosen = set(tables.clients.loc[keep, "client_id"])
    return ClinicTables(
        tables.clients[keep],
        tables.therapists,
        tables.sessions[tables.sessions["client_id"].isin(chosen)],
    )
