"""The packaged predictor: feature builder, both outcome models and what the model knows
about itself. Training builds it, MLflow stores it, batch scoring and the API load it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_schemas import ranges
from data_schemas.records import ClientHistory
from data_schemas.tables import ClinicTables
from features.landmarks import LandmarkFeatureBuilder
from models.outcome import OutcomeExplanations, OutcomeModel, OutcomeScores
from models.reference import ReferenceProfile

#: Shown wherever a model trained on synthetic data speaks: API, reports, batch files.
SYNTHETIC_DATA_NOTICE = (
    "This model was trained on synthetic data, not on real clients. Its estimates are for "
    "demonstration and testing only and must not inform clinical decisions."
)

#: Said instead of a violence estimate when an incident is already recorded in the episode.
VIOLENCE_WITHHELD = (
    "a violent incident toward others is already recorded in this episode; the model "
    "estimates the risk of a first incident, so it gives no violence estimate here"
)
#: Said with a violence estimate when the caller did not say whether an incident happened.
VIOLENCE_ASSUMES_NO_INCIDENT = (
    "the violence estimate assumes no violent incident toward others so far in this episode "
    "(violent_incident_this_episode was not given)"
)
#: The outcome an incident already recorded in the episode leaves without an estimate.
FIRST_INCIDENT_OUTCOME = "violence"

#: An instrument seen in fewer than this share of training ratings earns a warning.
RARE_INSTRUMENT_SHARE = 0.02


class NotPredictableError(ValueError):
    """The input is valid but the model cannot make a prediction from it."""


@dataclass
class ModelMetadata:
    """What the model knows about its own origin, shown by the API and the model card."""

    trained_at: str
    synthetic_data: bool
    training_summary: dict[str, Any]
    headline_metrics: dict[str, Any] = field(default_factory=dict)
    instrument_shares: dict[str, float] = field(default_factory=dict)
    model_card_markdown: str = ""
    #: Validation beyond the headline metrics (decision curves, how intervals were drawn);
    #: empty for models registered before it was recorded.
    validation: dict[str, Any] = field(default_factory=dict)
    #: The held-out rows' distributions and figures that monitoring compares against;
    #: None for models registered before it was recorded.
    reference: ReferenceProfile | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle metadata saved by an older version, filling fields added since."""
        self.__dict__.update({"validation": {}, "reference": None, **state})


@dataclass(frozen=True)
class OutcomePrediction:
    """One outcome for one client: probability, band, percentile and exact explanation."""

    outcome: str
    probability: float
    logit: float
    band: str
    percentile: float
    base_value: float
    contributions: np.ndarray


@dataclass(frozen=True)
class ClientPrediction:
    """Both outcomes for one client at one landmark, with the features used, by name.

    `feature_names[i]` names `feature_values[i]` and every outcome's `contributions[i]`.
    """

    landmark: int
    feature_names: tuple[str, ...]
    feature_values: np.ndarray
    outcomes: dict[str, OutcomePrediction]
    warnings: list[str]
    withheld: dict[str, str] = field(default_factory=dict)  # outcome -> why no estimate


