"""OperationOutcome: how every FHIR refusal answers, one issue per problem."""

from __future__ import annotations

import json

from fhir.resources.R4B.operationoutcome import OperationOutcome

from secondlook.fhir.problems import Problem

MAX_ISSUES = 100  # enough to fix a bundle in one go; a flood of the same mistake says no more


def operation_outcome(problems: list[Problem]) -> dict:
    """Severity error, the issue code, the rule broken and the FHIRPath it applies to."""
    issues = [{"severity": "error", "code": p.code, "diagnostics": p.diagnostics,
               **({"expression": [p.expression]} if p.expression else {})} for p in problems[:MAX_ISSUES]]
    if len(problems) > MAX_ISSUES:
        issues.append({"severity": "error", "code": "too-costly",
                       "diagnostics": f"{len(problems) - MAX_ISSUES} more problems are not listed"})
    return OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": issues}).model_dump(
        mode="json")


def outcome_of(code: str, diagnostics: str) -> dict:
    """An outcome about the request as a whole (no element): login, forbidden, not-found, ..."""
    return operation_outcome([Problem("", diagnostics, code)])


def to_json(resource: dict) -> bytes:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
