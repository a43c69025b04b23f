"""The one registry of model features: name, clinical label, unit, kind and meaning.

The feature builder emits exactly these columns in exactly this order, the models are
trained on them, and explanations show clinicians each feature's `label`. A feature is
added, renamed or relabelled here and nowhere else.

Categorical features are integer codes 0, 1, 2, ... in the order of `categories`, which is
taken from the enums of `data_schemas.ranges`, so a code means the same in every model.
Binary features are 1.0 (yes) / 0.0 (no). Anything not recorded is NaN, which LightGBM
treats as missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from data_schemas import ranges

FeatureKind = Literal["numeric", "binary", "categorical"]

#: Words shown instead of a category's stored code where the code is not plain language.
_CATEGORY_WORDS: dict[str, str] = {
    "F": "female",
    "M": "male",
    "X": "other",
    "U": "unknown",
    "cbt": "CBT",
}

NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: its name, the label a clinician reads, its unit and its kind."""

    name: str
    label: str
    unit: str
    kind: FeatureKind
    description: str
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.kind == "categorical") != bool(self.categories):
            raise ValueError(f"feature {self.name}: categories are given exactly for categoricals")

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


def _categories(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


def _numeric(name: str, label: str, unit: str, description: str) -> FeatureSpec:
    return FeatureSpec(name, label, unit, "numeric", description)


def _binary(name: str, label: str, description: str) -> FeatureSpec:
    return FeatureSpec(name, label, "yes/no", "binary", description)


def _categorical(
    name: str, label: str, categories: tuple[str, ...], description: str
) -> FeatureSpec:
    return FeatureSpec(name, label, "category", "categorical", description, categories)


_POMP = "% of scale maximum"
_POMP_POINTS = "percentage points of scale maximum"

#: A fall of at least this many POMP points from one alliance rating to the next is shown
#: to clinicians as a possible rupture. The number is an assumption of this product, not a
#: validated cut-off: rupture studies mark a fall beyond the client's own usual variation
#: (Stiles et al. 2004, J Couns Psychol 51(1)), which five sessions are too few to
#: estimate. 15 is near twice the SD (about 8 points) of the difference between two ratings
#: that differ by measurement error alone, under the synthetic cohort's assumptions
#: (reliability 0.85, between-client SD 14 points).
RUPTURE_DROP_POMP = 15.0

FEATURES: tuple[FeatureSpec, ...] = (
    _numeric(
        "landmark",
        "Sessions scheduled so far",
        "sessions",
        "The landmark k: the prediction is made after session k and uses sessions 1..k only "
        "(attended or missed).",
    ),
    # Alliance, rescaled to percent of the scale maximum (POMP; Cohen et al. 1999) so that
    # WAI-SR, SRS and TASC-R ratings can be compared and combined.
    _numeric(
        "alliance_pomp_first",
        f"First alliance rating ({_POMP})",
        _POMP,
        "The earliest alliance rating in sessions 1..k.",
    ),
    _numeric(
        "alliance_pomp_last",
        f"Latest alliance rating ({_POMP})",
        _POMP,
        "The most recent alliance rating in sessions 1..k.",
    ),
    _numeric(
        "alliance_pomp_mean",
        f"Average alliance so far ({_POMP})",
        _POMP,
        "Mean of the alliance ratings in sessions 1..k.",
    ),
    _numeric(
        "alliance_pomp_min",
        f"Lowest alliance so far ({_POMP})",
        _POMP,
        "Lowest alliance rating in sessions 1..k.",
    ),
    _numeric(
        "alliance_pomp_slope",
        "Alliance trend (change per session)",
        f"{_POMP_POINTS} per session",
        "Least-squares slope of the alliance ratings against session number; needs at "
        "least two ratings.",
    ),
    _numeric(
        "alliance_largest_drop",
        "Largest fall in alliance between two rated sessions (possible rupture)",
        _POMP_POINTS,
        "Largest fall from one alliance rating to the next (sessions without a rating are "
        "skipped); 0 when the alliance never fell. A sudden fall is a marker of an alliance "
        "rupture (Safran & Muran 2000). Needs at least two ratings.",
    ),
    _numeric(
        "alliance_recovery_since_drop",
        "Alliance regained since its largest fall",
        _POMP_POINTS,
        "Latest rating minus the lowest rating from the largest fall onwards (the first such "
        "fall on ties): how far a rupture has been repaired. 0 when the alliance never fell. "
        "Needs at least two ratings.",
    ),
    _numeric(
        "alliance_n_rated",
        "Sessions with an alliance rating",
        "sessions",
        "Number of sessions among 1..k with an alliance rating.",
    ),
    _categorical(
        "alliance_instrument_last",
        "Questionnaire of the latest alliance rating",
        tuple(ranges.INSTRUMENTS),
        "Which alliance questionnaire gave the latest rating.",
    ),
    _binary(
        "alliance_rated_by_therapist_last",
        "Latest alliance rating made by the therapist",
        "Whether the therapist, not the client, filled in the latest alliance questionnaire.",
    ),
    # Attendance.
    _numeric(
        "missed_sessions",
        "Missed sessions so far",
        "sessions",
        "Number of sessions among 1..k the client did not attend.",
    ),
    _binary(
        "latest_session_missed",
        "Missed the latest session",
        "Whether the client did not attend session k.",
    ),
    _numeric(
        "days_since_intake",
        "Days since intake",
        "days",
        "Days from the intake assessment to session k.",
    ),
    # Anxiety: GAD-7 (Spitzer et al. 2006) and the 0-10 pre-session distress rating.
    _numeric(
        "gad7_first",
        "First GAD-7 anxiety score",
        "GAD-7 points (0-21)",
        "The earliest GAD-7 total in sessions 1..k.",
    ),
    _numeric(
        "gad7_last",
        "Latest GAD-7 anxiety score",
        "GAD-7 points (0-21)",
        "The most recent GAD-7 total in sessions 1..k.",
    ),
    _numeric(
        "gad7_change",
        "Change in GAD-7 anxiety since the first score",
        "GAD-7 points",
        "Latest minus first GAD-7 total (negative means less anxious); needs two scores.",
    ),
    _numeric(
        "pre_session_distress_first",
        "First pre-session distress",
        "points (0-10)",
        "How anxious the client felt before the earliest rated session.",
    ),
    _numeric(
        "pre_session_distress_last",
        "Latest pre-session distress",
        "points (0-10)",
        "How anxious the client felt before the most recent rated session.",
    ),
    _numeric(
        "pre_session_distress_mean",
        "Average pre-session distress",
        "points (0-10)",
        "Mean pre-session distress over sessions 1..k.",
    ),
    # Therapist.
    _numeric(
        "therapist_years_experience",
        "Therapist's years of experience",
        "years",
        "The treating therapist's years of clinical experience.",
    ),
    _categorical(
        "therapist_profession",
        "Therapist's profession",
        _categories(ranges.Profession),
        "The treating therapist's profession.",
    ),
    _categorical(
        "therapist_orientation",
        "Therapist's therapeutic orientation",
        _categories(ranges.Orientation),
        "The treating therapist's main therapeutic orientation.",
    ),
    _numeric(
        "therapist_caseload",
        "Therapist's current caseload",
        "clients",
        "Number of clients the therapist currently treats.",
    ),
    _numeric(
        "therapist_dropout_rate_oof",
        "Dropout rate among the therapist's other clients",
        "proportion",
        "Share of the therapist's other clients who dropped out, pulled toward the clinic-wide "
        "rate when the therapist has few clients. In training it never counts the client "
        "themself (cross-fitted, or only earlier-ended clients in temporal mode).",
    ),
    # Client, as recorded at intake.
    _numeric("age_years", "Client's age", "years", "Age at intake."),
    _categorical("sex", "Client's recorded sex", _categories(ranges.Sex), "Recorded sex."),
    _binary(
        "interpreter_used",
        "Sessions held through an interpreter",
        "Whether sessions are held through an interpreter.",
    ),
    _numeric(
        "prior_episodes",
        "Earlier treatment episodes",
        "episodes",
        "Number of earlier treatment episodes.",
    ),
    _binary(
        "history_of_violence",
        "Documented violence before intake",
        "Whether violence toward others was documented before intake.",
    ),
    _binary(
        "substance_misuse",
        "Current substance misuse",
        "Whether the client currently misuses substances.",
    ),
    _categorical(
        "primary_problem",
        "Main presenting problem",
        _categories(ranges.PrimaryProblem),
        "The client's main presenting problem.",
    ),
    _categorical(
        "setting",
        "Treatment setting",
        _categories(ranges.Setting),
        "Outpatient, inpatient or day clinic.",
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)

#: Names of the integer-coded categorical features (tell LightGBM via `categorical_feature`).
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(
    spec.name for spec in FEATURES if spec.kind == "categorical"
)

_BY_NAME: dict[str, FeatureSpec] = {spec.name: spec for spec in FEATURES}


def feature(name: str) -> FeatureSpec:
    """Look a feature up by name; an unknown name raises a `KeyError` listing the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"unknown feature {name!r}; known features are " + ", ".join(FEATURE_NAMES)
        ) from None


def format_value(name: str, value: float | None) -> str:
    """Render a feature value for a clinician: "trainee", "yes", "62.5", "not recorded"."""
    spec = feature(name)
    if value is None or math.isnan(value):
        return NOT_RECORDED
    if spec.kind == "categorical":
        category = spec.category(value)
        return _CATEGORY_WORDS.get(category, category.replace("_", " "))
    if spec.kind == "binary":
        return "yes" if value else "no"
    if spec.unit == "proportion":
        return f"{value:.0%}"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}"
