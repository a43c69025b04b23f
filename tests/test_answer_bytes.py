"""The answer's explanations, now validated once as plain data, are byte for byte those
built contribution by contribution (the way answers were built before)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_schemas.histories import HistoryNotFoundError, history_from_tables
from features.registry import feature, format_value
from models.predictor import NotPredictableError, OutcomePrediction
from service.answers.predictions import predict
from service.answers.schemas import Contribution, Explanation
from service.model.holder import ServedModel
from training.pipeline import TrainingOutcome
from training.synthetic import SyntheticCohort

pytestmark = pytest.mark.slow


def _explanation_one_by_one(
    outcome: OutcomePrediction,
    names: tuple[str, ...],
    values: np.ndarray,
    typical: dict[str, float],
) -> Explanation:
    """The explanation as the service built it until 2026-12: each contribution on its own."""
    rows = []
    contributions = outcome.contributions
    for i in np.argsort(-np.abs(contributions), kind="stable"):
        spec = feature(names[i])
        value, phi = float(values[i]), float(contributions[i])
        recorded = None if math.isnan(value) else value
        evidence = spec.evidence(outcome.outcome, recorded, phi, typical.get(spec.name))
        rows.append(
            Contribution.model_construct(
                feature=spec.name,
                label=spec.label,
                unit=spec.unit,
                value=recorded,
                display_value=format_value(spec.name, value),
                contribution=phi,
                direction="raises" if phi > 0 else ("lowers" if phi < 0 else "neutral"),
                evidence=evidence,
                reason=spec.is_reason(outcome.outcome, recorded, phi, evidence),
                group=spec.group.value,
            )
        )
    return Explanation(base_value=outcome.base_value, logit=outcome.logit, contributions=rows)


def test_explanations_are_byte_identical_to_those_built_one_contribution_at_a_time(
    trained_model: TrainingOutcome, small_cohort: SyntheticCohort
) -> None:
    model = trained_model.fitted.model
    served = ServedModel(model, "alliance-risk", "1", "champion", "models:/alliance-risk/1")
    tables = small_cohort.tables
    compared = 0
    for client_id in tables.clients["client_id"].iloc[:60]:
        for as_of in (1, 3, None):
            try:
                history = history_from_tables(tables, client_id, as_of=as_of)
                answer = predict(served, history, "bytes")
            except (HistoryNotFoundError, NotPredictableError):
                continue  # too few sessions for this landmark: no answer to compare
            prediction = model.predict_history(history)
            for name, outcome in prediction.outcomes.items():
                before = _explanation_one_by_one(
                    outcome,
                    prediction.feature_names,
                    prediction.feature_values,
                    model.typical_values(),
                )
                explanation = answer.predictions[name].explanation
                assert explanation.model_dump_json() == before.model_dump_json()
                compared += 1
    assert compared > 100
