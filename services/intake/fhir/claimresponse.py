"""The PAS response: a Bundle whose first entry is a ClaimResponse answering a prior-
authorization request, item by item, with X12 review actions (element 306): A4
pended while a reviewer decides, then A1 certified, A6 modified or A3 not
certified, its reason (the platform's own code and the reviewer's words) in a
process note the item points to. The pre-authorization reference is the case id.

The other entries are what the ClaimResponse refers to, built from the request
(the patient by name and member id, the payer, the requestor): the submitter
sent them, and nothing else of the case is added.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from secondlook.v1 import case_pb2

from ..domain.case import Case, confirmed_decisions, open_questions
from ..domain.priorauth import REVIEW_ACTION, DecidedItem, Decision, Party, PriorAuthRequest, RequestedService
from . import vocabulary as v

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
X12_REVIEW_ACTIONS = "https://codesystem.x12.org/005010/306"
REVIEW_ACTION_NAMES = {"A1": "Certified in total", "A3": "Not Certified", "A4": "Pended", "A6": "Modified"}


@dataclass(frozen=True)
class ItemOutcome:
    """One item's answer: its X12 review action, and for a denial or a modification
    the reason's code and the text for the provider."""
    item: RequestedService
    review_action: str  # A1, A3, A4 or A6
    reason_code: str = ""
    reason_text: str = ""
    approved_quantity: float | None = None
    approved_code: str = ""

    def __post_init__(self) -> None:
        if self.review_action not in REVIEW_ACTION_NAMES:
            raise ValueError(f"review action {self.review_action!r} is not one of {', '.join(REVIEW_ACTION_NAMES)}")
        if self.approved_quantity is not None and not 0 < self.approved_quantity < float("inf"):
            raise ValueError("an approved quantity is a finite number above 0")


def _modified(d: DecidedItem) -> DecidedItem:
    """What a decision approves instead: only a modification (A6) says."""
    return d if d.action == 2 else DecidedItem(d.key, d.action)


def outcomes_of(request: PriorAuthRequest, decision: Decision | None,
                with_texts: bool = True) -> list[ItemOutcome] | None:
    """Each item's answer from the reviewer's decision; None (every item pended) until
    one is made. Without texts: the reasons' codes only (a webhook's copy)."""
    if decision is None:
        return None
    by_key = {d.key: d for d in decision.items}
    return [ItemOutcome(item, REVIEW_ACTION[by_key[item.key].action], by_key[item.key].reason_code,
                        by_key[item.key].provider_text if with_texts else "",
                        _modified(by_key[item.key]).approved_quantity or None,
                        _modified(by_key[item.key]).approved_code)
            if item.key in by_key else ItemOutcome(item, "A4") for item in request.items]


def claim_response_of(case: Case, request: PriorAuthRequest | None = None,
                      announced: str = "", with_texts: bool = True, announced_version: int = 0) -> tuple[dict, bool]:
    """The case's PAS response Bundle as it stands (every item pended until review's
    decision is confirmed, with the reviewer's open questions while it waits on
    them), and whether it is decided. `request`: the case's own
    (read with its content) unless given. `announced`: a decision id the caller saw
    review announce (its opinion.submitted or opinion.amended), taken as confirmed, and
    answered with: a notice of one decision carries that decision, whatever came since.
    `with_texts` False: the reviewer's words left out, the reasons' codes kept (a
    webhook carries codes, never free text; `$inquire` answers with the words).
    `announced_version`: the announced decision's version as review numbered it (the
    response's meta.versionId, known before intake records the announcement)."""
    confirmed = confirmed_decisions(case)
    decision = next((d for d in case.prior_auth_decisions if d.decision_id == announced), None) if announced \
        else None
    if decision is None and case.content is not None and confirmed:
        decision = confirmed[-1]
    request = request or case.content.prior_auth
    created = decision.decided_at if decision else case.submitted_at
    asked = open_questions(case) if decision is None and with_texts else []
    unmatched = decision is None and case.status == case_pb2.CASE_STATUS_UNMATCHED
    bundle = claim_response_bundle(request, case.case_id, created, outcomes_of(request, decision, with_texts),
                                   cancelled=case.withdrawn_at is not None, questions=asked,
                                   submission_system=case.client_request_system, unmatched=unmatched)
    # The decision's version (an amendment is the next), as the webhook's decision_version
    # says: one ClaimResponse id, a version per decision; as review numbered it when the
    # caller knows, else its place among the announcements intake recorded (never guessed).
    version = 0
    if decision is not None and announced and announced_version > 0:
        version = announced_version
    elif decision is not None and decision in confirmed:
        version = confirmed.index(decision) + 1
    if version:
        bundle["entry"][0]["resource"]["meta"].update(versionId=str(version), lastUpdated=created.isoformat())
    return bundle, decision is not None


def _party_resource(resource_type: str, rid: str, party: Party) -> dict:
    resource = {"resourceType": resource_type, "id": rid}
    if party.npi:
        resource["identifier"] = [{"system": v.NPI, "value": party.npi}]
    elif party.identifier:
        resource["identifier"] = [{"value": party.identifier}]
    if party.name:
        resource["name"] = party.name if resource_type == "Organization" else [{"text": party.name}]
    return resource


