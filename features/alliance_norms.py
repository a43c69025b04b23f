"""Each alliance questionnaire on its own terms: how its first ratings spread in training.

Percent of maximum does not make WAI-SR, SRS and TASC-R equivalent: their means and spreads
differ (SRS totals crowd near the top of their scale, Duncan et al. 2003). The feature
builder therefore learns, per questionnaire, the mean and standard deviation of the
training clients' first alliance ratings, and the features express every rating as
standard deviations from that mean. A fall from one rating to the next on the same
questionnaire is a possible rupture when it exceeds the questionnaire's reliable change
(Jacobson & Truax 1991) with its published reliability (`data_schemas.ranges.INSTRUMENTS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from data_schemas.ranges import INSTRUMENTS

#: Questionnaires in code order (code 0 is the first instrument of the contract).
INSTRUMENT_CODES: tuple[str, ...] = tuple(INSTRUMENTS)


@dataclass(frozen=True)
class AllianceNorms:
    """Mean and SD of training clients' first ratings per questionnaire, on its own scale.

    A questionnaire whose first ratings in training show no spread (fewer than two, or all
    equal) has no norm (NaN SD): its ratings then carry no standardised value and the model
    treats them as not recorded.
    """

    mean: dict[str, float]
    sd: dict[str, float]
    clients: dict[str, int]

    @classmethod
    def learn(cls, sessions: pd.DataFrame) -> AllianceNorms:
        """From a sessions table: each client's first rated session, grouped by questionnaire."""
        rated = sessions[sessions["alliance_score"].notna()]
        first = rated.sort_values(["client_id", "session_number"], kind="stable").drop_duplicates(
            "client_id"
        )
        scores = (
            first["alliance_score"].astype(float).groupby(first["alliance_instrument"].astype(str))
        )
        mean, sd, count = scores.mean(), scores.std(ddof=1), scores.size()
        return cls(
            mean={code: float(mean.get(code, math.nan)) for code in INSTRUMENT_CODES},
            sd={code: _spread(sd.get(code, math.nan)) for code in INSTRUMENT_CODES},
            clients={code: int(count.get(code, 0)) for code in INSTRUMENT_CODES},
        )

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per questionnaire code: mean, SD, reliable change in SDs, alert cut-off (NaN: none).

        The reliable change in SDs is 1.96 * sqrt(2) * sqrt(1 - r): the SD cancels. Made
        once per set of norms (read-only), since every feature row reads them twice.
        """
        return _norm_arrays(
            tuple(self.mean[code] for code in INSTRUMENT_CODES),
            tuple(self.sd[code] for code in INSTRUMENT_CODES),
        )

    def z(self, score: float, code: str) -> float | None:
        """One rating in SDs from its questionnaire's usual first rating; `None` without a norm."""
        sd = self.sd.get(code, math.nan)
        return None if math.isnan(sd) else (score - self.mean[code]) / sd

    def reliable_change_points(self, code: str) -> float | None:
        """The reliable change of questionnaire `code` in its own points; `None` without a norm."""
        sd = self.sd.get(code, math.nan)
        return None if math.isnan(sd) else INSTRUMENTS[code].reliable_change(sd)


@lru_cache(maxsize=8)
def _norm_arrays(
    mean: tuple[float, ...], sd: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`AllianceNorms.arrays`, keyed by the norms' values (a served model has one set)."""
    change = [INSTRUMENTS[code].reliable_change(1.0) for code in INSTRUMENT_CODES]
    alert = [
        math.nan
        if INSTRUMENTS[code].alert_at_or_below is None
        else INSTRUMENTS[code].alert_at_or_below
        for code in INSTRUMENT_CODES
    ]
    out = tuple(np.array(values) for values in (mean, sd, change, alert))
    for array in out:
        array.flags.writeable = False
    return out


def _spread(sd: float) -> float:
    """The SD, or NaN when there is none to divide by (pandas gives NaN for one rating)."""
    return float(sd) if sd > 0 else math.nan
