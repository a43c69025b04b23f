"""Logistic calibration of a booster's margin that keeps SHAP explanations additive.

A gradient-boosted model's raw margin is a log-odds score whose scale is rarely right.
Fitting calibrated log-odds = a * margin + b (Platt 1999, "Probabilistic outputs for
support vector machines") on data the booster did not see corrects both the scale and the
offset. Because the map is affine in log-odds, each TreeSHAP contribution phi_j becomes
a * phi_j and the base value becomes a * base + b, so the explanation still sums exactly
to the calibrated log-odds (Lundberg & Lee 2017; additivity is preserved under affine maps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

MAX_NEWTON_STEPS = 50
#: Keeps the Newton system solvable when the margin is constant; negligible otherwise.
RIDGE_FOR_STABILITY = 1e-9


@dataclass(frozen=True)
class MarginCalibrator:
    """Calibrated log-odds = slope * margin + intercept."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, margin: np.ndarray, label: np.ndarray) -> MarginCalibrator:
        """Maximum-likelihood fit without regularisation (two parameters, many rows).

        Unpenalised on purpose: a ridge penalty would shrink the slope and leave the
        probabilities under-dispersed, which is exactly the miscalibration being removed.
        """
        margin = np.asarray(margin, dtype=float)
        label = np.asarray(label, dtype=float)
        design = np.column_stack([margin, np.ones_like(margin)])
        prevalence = np.clip(label.mean(), 1e-6, 1 - 1e-6)
        params = np.array([0.0, np.log(prevalence / (1 - prevalence))])
        for _ in range(MAX_NEWTON_STEPS):
            p = expit(design @ params)
            gradient = design.T @ (label - p)
            weight = p * (1 - p)
            hessian = design.T @ (design * weight[:, None]) + RIDGE_FOR_STABILITY * np.eye(2)
            step = np.linalg.solve(hessian, gradient)
            params = params + step
            if np.max(np.abs(step)) < 1e-10:
                break
        slope, intercept = params
        return cls(slope=float(slope), intercept=float(intercept))

    def logit(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of the given margins."""
        return self.slope * np.asarray(margin, dtype=float) + self.intercept

    def probability(self, margin: np.ndarray) -> np.ndarray:
        return expit(self.logit(margin))
