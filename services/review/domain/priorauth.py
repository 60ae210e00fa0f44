"""A reviewer's prior-authorization decision, item by item: pure rules, no I/O.

Each requested item gets one action (X12 review action codes, as PAS's
ClaimResponse carries them):
  APPROVE  A1  certified in total
  MODIFY   A6  certified with changes: a smaller approved quantity, or another service
               of the same system (an adverse determination too: same reviewer rule)
  DENY     A3  not certified: a specific reason from the table (reference data),
               the reviewer's explanation for the provider and a plain-language
               line for the patient; and a reviewer of the same or a similar
               specialty as the service
  PEND     A4  more information needed (the NEEDS_INFO round trip)
Every violation is named by its field path; nothing is decided from a refused one.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import astuple, dataclass

from secondlook.codes import procedure_code_problem

APPROVE, MODIFY, DENY, PEND = "APPROVE", "MODIFY", "DENY", "PEND"
X12_REVIEW_ACTION = {APPROVE: "A1", MODIFY: "A6", DENY: "A3", PEND: "A4"}
MAX_TEXT = 2000
MAX_PATIENT_TEXT = 500


@dataclass(frozen=True)
class Reason:
    code: str
    provider: str  # what the provider is told (the table's standard wording)
    patient: str  # the plain-language line


@dataclass(frozen=True)
class DenialReasons:
    version: str
    reasons: Mapping[str, Reason]

    @classmethod
    def from_document(cls, doc: Mapping) -> DenialReasons:
        reasons = {}
        for i, raw in enumerate(doc.get("reasons", [])):
            code, provider, patient = (str(raw.get(k, "")).strip() for k in ("code", "provider", "patient"))
            if not code or not provider or not patient:
                raise ValueError(f"reasons[{i}]: code, provider and patient text are each required")
            if code in reasons:
                raise ValueError(f"reasons[{i}].code: {code!r} repeats")
            reasons[code] = Reason(code, provider, patient)
        return cls(str(doc.get("version", "")), reasons)


@dataclass(frozen=True)
class Requested:
    """An item as requested (domain/priorauth.py in intake: its key, service and
    quantity), with the specialties matching found may deny or modify it (its
    service map: the same or a similar specialty as the service)."""
    key: str
    system: str
    code: str
    quantity: float
    qualified: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemDecision:
    key: str  # the requested item's key
    action: str  # APPROVE, MODIFY, DENY or PEND
    reason_code: str = ""  # DENY (and, optionally, MODIFY)
    provider_text: str = ""  # DENY: the reviewer's explanation for the provider; MODIFY: what changed and why
    patient_text: str = ""  # DENY: in plain language for the patient (the table's line when empty)
    approved_quantity: float = 0.0  # MODIFY
    approved_code: str = ""  # MODIFY: another service of the same system

    @property
    def review_action(self) -> str:
        return X12_REVIEW_ACTION[self.action]


def check_decision(requested: Collection[Requested], decisions: list[ItemDecision], reasons: DenialReasons,
                   qualifies: Callable[[str, str], bool]) -> list[tuple[str, str]]:
    """Every violation of the decisions, by field path (`decisions[i].reason_code`).
    `qualifies(system, code)`: whether the deciding reviewer is of the same or a
    similar specialty as that service (the service-to-specialty map; for an X12
    service type, which names no procedure, the caller answers by the diagnosis)."""
    violations: list[tuple[str, str]] = []
    by_key = {r.key: r for r in requested}
    seen: set[str] = set()
    for i, d in enumerate(decisions):
        path = f"decisions[{i}]"
        item = by_key.get(d.key)
        if item is None:
            violations.append((f"{path}.item_key", "is not an item of this request"))
            continue
        if d.key in seen:
            violations.append((f"{path}.item_key", "is decided twice: one action per item"))
        seen.add(d.key)
        if d.action not in X12_REVIEW_ACTION:
            violations.append((f"{path}.action", f"must be one of {', '.join(X12_REVIEW_ACTION)}"))
            continue
        for field, text, limit in (("provider_text", d.provider_text, MAX_TEXT),
                                   ("patient_text", d.patient_text, MAX_PATIENT_TEXT)):
            if len(text) > limit or (text and not text.replace("\n", " ").isprintable()):
                violations.append((f"{path}.{field}", f"must be printable text of at most {limit} characters"))
        if d.action == DENY:
            if d.reason_code not in reasons.reasons:
                violations.append((f"{path}.reason_code", "a denial needs a specific reason: one of "
                                                          + ", ".join(sorted(reasons.reasons))))
            if not d.provider_text.strip():
                violations.append((f"{path}.provider_text", "a denial needs the reviewer's explanation for the "
                                                            "provider, specific to this request"))
            if not qualifies(item.system, item.code):
                violations.append((f"{path}.action", "a denial needs a reviewer of the same or a similar "
                                                     "specialty as the service"))
        elif d.action == MODIFY:
            violations += _modification(path, d, item, qualifies)
        if d.reason_code and d.action in (APPROVE, PEND):
            violations.append((f"{path}.reason_code", f"is for a denial or a modification, not {d.action}"))
        elif d.reason_code and d.action == MODIFY and d.reason_code not in reasons.reasons:
            violations.append((f"{path}.reason_code", "must be one of the table's reasons, or empty"))
        if d.action in (APPROVE, PEND) and (d.approved_code or d.approved_quantity or d.patient_text):
            violations.append((f"{path}.action", f"{d.action} takes no approved service, quantity or patient text"))
        elif d.action == DENY and (d.approved_code or d.approved_quantity):
            violations.append((f"{path}.action", "DENY approves nothing: no approved service or quantity"))
    for key in by_key.keys() - seen:
        violations.append(("decisions", f"item {key} is not decided: every item needs an action"))
    return violations


def _modification(path: str, d: ItemDecision, item: Requested, qualifies: Callable[[str, str], bool]
                  ) -> list[tuple[str, str]]:
    """A modification approves less than requested or another service of the same
    system; it is an adverse determination too, so it needs a qualified reviewer."""
    violations = []
    quantity_given = d.approved_quantity != 0
    if quantity_given and not (0 < d.approved_quantity < math.inf):
        violations.append((f"{path}.approved_quantity", "must be a finite number above 0"))
    other = bool(d.approved_code) and d.approved_code != item.code
    if d.approved_code and item.system in ("CPT", "HCPCS") and procedure_code_problem(item.system, d.approved_code):
        violations.append((f"{path}.approved_code", f"must be a {item.system} code, as the item's service is"))
    elif d.approved_code and item.system not in ("CPT", "HCPCS") and not (
            d.approved_code.isalnum() and len(d.approved_code) <= 3):
        violations.append((f"{path}.approved_code", "must be an X12 service type code, as the item's service is"))
    smaller = quantity_given and 0 < d.approved_quantity < item.quantity
    if not smaller and not other:
        violations.append((f"{path}.approved_quantity", "a modification approves less than requested "
                           f"(more than 0, under {item.quantity:g}) or another service (approved_code)"))
    if not d.provider_text.strip():
        violations.append((f"{path}.provider_text", "a modification says what changed and why"))
    if not qualifies(item.system, item.code):
        violations.append((f"{path}.action", "a modification needs a reviewer of the same or a similar "
                                             "specialty as the service"))
    return violations


def patient_line(decision: ItemDecision, reasons: DenialReasons) -> str:
    """The plain-language line a denial gives the patient: the reviewer's, else the table's."""
    if decision.patient_text.strip():
        return decision.patient_text.strip()
    reason = reasons.reasons.get(decision.reason_code)
    return reason.patient if reason else ""


# The API's ItemAction numbers (case.proto), as the rules above name them.
ACTION_OF = {1: APPROVE, 2: MODIFY, 3: DENY, 4: PEND}
NUMBER_OF = {action: number for number, action in ACTION_OF.items()}


def decision_violations(requested: Collection[Requested], specialty: str, decisions: list[ItemDecision],
                        questions: list[str], reasons: DenialReasons) -> list[tuple[str, str]]:
    """`check_decision` for the reviewer offered the case under `specialty`: qualified
    for an item when matching found that specialty may deny or modify it. A pended
    item waits on the provider's records (the NEEDS_INFO round trip): every item is
    pended then, with the questions; a final decision asks none."""
    qualified = {(r.system, r.code): r.qualified for r in requested}
    violations = check_decision(requested, decisions, reasons,
                                lambda system, code: specialty in qualified.get((system, code), ()))
    pended = [d for d in decisions if d.action == PEND]
    if pended and len(pended) != len(decisions):
        violations.append(("decisions", "pend every item or none: a pended request waits on the provider's "
                                        "records, then every item is decided at once"))
    if pended and not questions:
        violations.append(("questions", "are required to pend: what the reviewer needs from the provider"))
    if not pended and questions:
        violations.append(("questions", "are for pending the request; a final decision asks none"))
    return violations


def decisions_text(decisions: list[ItemDecision]) -> str:
    """The decisions, texts and all, as one text, for their fingerprint (decision_id)."""
    return "\x1e".join("\x1f".join(map(str, astuple(d))) for d in decisions)


def decision_id(assignment_id: str, fingerprint: str) -> str:
    """The decision of this `fingerprint` (a keyed digest of `decisions_text`, never the
    reviewer's words themselves: the id travels in events): a retried call names the
    same decision (intake keeps it once); another content, another decision (the one
    review announces is the one intake shows)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"secondlook:prior-auth-decision:{assignment_id}:{fingerprint}"))
