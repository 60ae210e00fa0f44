"""Claim/$submit and Claim/$inquire over the in-memory fakes: the official PAS
examples become PRIOR_AUTH cases answered with a pended ClaimResponse; every
refusal is an OperationOutcome naming the element, and stores nothing; an
inquiry finds the caller's own request only."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from secondlook.auth import TokenVerifier, mint_token
from secondlook.clock import FakeClock
from secondlook.v1 import case_pb2
from services.intake.fhir_api import make_fhir_app
from tests.fakes.intake import InMemoryCaseReader, RecordedAccesses, intake_transact

PAS = Path(__file__).parents[1] / "data" / "fhir" / "pas"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
X12 = "https://codesystem.x12.org/005010/306"


def _bundle(name: str) -> dict:
    return json.loads((PAS / name).read_text())


@pytest.fixture
async def fhir(settings):
    transact, audit = intake_transact(), RecordedAccesses()
    app = make_fhir_app(transact, InMemoryCaseReader(transact), audit, FakeClock(), TokenVerifier(settings), 30.0)

    def auth(tenant="payer-1", roles=("submitter",)) -> dict:
        token = mint_token(settings, subject="um-pipeline", tenant=tenant, roles=list(roles))
        return {**FHIR_JSON, "Authorization": f"Bearer {token}"}

    async with TestClient(TestServer(app)) as client:
        yield SimpleNamespace(client=client, transact=transact, audit=audit, auth=auth)


async def _post(fhir, body, path="/fhir/Claim/$submit", headers=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await fhir.client.post(path, data=data, headers=headers or fhir.auth())
    return response, await response.json(content_type=None)


def _actions(bundle: dict) -> list[str]:
    response = bundle["entry"][0]["resource"]
    return [part["valueCodeableConcept"]["coding"][0]["code"] for item in response["item"]
            for part in item["adjudication"][0]["extension"][0]["extension"] if part["url"].endswith("ActionCode")]


def _expressions(outcome: dict) -> list[str]:
    assert outcome["resourceType"] == "OperationOutcome"
    return [e for issue in outcome["issue"] for e in issue.get("expression", [])]


@pytest.mark.parametrize("name, services", [
    ("conformant_pas_bundle_v110.json", [("X12-1365", "3")]),
    ("conformant_pas_bundle_v110_uuid.json", [("X12-1365", "3")]),
])
async def test_an_official_request_becomes_a_prior_auth_case_answered_pended(fhir, name, services):
    response, body = await _post(fhir, _bundle(name))
    assert response.status == 200, body
    [case] = fhir.transact.state.cases.values()
    assert case.kind == case_pb2.CASE_KIND_PRIOR_AUTH and case.tenant_id == "payer-1"
    request = case.content.prior_auth
    assert [(i.system, i.code) for i in request.items] == services
    assert case.diagnosis_code == request.diagnoses[0] and case.jurisdiction == "US-MA"
    assert body["type"] == "collection" and body["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
    assert body["entry"][0]["resource"]["preAuthRef"] == case.case_id
    assert set(_actions(body)) == {"A4"}
    [event] = fhir.transact.committed
    submitted = event.case_submitted
    assert event.type == "case.submitted" and submitted.kind == case_pb2.CASE_KIND_PRIOR_AUTH
    assert [(s.system, s.code, s.key) for s in submitted.requested_services] == [
        (i.system, i.code, i.key) for i in request.items]
    assert request.member_id not in event.SerializeToString().decode("latin-1")  # no PHI in the event
    assert [a.method for a in fhir.audit.accesses] == ["Claim/$submit"]


async def test_every_item_of_a_request_with_several_is_kept_and_pended(fhir):
    response, body = await _post(fhir, _bundle("conformant_pas_bundle_v110_multiple_items.json"))
    assert response.status == 200, body
    [case] = fhir.transact.state.cases.values()
    assert len(case.content.prior_auth.items) == len(body["entry"][0]["resource"]["item"]) > 1
    assert _actions(body) == ["A4"] * len(case.content.prior_auth.items)


async def test_a_resubmission_returns_the_same_case_and_a_changed_one_is_a_409(fhir):
    bundle = _bundle("conformant_pas_bundle_v110.json")
    first, body = await _post(fhir, bundle)
    again, repeat = await _post(fhir, bundle)
    assert again.status == 200 and repeat["entry"][0]["resource"]["preAuthRef"] == body["entry"][0]["resource"][
        "preAuthRef"]
    changed = copy.deepcopy(bundle)
    changed["entry"][0]["resource"]["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = "E11.9"
    refused, outcome = await _post(fhir, changed)
    assert refused.status == 409 and _expressions(outcome) == ["Bundle.identifier.value"]
    assert len(fhir.transact.state.cases) == 1 and len(fhir.transact.committed) == 1

    # The same transaction id from another clearinghouse (its own identifier system) is another request.
    changed["identifier"]["system"] = "urn:oid:2.16.840.1.113883.3.9999.1"
    other, answer = await _post(fhir, changed)
    assert other.status == 200 and answer["entry"][0]["resource"]["preAuthRef"] != body["entry"][0]["resource"][
        "preAuthRef"]
    assert answer["identifier"] == changed["identifier"]  # answered under the identifier as sent, system and all
    assert len(fhir.transact.state.cases) == 2
    changed["identifier"]["system"] = "urn:oid:1." + "2" * 300  # past what a key's system may be
    refused, outcome = await _post(fhir, changed)
    assert refused.status == 422 and _expressions(outcome) == ["Bundle.identifier.system"]


@pytest.mark.parametrize("name, element", [
    ("nonconformant_pas_bundle_v110.json", "Bundle.entry[0].resource"),  # it starts with no Claim
    ("missing_referenced_resource_request_bundle.json", "Bundle.entry[0].resource.careTeam[0].provider.reference"),
])
async def test_an_official_nonconformant_request_is_refused_naming_the_element(fhir, name, element):
    response, outcome = await _post(fhir, _bundle(name))
    assert response.status == 422, outcome
    assert element in _expressions(outcome), outcome
    assert fhir.transact.state.cases == {} and fhir.transact.committed == []


@pytest.mark.parametrize("body, status", [
    (b"not json", 400), (b"[]", 400), (json.dumps({"resourceType": "Patient"}).encode(), 400),
    (json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}).encode(), 422),
])
async def test_junk_is_refused_with_an_outcome_never_a_5xx(fhir, body, status):
    response, outcome = await _post(fhir, body)
    assert response.status == status and outcome["resourceType"] == "OperationOutcome"
    assert fhir.transact.state.cases == {}


async def test_a_name_too_long_or_with_control_characters_is_refused_at_its_element(fhir):
    bundle = _bundle("conformant_pas_bundle_v110.json")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["name"][0]["family"] = "Doe\u0007"
    response, outcome = await _post(fhir, bundle)
    assert response.status == 422
    [issue] = outcome["issue"]
    assert issue["expression"][0].endswith(".name") and "patient.family_name" in issue["diagnostics"]
    assert "Doe" not in issue["diagnostics"] and fhir.transact.state.cases == {}


async def test_submit_needs_the_submitter_role(fhir):
    response, outcome = await _post(fhir, _bundle("conformant_pas_bundle_v110.json"),
                                    headers=fhir.auth(roles=("reviewer",)))
    assert response.status == 403 and fhir.transact.state.cases == {}
    response, _ = await _post(fhir, _bundle("conformant_pas_bundle_v110.json"), headers=FHIR_JSON)
    assert response.status == 401


def _inquiry(request: dict) -> dict:
    """An inquiry as PAS makes one: the request's Claim and the resources it names."""
    inquiry = copy.deepcopy(request)
    claim = inquiry["entry"][0]["resource"]
    for key in ("item", "diagnosis", "supportingInfo"):
        claim.pop(key, None)
    return inquiry


