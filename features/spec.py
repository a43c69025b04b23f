"""What the registry says about one model input (`FeatureSpec`) and its two groups."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from features.labels import OUTCOMES

FeatureKind = Literal["numeric", "binary", "categorical"]
#: Whether a contribution's sign agrees with the direction the evidence gives its feature.
Evidence = Literal["agrees", "contradicts"]


class FeatureGroup(StrEnum):
    """This episode so far (what a clinician can see change and act on), or background."""

    EPISODE = "episode"
    BACKGROUND = "background"


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: its name, the label a clinician reads, its unit, kind and group, and
    the evidence-based direction of its effect on each outcome's risk (if any)."""

    name: str
    label: str
    unit: str
    kind: FeatureKind
    description: str
    group: FeatureGroup
    categories: tuple[str, ...] = ()
    directions: tuple[tuple[str, int], ...] = ()  # (outcome, +1 or -1) pairs
    direction_source: str = ""
    #: The value a directed feature's contribution is read against (see `evidence`): the
    #: "nothing wrong" point of a count, fall or trend (no missed session, no fall, a level
    #: alliance), so a sentence's words ("fell", "missed") and its verb ("raises") agree.
    #: None: a binary feature's "no" (0), a level's typical value in the model's data.
    read_against: float | None = None
    #: Outcomes this feature is never named as a reason for, because its association with
    #: them comes from how the outcome is recorded, not from the client (see `is_reason`).
    not_a_reason_for: tuple[str, ...] = ()
    #: Whether a missing value can be a reason. Only where its absence is itself a sign
    #: ("no alliance rating has been recorded yet"); not where it only says the feature
    #: cannot be computed (no change from a single rating, no PCOMS cut-off on another
    #: questionnaire, an anxiety score not collected).
    reason_when_missing: bool = False

    def __post_init__(self) -> None:
        if (self.kind == "categorical") != bool(self.categories):
            raise ValueError(f"feature {self.name}: categories are given exactly for categoricals")
        outcomes = {outcome for outcome, _ in self.directions}
        if outcomes - set(OUTCOMES) or {sign for _, sign in self.directions} - {-1, 1}:
            raise ValueError(f"feature {self.name}: directions map outcomes to +1 or -1")
        if self.directions and (self.kind == "categorical" or not self.direction_source):
            raise ValueError(f"feature {self.name}: a direction needs an ordered kind and a source")

    def direction(self, outcome: str) -> int:
        """+1 (never lowers the risk), -1 (never raises it) or 0 (left free)."""
        for name, sign in self.directions:  # at most one pair per outcome: no dict needed
            if name == outcome:
                return sign
        return 0

    def evidence(
        self, outcome: str, value: float | None, contribution: float, typical: float | None
    ) -> Evidence | None:
        """Whether a SHAP contribution to `outcome` agrees with the declared direction.

        A value above the reading point (`read_against`, else 0 for a binary feature, else
        `typical`, the feature's mean in the model's reference rows) should move the risk
        the declared way, and a value at or below it the other way. The boosters are
        monotone in every directed feature, yet TreeSHAP shares one effect among related
        features (the alliance's latest level, lowest level and largest fall) and can give
        one of them the opposite sign: exact, but no reason a clinician can act on, and a
        sentence naming it ("the alliance fell; this lowers the risk") would read as absurd.
        None where no direction is declared, nothing moved, the value is missing, or the
        reading point is unknown (a model recorded without typical values).
        """
        declared = self.direction(outcome)
        point = self.read_against
        if point is None:
            point = 0.0 if self.kind == "binary" else typical
        if not declared or not contribution or value is None or point is None:
            return None
        side = 1 if value > point else -1
        return "agrees" if declared * side * contribution > 0 else "contradicts"

    def is_reason(
        self, outcome: str, value: float | None, contribution: float, evidence: Evidence | None
    ) -> bool:
        """Whether a summary, a report sentence, a conversation point, a FHIR note or a CDS
        card may name this contribution as a reason for `outcome`'s estimate: a factor of
        this episode so far that moves the estimate, in a direction the evidence allows,
        through the client and not through the way the outcome is recorded."""
        return (
            self.group is FeatureGroup.EPISODE
            and contribution != 0
            and evidence != "contradicts"
            and outcome not in self.not_a_reason_for
            and (value is not None or self.reason_when_missing)
        )

    def code(self, category: str) -> float:
        """The integer code of a category (as float, the feature matrix's dtype)."""
        try:
            return float(self.categories.index(category))
        except ValueError:
            raise ValueError(
                f"feature {self.name}: {category!r} is not a known category; "
                "known categories are " + ", ".join(self.categories)
            ) from None

    def category(self, code: float) -> str:
        """The category a code stands for."""
        return self.categories[int(code)]
