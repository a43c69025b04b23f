"""The one registry of model features: name, clinical label, unit, kind, group and the
direction the evidence gives its effect on each risk.

The feature builder emits exactly these columns in exactly this order (less any a data
scientist leaves out), the models are trained on them, and explanations show clinicians
each feature's `label`. A feature is added, renamed or relabelled here and nowhere else.

Categorical features are integer codes 0, 1, 2, ... in the order of `categories`, which is
taken from the enums of `data_schemas.ranges`, so a code means the same in every model.
Binary features are 1.0 (yes) / 0.0 (no). Anything not recorded is NaN, which LightGBM
treats as missing.

Every feature belongs to one of two groups. *This episode so far* holds what the clinician
can see change and act on (the alliance and its changes, attendance, anxiety); summaries,
the report's main factors, conversation points and CDS cards name only these. *Background*
holds who the client and therapist are and where they meet; those factors appear only in
the full table and the waterfall, as associations in the model, never as causes.

Where the literature gives a direction, `directions` declares it per outcome (+1: a higher
value never lowers the risk; -1: never raises it) with its source, and the boosters are
trained under that monotone constraint: changing one directed feature never moves a risk
against the evidence. TreeSHAP can still share an effect among related features with a
sign the evidence rules out; `FeatureSpec.evidence` reads each contribution against the
feature's `read_against` point, and no sentence names one that contradicts it.
"""

from __future__ import annotations

import math
from enum import StrEnum

from data_schemas import ranges
from features import evidence
from features.spec import FeatureGroup, FeatureSpec

#: Words shown instead of a category's stored code where the code is not plain language.
_CATEGORY_WORDS: dict[str, str] = {
    "F": "female",
    "M": "male",
    "X": "other",
    "U": "unknown",
    "cbt": "CBT",
}

NOT_RECORDED = "not recorded"

_EPISODE, _BACKGROUND = FeatureGroup.EPISODE, FeatureGroup.BACKGROUND