async def test_an_inquiry_returns_the_current_response_to_the_submitting_tenant_only(fhir):
    bundle = _bundle("conformant_pas_bundle_v110.json")
    _, submitted = await _post(fhir, bundle)
    response, body = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire")
    assert response.status == 200, body
    assert body["entry"][0]["resource"] == submitted["entry"][0]["resource"]
    assert fhir.audit.accesses[-1].method == "Claim/$inquire"
    other, outcome = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire",
                                 headers=fhir.auth(tenant="payer-2"))
    assert other.status == 404 and outcome["issue"][0]["code"] == "not-found"
    someone_else = _inquiry(bundle)
    patient = next(e["resource"] for e in someone_else["entry"] if e["resource"]["resourceType"] == "Patient")
    for ident in patient["identifier"]:
        ident["value"] = "99999999999"
    missing, _ = await _post(fhir, someone_else, path="/fhir/Claim/$inquire")
    assert missing.status == 404
    by_transaction = _inquiry(bundle)  # no trace number: the bundle's transaction id names it
    by_transaction["entry"][0]["resource"].pop("identifier")
    found, body = await _post(fhir, by_transaction, path="/fhir/Claim/$inquire")
    assert found.status == 200 and body["entry"][0]["resource"]["preAuthRef"] == submitted["entry"][0]["resource"][
        "preAuthRef"]


