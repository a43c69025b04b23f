"""The CDS service this product offers and the FHIR data it asks the EHR to prefetch.

One service, on `patient-view`: when a clinician opens a client's chart, show the current
dropout and violence risk. (`appointment-book` would add little: the estimate changes only
after a session, and patient-view already shows it whenever the chart is open.)

Prefetch templates use only what CDS Hooks 2.0 asks CDS clients to support: instance
reads, type searches by patient reference, token equality (comma-separated values mean
"or"), `_count` and `_sort`. The therapist comes with the episode through
`_include=EpisodeOfCare:care-manager`; without it the service reads the Practitioner from
the FHIR server itself.
"""

from __future__ import annotations

from data_schemas import ranges
from data_schemas.fhir import codes
from service.ehr.cds.hooks import CdsServiceDefinition

PATIENT_TOKEN = "{{context.patientId}}"

_RATING_CODES = ",".join(
    [f"{codes.ALLIANCE_INSTRUMENTS}|{code}" for code in ranges.INSTRUMENTS]
    + [
        f"{codes.ALLIANCE_INSTRUMENTS}|{codes.PRE_SESSION_DISTRESS_CODE}",
        f"{codes.LOINC}|{codes.GAD7_TOTAL}",
        f"{codes.LOINC}|{codes.GAD7_PANEL}",
    ]
)
_QUESTIONNAIRES = ",".join([*codes.INSTRUMENT_QUESTIONNAIRES.values(), codes.GAD7_QUESTIONNAIRE])

#: Prefetch key -> FHIR query, with the patient as the only token.
PREFETCH: dict[str, str] = {
    "patient": f"Patient/{PATIENT_TOKEN}",
    "episodes": (f"EpisodeOfCare?patient={PATIENT_TOKEN}&_include=EpisodeOfCare:care-manager"),
    "sessions": f"Encounter?patient={PATIENT_TOKEN}&_sort=date&_count=100",
    "ratings": f"Observation?patient={PATIENT_TOKEN}&code={_RATING_CODES}&_count=200",
    "questionnaires": (
        f"QuestionnaireResponse?patient={PATIENT_TOKEN}&questionnaire={_QUESTIONNAIRES}&_count=100"
    ),
}

PATIENT_VIEW_SERVICE = CdsServiceDefinition(
    hook="patient-view",
    id="alliance-risk-patient-view",
    title="Early psychotherapy risk: dropout and violence toward others",
    description=(
        "After each of a client's first five psychotherapy sessions, the calibrated risk of "
        "premature dropout and of a first violent incident toward others, from the "
        "therapeutic alliance, anxiety and therapist factors, with the factors that drive "
        "it. Decision support, not a diagnosis."
    ),
    prefetch=PREFETCH,
    usage_requirements=(
        "The client's psychotherapy EpisodeOfCare must carry the alliance-risk intake "
        "extensions and name the therapist as careManager; sessions are Encounters of that "
        "episode; ratings are Observations or QuestionnaireResponses coded as documented "
        "in the service's FHIR mapping. Patients without such an episode get no card."
    ),
)

SERVICES: dict[str, CdsServiceDefinition] = {PATIENT_VIEW_SERVICE.id: PATIENT_VIEW_SERVICE}
