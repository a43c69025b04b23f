"""The data contract in FHIR R4: reading a client history from resources and writing one.

The mapping is documented in `data_schemas/fhir_mapping.md`; its URLs and codes are in
`codes`. Parsing and validation use the `fhir.resources` R4B classes (see `resources`).
"""

from data_schemas.fhir.reading import (
    FhirHistory,
    MissingResourceError,
    history_from_bundle,
    history_from_resources,
)
from data_schemas.fhir.resources import (
    FHIR_VERSION,
    FhirInputError,
    FhirIssue,
    Located,
    NotEnrolledError,
    entries,
    parse_bundle,
    parse_resource,
)
from data_schemas.fhir.writing import bundle_from_history

__all__ = [
    "FHIR_VERSION",
    "FhirHistory",
    "FhirInputError",
    "FhirIssue",
    "Located",
    "MissingResourceError",
    "NotEnrolledError",
    "bundle_from_history",
    "entries",
    "history_from_bundle",
    "history_from_resources",
    "parse_bundle",
    "parse_resource",
]
