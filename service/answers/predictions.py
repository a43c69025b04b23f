"""Turn the predictor's numbers into the API's answer: labels, values, sentences, notices."""

from __future__ import annotations

import math

import numpy as np

from data_schemas.records import ClientHistory
from features.registry import feature, format_value
from models.predictor import SYNTHETIC_DATA_NOTICE, ClientPrediction
from service.answers.schemas import (
    Contribution,
    Explanation,
    ModelIdentity,
    OutcomeResult,
    PredictionResponse,
)
from service.answers.wording import DECISION_SUPPORT_NOTICE, summary_sentence
from service.model.holder import ServedModel


def identity(served: ServedModel) -> ModelIdentity:
    metadata = served.predictor.metadata
    return ModelIdentity(
        name=served.name,
        version=served.version,
        alias=served.alias,
        trained_at=metadata.trained_at,
        synthetic_data=metadata.synthetic_data,
    )


def notices(served: ServedModel) -> list[str]:
    out = [DECISION_SUPPORT_NOTICE]
    if served.predictor.metadata.synthetic_data:
        out.insert(0, SYNTHETIC_DATA_NOTICE)
    return out


def _contributions(
    names: tuple[str, ...], values: np.ndarray, contributions: np.ndarray
) -> list[Contribution]:
    """Each feature's contribution, largest first, looked up in the registry by name."""
    order = np.argsort(-np.abs(contributions), kind="stable")
    out = []
    for i in order:
        spec = feature(names[i])
        value = float(values[i])
        phi = float(contributions[i])
        # model_construct: every value is already typed (registry strings, model floats);
        # validating 66 small objects per answer would cost more than the prediction.
        out.append(
            Contribution.model_construct(
                feature=spec.name,
                label=spec.label,
                unit=spec.unit,
                value=None if math.isnan(value) else value,
                display_value=format_value(spec.name, value),
                contribution=phi,
                direction="raises" if phi > 0 else ("lowers" if phi < 0 else "neutral"),
            )
        )
    return out


def build_response(
    served: ServedModel, prediction: ClientPrediction, request_id: str
) -> PredictionResponse:
    """The full answer for one client."""
    results = {}
    for name, outcome in prediction.outcomes.items():
        contributions = _contributions(
            prediction.feature_names, prediction.feature_values, outcome.contributions
        )
        top = next((c for c in contributions if c.direction != "neutral"), None)
        thresholds = served.predictor.outcomes[name].thresholds
        results[name] = OutcomeResult(
            probability=outcome.probability,
            band=outcome.band,
            band_thresholds={"moderate": thresholds.moderate, "high": thresholds.high},
            percentile=outcome.percentile,
            summary=summary_sentence(
                name,
                outcome.probability,
                band=outcome.band,
                percentile=outcome.percentile,
                landmark=prediction.landmark,
                top_factor_label=top.label if top else None,
                top_factor_raises=top.direction == "raises" if top else None,
            ),
            explanation=Explanation(
                base_value=outcome.base_value, logit=outcome.logit, contributions=contributions
            ),
        )
    return PredictionResponse(
        request_id=request_id,
        as_of_session=prediction.landmark,
        model=identity(served),
        notices=notices(served),
        warnings=prediction.warnings,
        predictions=results,
        withheld=prediction.withheld,
    )


def predict(served: ServedModel, history: ClientHistory, request_id: str) -> PredictionResponse:
    return build_response(served, served.predictor.predict_history(history), request_id)