@dataclass
class AllianceRiskModel:
    """Feature builder + one calibrated booster per outcome + metadata."""

    features: LandmarkFeatureBuilder
    outcomes: dict[str, OutcomeModel]
    metadata: ModelMetadata

    @property
    def landmarks(self) -> tuple[int, ...]:
        return tuple(self.features.landmarks)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature builder's output columns, in the order the boosters read them."""
        return tuple(self.features.get_feature_names_out())

    def score_features(
        self, features: pd.DataFrame, *, explain: bool = False
    ) -> dict[str, tuple[OutcomeScores, OutcomeExplanations | None]]:
        """Score landmark feature rows (as made by `self.features`) for both outcomes."""
        matrix = features[list(self.feature_names)].to_numpy(dtype=np.float64)
        landmarks = features["landmark"].to_numpy()
        if explain:
            return {
                name: model.score_and_explain(matrix, landmarks)
                for name, model in self.outcomes.items()
            }
        return {
            name: (model.score(matrix, landmarks), None) for name, model in self.outcomes.items()
        }

    def score_tables(
        self, tables: ClinicTables, *, latest_only: bool = True, explain: bool = False
    ) -> pd.DataFrame:
        """Batch scoring: one row per client at their latest landmark (or every landmark)."""
        features = self.features.transform(tables)
        if latest_only:
            features = features.groupby(level="client_id", sort=False).tail(1)
        incident = tables.clients.set_index("client_id")["violent_incident_this_episode"]
        return withhold_first_incident(self.score_frame(features, explain=explain), incident)

    def score_frame(self, features: pd.DataFrame, *, explain: bool = False) -> pd.DataFrame:
        """Scores (and optionally contributions) as a flat table keyed by client and landmark."""
        out = pd.DataFrame(index=features.index)
        feature_names = self.feature_names
        for name, (scores, explanation) in self.score_features(features, explain=explain).items():
            out[f"{name}_probability"] = scores.probability
            out[f"{name}_band"] = scores.band
            out[f"{name}_percentile"] = scores.percentile
            if explanation is not None:
                out[f"{name}_base_value"] = explanation.base_value
                contributions = pd.DataFrame(
                    explanation.contributions,
                    index=features.index,
                    columns=[f"{name}_shap_{feature}" for feature in feature_names],
                )
                out = pd.concat([out, contributions], axis=1)
        return out

    def reference_profile(self, rows: pd.DataFrame, validation: dict[str, Any]) -> ReferenceProfile:
        """The profile monitoring compares a clinic with: these landmark rows' feature and
        estimate distributions, and the `validation` figures measured on them."""
        features = rows[list(self.feature_names)]
        scores = self.score_features(features)
        return ReferenceProfile.of(
            features,
            {outcome: scored.probability for outcome, (scored, _) in scores.items()},
            validation,
        )

    def typical_values(self) -> dict[str, float]:
        """Each numeric feature's mean in the reference rows: what an explanation's
        contributions are read against. Empty for models registered without a profile."""
        reference = self.metadata.reference
        return reference.typical_values() if reference is not None else {}

    def predict_history(self, history: ClientHistory) -> ClientPrediction:
        """One client's answer, the path the API takes: no pandas, one feature row."""
        warnings: list[str] = []
        if not history.sessions:
            raise NotPredictableError(
                "no sessions given: this model predicts after sessions 1 to "
                f"{max(self.landmarks)}, not at intake"
            )
        landmark = min(len(history.sessions), max(self.landmarks))
        if len(history.sessions) > landmark:
            warnings.append(
                f"{len(history.sessions)} sessions were given; the model predicts from the first "
                f"{landmark} sessions, so sessions after {landmark} were not used"
            )
        warnings += self._instrument_warnings(history, landmark)
        incident = history.client.violent_incident_this_episode
        withheld = {FIRST_INCIDENT_OUTCOME: VIOLENCE_WITHHELD} if incident else {}
        if incident is None:
            warnings.append(VIOLENCE_ASSUMES_NO_INCIDENT)
        row = self.features.transform_history(history, landmark)
        outcomes = {}
        for name, model in self.outcomes.items():
            if name in withheld:
                continue
            scores, explanation = model.score_and_explain(row, np.array([landmark]))
            outcomes[name] = OutcomePrediction(
                outcome=name,
                probability=float(scores.probability[0]),
                logit=float(scores.logit[0]),
                band=str(scores.band[0]),
                percentile=float(scores.percentile[0]),
                base_value=float(explanation.base_value[0]),
                contributions=explanation.contributions[0],
            )
        return ClientPrediction(landmark, self.feature_names, row[0], outcomes, warnings, withheld)

    def _instrument_warnings(self, history: ClientHistory, landmark: int) -> list[str]:
        used = {
            s.alliance_instrument
            for s in history.sessions[:landmark]
            if s.alliance_instrument is not None and s.alliance_score is not None
        }
        shares = self.metadata.instrument_shares
        return [
            f"the alliance instrument {code} made up under {RARE_INSTRUMENT_SHARE:.0%} of the "
            "ratings this model was trained on; treat the estimate with extra caution"
            for code in sorted(used)
            if code in ranges.INSTRUMENTS and shares.get(code, 0.0) < RARE_INSTRUMENT_SHARE
        ]


def withhold_first_incident(scored: pd.DataFrame, incident: pd.Series) -> pd.DataFrame:
    """Scored rows without a violence estimate where an incident is already recorded.

    `incident` is `violent_incident_this_episode` by client id (empty when not known). The
    rows keep their dropout estimate; `violence_withheld` says which lost the violence one.
    """
    recorded = (
        incident.reindex(scored.index.get_level_values("client_id"))
        .fillna(False)
        .to_numpy(dtype=bool)
    )
    out = scored.copy()
    prefix = f"{FIRST_INCIDENT_OUTCOME}_"
    for column in out.columns:
        if column.startswith(prefix):
            out[column] = out[column].where(~recorded)
    out[f"{prefix}withheld"] = recorded
    return out
