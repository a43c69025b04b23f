"""What the registry says about one model input (`FeatureSpec`) and its two groups."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from features.labels import OUTCOMES

FeatureKind = Literal["numeric", "binary", "categorical"]


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
        return dict(self.directions).get(outcome, 0)

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
