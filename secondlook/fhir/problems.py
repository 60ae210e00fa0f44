"""One reason a bundle is refused: where (FHIRPath), why, and the OperationOutcome
issue code. Structural problems (400) stop the reading; the others (422) are
collected so a client can fix its bundle in one go."""

from __future__ import annotations

from dataclasses import dataclass

# OperationOutcome issue codes (http://hl7.org/fhir/issue-type) used here.
STRUCTURE = "structure"  # not JSON, not a Bundle, not a valid R4 model: 400
REQUIRED = "required"
VALUE = "value"
INVALID = "invalid"
NOT_FOUND = "not-found"  # a reference that resolves to no entry
NOT_SUPPORTED = "not-supported"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Problem:
    expression: str  # FHIRPath of the failing element, e.g. Bundle.entry[2].resource.birthDate
    diagnostics: str  # the rule broken; never the submitted value
    code: str = INVALID
