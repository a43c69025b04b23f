"""Risk bands: low, moderate and high at each session, and where a probability sits.

A band is a share of the reference population at the same session: "high" marks the 10%
highest estimates among the calibration clients after that session, "moderate" the next
20%. Shares are easier to act on than raw probability cut-offs, because they fix how many
clients a clinic will see flagged; and they are fitted per session, because risks differ
between sessions (most dropout happens early), so a band fitted over all sessions pooled
would flag mostly session-1 estimates. An operator may instead set absolute cut-offs, the
same at every session; the wording then says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

HIGH_BAND_SHARE = 0.10
MODERATE_BAND_SHARE = 0.20


class RiskBand(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


def distinct(values: np.ndarray) -> np.ndarray:
    """`np.unique(values)`, without its sort for a single value: the API scores one row
    per call, and the sort costs more than the lookup it serves."""
    return values.ravel() if values.size == 1 else np.unique(values)


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

    def bands(self, probabilities: np.ndarray) -> np.ndarray:
        """The band of each probability."""
        return np.where(
            probabilities >= self.high,
            RiskBand.HIGH.value,
            np.where(probabilities >= self.moderate, RiskBand.MODERATE.value, RiskBand.LOW.value),
        )


@dataclass(frozen=True)
class LandmarkBands:
    """Band thresholds per session (landmark), and how they were set (`operator_set`)."""

    by_landmark: dict[int, BandThresholds]
    operator_set: bool = False

    @classmethod
    def from_population(cls, probabilities: np.ndarray, landmarks: np.ndarray) -> LandmarkBands:
        """Shares of the reference population at each session (calibration clients)."""
        return cls(
            {
                int(k): BandThresholds.from_population(probabilities[landmarks == k])
                for k in np.unique(landmarks)
            }
        )

    @classmethod
    def fixed(cls, thresholds: BandThresholds, landmarks: tuple[int, ...]) -> LandmarkBands:
        """The same absolute cut-offs at every session, set by the service's operator."""
        return cls({int(k): thresholds for k in landmarks}, operator_set=True)

    def at(self, landmark: int) -> BandThresholds:
        return self.by_landmark[int(landmark)]

    def bands(self, probabilities: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The band of each probability at its own session."""
        probabilities = np.asarray(probabilities, dtype=float)
        landmarks = np.broadcast_to(np.asarray(landmarks), probabilities.shape)
        out = np.empty(probabilities.shape, dtype=object)
        for k in distinct(landmarks):
            mask = landmarks == k
            out[mask] = self.at(int(k)).bands(probabilities[mask])
        return out.astype(str)

    def definition(self, band: str, landmark: int) -> str:
        """What a band means at a session, in words a clinician can check (the estimates are
        those of the calibration clients, as the model card says)."""
        thresholds = self.at(landmark)
        if self.operator_set:
            low, high = f"{thresholds.moderate:.0%}", f"{thresholds.high:.0%}"
            return {
                RiskBand.HIGH.value: f"{high} or more",
                RiskBand.MODERATE.value: f"from {low} to under {high}",
                RiskBand.LOW.value: f"under {low}",
            }[band] + ", cut-offs set by the service's operator"
        top, next_ = f"{HIGH_BAND_SHARE:.0%}", f"{MODERATE_BAND_SHARE:.0%}"
        return {
            RiskBand.HIGH.value: f"the top {top} of estimates after session {landmark}",
            RiskBand.MODERATE.value: f"the next {next_} of estimates after session {landmark}",
            RiskBand.LOW.value: f"below the top {HIGH_BAND_SHARE + MODERATE_BAND_SHARE:.0%} of "
            f"estimates after session {landmark}",
        }[band]


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
        for k in distinct(landmark):
            quantiles = self.by_landmark[int(k)]
            mask = landmark == k
            below = np.searchsorted(quantiles, probability[mask], side="left")
            upto = np.searchsorted(quantiles, probability[mask], side="right")
            out[mask] = 100.0 * ((below + upto) / 2.0) / (len(quantiles) - 1)
        return np.clip(out, 0.0, 100.0)
