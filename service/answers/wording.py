"""Plain-language wording of probabilities, bands and factors, shared by API and reports.

The product supports a clinician's decision; it never diagnoses and never says a person
"is" anything. Sentences speak of an estimated risk among clients like this one.
"""

from __future__ import annotations

from models.bands import RiskBand

OUTCOME_PHRASES: dict[str, str] = {
    "dropout": "ending treatment early (dropout)",
    "violence": "a first violent incident toward others during this episode",
}

OUTCOME_TITLES: dict[str, str] = {
    "dropout": "Premature dropout",
    "violence": "Violence toward others",
}

#: The risk as the object of "this raises the estimated ..." in explanation sentences.
RISK_NOUNS: dict[str, str] = {
    "dropout": "dropout risk",
    "violence": "risk of a violent incident toward others",
}

BAND_WORDS: dict[str, str] = {
    RiskBand.LOW.value: "low",
    RiskBand.MODERATE.value: "moderate",
    RiskBand.HIGH.value: "high",
}

DECISION_SUPPORT_NOTICE = (
    "Decision support only: an estimate for clients with similar early sessions, not a "
    "diagnosis and not a statement about this person's character."
)


def one_in(probability: float) -> str:
    """'about 1 in 4' style wording, which people read more accurately than percentages
    (Gigerenzer & Hoffrage 1995, natural frequencies)."""
    if probability <= 0.0:
        return "less than 1 in 1,000"
    if probability >= 0.95:
        return "almost certain"
    n = round(1.0 / probability)
    if n > 1000:
        return "less than 1 in 1,000"
    return f"about 1 in {n:,}"


def percent(probability: float) -> str:
    value = probability * 100.0
    if value < 1.0:
        return "under 1%"
    return f"{value:.0f}%"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


#: How explanations name the two groups of factors (features.spec.FeatureGroup).
GROUP_TITLES: dict[str, str] = {"episode": "This episode so far", "background": "Background"}

#: Said wherever background factors are shown.
BACKGROUND_NOTE = (
    "Background factors are associations the model learned from its training data, not "
    "causes, and not something to change; they are shown so the estimate can be checked."
)

SHARED_EFFECT_NOTE = (
    "A factor marked (*) moves this estimate against the direction research gives it (a "
    "fall in the alliance lowering a risk, say). Exact SHAP values share one effect among "
    "related measures, such as the alliance's latest level, lowest level and largest fall, "
    "and one of them can come out with the opposite sign. The model itself never moves a "
    "risk that way when that factor alone changes, and such factors are not named as "
    "reasons on the first page."
)


def summary_sentence(
    outcome: str,
    probability: float,
    *,
    band: str,
    band_definition: str,
    percentile: float,
    landmark: int,
    top_factor_label: str | None,
    top_factor_raises: bool | None,
) -> str:
    """One sentence a clinician can read in the chart. The factor it names, if any, is from
    this episode so far (never background such as sex or age)."""
    sentence = (
        f"Estimated risk of {OUTCOME_PHRASES[outcome]}: {percent(probability)} "
        f"({one_in(probability)}), higher than for {percentile:.0f}% of clients after session "
        f"{landmark}; {BAND_WORDS[band]} band ({band_definition})"
    )
    if top_factor_label is not None:
        direction = "raises" if top_factor_raises else "lowers"
        sentence += (
            f". Of this episode so far, what {direction} it most: {top_factor_label[0].lower()}"
            f"{top_factor_label[1:]}"
        )
    return sentence + "."
