"""One outcome's predictor: a LightGBM booster, its calibrator, bands and population."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from scipy.special import expit

from models.bands import LandmarkBands, PopulationQuantiles
from models.calibration import MarginCalibrator


@dataclass(frozen=True)
class OutcomeScores:
    """Calibrated scores of many rows for one outcome."""

    logit: np.ndarray
    probability: np.ndarray
    percentile: np.ndarray
    band: np.ndarray


@dataclass(frozen=True)
class OutcomeExplanations:
    """Exact TreeSHAP explanations in calibrated log-odds, one row per input row.

    `base_value + contributions.sum(axis=1)` equals the calibrated log-odds exactly (up to
    floating point), because calibration is affine in the booster's margin.
    """

    base_value: np.ndarray
    contributions: np.ndarray


@dataclass
class OutcomeModel:
    """Everything needed to turn a landmark feature row into one outcome's answer."""

    name: str
    booster: lgb.Booster
    calibrator: MarginCalibrator
    thresholds: LandmarkBands
    population: PopulationQuantiles

    def margin(self, features: np.ndarray) -> np.ndarray:
        return self.booster.predict(features, raw_score=True, num_threads=_threads(features))

    def score(self, features: np.ndarray, landmarks: np.ndarray) -> OutcomeScores:
        logit = self.calibrator.logit(self.margin(features))
        probability = expit(logit)
        return OutcomeScores(
            logit=logit,
            probability=probability,
            percentile=self.population.percentile(probability, landmarks),
            band=self.thresholds.bands(probability, landmarks),
        )

    def score_and_explain(
        self, features: np.ndarray, landmarks: np.ndarray
    ) -> tuple[OutcomeScores, OutcomeExplanations]:
        """Scores and explanations from one TreeSHAP pass: the margin is the contributions'
        sum (TreeSHAP's local accuracy), so the booster is walked once instead of twice."""
        explanation = self.explain(features)
        logit = explanation.base_value + explanation.contributions.sum(axis=1)
        probability = expit(logit)
        scores = OutcomeScores(
            logit=logit,
            probability=probability,
            percentile=self.population.percentile(probability, landmarks),
            band=self.thresholds.bands(probability, landmarks),
        )
        return scores, explanation

    def explain(self, features: np.ndarray) -> OutcomeExplanations:
        """TreeSHAP (Lundberg et al. 2020) from LightGBM's own `pred_contrib`, rescaled."""
        raw = self.booster.predict(features, pred_contrib=True, num_threads=_threads(features))
        slope, intercept = self.calibrator.slope, self.calibrator.intercept
        return OutcomeExplanations(
            base_value=slope * raw[:, -1] + intercept,
            contributions=slope * raw[:, :-1],
        )


def _threads(features: np.ndarray) -> int:
    """One thread for small inputs: thread start-up costs more than a few rows of trees."""
    return 1 if len(features) < 256 else 0