def _categories(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


_SD = "SDs from the questionnaire's usual first rating"


def _numeric(
    name: str, label: str, unit: str, description: str, group: FeatureGroup, **kw: object
) -> FeatureSpec:
    return FeatureSpec(name, label, unit, "numeric", description, group, **kw)


def _binary(
    name: str, label: str, description: str, group: FeatureGroup, **kw: object
) -> FeatureSpec:
    return FeatureSpec(name, label, "yes/no", "binary", description, group, **kw)


def _categorical(
    name: str, label: str, categories: tuple[str, ...], description: str, group: FeatureGroup
) -> FeatureSpec:
    return FeatureSpec(name, label, "category", "categorical", description, group, categories)


_BETTER_ALLIANCE = evidence.directions(evidence.ALLIANCE_LEVEL, dropout=-1, violence=-1)

FEATURES: tuple[FeatureSpec, ...] = (
    _numeric(
        "landmark",
        "Sessions scheduled so far",
        "sessions",
        "The landmark k: the prediction is made after session k and uses sessions 1..k only "
        "(attended or missed).",
        _BACKGROUND,
    ),
    # Alliance, each rating in SDs from its own questionnaire's usual first rating in the
    # training data (features.alliance_norms), so WAI-SR, SRS and TASC-R can be combined.
    _numeric(
        "alliance_z_first",
        "First alliance rating, against the questionnaire's usual first rating",
        _SD,
        "The earliest alliance rating in sessions 1..k, standardised within its questionnaire.",
        _EPISODE,
        **_BETTER_ALLIANCE,
        reason_when_missing=True,
    ),
    _numeric(
        "alliance_z_last",
        "Latest alliance rating, against the questionnaire's usual first rating",
        _SD,
        "The most recent alliance rating in sessions 1..k, standardised within its questionnaire.",
        _EPISODE,
        **_BETTER_ALLIANCE,
        reason_when_missing=True,
    ),
    _numeric(
        "alliance_z_mean",
        "Average alliance so far, against the questionnaire's usual first rating",
        _SD,
        "Mean of the standardised alliance ratings in sessions 1..k.",
        _EPISODE,
        **_BETTER_ALLIANCE,
        reason_when_missing=True,
    ),
    _numeric(
        "alliance_z_min",
        "Lowest alliance so far, against the questionnaire's usual first rating",
        _SD,
        "Lowest standardised alliance rating in sessions 1..k.",
        _EPISODE,
        **_BETTER_ALLIANCE,
        reason_when_missing=True,
    ),
    _numeric(
        "alliance_z_slope",
        "Alliance trend (change per session)",
        "SDs per session",
        "Least-squares slope of the standardised alliance ratings against session number; "
        "needs at least two ratings. A rising alliance never raises a risk.",
        _EPISODE,
        **_BETTER_ALLIANCE,
        read_against=0.0,
    ),
    _numeric(
        "alliance_largest_drop",
        "Largest fall in alliance between two rated sessions",
        "SDs",
        "Largest fall from one standardised alliance rating to the next (sessions without a "
        "rating are skipped); 0 when the alliance never fell. A sudden fall is a marker of an "
        "alliance rupture (Safran & Muran 2000). Needs at least two ratings.",
        _EPISODE,
        **evidence.directions(evidence.RUPTURE, dropout=1, violence=1),
        read_against=0.0,
    ),
    _numeric(
        "alliance_recovery_since_drop",
        "Alliance regained since its largest fall",
        "SDs",
        "Latest rating minus the lowest rating from the largest fall onwards (the first such "
        "fall on ties): how far a rupture has been repaired. 0 when the alliance never fell. "
        "Needs at least two ratings.",
        _EPISODE,
        **evidence.directions(evidence.RUPTURE, dropout=-1, violence=-1),
        read_against=0.0,
    ),
    _binary(
        "alliance_reliable_fall",
        "Alliance fell by more than its questionnaire's measurement error (possible rupture)",
        "Whether any fall from one rating to the next on the same questionnaire exceeds its "
        "reliable change (Jacobson & Truax 1991; 1.96 * sqrt(2) * SD * sqrt(1 - reliability), "
        "with each questionnaire's published reliability). Needs at least two ratings.",
        _EPISODE,
        **evidence.directions(evidence.RUPTURE, dropout=1, violence=1),
    ),
    _binary(
        "alliance_alert",
        "Latest SRS total at or below the PCOMS cut-off of 36",
        "Whether the latest alliance rating is an SRS total of 36 or lower, the PCOMS signal "
        "of a possible alliance problem (Duncan 2012); not recorded when the latest rating is "
        "on another questionnaire.",
        _EPISODE,
        **evidence.directions(evidence.ALLIANCE_LEVEL, dropout=1, violence=1),
    ),
    # How the record was kept, like the questionnaire: background, never a reason.
    _numeric(
        "alliance_n_rated",
        "Sessions with an alliance rating",
        "sessions",
        "Number of sessions among 1..k with an alliance rating.",
        _BACKGROUND,
    ),
    _categorical(
        "alliance_instrument_last",
        "Questionnaire of the latest alliance rating",
        tuple(ranges.INSTRUMENTS),
        "Which alliance questionnaire gave the latest rating.",
        _BACKGROUND,
    ),
    _binary(
        "alliance_rated_by_therapist_last",
        "Latest alliance rating made by the therapist",
        "Whether the therapist, not the client, filled in the latest alliance questionnaire.",
        _BACKGROUND,
    ),
    # Attendance.
    _numeric(
        "missed_sessions",
        "Missed sessions so far",
        "sessions",
        "Number of sessions among 1..k the client did not attend.",
        _EPISODE,
        **evidence.directions(evidence.ATTENDANCE, dropout=1),
        not_a_reason_for=evidence.RECORDED_ONLY_IN_CARE,
        read_against=0.0,
    ),
    _binary(
        "latest_session_missed",
        "Missed the latest session",
        "Whether the client did not attend session k.",
        _EPISODE,
        **evidence.directions(evidence.ATTENDANCE, dropout=1),
        not_a_reason_for=evidence.RECORDED_ONLY_IN_CARE,
    ),
    _numeric(
        "days_since_intake",
        "Days since intake",
        "days",
        "Days from the intake assessment to session k.",
        _EPISODE,
    ),
    # Anxiety: GAD-7 (Spitzer et al. 2006) and the 0-10 pre-session distress rating.
    _numeric(
        "gad7_first",
        "First GAD-7 anxiety score",
        "GAD-7 points (0-21)",
        "The earliest GAD-7 total in sessions 1..k.",
        _EPISODE,
    ),
    _numeric(
        "gad7_last",
        "Latest GAD-7 anxiety score",
        "GAD-7 points (0-21)",
        "The most recent GAD-7 total in sessions 1..k.",
        _EPISODE,
    ),
    _numeric(
        "gad7_change",
        "Change in GAD-7 anxiety since the first score",
        "GAD-7 points",
        "Latest minus first GAD-7 total (negative means less anxious); needs two scores.",
        _EPISODE,
    ),
    _numeric(
        "pre_session_distress_first",
        "First pre-session distress",
        "points (0-10)",
        "How anxious the client felt before the earliest rated session.",
        _EPISODE,
    ),
    _numeric(
        "pre_session_distress_last",
        "Latest pre-session distress",
        "points (0-10)",
        "How anxious the client felt before the most recent rated session.",
        _EPISODE,
    ),
    _numeric(
        "pre_session_distress_mean",
        "Average pre-session distress",
        "points (0-10)",
        "Mean pre-session distress over sessions 1..k.",
        _EPISODE,
    ),
    # Therapist.
    _numeric(
        "therapist_years_experience",
        "Therapist's years of experience",
        "years",
        "The treating therapist's years of clinical experience.",
        _BACKGROUND,
    ),
    _categorical(
        "therapist_profession",
        "Therapist's profession",
        _categories(ranges.Profession),
        "The treating therapist's profession.",
        _BACKGROUND,
    ),
    _categorical(
        "therapist_orientation",
        "Therapist's therapeutic orientation",
        _categories(ranges.Orientation),
        "The treating therapist's main therapeutic orientation.",
        _BACKGROUND,
    ),
    _numeric(
        "therapist_caseload",
        "Therapist's current caseload",
        "clients",
        "Number of clients the therapist currently treats.",
        _BACKGROUND,
    ),
    _numeric(
        "therapist_dropout_rate_oof",
        "Dropout rate among the therapist's other clients",
        "proportion",
        "Share of the therapist's other clients whose episode ended in dropout, pulled toward "
        "the clinic-wide rate when the therapist has few ended episodes. In training it never "
        "counts the client themself (cross-fitted, or only earlier-ended clients in temporal "
        "mode).",
        _BACKGROUND,
    ),
    # Client, as recorded at intake.
    _numeric("age_years", "Client's age", "years", "Age at intake.", _BACKGROUND),
    _categorical(
        "sex", "Client's recorded sex", _categories(ranges.Sex), "Recorded sex.", _BACKGROUND
    ),
    _binary(
        "interpreter_used",
        "Sessions held through an interpreter",
        "Whether sessions are held through an interpreter.",
        _BACKGROUND,
    ),
    _numeric(
        "prior_episodes",
        "Earlier treatment episodes",
        "episodes",
        "Number of earlier treatment episodes.",
        _BACKGROUND,
    ),
    _binary(
        "history_of_violence",
        "Documented violence before intake",
        "Whether violence toward others was documented before intake.",
        _BACKGROUND,
        **evidence.directions(evidence.VIOLENCE_HISTORY, violence=1),
    ),
    _binary(
        "substance_misuse",
        "Current substance misuse",
        "Whether the client currently misuses substances.",
        _BACKGROUND,
        **evidence.directions(evidence.VIOLENCE_HISTORY, violence=1),
    ),
    _categorical(
        "primary_problem",
        "Main presenting problem",
        _categories(ranges.PrimaryProblem),
        "The client's main presenting problem.",
        _BACKGROUND,
    ),
    _categorical(
        "setting",
        "Treatment setting",
        _categories(ranges.Setting),
        "Outpatient, inpatient or day clinic.",
        _BACKGROUND,
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)

#: Names of the integer-coded categorical features (tell LightGBM via `categorical_feature`).
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(
    spec.name for spec in FEATURES if spec.kind == "categorical"
)

_BY_NAME: dict[str, FeatureSpec] = {spec.name: spec for spec in FEATURES}


def categorical_names(names: tuple[str, ...] | list[str]) -> list[str]:
    """The categorical ones among `names`, in their order (for LightGBM)."""
    return [name for name in names if _BY_NAME[name].kind == "categorical"]


def monotone_constraints(names: tuple[str, ...] | list[str], outcome: str) -> list[int]:
    """Each feature's declared direction for `outcome`, in the order of `names` (LightGBM's
    `monotone_constraints`)."""
    return [_BY_NAME[name].direction(outcome) for name in names]


def feature(name: str) -> FeatureSpec:
    """Look a feature up by name; an unknown name raises a `KeyError` listing the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"unknown feature {name!r}; known features are " + ", ".join(FEATURE_NAMES)
        ) from None


def format_value(name: str, value: float | None) -> str:
    """Render a feature value for a clinician: "trainee", "yes", "62.5", "-1.2 SD",
    "not recorded"."""
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
    if spec.unit.startswith("SDs"):
        return f"{value:+.1f} SD" + (" per session" if spec.unit.endswith("per session") else "")
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}"