async def test_an_inquiry_without_a_claim_first_is_refused_naming_it(fhir):
    bundle = _bundle("conformant_pas_bundle_v110.json")
    bundle["entry"] = bundle["entry"][1:]
    response, outcome = await _post(fhir, bundle, path="/fhir/Claim/$inquire")
    assert response.status == 422 and "Bundle.entry[0].resource" in _expressions(outcome)


async def test_the_case_reads_back_with_its_request_and_the_reviewer_sees_the_items_only(fhir):
    from datetime import date

    from services.intake.messages import case_message, review_message
    await _post(fhir, _bundle("conformant_pas_bundle_v110_multiple_items.json"))
    [case] = fhir.transact.state.cases.values()
    message = case_message(case)
    request = case.content.prior_auth
    assert message.kind == case_pb2.CASE_KIND_PRIOR_AUTH and message.prior_auth.member_id == request.member_id
    assert [i.key for i in message.prior_auth.items] == [i.key for i in request.items]
    assert not message.consent.granted  # a payer's review asks none of the patient
    assert message.client_request_id == f"pas:{request.submission_id}"
    for_review = review_message(case, date(2026, 11, 27), "s1")
    assert [(s.system, s.code) for s in for_review.requested_services] == [(i.system, i.code) for i in request.items]
    assert request.member_id.encode() not in for_review.SerializeToString()
    assert request.payer.name.encode() not in for_review.SerializeToString()


async def _under_review(fhir, case):
    from secondlook.events import new_event
    from secondlook.feed import Feed
    from secondlook.v1 import events_pb2
    from services.intake import usecases
    from tests.fakes.intake import InMemoryCases
    from tests.fakes.transact import Committed

    offered = events_pb2.SpecialistOffered(assignment_id="a1", specialist_id="spec-1", specialty="207X00000X")
    for payload in (offered, events_pb2.AssignmentAccepted(assignment_id="a1", specialist_id="spec-1"),
                    events_pb2.ReviewStarted(assignment_id="a1", specialist_id="spec-1")):
        event = new_event(payload, case_id=case.case_id, tenant_id=case.tenant_id,
                          producer="matching" if payload is offered else "review")
        await usecases.project(Committed(fhir.transact, InMemoryCases), Feed(), event, FakeClock(), 30.0)

    async def announce(decision_id, items, version=1):
        payload = events_pb2.OpinionSubmitted(
            assignment_id="a1", specialist_id="spec-1", opinion_id=decision_id, version=version,
            prior_auth_decisions=[case_pb2.ItemDecision(item_key=i.key, action=i.action, reason_code=i.reason_code)
                                  for i in items])
        if version > 1:
            payload = events_pb2.OpinionAmended(opinion=payload)
        event = new_event(payload, case_id=case.case_id, tenant_id=case.tenant_id, producer="review")
        await usecases.project(Committed(fhir.transact, InMemoryCases), Feed(), event, FakeClock(), 30.0)
    return announce


def _review_actions(bundle: dict) -> list[tuple[str, str, str]]:
    response = bundle["entry"][0]["resource"]
    notes = {n["number"]: n["text"] for n in response.get("processNote", [])}
    return [(item["itemSequence"], code, notes[item["noteNumber"][0]] if item.get("noteNumber") else "")
            for item in response["item"] for code in _actions({"entry": [{"resource": {"item": [item]}}]})]


