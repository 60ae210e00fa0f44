"""What a success and a read answer: the transaction-response Bundle, the case as
a ServiceRequest (status only: no PHI, so the read needs no access audit), and the
CapabilityStatement.

The case's status as ServiceRequest.status (the case's own status rides along in
the extension vocabulary.EXT_CASE_STATUS):

  SUBMITTED, MATCHING, OFFERED, ASSIGNED,
  IN_REVIEW, OPINION_READY                 active     (being worked on)
  NEEDS_INFO                               on-hold    (waits on the submitter)
  UNMATCHED                                on-hold    (no reviewer yet; a new match can resume it)
  DELIVERED, CLOSED                        completed
  WITHDRAWN                                revoked
  UNSPECIFIED                              unknown
"""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.servicerequest import ServiceRequest

from secondlook.v1.case_pb2 import CaseStatus, Urgency
from services.intake.domain.case import Case
from services.intake.domain.lifecycle import status_after, status_name

from ..domain.priorauth import PAS_KEY_PREFIX
from . import vocabulary as v

S = CaseStatus
REQUEST_STATUS = {
    S.CASE_STATUS_SUBMITTED: "active", S.CASE_STATUS_MATCHING: "active", S.CASE_STATUS_OFFERED: "active",
    S.CASE_STATUS_ASSIGNED: "active", S.CASE_STATUS_IN_REVIEW: "active", S.CASE_STATUS_OPINION_READY: "active",
    S.CASE_STATUS_NEEDS_INFO: "on-hold", S.CASE_STATUS_UNMATCHED: "on-hold",
    S.CASE_STATUS_DELIVERED: "completed", S.CASE_STATUS_CLOSED: "completed",
    S.CASE_STATUS_WITHDRAWN: "revoked",
}
PRIORITY = {Urgency.URGENCY_STANDARD: "routine", Urgency.URGENCY_EXPEDITED: "urgent"}
def version(case: Case) -> str:
    """The ServiceRequest's versionId: one more with each entry on the case's timeline.
    The timeline is kept whole, so every version can be read again (vread): its status
    and time are those the case had after that many entries."""
    return str(max(1, len(case.timeline)))


def location(case: Case) -> str:
    return f"ServiceRequest/{case.case_id}/_history/{version(case)}"


def _instant(moment) -> str:
    """An instant as the store keeps it (milliseconds): the same whether just written or read back."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def transaction_response(bundle: dict, case: Case, created: bool) -> dict:
    """One response entry per request entry, in order (as FHIR requires). Only the
    ServiceRequest becomes a resource here, the case; the others are part of it."""
    entries = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "ServiceRequest":
            response = {"status": "201 Created" if created else "200 OK", "location": location(case),
                        "etag": f'W/"{version(case)}"', "lastModified": _instant(case.updated_at)}
        else:
            response = {"status": "200 OK", "outcome": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "information", "code": "informational",
                           "diagnostics": f"recorded as part of ServiceRequest/{case.case_id}, "
                                          "not as a resource of its own"}]}}
        entries.append({"response": response})
    checked = Bundle.model_validate({"resourceType": "Bundle", "type": "transaction-response",
                                     "entry": entries}).model_dump(mode="json")
    for sent, written in zip(checked["entry"], entries, strict=True):
        if "lastModified" in written["response"]:  # as written: the model would print it in microseconds
            sent["response"]["lastModified"] = written["response"]["lastModified"]
    return checked


def service_request(case: Case, at_version: int | None = None) -> dict:
    """The case as the ServiceRequest it was submitted as, by status: no PHI. With
    `at_version` (1 to the current), as it was then."""
    status, updated, shown = case.status, case.updated_at, version(case)
    if at_version is not None and str(at_version) != shown:
        entries = case.timeline[:at_version]
        status, updated, shown = status_after(entries), entries[-1].recorded_at, str(at_version)
    resource = {
        "resourceType": "ServiceRequest", "id": case.case_id,
        "meta": {"versionId": shown, "lastUpdated": _instant(updated)},
        "extension": [{"url": v.EXT_CASE_STATUS, "valueCode": status_name(status)}],
        "identifier": [{"type": {"coding": [{"system": v.IDENTIFIER_TYPE, "code": "PLAC"}]},
                        # A PAS request's key is this platform's own (pas:...): its submitter's
                        # system never issued that value, so it is not paired with it.
                        **({"system": case.client_request_system} if case.client_request_system
                           and not case.client_request_id.startswith(PAS_KEY_PREFIX) else {}),
                        "value": case.client_request_id}],
        "status": REQUEST_STATUS.get(status, "unknown"), "intent": "order",
        "subject": {"display": "the case's patient (not disclosed by this read)"},
        "authoredOn": _instant(case.submitted_at),
    }
    if case.urgency in PRIORITY:
        resource["priority"] = PRIORITY[case.urgency]
    checked = ServiceRequest.model_validate(resource).model_dump(mode="json")
    checked["meta"]["lastUpdated"], checked["authoredOn"] = resource["meta"]["lastUpdated"], resource["authoredOn"]
    return checked  # the instants as written: the model would print them in microseconds, or none


PAS_OPERATIONS = "http://hl7.org/fhir/us/davinci-pas/OperationDefinition"


def capability_statement(date: str) -> dict:
    return CapabilityStatement.model_validate({
        "resourceType": "CapabilityStatement", "status": "active", "date": date, "kind": "instance",
        "fhirVersion": "4.0.1", "format": ["application/fhir+json"],
        "implementation": {"description": "secondlook intake: second-opinion requests as FHIR R4 transactions; "
                                          "Da Vinci PAS prior-authorization requests"},
        "rest": [{
            "mode": "server",
            "security": {"description": "Bearer JWT (the gRPC API's tokens): role submitter to submit, "
                                        "submitter or operator to read"},
            "interaction": [{"code": "transaction",
                             "documentation": "POST /fhir or /fhir/Bundle: a transaction Bundle with one "
                                              "ServiceRequest becomes a second-opinion case"}],
            "resource": [
                {"type": "ServiceRequest", "interaction": [{"code": "read"}, {"code": "vread"}],
                 "versioning": "versioned", "readHistory": True,
                 "documentation": "the case's status (vread: any version, one per timeline entry)"},
                {"type": "Claim", "operation": [
                    {"name": "submit", "definition": f"{PAS_OPERATIONS}/Claim-submit",
                     "documentation": "a PAS request Bundle becomes a prior-authorization case, answered pended"},
                    {"name": "inquire", "definition": f"{PAS_OPERATIONS}/Claim-inquiry",
                     "documentation": "the current PAS response of a request of the caller's tenant"}]},
            ],
        }],
    }).model_dump(mode="json")
