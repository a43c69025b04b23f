"""`GET /v1/model`: what is being served and how well it was validated."""

from __future__ import annotations

from fastapi import APIRouter

from features.registry import feature
from service.answers.predictions import band_rule, identity, notices
from service.answers.schemas import FeatureInfo, ModelInfo
from service.deps import ServedModelDep

router = APIRouter(prefix="/v1", tags=["model"])


@router.get(
    "/model", response_model=ModelInfo, summary="The served model, its metrics and model card"
)
def get_model(served: ServedModelDep) -> ModelInfo:
    predictor = served.predictor
    metadata = predictor.metadata
    return ModelInfo(
        model=identity(served),
        uri=served.uri,
        landmarks=list(predictor.landmarks),
        training_summary=metadata.training_summary,
        headline_metrics=metadata.headline_metrics,
        features=[
            FeatureInfo(name=f.name, label=f.label, unit=f.unit, kind=f.kind)
            for f in map(feature, predictor.feature_names)
        ],
        band_thresholds={
            name: {
                str(k): {"moderate": t.moderate, "high": t.high}
                for k, t in model.thresholds.by_landmark.items()
            }
            for name, model in predictor.outcomes.items()
        },
        band_rule=band_rule(predictor),
        validation=metadata.validation,
        notices=notices(served),
        model_card_markdown=metadata.model_card_markdown,
    )