async def test_a_decision_kept_for_review_answers_inquiries_once_review_announces_it(fhir):
    from secondlook.auth import Principal
    from services.intake import usecases
    from services.intake.domain.case import NotDecidable
    from services.intake.domain.priorauth import DecidedItem
    from tests.fakes.intake import InMemoryCaseReader

    review = Principal(subject="service:review", tenant="secondlook-services", roles=frozenset({"case-reader"}))
    bundle = _bundle("conformant_pas_bundle_v110_multiple_items.json")
    await _post(fhir, bundle)
    [case] = fhir.transact.state.cases.values()
    announce = await _under_review(fhir, case)
    first, second = case.content.prior_auth.items[:2]
    items = [DecidedItem(first.key, case_pb2.ITEM_ACTION_APPROVE),
             DecidedItem(second.key, case_pb2.ITEM_ACTION_DENY, "NOT_MEDICALLY_NECESSARY",
                         "No conservative therapy is documented before this request.", "Try therapy first.")]
    items += [DecidedItem(i.key, case_pb2.ITEM_ACTION_APPROVE) for i in case.content.prior_auth.items[2:]]
    reader = InMemoryCaseReader(fhir.transact)
    record = lambda decision_id, specialist="spec-1", decided=items, reason="": (  # noqa: E731
        usecases.record_prior_auth_decision(fhir.transact, reader, fhir.audit, FakeClock(), review, case.case_id,
                                            decision_id, specialist, decided, reason))
    with pytest.raises(usecases.InvalidDecision) as refused:
        await record("d1", decided=items[:1])
    assert [p for p, _ in refused.value.violations] == ["decisions"]
    from secondlook import metrics
    counted = lambda outcome: metrics.PRIOR_AUTH_DECISIONS.labels("payer-1", outcome)._value.get()  # noqa: E731
    urgency = "expedited" if case.urgency == case_pb2.URGENCY_EXPEDITED else "standard"
    timed = lambda: sum(b.get() for b in metrics.PRIOR_AUTH_DECISION_SECONDS.labels(  # noqa: E731
        "payer-1", urgency)._buckets)  # requests timed
    amended_to = lambda outcome: metrics.PRIOR_AUTH_AMENDMENTS.labels("payer-1", outcome)._value.get()  # noqa: E731
    before = (counted("partially_approved"), amended_to("approved"), timed())
    await record("d1")
    await record("d1")  # a retry keeps it once
    assert len(fhir.transact.state.cases[case.case_id].prior_auth_decisions) == 1
    _, pended = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire")
    assert set(_actions(pended)) == {"A4"}  # kept, not announced: never shown
    from datetime import date

    from services.intake.messages import review_message
    for_review = lambda: review_message(fhir.transact.state.cases[case.case_id], date(2026, 11, 27),  # noqa: E731
                                        "spec-1")
    assert not for_review().HasField("prior_auth_decision")  # nor to the reviewer
    await announce("d1", items)
    standing = for_review().prior_auth_decision  # the reviewer reads back what stands
    assert standing.decision_id == "d1" and [(d.item_key, d.action) for d in standing.decisions[:2]] == [
        (first.key, case_pb2.ITEM_ACTION_APPROVE), (second.key, case_pb2.ITEM_ACTION_DENY)]
    assert standing.decisions[1].patient_text == "Try therapy first."
    assert counted("partially_approved") == before[0] + 1 and timed() == before[2] + 1  # the payer's figures
    _, answered = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire")
    found = _review_actions(answered)
    assert found[0][1] == "A1" and found[1][1] == "A3" and "NOT_MEDICALLY_NECESSARY" in found[1][2]
    assert "No conservative therapy" in found[1][2]
    _, resubmitted = await _post(fhir, bundle)  # a resubmission answers as it stands too
    assert _review_actions(resubmitted) == found
    assert answered["entry"][0]["resource"]["meta"]["versionId"] == "1"  # the decision's version
    # Each answer that showed the decision is in the audit, naming it; the submission
    # itself named what a payer's request holds (no consent, question or attachments).
    fields = [(a.method, a.fields) for a in fhir.audit.accesses]
    assert fields[0] == ("Claim/$submit", ("patient", "diagnoses", "first_opinion", "prior_auth"))
    assert fields[-2:] == [("Claim/$inquire", ("patient", "prior_auth", "prior_auth_decision")),
                           ("Claim/$submit", ("prior_auth_decision",))]
    with pytest.raises(NotDecidable, match="decided already"):
        await record("d2")
    # An amendment (on appeal): kept with its reason, standing once review announces it.
    amended = [DecidedItem(i.key, case_pb2.ITEM_ACTION_APPROVE) for i in case.content.prior_auth.items]
    await record("d2", decided=amended, reason="Appeal: six weeks of therapy documented.")
    # A notice of it read before intake recorded the announcement: its version as review numbered it, or none.
    from services.intake.fhir.claimresponse import claim_response_of
    kept = fhir.transact.state.cases[case.case_id]
    early = claim_response_of(kept, announced="d2", with_texts=False, announced_version=2)[0]
    assert early["entry"][0]["resource"]["meta"]["versionId"] == "2"
    assert "versionId" not in claim_response_of(kept, announced="d2", with_texts=False)[0]["entry"][0]["resource"]["meta"]
    await announce("d2", amended, version=2)
    assert amended_to("approved") == before[1] + 1
    _, after_appeal = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire")
    assert {action for _, action, _ in _review_actions(after_appeal)} == {"A1"}
    # The same ClaimResponse, its next version (as the webhook's decision_version says).
    amended_response = after_appeal["entry"][0]["resource"]
    assert amended_response["id"] == answered["entry"][0]["resource"]["id"]
    assert amended_response["meta"]["versionId"] == "2" and "lastUpdated" in amended_response["meta"]
    from services.intake.domain.case import confirmed_decisions
    stored = fhir.transact.state.cases[case.case_id]
    assert [d.decision_id for d in confirmed_decisions(stored)] == ["d1", "d2"]
    assert confirmed_decisions(stored)[-1].amendment_reason == "Appeal: six weeks of therapy documented."
    assert for_review().prior_auth_decision.decision_id == "d2"
    # What review reads for its reviewer is recorded as the parts such a case holds.
    assert await usecases.case_for_review(reader, fhir.audit, FakeClock(), review, case.case_id, "spec-1")
    assert fhir.audit.accesses[-1].fields == ("patient.sex", "patient.age", "diagnoses", "first_opinion",
                                              "prior_auth", "prior_auth_decision")
    # Calls whose move in review lost a race leave decisions kept and never announced: only
    # those since the last announced one count against the limit, so they never lock the
    # request out of its next amendment.
    from services.intake.domain.case import MAX_KEPT_DECISIONS
    for n in range(MAX_KEPT_DECISIONS):
        await record(f"lost-{n}", decided=amended, reason="A retried appeal.")
    with pytest.raises(NotDecidable, match="too many decisions"):
        await record("one-too-many", decided=amended, reason="A retried appeal.")
    await announce("lost-9", amended, version=3)  # the last of them was the one that moved
    await record("lost-again", decided=amended, reason="Reconsidered.")
    await record("d4", decided=amended, reason="Reconsidered.")  # the nine before no longer count
    await announce("d4", amended, version=4)
    assert [d.decision_id for d in confirmed_decisions(fhir.transact.state.cases[case.case_id])] == [
        "d1", "d2", "lost-9", "d4"]
    # However they came, a case keeps at most MAX_DECISIONS.
    from services.intake.domain import case as case_rules
    kept = len(fhir.transact.state.cases[case.case_id].prior_auth_decisions)
    before_limit, case_rules.MAX_DECISIONS = case_rules.MAX_DECISIONS, kept
    try:
        with pytest.raises(NotDecidable, match=f"has {kept} decisions kept"):
            await record("d5", decided=amended, reason="Once more.")
    finally:
        case_rules.MAX_DECISIONS = before_limit


