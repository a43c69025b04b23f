"""The model card reports every TRIPOD+AI item (Collins et al. 2024, BMJ 385:e078378)."""

from __future__ import annotations

import re

import pytest

from training.pipeline import TrainingOutcome

#: The TRIPOD+AI checklist for development and evaluation, item by item, as published.
TRIPOD_AI_ITEMS: dict[str, str] = {
    "1": "title",
    "2": "abstract",
    "3a": "background",
    "3b": "intended use and users",
    "3c": "health inequalities",
    "4": "objectives",
    "5a": "data source",
    "5b": "dates",
    "6a": "setting",
    "6b": "eligibility",
    "6c": "treatments",
    "7": "data preparation",
    "8a": "outcome and horizon",
    "8b": "outcome assessors",
    "8c": "blinding of outcome assessment",
    "9a": "choice of predictors",
    "9b": "predictor definitions",
    "9c": "predictor assessors",
    "10": "sample size",
    "11": "missing data",
    "12a": "data use and splits",
    "12b": "predictor handling",
    "12c": "model type, hyperparameters and tuning",
    "12d": "heterogeneity across clusters",
    "12e": "performance measures and clinical utility",
    "12f": "model updating",
    "12g": "how predictions are calculated",
    "13": "class imbalance",
    "14": "fairness",
    "15": "model output and bands",
    "16": "training versus evaluation",
    "17": "ethical approval",
    "18a": "funding",
    "18b": "conflicts of interest",
    "18c": "protocol",
    "18d": "registration",
    "18e": "data sharing",
    "18f": "code sharing",
    "19": "patient and public involvement",
    "20a": "participant flow",
    "20b": "baseline characteristics",
    "20c": "development and evaluation data compared",
    "21": "participants and events per analysis",
    "22": "model specification",
    "23a": "performance with intervals, by subgroup",
    "23b": "heterogeneity of performance",
    "24": "model updating results",
    "25": "interpretation",
    "26": "limitations",
    "27a": "handling poor or missing input",
    "27b": "user interaction and expertise",
    "27c": "future research",
}
#: Items only the organisation deploying the model can answer.
FOR_THE_DEPLOYING_ORGANISATION = ("17", "18a", "18b", "19")
DEPLOYER = "to be completed by the deploying organisation"


@pytest.fixture(scope="module")
def card(trained_model: TrainingOutcome) -> str:
    return trained_model.fitted.model.metadata.model_card_markdown


def checklist(card: str) -> dict[str, str]:
    """The card's checklist table: item -> where it is reported."""
    section = card.split("## TRIPOD+AI checklist", 1)[1]
    rows = re.findall(r"^\| (\w+) \| [^|]+ \| ([^|]+) \|$", section, flags=re.MULTILINE)
    return {item: where.strip() for item, where in rows if item != "item"}


def headings(card: str) -> set[str]:
    return {line.lstrip("#").strip() for line in card.splitlines() if line.startswith("#")}


@pytest.mark.parametrize(("item", "topic"), list(TRIPOD_AI_ITEMS.items()))
def test_every_tripod_ai_item_is_reported_in_a_section_of_the_card(
    card: str, item: str, topic: str
) -> None:
    where = checklist(card).get(item)
    assert where, f"TRIPOD+AI item {item} ({topic}) is missing from the checklist"
    section = where.split(" (")[0]
    assert section == "opening paragraph" or section in headings(card), where
    assert re.search(rf"TRIPOD\+AI [\w, ]*\b{item}\b", card), f"no text marked as item {item}"


def test_items_only_the_deploying_organisation_can_answer_are_marked_for_it(card: str) -> None:
    for item in FOR_THE_DEPLOYING_ORGANISATION:
        assert DEPLOYER in checklist(card)[item]
    assert "Intended setting of use: to be completed by the deploying organisation" in card


def test_the_card_names_its_version_and_the_facts_a_reviewer_asks_for(
    trained_model: TrainingOutcome, card: str
) -> None:
    fitted = trained_model.fitted
    assert card.startswith(f"# Model card: alliance-risk version {trained_model.version}\n")
    assert f"export date {fitted.definitions.as_of.isoformat()}" in card
    assert "first intake" in card
    assert "Outcome horizon:" in card
    assert "Riley et al. (2020, BMJ 368:m441)" in card
    assert "events per parameter" in card
    assert "--allow-small-sample" in card  # the tests train below the floor
    assert "Share of test rows without a value" in card
    assert "| outcome | trees | num_leaves |" in card
    assert "Hyperparameters are the defaults" in card
    for outcome in ("dropout", "violence"):
        for k, t in fitted.model.outcomes[outcome].thresholds.by_landmark.items():
            assert f"session {k}: moderate from {t.moderate:.1%}, high from {t.high:.1%}" in card
    assert "### Decision curves" in card
    assert "treat all" in card
    assert "### Baseline characteristics" in card
    assert "### Participant flow" in card
    assert "Model updating (TRIPOD+AI 12f, 24)" in card
