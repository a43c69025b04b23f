"""Every URL, code system and code of the FHIR mapping, defined once.

The product's own terms live under one namespace, `PRODUCT_BASE`. WAI-SR, SRS and TASC-R
have no LOINC codes, and the intake facts the model needs (prior episodes, a history of
violence, ...) have no element in FHIR R4 core, so they get code systems and extensions
of our own. Codes of the code systems are the contract's own values (`data_schemas.ranges`),
so a code never needs translating. `data_schemas/fhir_mapping.md` documents all of it.
"""

from __future__ import annotations

from data_schemas import ranges

#: Canonical namespace of the product's code systems, extensions and questionnaires.
PRODUCT_BASE = "https://alliance-risk.dev/fhir"

ALLIANCE_INSTRUMENTS = f"{PRODUCT_BASE}/CodeSystem/alliance-instruments"
PRIMARY_PROBLEM = f"{PRODUCT_BASE}/CodeSystem/primary-problem"
TREATMENT_SETTING = f"{PRODUCT_BASE}/CodeSystem/treatment-setting"
THERAPIST_PROFESSION = f"{PRODUCT_BASE}/CodeSystem/therapist-profession"
THERAPEUTIC_ORIENTATION = f"{PRODUCT_BASE}/CodeSystem/therapeutic-orientation"
RISK_OUTCOME = f"{PRODUCT_BASE}/CodeSystem/risk-outcome"
RISK_MODEL = f"{PRODUCT_BASE}/CodeSystem/risk-model"

#: Pre-session distress, rated 0-10 by the client before the session (no LOINC code).
PRE_SESSION_DISTRESS_CODE = "pre-session-distress"

LOINC = "http://loinc.org"
#: GAD-7 panel and total score (Spitzer et al. 2006; LOINC 69737-5 and 70274-6).
GAD7_PANEL = "69737-5"
GAD7_TOTAL = "70274-6"

#: Questionnaire canonicals whose QuestionnaireResponses carry a total score.
GAD7_QUESTIONNAIRE = f"{LOINC}/q/{GAD7_PANEL}"
INSTRUMENT_QUESTIONNAIRES: dict[str, str] = {
    code: f"{PRODUCT_BASE}/Questionnaire/{code}" for code in ranges.INSTRUMENTS
}
#: `linkId`s of the total-score item in a QuestionnaireResponse.
TOTAL_LINK_IDS: frozenset[str] = frozenset({"total", GAD7_TOTAL, f"/{GAD7_TOTAL}"})


def _extension(name: str) -> str:
    return f"{PRODUCT_BASE}/StructureDefinition/{name}"


# Extensions of the product (all simple, one value each).
EXT_AGE_AT_INTAKE = _extension("age-at-intake")  # Patient, valueAge (years) or valueInteger
EXT_PRIOR_EPISODES = _extension("prior-episodes")  # EpisodeOfCare, valueInteger
EXT_HISTORY_OF_VIOLENCE = _extension("history-of-violence")  # EpisodeOfCare, valueBoolean
EXT_SUBSTANCE_MISUSE = _extension("substance-misuse")  # EpisodeOfCare, valueBoolean
# EpisodeOfCare, valueBoolean, optional: a violent incident toward others is recorded in it.
EXT_VIOLENT_INCIDENT = _extension("violent-incident-this-episode")
EXT_PRIMARY_PROBLEM = _extension("primary-problem")  # EpisodeOfCare, valueCoding
EXT_TREATMENT_SETTING = _extension("treatment-setting")  # EpisodeOfCare, valueCoding
EXT_YEARS_EXPERIENCE = _extension("years-experience")  # Practitioner, valueDecimal
EXT_CASELOAD = _extension("caseload")  # Practitioner, valueInteger

#: FHIR core extension (R4) for whether the patient needs an interpreter.
EXT_INTERPRETER_REQUIRED = "http://hl7.org/fhir/StructureDefinition/patient-interpreterRequired"

#: Patient.gender (AdministrativeGender) for each contract sex code, and back.
GENDER_OF_SEX: dict[str, str] = {
    ranges.Sex.FEMALE.value: "female",
    ranges.Sex.MALE.value: "male",
    ranges.Sex.OTHER.value: "other",
    ranges.Sex.UNKNOWN.value: "unknown",
}
SEX_OF_GENDER: dict[str, str] = {gender: sex for sex, gender in GENDER_OF_SEX.items()}

#: Encounter.class (v3 ActCode) written for each treatment setting. Encounter.class is
#: required in R4; the setting itself is read from the EpisodeOfCare extension.
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ENCOUNTER_CLASS_OF_SETTING: dict[str, tuple[str, str]] = {
    ranges.Setting.OUTPATIENT.value: ("AMB", "ambulatory"),
    ranges.Setting.INPATIENT.value: ("IMP", "inpatient encounter"),
    ranges.Setting.DAY_CLINIC.value: ("SS", "short stay"),
}

#: Encounter.status read as attended or missed. `cancelled` is R4's "ended before it has
#: begun": a session the client did not come to. R4 Encounter has no `noshow` (that code
#: belongs to Appointment). `planned` sessions have not happened yet and are left out, as
#: are `entered-in-error` ones.
ATTENDED_STATUSES: frozenset[str] = frozenset(
    {"finished", "arrived", "triaged", "in-progress", "onleave"}
)
MISSED_STATUSES: frozenset[str] = frozenset({"cancelled"})
SKIPPED_ENCOUNTER_STATUSES: frozenset[str] = frozenset({"planned", "entered-in-error"})

#: Observation / QuestionnaireResponse statuses whose values are used; others are skipped.
USABLE_OBSERVATION_STATUSES: frozenset[str] = frozenset({"final", "amended", "corrected"})
USABLE_RESPONSE_STATUSES: frozenset[str] = frozenset({"completed", "amended"})

#: RiskAssessment.prediction.qualitativeRisk (R4 code system `risk-probability`).
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
QUALITATIVE_RISK_DISPLAY: dict[str, str] = {
    "low": "Low likelihood",
    "moderate": "Moderate likelihood",
    "high": "High likelihood",
}

#: Observation.category for the ratings (R4 observation-category).
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