async def test_a_withdrawn_request_answers_cancelled_never_pended_for_ever(fhir):
    from secondlook.auth import Principal
    from secondlook.clock import FakeClock as Clock
    from secondlook.feed import Feed
    from services.intake import usecases
    from tests.fakes.intake import RecordedAccesses as Accesses

    bundle = _bundle("conformant_pas_bundle_v110_multiple_items.json")
    await _post(fhir, bundle)
    [case] = fhir.transact.state.cases.values()
    _, pended = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire")
    assert pended["entry"][0]["resource"]["status"] == "active"
    submitter = Principal(subject="um-pipeline", tenant="payer-1", roles=frozenset({"submitter"}))
    await usecases.withdraw_case(fhir.transact, Accesses(), Feed(), Clock(), submitter, case.case_id,
                                 case_pb2.WITHDRAWAL_REASON_DUPLICATE, "")
    for response, answer in (await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire"),
                             await _post(fhir, bundle)):  # an $inquire, and a resubmission of it
        assert response.status == 200
        claim_response = answer["entry"][0]["resource"]
        assert claim_response["status"] == "cancelled" and "withdrawn" in claim_response["disposition"]
        assert claim_response["preAuthRef"] == case.case_id


async def test_a_refusal_names_the_element_by_fhirpath_and_says_the_rule_in_fhirs_words(fhir):
    long_id = _bundle("conformant_pas_bundle_v110_multiple_items.json")
    long_id["identifier"]["value"] = "X" * 70
    empty = _bundle("conformant_pas_bundle_v110_multiple_items.json")
    empty["entry"][0]["resource"]["identifier"][0]["value"] = ""
    for body, status, path, says in ((long_id, 422, "Bundle.identifier.value", "must be at most 64 characters"),
                                     (empty, 400, "Bundle.entry[0].resource.identifier[0].value",
                                      "must not be empty: leave the element out instead")):
        response, outcome = await _post(fhir, body)
        assert response.status == status
        assert [(i["expression"], i["diagnostics"]) for i in outcome["issue"]] == [([path], says)]


