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

        The reliable change in SDs is 1.96 * sqrt(2) * sqrt(1 - r): the SD cancels.
        """
        mean = np.array([self.mean[code] for code in INSTRUMENT_CODES])
        sd = np.array([self.sd[code] for code in INSTRUMENT_CODES])
        change = np.array([INSTRUMENTS[code].reliable_change(1.0) for code in INSTRUMENT_CODES])
        alert = np.array(
            [
                math.nan
                if INSTRUMENTS[code].alert_at_or_below is None
                else INSTRUMENTS[code].alert_at_or_below
                for code in INSTRUMENT_CODES
            ]
        )
        return mean, sd, change, alert

    def z(self, score: float, code: str) -> float | None:
        """One rating in SDs from its questionnaire's usual first rating; `None` without a norm."""
        sd = self.sd.get(code, math.nan)
        return None if math.isnan(sd) else (score - self.mean[code]) / sd

    def reliable_change_points(self, code: str) -> float | None:
        """The reliable change of questionnaire `code` in its own points; `None` without a norm."""
        sd = self.sd.get(code, math.nan)
        return None if math.isnan(sd) else INSTRUMENTS[code].reliable_change(sd)


def _spread(sd: float) -> float:
    """The SD, or NaN when there is none to divide by (pandas gives NaN for one rating)."""
    return float(sd) if sd > 0 else math.nan
