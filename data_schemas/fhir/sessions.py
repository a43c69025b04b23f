"""The sessions of an episode from FHIR: its Encounters in date order, each with its ratings.

An Encounter is a session when it belongs to the episode and was held (finished) or missed
(cancelled); a rating (Observation or QuestionnaireResponse) belongs to the session its
`encounter` names, else to the session on its date.
"""

from __future__ import annotations

from typing import Any

from data_schemas.fhir import codes
from data_schemas.fhir.ratings import Rating, calendar_day, rating_of
from data_schemas.fhir.reader import Reader
from data_schemas.fhir.resources import Located


def session_encounters(reader: Reader, patient: Located, episode: Located) -> list[Located]:
    """The episode's sessions that took place or were missed, in date order."""
    sessions = []
    for located in reader.index.of_type("Encounter"):
        encounter = located.resource
        if not any(
            reader.index.refers_to(ref.reference, episode) for ref in encounter.episodeOfCare or []
        ):
            continue
        if encounter.status in codes.SKIPPED_ENCOUNTER_STATUSES:
            continue
        if encounter.subject is not None and not reader.index.refers_to(
            encounter.subject.reference, patient
        ):
            reader.problem(f"{located.where}.subject", "the Encounter's subject is not the Patient")
            continue
        if encounter.status not in codes.ATTENDED_STATUSES | codes.MISSED_STATUSES:
            reader.problem(
                f"{located.where}.status",
                "a session's status must be finished (attended), cancelled (missed), or "
                "planned (not yet held)",
            )
            continue
        start = encounter.period.start if encounter.period else None
        if calendar_day(start) is None:
            reader.problem(
                f"{located.where}.period.start",
                "a session's Encounter needs period.start with a full date",
                "required",
            )
            continue
        sessions.append(located)
    return sorted(
        sessions,
        key=lambda e: (calendar_day(e.resource.period.start), str(e.resource.period.start)),
    )


def assign_ratings(
    reader: Reader, patient: Located, encounters: list[Located]
) -> list[dict[str, Rating]]:
    """Each rating to its session: by its encounter reference, else by its date."""
    by_session: list[dict[str, Rating]] = [{} for _ in encounters]
    days = [calendar_day(e.resource.period.start) for e in encounters]
    for located in reader.index.resources:
        rating = rating_of(located)
        if rating is None:
            continue
        subject = located.resource.subject
        if subject is not None and not reader.index.refers_to(subject.reference, patient):
            continue
        if rating.encounter is not None:
            target = reader.index.resolve(rating.encounter)
            matches = [i for i, e in enumerate(encounters) if e is target]
        else:
            matches = [i for i, day in enumerate(days) if day is not None and day == rating.day]
        if len(matches) != 1:
            continue
        session = by_session[matches[0]]
        if rating.kind in session:
            reader.problem(
                rating.source.where,
                f"session {matches[0] + 1} has two {rating.kind} ratings (the other is "
                f"{session[rating.kind].source.where}); keep one",
            )
            continue
        session[rating.kind] = rating
    return by_session


def session_record(
    reader: Reader, number: int, encounter: Located, ratings: dict[str, Rating]
) -> dict:
    where, sources, index = encounter.where, reader.sources, number - 1
    session: dict[str, Any] = {
        "session_number": number,
        "session_date": calendar_day(encounter.resource.period.start),
        "attended": encounter.resource.status in codes.ATTENDED_STATUSES,
    }
    sources[f"/sessions/{index}"] = where
    sources[f"/sessions/{index}/session_date"] = f"{where}.period.start"
    sources[f"/sessions/{index}/attended"] = f"{where}.status"
    if "alliance" in ratings:
        rating = ratings["alliance"]
        session["alliance_instrument"] = rating.instrument
        session["alliance_score"] = rating.value
        session["alliance_rater"] = rating.rater
        sources[f"/sessions/{index}/alliance_instrument"] = rating.source.where
        sources[f"/sessions/{index}/alliance_score"] = rating.value_path
        sources[f"/sessions/{index}/alliance_rater"] = rating.source.where
    for kind, name in (("gad7", "anxiety_gad7"), ("distress", "pre_session_distress")):
        if kind in ratings:
            session[name] = ratings[kind].value
            sources[f"/sessions/{index}/{name}"] = ratings[kind].value_path
    return session
