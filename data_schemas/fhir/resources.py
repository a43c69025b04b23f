"""FHIR R4 JSON in: parsed and validated with `fhir.resources`, each resource with its place.

`fhir.resources` 8 ships FHIR R5 as its default package, R4B (4.3.0) and STU3; it has had no
separate 4.0.1 package since version 7. R4B is R4 with changes confined to the medication
regulation, evidence and subscription resources ("Implementers that do not use the specific
portions where changes have been made can continue to use either R4 or R4B without any
functional difference", HL7, R4B explanation page), so its Patient, Practitioner,
EpisodeOfCare, Encounter, Observation, QuestionnaireResponse, RiskAssessment, Bundle and
OperationOutcome classes validate R4 resources exactly.

Every resource keeps a FHIRPath-like location (`Bundle.entry[3].resource`) so an error
can say where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

#: The FHIR version the service reads and writes, stated in responses and documents.
FHIR_VERSION = "4.0.1"
_ABSTRACT = (Resource, DomainResource)


@dataclass(frozen=True)
class FhirIssue:
    """One thing wrong with the FHIR input: where, what, and the OperationOutcome issue type."""

    expression: str
    message: str
    code: str = "invalid"


class FhirInputError(ValueError):
    """The FHIR input cannot be read as a client history; carries every issue found."""

    def __init__(self, issues: list[FhirIssue]) -> None:
        self.issues = issues
        first = issues[0]
        super().__init__(f"{len(issues)} problem(s) in the FHIR input; first: {first.message}")


class NotEnrolledError(FhirInputError):
    """The patient has no psychotherapy episode of this product: nothing to predict for."""


@dataclass(frozen=True)
class Located:
    """A parsed resource, where it was found, and the full URL it was given (if any)."""

    resource: Resource
    where: str
    full_url: str | None = None

    @property
    def type(self) -> str:
        return self.resource.get_resource_type()

    @property
    def reference(self) -> str:
        """How another resource refers to this one: `Type/id`, else its full URL."""
        if self.resource.id:
            return f"{self.type}/{self.resource.id}"
        return self.full_url or self.where


def _expression(base: str, location: tuple[Any, ...]) -> str:
    path = base
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "__root__":
            path += f".{part}"
    return path


def validation_issues(error: ValidationError, base: str) -> list[FhirIssue]:
    """Each pydantic error as an issue at its FHIRPath; the value sent is never repeated."""
    return [
        FhirIssue(
            _expression(base, tuple(e.get("loc", ()))),
            str(e["msg"]),
            "required" if e["type"] == "missing" else "structure",
        )
        for e in error.errors()
    ]


def parse_resource(data: Any, where: str) -> Resource:
    """One R4 resource from JSON, validated against its class."""
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirInputError(
            [FhirIssue(where, "expected a FHIR resource: a JSON object with a resourceType")]
        )
    try:
        model = get_fhir_model_class(data["resourceType"])
    except (KeyError, ValueError):
        model = None
    if model is None or not issubclass(model, Resource) or model in _ABSTRACT:
        raise FhirInputError(
            [FhirIssue(f"{where}.resourceType", "not a FHIR R4 resource type", "not-supported")]
        )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise FhirInputError(validation_issues(error, where)) from None
    except (TypeError, KeyError, AttributeError):
        # fhir.resources fails this way on some malformed nested resources (a number as
        # a contained resource's resourceType); the location is then only the resource.
        raise FhirInputError(
            [FhirIssue(where, "not a valid FHIR R4 resource: check nested resources", "structure")]
        ) from None


def parse_bundle(data: Any) -> Bundle:
    """A Bundle from JSON; anything else is an error naming what was sent instead."""
    resource = parse_resource(data, "Bundle")
    if not isinstance(resource, Bundle):
        raise FhirInputError(
            [FhirIssue("Bundle.resourceType", "the body must be a Bundle", "structure")]
        )
    return resource


def entries(bundle: Bundle, where: str) -> list[Located]:
    """The resources of a Bundle's entries, each with its location."""
    return [
        Located(entry.resource, f"{where}.entry[{index}].resource", entry.fullUrl)
        for index, entry in enumerate(bundle.entry or [])
        if entry.resource is not None
    ]


def reference_key(reference: str) -> str:
    """`Type/id` of a relative or absolute reference (versions dropped); URNs unchanged."""
    if reference.startswith("urn:"):
        return reference
    parts = reference.split("/_history/", maxsplit=1)[0].rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference


class ResourceIndex:
    """Resolves references among the resources given, by `Type/id` or full URL."""

    def __init__(self, resources: list[Located]) -> None:
        self.resources = resources
        self._by_key: dict[str, Located] = {}
        for located in resources:
            if located.resource.id:
                self._by_key.setdefault(f"{located.type}/{located.resource.id}", located)
            if located.full_url:
                self._by_key.setdefault(located.full_url, located)
                self._by_key.setdefault(reference_key(located.full_url), located)

    def of_type(self, resource_type: str) -> list[Located]:
        return [located for located in self.resources if located.type == resource_type]

    def resolve(self, reference: str | None) -> Located | None:
        if not reference:
            return None
        return self._by_key.get(reference) or self._by_key.get(reference_key(reference))

    def refers_to(self, reference: str | None, target: Located) -> bool:
        """Whether a reference points at the given resource."""
        if not reference:
            return False
        found = self.resolve(reference)
        if found is not None:
            return found is target
        return reference_key(reference) == target.reference
