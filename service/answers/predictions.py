"""Turn the predictor's numbers into the API's answer: labels, values, sentences, notices."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from data_schemas.records import ClientHistory
from features.registry import feature, format_value
from features.spec import FeatureSpec
from models.bands import HIGH_BAND_SHARE, MODERATE_BAND_SHARE
from models.predictor import (
    SYNTHETIC_DATA_NOTICE,
    AllianceRiskModel,
    ClientPrediction,
    OutcomePrediction,
)
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


def band_rule(predictor: AllianceRiskModel) -> str:
    """How the served model's bands were set, per outcome, in words."""
    shares = (
        f"per session, from the calibration clients: high marks the {HIGH_BAND_SHARE:.0%} "
        f"highest estimates after that session, moderate the next {MODERATE_BAND_SHARE:.0%}"
    )
    operator = "absolute cut-offs set by the service's operator, the same at every session"
    return (
        "; ".join(
            f"{name}: {operator if model.thresholds.operator_set else shares}"
            for name, model in predictor.outcomes.items()
        )
        + "."
    )


def notices(served: ServedModel) -> list[str]:
    out = [DECISION_SUPPORT_NOTICE]
    if served.predictor.metadata.synthetic_data:
        out.insert(0, SYNTHETIC_DATA_NOTICE)
    return out


@lru_cache(maxsize=256)
def _described(name: str) -> tuple[FeatureSpec, dict[str, str]]:
    """A feature's spec and what the registry says of it in an answer: the same for every
    client, so looked up once."""
    spec = feature(name)
    return spec, {
        "feature": spec.name,
        "label": spec.label,
        "unit": spec.unit,
        "group": spec.group.value,
    }


def _explanation(
    names: tuple[str, ...],
    values: np.ndarray,
    outcome: OutcomePrediction,
    typical: dict[str, float],
) -> Explanation:
    """The outcome's explanation: each feature's contribution, largest first.

    Built as plain data and validated once by pydantic-core: one validation of the whole
    explanation costs a fraction of constructing its 35-odd contributions one by one.
    """
    contributions = outcome.contributions
    order = np.argsort(-np.abs(contributions), kind="stable").tolist()
    # Python floats once for the whole row: indexing NumPy arrays per feature costs more.
    phis, client_values = contributions.tolist(), values.tolist()
    rows = []
    for i in order:
        name = names[i]
        spec, described = _described(name)
        value, phi = client_values[i], phis[i]
        recorded = None if math.isnan(value) else value
        evidence = spec.evidence(outcome.outcome, recorded, phi, typical.get(name))
        rows.append(
            {
                **described,
                "value": recorded,
                "display_value": format_value(name, value),
                "contribution": phi,
                "direction": "raises" if phi > 0 else ("lowers" if phi < 0 else "neutral"),
                "evidence": evidence,
                "reason": spec.is_reason(outcome.outcome, recorded, phi, evidence),
            }
        )
    return Explanation.model_validate(
        {"base_value": outcome.base_value, "logit": outcome.logit, "contributions": rows}
    )


def episode_factors(contributions: list[Contribution]) -> list[Contribution]:
    """The contributions that may be named as reasons (`FeatureSpec.is_reason`), largest
    first: the only ones a summary, a report's main factors, a conversation point or a
    card names."""
    return [c for c in contributions if c.reason]


def leading_factor(contributions: list[Contribution]) -> Contribution | None:
    """The episode factor a summary names: the one raising the estimate most, else the one
    lowering it most."""
    factors = episode_factors(contributions)
    raising = [c for c in factors if c.direction == "raises"]
    return max(raising, key=lambda c: c.contribution) if raising else next(iter(factors), None)


def build_response(
    served: ServedModel, prediction: ClientPrediction, request_id: str
) -> PredictionResponse:
    """The full answer for one client."""
    results = {}
    typical = served.typical_values
    for name, outcome in prediction.outcomes.items():
        explanation = _explanation(
            prediction.feature_names, prediction.feature_values, outcome, typical
        )
        top = leading_factor(explanation.contributions)
        bands = served.predictor.outcomes[name].thresholds
        thresholds = bands.at(prediction.landmark)
        definition = bands.definition(outcome.band, prediction.landmark)
        results[name] = OutcomeResult(
            probability=outcome.probability,
            band=outcome.band,
            band_thresholds={"moderate": thresholds.moderate, "high": thresholds.high},
            band_definition=definition,
            percentile=outcome.percentile,
            summary=summary_sentence(
                name,
                outcome.probability,
                band=outcome.band,
                band_definition=definition,
                percentile=outcome.percentile,
                landmark=prediction.landmark,
                top_factor_label=top.label if top else None,
                top_factor_raises=top.direction == "raises" if top else None,
            ),
            explanation=explanation,
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
