"""What every part of reading FHIR shares: the resources, the issues found so far, and
where each contract field came from (so a contract error points at its FHIR element).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_schemas.fhir.resources import FhirIssue, Located, ResourceIndex


@dataclass
class Reader:
    """The resources being read, the issues found, and each contract field's FHIR source."""

    index: ResourceIndex
    issues: list[FhirIssue] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def problem(self, expression: str, message: str, code: str = "invalid") -> None:
        self.issues.append(FhirIssue(expression, message, code))

    def extension(self, located: Located, url: str, *, required: bool = True) -> tuple[Any, str]:
        """The value of a simple extension and its path; records an issue when required."""
        for index, extension in enumerate(located.resource.extension or []):
            if extension.url != url:
                continue
            for name in ("valueBoolean", "valueInteger", "valueDecimal", "valueCoding", "valueAge"):
                value = getattr(extension, name, None)
                if value is not None:
                    return value, f"{located.where}.extension[{index}].{name}"
        if required:
            self.problem(
                f"{located.where}.extension",
                f"{located.type} needs the extension {url} (see fhir_mapping.md)",
                "required",
            )
        return None, f"{located.where}.extension"


def as_number(value: Any) -> Any:
    """Decimals as numbers (whole ones as integers); Age and Coding reduced to their value."""
    if hasattr(value, "value") and hasattr(value, "unit"):
        value = value.value
    if hasattr(value, "code") and hasattr(value, "system"):
        return value.code
    if value is None or isinstance(value, bool | int | str):
        return value
    number = float(value)
    return int(number) if number.is_integer() else number
