"""A FHIR body as the SubmitCaseRequest the use case takes, or every reason it is
refused, each at the FHIRPath of the element that broke it.

Structural problems (not JSON, not a Bundle, not a valid R4 model) are 400 and
stop there. Everything else is 422 and reported at once: what only FHIR can say
(references, bindings, codes: `translate`), the checks the gRPC edge makes (lists
of a bounded length, else printable text: `secondlook.edge`, which this path does
not pass through) and the
domain's own rules (`validate`, the same function SubmitCase runs). A violation
of the domain's rules names the request field and, where it helps, where FHIR
carries it; it never quotes what was submitted (rules that quote a value have it
cut out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message

from secondlook.edge import size_violations, text_violations
from secondlook.fhir.bundle import read_bundle
from secondlook.fhir.problems import REQUIRED, VALUE, Problem
from services.intake.domain.submission import validate

from . import vocabulary as v
from .translate import Translation, translate

BAD_REQUEST, UNPROCESSABLE = 400, 422

# Where FHIR carries a request field, said with the field's violation (paths with [] for any index).
WHERE_IN_FHIR = {
    "client_request_id": "ServiceRequest.identifier (type PLAC, else the first): the idempotency key",
    "urgency": "ServiceRequest.priority: routine, urgent, asap or stat",
    "patient": "ServiceRequest.subject, a Patient entry",
    "diagnosis_code": f"ServiceRequest.reasonReference to a Condition with an ICD-10-CM coding ({v.ICD10CM})",
    "clinical_question": "ServiceRequest.note",
    "language": f"Patient.communication.language, a BCP-47 code ({v.BCP47})",
    "jurisdiction": "Patient.address country and state",
    "patient.phone": ("Patient.telecom: sms, else a mobile, unlabelled or home phone (E.164, or national in the "
                      "patient's country)"),
    "first_opinion": "a CarePlan in ServiceRequest.supportingInfo, authored by the first opinion's PractitionerRole",
    "first_opinion.physician": "CarePlan.author: a PractitionerRole (or Practitioner)",
    "first_opinion.physician.npi": f"the Practitioner's identifier with system {v.NPI}",
    "first_opinion.organization.name": "CarePlan.author as a PractitionerRole whose organization has a name",
    "first_opinion.proposed_treatment": "CarePlan.activity.detail.code (CPT or HCPCS codings) or CarePlan.description",
    "consent.granted": "a Consent in ServiceRequest.supportingInfo, status active, provision not deny",
    "consent.granted_at": "Consent.dateTime",
    "consent.scope": f"Consent.category with the coding {v.CONSENT_CATEGORY}|{v.SECOND_OPINION_REVIEW}",
    "consent.recorded_by": "Consent.performer (display, identifier or reference)",
    "attachments[].sha256": f"the Attachment's extension {v.EXT_SHA256} (valueString); Attachment.hash, "
                            "a base64 SHA-1 in R4, is not read",
}
# Rules whose text may carry parts of the value whatever is cut out.
_OPAQUE_RULES = {"patient.email": "is not an e-mail address",
                 "first_opinion.physician.email": "is not an e-mail address"}
_INDEX = re.compile(r"\[\d+\]")
_STEP = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")


@dataclass(frozen=True)
class Refusal:
    status: int  # 400 or 422
    problems: list[Problem]


def _value_at(message: Message, proto_path: str) -> object:
    """The value of a field path such as `attachments[1].uri`, or None."""
    node: object = message
    for step in proto_path.split("."):
        match = _STEP.fullmatch(step)
        if match is None or not isinstance(node, Message) or match.group(1) not in node.DESCRIPTOR.fields_by_name:
            return None
        node = getattr(node, match.group(1))
        if match.group(2) is not None:
            i = int(match.group(2))
            node = node[i] if i < len(node) else None
    return node


def explain(translation: Translation, violations: list[tuple[str, str]]) -> list[Problem]:
    """The domain's (field path, rule) violations as Problems at their FHIRPaths,
    leaving out those a FHIR-level problem already explains."""
    out = []
    for proto_path, rule in violations:
        if proto_path in translation.reported:
            continue
        value = _value_at(translation.request, proto_path)
        rule = _OPAQUE_RULES.get(proto_path, rule)
        if isinstance(value, str) and value:
            rule = rule.replace(repr(value[:20]), "the value")
            if len(value) >= 2:  # (one character alone would be replaced inside the rule's own words)
                rule = rule.replace(value, "the value")
        hint = WHERE_IN_FHIR.get(_INDEX.sub("[]", proto_path))
        out.append(Problem(translation.locate(proto_path), f"{proto_path}: {rule}" + (f" (in FHIR: {hint})"
                                                                                      if hint else ""),
                           REQUIRED if rule.startswith("is required") else VALUE))
    return out


def read_submission(body: bytes, now: datetime) -> Translation | Refusal:
    """The translation to submit (its request passed every FHIR and text check), or the refusal.
    `now` is for the domain's rules when they run here to report everything at once."""
    bundle, problems = read_bundle(body)
    if bundle is None:
        return Refusal(BAD_REQUEST, problems)
    translation = translate(bundle, today=now.date())
    text = explain(translation, size_violations(translation.request) or text_violations(translation.request))
    if not translation.problems and not text:
        return translation
    _, violations = validate(translation.request, now) if translation.mapped else (None, [])
    return Refusal(UNPROCESSABLE, translation.problems + text + explain(translation, violations))