def _item(outcome: ItemOutcome, case_id: str, position: int, notes: list[dict]) -> dict:
    action = [{"url": f"{PAS}/extension-reviewActionCode", "valueCodeableConcept": {"coding": [
        {"system": X12_REVIEW_ACTIONS, "code": outcome.review_action,
         "display": REVIEW_ACTION_NAMES[outcome.review_action]}]}}]
    if outcome.review_action in ("A1", "A6"):  # the item's certification number
        action.insert(0, {"url": "number", "valueString": f"{case_id}-{position}"})
    item: dict = {"itemSequence": outcome.item.sequence, "adjudication": [{
        "extension": [{"url": f"{PAS}/extension-reviewAction", "extension": action}],
        "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adjudication",
                                 "code": "submitted"}]}}]}
    extensions = []
    if outcome.item.trace_number:
        extensions.append({"url": f"{PAS}/extension-itemTraceNumber",
                           "valueIdentifier": {"value": outcome.item.trace_number}})
    if outcome.review_action == "A6":
        detail = []
        if outcome.approved_code:
            detail.append({"url": "productOrServiceCode", "valueCodeableConcept": {
                "coding": [{"system": _system_url(outcome.item.system), "code": outcome.approved_code}]}})
        if outcome.approved_quantity is not None:
            detail.append({"url": "quantity", "valueQuantity": {"value": outcome.approved_quantity}})
        extensions.append({"url": f"{PAS}/extension-itemAuthorizedDetail", "extension": detail})
    if outcome.review_action == "A6" and not extensions[-1]["extension"]:
        extensions.pop()  # nothing to authorize in detail: no empty extension (ext-1)
    if extensions:
        item["extension"] = extensions
    if outcome.reason_code or outcome.reason_text:
        # The reason is the platform's own code (reasonCode is bound to X12's licensed
        # list): a note the item points to, code and text; a modification's explanation
        # (its text, with or without a code) the same way.
        said = ": ".join(part for part in (outcome.reason_code, outcome.reason_text) if part)
        notes.append({"number": len(notes) + 1, "type": "display", "text": said})
        item["noteNumber"] = [len(notes)]
    return item


def _system_url(system: str) -> str:
    return {"CPT": v.CPT, "HCPCS": v.HCPCS}.get(system, "https://codesystem.x12.org/005010/1365")


def claim_response_bundle(request: PriorAuthRequest, case_id: str, created: datetime,
                          outcomes: list[ItemOutcome] | None = None, cancelled: bool = False,
                          questions: list[str] | None = None, submission_system: str = "",
                          unmatched: bool = False) -> dict:
    """The response Bundle: every item pended (A4) until `outcomes` are given, then each
    item's decision. `outcome` is complete either way: PAS binds it to complete | error |
    partial, and says a pend by the items' review actions. `cancelled`: the submitter
    withdrew the request (status cancelled, and the disposition says so: a pended item
    of it will never be decided). `questions`: what the reviewer asks before deciding
    (a pend for more information), each a process note of the response. `unmatched`:
    no reviewer could be found for it: still pended, and the disposition says why (a
    payer's clock runs, and its operations need to know; ours are alerted)."""
    if created.tzinfo is None:
        raise ValueError("created must carry its time zone (a FHIR dateTime with a time has one)")
    outcomes = outcomes or [ItemOutcome(item, "A4") for item in request.items]
    notes: list[dict] = []
    items = [_item(o, case_id, n, notes) for n, o in enumerate(outcomes, start=1)]
    notes += [{"number": len(notes) + n, "type": "display", "text": f"The reviewer asks: {q}"}
              for n, q in enumerate(questions or (), start=1)]
    base = "urn:uuid:"
    # Stable per case, so an $inquire answers with the same ids; urn:uuid wants a UUID.
    ids = {kind: str(uuid.uuid5(uuid.NAMESPACE_URL, f"secondlook:claim-response:{case_id}:{kind}"))
           for kind in ("response", "patient", "insurer", "requestor")}
    response = {
        "resourceType": "ClaimResponse", "id": ids["response"],
        "meta": {"profile": [f"{PAS}/profile-claimresponse"]},
        "status": "active", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                                  "code": request.claim_type}]},
        "use": "preauthorization", "created": created.isoformat(),
        "patient": {"reference": f"{base}{ids['patient']}"},
        "insurer": {"reference": f"{base}{ids['insurer']}"},
        "requestor": {"reference": f"{base}{ids['requestor']}"},
        # PAS binds outcome to complete | error | partial: a pended item says so by its A4.
        "outcome": "complete",
        "preAuthRef": case_id,
        "request": {"identifier": {"value": request.claim_identifier or request.submission_id}},
        "item": items,
    }
    if cancelled:
        response["status"] = "cancelled"
        pended = all(o.review_action == "A4" for o in outcomes)
        response["disposition"] = ("The request was withdrawn by its submitter: it will not be decided."
                                   if pended else "The request was withdrawn by its submitter after this decision.")
    if unmatched and not cancelled:
        response["disposition"] = ("Pended: no reviewer qualified for this request could be found; the platform's "
                                   "operations have been alerted.")
    if notes:
        response["processNote"] = notes
    if request.claim_identifier:
        response["identifier"] = [{"value": request.claim_identifier}]
    patient = {"resourceType": "Patient", "id": ids["patient"],
               "identifier": [{"type": {"coding": [{"system": v.IDENTIFIER_TYPE, "code": "MB"}]},
                               "value": request.member_id}],
               "name": [{"family": request.patient_family_name, **({"given": list(request.patient_given_names)}
                                                                   if request.patient_given_names else {})}]}
    if request.patient_sex in ("male", "female", "other", "unknown"):
        patient["gender"] = request.patient_sex
    entries = [response, patient, _party_resource("Organization", ids["insurer"], request.payer),
               _party_resource("Organization", ids["requestor"], request.requesting_organization)]
    return {"resourceType": "Bundle", "type": "collection", "timestamp": created.isoformat(),
            "identifier": {**({"system": submission_system} if submission_system else {}),
                           "value": request.submission_id},
            "entry": [{"fullUrl": f"{base}{r['id']}", "resource": r} for r in entries]}