async def test_a_request_pended_for_more_information_tells_the_payer_what_the_reviewer_asks(fhir):
    from secondlook.auth import Principal
    from secondlook.events import new_event
    from secondlook.feed import Feed
    from secondlook.v1 import events_pb2
    from services.intake import usecases
    from tests.fakes.intake import InMemoryCases
    from tests.fakes.transact import Committed

    review = Principal(subject="service:review", tenant="secondlook-services", roles=frozenset({"case-reader"}))
    bundle = _bundle("conformant_pas_bundle_v110_multiple_items.json")
    await _post(fhir, bundle)
    [case] = fhir.transact.state.cases.values()
    await _under_review(fhir, case)
    await usecases.record_info_request(fhir.transact, fhir.audit, FakeClock(), review, case.case_id, "r1", "spec-1",
                                       ["Please send the HER2 IHC result."])
    _, kept_only = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire")
    assert "processNote" not in kept_only["entry"][0]["resource"]  # not asked until review's event confirms it
    asked = events_pb2.InfoRequested(assignment_id="a1", specialist_id="spec-1", request_id="r1", question_count=1)
    await usecases.project(Committed(fhir.transact, InMemoryCases), Feed(),
                           new_event(asked, case_id=case.case_id, tenant_id=case.tenant_id, producer="review"),
                           FakeClock(), 30.0)
    _, pended = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire")
    response = pended["entry"][0]["resource"]
    assert set(_actions(pended)) == {"A4"}
    assert [n["text"] for n in response["processNote"]] == ["The reviewer asks: Please send the HER2 IHC result."]
    assert fhir.audit.accesses[-1].fields == ("patient", "prior_auth", "info_requests")


async def test_an_inquiry_under_a_system_finds_only_the_request_sent_under_it(fhir):
    bundle = _bundle("conformant_pas_bundle_v110.json")
    answers = {}
    for system, quantity in (("urn:clearinghouse:a", 1), ("urn:clearinghouse:b", 2)):
        sent = copy.deepcopy(bundle)
        sent["identifier"]["system"] = system
        sent["entry"][0]["resource"]["item"][0]["quantity"] = {"value": quantity}
        _, body = await _post(fhir, sent)
        answers[system] = body["entry"][0]["resource"]["preAuthRef"]
    assert len(set(answers.values())) == 2
    for system in answers:
        asked = _inquiry(bundle)
        asked["identifier"]["system"] = system
        found, body = await _post(fhir, asked, path="/fhir/Claim/$inquire")
        assert found.status == 200 and body["entry"][0]["resource"]["preAuthRef"] == answers[system]
    asked["identifier"]["system"] = "urn:clearinghouse:z"  # a system nothing was sent under
    missing, _ = await _post(fhir, asked, path="/fhir/Claim/$inquire")
    assert missing.status == 404
    # A later request under no system: an inquiry under "a" still answers with a's own.
    unsystemed = copy.deepcopy(bundle)
    del unsystemed["identifier"]["system"]
    unsystemed["entry"][0]["resource"]["item"][0]["quantity"] = {"value": 3}
    _, body = await _post(fhir, unsystemed)
    assert body["entry"][0]["resource"]["preAuthRef"] not in answers.values()
    asked["identifier"]["system"] = "urn:clearinghouse:a"
    found, body = await _post(fhir, asked, path="/fhir/Claim/$inquire")
    assert found.status == 200 and body["entry"][0]["resource"]["preAuthRef"] == answers["urn:clearinghouse:a"]



async def test_a_request_nobody_can_review_says_so_while_it_stays_pended(fhir):
    import dataclasses

    bundle = _bundle("conformant_pas_bundle_v110.json")
    await _post(fhir, bundle)
    [case] = fhir.transact.state.cases.values()
    _, pended = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire")
    assert "disposition" not in pended["entry"][0]["resource"]  # matching under way: nothing to say yet
    fhir.transact.state.cases[case.case_id] = dataclasses.replace(case, status=case_pb2.CASE_STATUS_UNMATCHED)
    _, answer = await _post(fhir, _inquiry(bundle), path="/fhir/Claim/$inquire")
    response = answer["entry"][0]["resource"]
    assert '"A4"' in json.dumps(response["item"]) and '"A1"' not in json.dumps(response["item"])  # still pended
    assert "no reviewer qualified for this request could be found" in response["disposition"]
