"""The contract's `ClientHistory` as a FHIR R4 Bundle, the inverse of `reading`.

For examples, tests and clinics that hold the contract's tables and want to try the FHIR
endpoints. Resources refer to each other as `Type/id`; the Patient and Practitioner keep
the contract's ids, the other resources get stable ids derived from them.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from data_schemas import ranges
from data_schemas.fhir import codes
from data_schemas.records import ClientHistory, SessionRecord

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, codes.PRODUCT_BASE)
UCUM = "http://unitsofmeasure.org"

_INSTRUMENT_DISPLAY = {code: i.name for code, i in ranges.INSTRUMENTS.items()}


def _fhir_id(value: str, what: str) -> str:
    if not _FHIR_ID.match(value):
        raise ValueError(
            f"{what} {value!r} cannot be a FHIR id: FHIR ids use only letters, digits, '-' "
            "and '.', at most 64 characters"
        )
    return value


def _stable_id(*parts: object) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(str(p) for p in parts)))


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _score(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "score", "system": UCUM, "code": "{score}"}


def _patient(history: ClientHistory) -> dict[str, Any]:
    client = history.client
    return {
        "resourceType": "Patient",
        "id": _fhir_id(client.client_id, "client_id"),
        "gender": codes.GENDER_OF_SEX[client.sex],
        "extension": [
            {
                "url": codes.EXT_AGE_AT_INTAKE,
                "valueAge": {
                    "value": client.age_years,
                    "unit": "years",
                    "system": UCUM,
                    "code": "a",
                },
            },
            {"url": codes.EXT_INTERPRETER_REQUIRED, "valueBoolean": client.interpreter_used},
        ],
    }


def _episode(history: ClientHistory, episode_id: str) -> dict[str, Any]:
    client = history.client
    episode: dict[str, Any] = {
        "resourceType": "EpisodeOfCare",
        "id": episode_id,
        "status": "active",
        "patient": {"reference": f"Patient/{client.client_id}"},
        "careManager": {"reference": f"Practitioner/{client.therapist_id}"},
        "period": {"start": client.intake_date.isoformat()},
        "extension": [
            {"url": codes.EXT_PRIOR_EPISODES, "valueInteger": client.prior_episodes},
            {"url": codes.EXT_HISTORY_OF_VIOLENCE, "valueBoolean": client.history_of_violence},
            {"url": codes.EXT_SUBSTANCE_MISUSE, "valueBoolean": client.substance_misuse},
            {
                "url": codes.EXT_PRIMARY_PROBLEM,
                "valueCoding": _coding(codes.PRIMARY_PROBLEM, client.primary_problem),
            },
            {
                "url": codes.EXT_TREATMENT_SETTING,
                "valueCoding": _coding(codes.TREATMENT_SETTING, client.setting),
            },
        ],
    }
    if client.violent_incident_this_episode is not None:
        episode["extension"].append(
            {
                "url": codes.EXT_VIOLENT_INCIDENT,
                "valueBoolean": client.violent_incident_this_episode,
            }
        )
    if client.site_id is not None:
        episode["managingOrganization"] = {
            "reference": f"Organization/{_fhir_id(client.site_id, 'site_id')}"
        }
    return episode


def _practitioner(history: ClientHistory) -> dict[str, Any]:
    therapist = history.therapist
    return {
        "resourceType": "Practitioner",
        "id": _fhir_id(therapist.therapist_id, "therapist_id"),
        "qualification": [
            {"code": {"coding": [_coding(codes.THERAPIST_PROFESSION, therapist.profession)]}},
            {"code": {"coding": [_coding(codes.THERAPEUTIC_ORIENTATION, therapist.orientation)]}},
        ],
        "extension": [
            {"url": codes.EXT_YEARS_EXPERIENCE, "valueDecimal": therapist.years_experience},
            {"url": codes.EXT_CASELOAD, "valueInteger": therapist.caseload},
        ],
    }


def _encounter(history: ClientHistory, session: SessionRecord, encounter_id: str, episode_id: str):
    code, display = codes.ENCOUNTER_CLASS_OF_SETTING[history.client.setting]
    return {
        "resourceType": "Encounter",
        "id": encounter_id,
        "status": "finished" if session.attended else "cancelled",
        "class": _coding(codes.ACT_CODE, code, display),
        "subject": {"reference": f"Patient/{history.client.client_id}"},
        "episodeOfCare": [{"reference": f"EpisodeOfCare/{episode_id}"}],
        "participant": [
            {"individual": {"reference": f"Practitioner/{history.therapist.therapist_id}"}}
        ],
        "period": {"start": session.session_date.isoformat()},
    }


def _observations(
    history: ClientHistory, session: SessionRecord, encounter_id: str
) -> list[dict[str, Any]]:
    client_id = history.client.client_id

    def observation(name: str, code: dict[str, Any], value: float, performer: str) -> dict:
        return {
            "resourceType": "Observation",
            "id": _stable_id(client_id, session.session_number, name),
            "status": "final",
            "category": [{"coding": [_coding(codes.OBSERVATION_CATEGORY, "survey", "Survey")]}],
            "code": {"coding": [code]},
            "subject": {"reference": f"Patient/{client_id}"},
            "encounter": {"reference": f"Encounter/{encounter_id}"},
            "effectiveDateTime": session.session_date.isoformat(),
            "performer": [{"reference": performer}],
            "valueQuantity": _score(value),
        }

    client_ref = f"Patient/{client_id}"
    out = []
    if session.alliance_score is not None and session.alliance_instrument is not None:
        rater = (
            f"Practitioner/{history.therapist.therapist_id}"
            if session.alliance_rater == ranges.AllianceRater.THERAPIST.value
            else client_ref
        )
        instrument = session.alliance_instrument
        out.append(
            observation(
                "alliance",
                _coding(codes.ALLIANCE_INSTRUMENTS, instrument, _INSTRUMENT_DISPLAY[instrument]),
                session.alliance_score,
                rater,
            )
        )
    if session.anxiety_gad7 is not None:
        gad7 = _coding(
            codes.LOINC, codes.GAD7_TOTAL, "Generalized anxiety disorder 7 item (GAD-7) total score"
        )
        out.append(observation("gad7", gad7, session.anxiety_gad7, client_ref))
    if session.pre_session_distress is not None:
        distress = _coding(
            codes.ALLIANCE_INSTRUMENTS,
            codes.PRE_SESSION_DISTRESS_CODE,
            "Pre-session distress (0-10)",
        )
        out.append(observation("distress", distress, session.pre_session_distress, client_ref))
    return out


def bundle_from_history(history: ClientHistory) -> Bundle:
    """A `collection` Bundle holding the client's history as FHIR R4 resources."""
    client_id = history.client.client_id
    episode_id = _stable_id(client_id, "episode")
    resources = [_patient(history), _practitioner(history), _episode(history, episode_id)]
    for session in history.sessions:
        encounter_id = _stable_id(client_id, session.session_number, "encounter")
        resources.append(_encounter(history, session, encounter_id, episode_id))
        resources.extend(_observations(history, session, encounter_id))
    return Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": resource} for resource in resources],
        }
    )
