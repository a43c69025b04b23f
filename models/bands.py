"""Risk bands: low, moderate and high, and where a probability sits in the population."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

#: A band is a share of the reference population: "high" marks the estimated risks among
#: the top 10%, "moderate" the next 20%. Shares are easier to act on than raw probability
#: cut-offs because they fix how many clients a clinic will see flagged.
HIGH_BAND_SHARE = 0.10
MODERATE_BAND_SHARE = 0.20


class RiskBand(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


@dataclass(frozen=True)
class BandThresholds:
    """Probabilities at which moderate and high risk begin (inclusive)."""

    moderate: float
    high: float

    def __post_init__(self) -> None:
        if not 0.0 < self.moderate <= self.high < 1.0:
            raise ValueError("band thresholds must satisfy 0 < moderate <= high < 1")

    @classmethod
    def from_population(cls, probabilities: np.ndarray) -> BandThresholds:
        high = float(np.quantile(probabilities, 1.0 - HIGH_BAND_SHARE))
        moderate = float(np.quantile(probabilities, 1.0 - HIGH_BAND_SHARE - MODERATE_BAND_SHARE))
        return cls(moderate=moderate, high=max(high, moderate))

    def band(self, probability: float) -> RiskBand:
        if probability >= self.high:
            return RiskBand.HIGH
        if probability >= self.moderate:
            return RiskBand.MODERATE
        return RiskBand.LOW

    def bands(self, probabilities: np.ndarray) -> np.ndarray:
        """Vectorised `band` for batch scoring."""
        return np.where(
            probabilities >= self.high,
            RiskBand.HIGH.value,
            np.where(probabilities >= self.moderate, RiskBand.MODERATE.value, RiskBand.LOW.value),
        )


@dataclass(frozen=True)
class PopulationQuantiles:
    """Quantiles (0.0%, 0.1%, ..., 100%) of reference probabilities at each landmark.

    Storing 1,001 quantiles instead of every reference prediction keeps the model small and
    holds no client's score, while placing any new score to within 0.1 percentile points.
    """

    by_landmark: dict[int, np.ndarray]

    @classmethod
    def from_population(
        cls, probabilities: np.ndarray, landmarks: np.ndarray
    ) -> PopulationQuantiles:
        grid = np.linspace(0.0, 1.0, 1001)
        return cls(
            {int(k): np.quantile(probabilities[landmarks == k], grid) for k in np.unique(landmarks)}
        )

    def percentile(self, probability: np.ndarray | float, landmark: np.ndarray | int) -> np.ndarray:
        """Percent of the reference population at the same landmark with a lower risk."""
        probability = np.atleast_1d(np.asarray(probability, dtype=float))
        landmark = np.broadcast_to(np.asarray(landmark), probability.shape)
        out = np.empty_like(probability)
        for k in np.unique(landmark):
            quantiles = self.by_landmark[int(k)]
            mask = landmark == k
            below = np.searchsorted(quantiles, probability[mask], side="left")
            upto = np.searchsorted(quantiles, probability[mask], side="right")
            out[mask] = 100.0 * ((below + upto) / 2.0) / (len(quantiles) - 1)
        return np.clip(out, 0.0, 100.0)
