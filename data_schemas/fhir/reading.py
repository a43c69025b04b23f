"""FHIR R4 resources to the contract's `ClientHistory`, following `fhir_mapping.md`.

The client is a Patient; the episode of psychotherapy is an EpisodeOfCare carrying the
intake facts; its care manager is the therapist (a Practitioner); its Encounters are the
sessions; Observations or QuestionnaireResponses are the ratings taken at them. The result
is validated by the contract itself, and a contract error is reported at the FHIR element
the offending value came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from data_schemas.fhir import codes
from data_schemas.fhir.ratings import calendar_day
from data_schemas.fhir.reader import Reader, as_number
from data_schemas.fhir.resources import (
    FhirInputError,
    FhirIssue,
    Located,
    NotEnrolledError,
    ResourceIndex,
    entries,
    parse_bundle,
)
from data_schemas.fhir.sessions import assign_ratings, session_encounters, session_record
from data_schemas.records import ClientHistory

_INTAKE_EXTENSIONS = (
    codes.EXT_PRIOR_EPISODES,
    codes.EXT_HISTORY_OF_VIOLENCE,
    codes.EXT_SUBSTANCE_MISUSE,
    codes.EXT_PRIMARY_PROBLEM,
    codes.EXT_TREATMENT_SETTING,
)


class MissingResourceError(FhirInputError):
    """A resource the history needs is referenced but not among those given; a caller
    that can fetch it (the CDS service, from the EHR's FHIR server) may try again."""

    def __init__(self, issue: FhirIssue, reference: str) -> None:
        super().__init__([issue])
        self.reference = reference


@dataclass(frozen=True)
class FhirHistory:
    """A client history read from FHIR, with the resources each part came from."""

    history: ClientHistory
    patient: Located
    episode: Located
    encounters: list[Located]
    ratings: list[list[Located]]

    def basis(self, sessions: int) -> list[str]:
        """References of the ratings taken at the first `sessions` sessions."""
        return [r.reference for session in self.ratings[:sessions] for r in session]


def _age_at(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _coding(codeable_concepts: list[Any], system: str) -> str | None:
    for concept in codeable_concepts:
        for coding in (concept.coding if concept is not None else None) or []:
            if coding.system == system and coding.code:
                return coding.code
    return None


def _pick_patient(reader: Reader, patient_id: str | None) -> Located:
    patients = reader.index.of_type("Patient")
    if patient_id is not None:
        patients = [p for p in patients if p.resource.id == patient_id]
    if len(patients) != 1:
        found = "no Patient" if not patients else f"{len(patients)} Patients"
        raise FhirInputError(
            [FhirIssue("Patient", f"exactly one Patient is needed; found {found}", "required")]
        )
    return patients[0]


def _pick_episode(reader: Reader, patient: Located) -> Located:
    """The patient's psychotherapy episode: active first, then the most recently started."""
    episodes = [
        e
        for e in reader.index.of_type("EpisodeOfCare")
        if reader.index.refers_to(e.resource.patient.reference, patient)
        and any(ext.url in _INTAKE_EXTENSIONS for ext in e.resource.extension or [])
    ]
    if not episodes:
        raise NotEnrolledError(
            [
                FhirIssue(
                    "EpisodeOfCare",
                    "the patient has no EpisodeOfCare carrying the alliance-risk intake "
                    "extensions, so there is no psychotherapy episode to assess",
                    "not-found",
                )
            ]
        )

    def started(e: Located) -> dt.date:
        period = e.resource.period
        return calendar_day(period.start if period else None) or dt.date.min

    return max(episodes, key=lambda e: (e.resource.status == "active", started(e)))


def _client(reader: Reader, patient: Located, episode: Located, therapist_id: str) -> dict:
    resource, sources = patient.resource, reader.sources
    client: dict[str, Any] = {"client_id": resource.id, "therapist_id": therapist_id}
    sources["/client/client_id"] = f"{patient.where}.id"
    sources["/client/therapist_id"] = f"{episode.where}.careManager"
    if resource.id is None:
        reader.problem(f"{patient.where}.id", "the Patient needs an id", "required")

    period = episode.resource.period
    intake = calendar_day(period.start if period else None)
    client["intake_date"] = intake
    sources["/client/intake_date"] = f"{episode.where}.period.start"
    if intake is None:
        reader.problem(
            f"{episode.where}.period.start",
            "the EpisodeOfCare needs period.start as a full date: the intake date",
            "required",
        )

    age, age_path = reader.extension(patient, codes.EXT_AGE_AT_INTAKE, required=False)
    if age is not None:
        client["age_years"] = as_number(age)
    elif isinstance(resource.birthDate, dt.date) and intake is not None:
        client["age_years"] = _age_at(resource.birthDate, intake)
        age_path = f"{patient.where}.birthDate"
    else:
        reader.problem(
            f"{patient.where}.birthDate",
            "the Patient needs a full birthDate (YYYY-MM-DD) or the extension "
            f"{codes.EXT_AGE_AT_INTAKE}",
            "required",
        )
    sources["/client/age_years"] = age_path

    gender = resource.gender or "unknown"
    client["sex"] = codes.SEX_OF_GENDER.get(gender, gender)
    sources["/client/sex"] = f"{patient.where}.gender"
    interpreter, sources["/client/interpreter_used"] = reader.extension(
        patient, codes.EXT_INTERPRETER_REQUIRED, required=False
    )
    # FHIR records the need for an interpreter only when there is one.
    client["interpreter_used"] = bool(interpreter)

    organization = episode.resource.managingOrganization
    if organization is not None and organization.reference:
        client["site_id"] = organization.reference.rstrip("/").split("/")[-1]
        sources["/client/site_id"] = f"{episode.where}.managingOrganization"

    for name, url in (
        ("prior_episodes", codes.EXT_PRIOR_EPISODES),
        ("history_of_violence", codes.EXT_HISTORY_OF_VIOLENCE),
        ("substance_misuse", codes.EXT_SUBSTANCE_MISUSE),
        ("primary_problem", codes.EXT_PRIMARY_PROBLEM),
        ("setting", codes.EXT_TREATMENT_SETTING),
    ):
        value, sources[f"/client/{name}"] = reader.extension(episode, url)
        client[name] = as_number(value)
    incident, sources["/client/violent_incident_this_episode"] = reader.extension(
        episode, codes.EXT_VIOLENT_INCIDENT, required=False
    )
    if incident is not None:
        client["violent_incident_this_episode"] = bool(incident)
    return client


def _therapist(reader: Reader, episode: Located) -> tuple[Located, dict]:
    manager = episode.resource.careManager
    if manager is None or not manager.reference:
        raise FhirInputError(
            [
                FhirIssue(
                    f"{episode.where}.careManager",
                    "the EpisodeOfCare needs careManager: a reference to the therapist's "
                    "Practitioner",
                    "required",
                )
            ]
        )
    practitioner = reader.index.resolve(manager.reference)
    if practitioner is None or practitioner.type != "Practitioner":
        raise MissingResourceError(
            FhirIssue(
                f"{episode.where}.careManager",
                "the Practitioner named by EpisodeOfCare.careManager is not in the input",
                "not-found",
            ),
            manager.reference,
        )
    resource, where, sources = practitioner.resource, practitioner.where, reader.sources
    qualifications = [q.code for q in resource.qualification or []]
    therapist: dict[str, Any] = {"therapist_id": resource.id}
    sources["/therapist/therapist_id"] = f"{where}.id"
    for name, system in (
        ("profession", codes.THERAPIST_PROFESSION),
        ("orientation", codes.THERAPEUTIC_ORIENTATION),
    ):
        therapist[name] = _coding(qualifications, system)
        sources[f"/therapist/{name}"] = f"{where}.qualification"
        if therapist[name] is None:
            reader.problem(
                f"{where}.qualification",
                f"the Practitioner needs a qualification coded in {system}",
                "required",
            )
    for name, url in (
        ("years_experience", codes.EXT_YEARS_EXPERIENCE),
        ("caseload", codes.EXT_CASELOAD),
    ):
        value, sources[f"/therapist/{name}"] = reader.extension(practitioner, url)
        therapist[name] = as_number(value)
    return practitioner, therapist


def _contract_issues(reader: Reader, error: ValidationError) -> list[FhirIssue]:
    """Contract errors at the FHIR element each offending value came from."""
    issues = []
    for e in error.errors():
        pointer = "/" + "/".join(str(part) for part in e.get("loc", ()))
        pointer = pointer.rstrip("/") + str((e.get("ctx") or {}).get("pointer", ""))
        expression, probe = None, pointer
        while probe and expression is None:
            expression = reader.sources.get(probe)
            probe = probe.rsplit("/", 1)[0]
        issues.append(
            FhirIssue(expression or reader.index.resources[0].where, f"{pointer}: {e['msg']}")
        )
    return issues


def history_from_resources(
    resources: list[Located], *, patient_id: str | None = None
) -> FhirHistory:
    """The client history held by these resources, for one patient."""
    reader = Reader(ResourceIndex(resources))
    patient = _pick_patient(reader, patient_id)
    episode = _pick_episode(reader, patient)
    _, therapist = _therapist(reader, episode)
    client = _client(reader, patient, episode, therapist["therapist_id"])
    encounters = session_encounters(reader, patient, episode)
    ratings = assign_ratings(reader, patient, encounters)
    sessions = [
        session_record(reader, number, encounter, session_ratings)
        for number, (encounter, session_ratings) in enumerate(
            zip(encounters, ratings, strict=True), start=1
        )
    ]
    if reader.issues:
        raise FhirInputError(reader.issues)
    try:
        history = ClientHistory.model_validate(
            {"client": client, "therapist": therapist, "sessions": sessions}
        )
    except ValidationError as error:
        raise FhirInputError(_contract_issues(reader, error)) from None
    return FhirHistory(
        history=history,
        patient=patient,
        episode=episode,
        encounters=encounters,
        ratings=[[r.source for r in session.values()] for session in ratings],
    )


def history_from_bundle(data: Any, *, patient_id: str | None = None) -> FhirHistory:
    """The client history in a FHIR Bundle (JSON), validated as R4 and by the contract."""
    return history_from_resources(entries(parse_bundle(data), "Bundle"), patient_id=patient_id)
