"""The PAS response to a prior-authorization request: a collection Bundle whose
ClaimResponse pends every item (X12 A4) with the case id as the pre-authorization
reference, then answers each with its review action and a denial's reason; it is
a valid R4 resource whose references resolve inside the bundle."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from secondlook.fhir.bundle import read_bundle
from secondlook.fhir.references import BundleIndex, Resolver
from services.intake.fhir.claimresponse import ItemOutcome, claim_response_bundle
from services.intake.fhir.pas import translate_pas

DATA = Path(__file__).resolve().parents[1] / "data" / "fhir" / "pas"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _request(name="conformant_pas_bundle_v110_multiple_items.json"):
    read, _ = read_bundle((DATA / name).read_bytes())
    return translate_pas(read, today=date.today()).request


def _review_actions(bundle: dict) -> list[tuple[int, str, str]]:
    found = []
    for item in bundle["entry"][0]["resource"]["item"]:
        action = {e["url"].rsplit("-", 1)[-1]: e for e in item["adjudication"][0]["extension"][0]["extension"]}
        code = action["reviewActionCode"]["valueCodeableConcept"]["coding"][0]["code"]
        notes = {n["number"]: n["text"] for n in bundle["entry"][0]["resource"].get("processNote", [])}
        reason = notes[item["noteNumber"][0]].split(":")[0] if item.get("noteNumber") else ""
        found.append((item["itemSequence"], code, reason))
    return found


def _valid(bundle: dict) -> None:
    Bundle.model_validate(bundle)  # an R4 resource
    index = BundleIndex(bundle)
    resolver = Resolver(index)
    response = index.entries[0]
    for field, types in (("patient", ("Patient",)), ("insurer", ("Organization",)), ("requestor", ("Organization",))):
        assert resolver.follow(response.resource[field], field, response, types) is not None
    assert index.problems == [] and resolver.problems == []


def test_a_submitted_request_is_pended_item_by_item_under_the_case_id():
    request = _request()
    bundle = claim_response_bundle(request, "case-123", NOW)
    _valid(bundle)
    response = bundle["entry"][0]["resource"]
    assert response["resourceType"] == "ClaimResponse" and response["use"] == "preauthorization"
    assert (response["preAuthRef"], response["outcome"]) == ("case-123", "complete")  # pended by item: A4
    assert response["request"]["identifier"]["value"] == "111099"
    assert _review_actions(bundle) == [(1, "A4", ""), (1, "A4", "")]
    traces = [i["extension"][0]["valueIdentifier"]["value"] for i in response["item"]]
    assert traces == ["1122334", "11223349"]  # the items that share a sequence, told apart
    assert bundle["identifier"]["value"] == "A12345"
    assert claim_response_bundle(request, "case-123", NOW) == bundle  # the same answer to an $inquire


def test_a_decision_answers_each_item_with_its_review_action_and_a_denials_reason():
    request = _request()
    first, second = request.items
    bundle = claim_response_bundle(request, "case-123", NOW, [
        ItemOutcome(first, "A1"),
        ItemOutcome(second, "A3", reason_code="INSUFFICIENT_DOCUMENTATION", reason_text="No imaging since 2026-09.")])
    _valid(bundle)
    assert bundle["entry"][0]["resource"]["outcome"] == "complete"
    assert _review_actions(bundle) == [(1, "A1", ""), (1, "A3", "INSUFFICIENT_DOCUMENTATION")]
    modified = claim_response_bundle(request, "case-123", NOW, [
        ItemOutcome(first, "A6", reason_code="QUANTITY_EXCEEDS_GUIDELINES", approved_quantity=1),
        ItemOutcome(second, "A4")])
    _valid(modified)
    detail = modified["entry"][0]["resource"]["item"][0]["extension"][-1]
    assert detail["url"].endswith("itemAuthorizedDetail") and detail["extension"][0]["valueQuantity"]["value"] == 1
    # A modification explained in words alone: the words reach the response, as a note the item points to.
    explained = claim_response_bundle(request, "case-123", NOW, [
        ItemOutcome(first, "A6", reason_text="Therapeutic activities instead.", approved_code="97530"),
        ItemOutcome(second, "A1")])
    _valid(explained)
    response = explained["entry"][0]["resource"]
    assert response["item"][0]["noteNumber"] == [1] and "noteNumber" not in response["item"][1]
    assert response["processNote"] == [{"number": 1, "type": "display", "text": "Therapeutic activities instead."}]
    with pytest.raises(ValueError):
        ItemOutcome(first, "A2")
    with pytest.raises(ValueError):
        ItemOutcome(first, "A6", approved_quantity=float("nan"))
    with pytest.raises(ValueError):
        claim_response_bundle(request, "case-123", datetime(2026, 11, 27))  # no time zone


def test_the_response_carries_nothing_of_the_case_beyond_what_the_request_sent():
    request = _request("conformant_pas_bundle_v110.json")
    text = json.dumps(claim_response_bundle(request, "case-9", NOW))
    assert "G89.4" not in text  # the diagnosis is the submitter's own: not echoed
    assert "12345678901" in text and "MARYLAND CAPITAL INSURANCE COMPANY" in text


def test_a_webhooks_copy_keeps_each_reasons_code_and_leaves_the_reviewers_words_out():
    from services.intake.domain.priorauth import DecidedItem, Decision
    from services.intake.fhir.claimresponse import outcomes_of

    request = _request()
    first, second = request.items
    decision = Decision("d1", "spec-1", (
        DecidedItem(first.key, 1), DecidedItem(second.key, 3, "NOT_MEDICALLY_NECESSARY",
                                               "No imaging for Jane Canary since 2026-09.", "Ask for imaging.")),
        NOW)
    with_words = claim_response_bundle(request, "case-1", NOW, outcomes_of(request, decision))
    codes_only = claim_response_bundle(request, "case-1", NOW, outcomes_of(request, decision, with_texts=False))
    _valid(codes_only)
    assert _review_actions(codes_only) == _review_actions(with_words) == [
        (1, "A1", ""), (1, "A3", "NOT_MEDICALLY_NECESSARY")]
    assert "Canary" in json.dumps(with_words) and "Canary" not in json.dumps(codes_only)


def test_a_withdrawn_requests_response_is_a_valid_cancelled_claim_response():
    bundle = claim_response_bundle(_request(), "case-1", NOW, cancelled=True)
    _valid(bundle)
    assert bundle["entry"][0]["resource"]["status"] == "cancelled"


def test_a_request_withdrawn_after_its_decision_says_so_beside_the_decision():
    request = _request()
    first, second = request.items
    bundle = claim_response_bundle(request, "case-1", NOW, [ItemOutcome(first, "A1"), ItemOutcome(second, "A1")],
                                   cancelled=True)
    _valid(bundle)
    response = bundle["entry"][0]["resource"]
    assert response["status"] == "cancelled" and response["disposition"].endswith("after this decision.")
