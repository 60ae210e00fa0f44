"""A reviewer's prior-authorization decision, item by item: each action maps to its X12
review action; a denial needs a specific reason from the table, the reviewer's own
explanation and a reviewer of the same or a similar specialty; a modification
approves less or another service; every item is decided once; each violation named."""

from __future__ import annotations

import json

import pytest

from services.review import reference
from services.review.domain.priorauth import (
    APPROVE,
    DENY,
    MODIFY,
    PEND,
    DenialReasons,
    ItemDecision,
    Requested,
    check_decision,
    patient_line,
)

KNEE, MRI = Requested("1", "CPT", "27447", 1.0), Requested("2:T2", "CPT", "70553", 2.0)
REASONS = reference.denial_reasons()


def _check(decisions, qualified=True):
    return check_decision([KNEE, MRI], decisions, REASONS, lambda system, code: qualified)


def test_the_actions_are_x12_review_actions():
    assert [ItemDecision("1", a).review_action for a in (APPROVE, MODIFY, DENY, PEND)] == ["A1", "A6", "A3", "A4"]


def test_a_complete_decision_passes():
    assert _check([ItemDecision("1", APPROVE),
                   ItemDecision("2:T2", DENY, reason_code="INSUFFICIENT_DOCUMENTATION",
                                provider_text="No imaging report since the 2026-09 visit.")]) == []
    assert _check([ItemDecision("1", PEND), ItemDecision("2:T2", MODIFY, approved_quantity=1,
                                                         provider_text="One study covers both sides.")]) == []


def test_a_denial_without_a_specific_reason_or_explanation_is_refused():
    violations = _check([ItemDecision("1", DENY), ItemDecision("2:T2", DENY, reason_code="BECAUSE",
                                                               provider_text="x")])
    assert [f for f, _ in violations] == ["decisions[0].reason_code", "decisions[0].provider_text",
                                          "decisions[1].reason_code"]
    assert "NOT_MEDICALLY_NECESSARY" in violations[0][1]


def test_a_denial_by_a_reviewer_of_another_specialty_is_refused_but_an_approval_is_not():
    violations = _check([ItemDecision("1", DENY, reason_code="NOT_MEDICALLY_NECESSARY", provider_text="Why."),
                         ItemDecision("2:T2", APPROVE)], qualified=False)
    assert violations == [("decisions[0].action", "a denial needs a reviewer of the same or a similar specialty "
                                                  "as the service")]


def test_every_item_is_decided_once_and_only_items_of_the_request():
    violations = _check([ItemDecision("1", APPROVE), ItemDecision("1", PEND), ItemDecision("9", APPROVE)])
    assert violations == [("decisions[1].item_key", "is decided twice: one action per item"),
                          ("decisions[2].item_key", "is not an item of this request"),
                          ("decisions", "item 2:T2 is not decided: every item needs an action")]


@pytest.mark.parametrize("decision, field", [
    (ItemDecision("2:T2", MODIFY, approved_quantity=2, provider_text="same"), "decisions[0].approved_quantity"),
    (ItemDecision("2:T2", MODIFY, approved_quantity=1), "decisions[0].provider_text"),
    (ItemDecision("2:T2", "MAYBE"), "decisions[0].action"),
    (ItemDecision("2:T2", APPROVE, reason_code="NOT_A_COVERED_BENEFIT"), "decisions[0].reason_code"),
    (ItemDecision("2:T2", DENY, reason_code="NOT_A_COVERED_BENEFIT", provider_text="x" * 2001),
     "decisions[0].provider_text"),
    (ItemDecision("2:T2", DENY, reason_code="NOT_A_COVERED_BENEFIT", provider_text="ok", patient_text="a\x00b"),
     "decisions[0].patient_text"),
])
def test_each_broken_rule_is_named(decision, field):
    violations = _check([decision, ItemDecision("1", APPROVE)])
    assert field in [f for f, _ in violations], violations


def test_a_modification_to_another_service_needs_no_smaller_quantity():
    assert _check([ItemDecision("1", MODIFY, approved_code="27446", provider_text="Partial knee suffices."),
                   ItemDecision("2:T2", APPROVE)]) == []


def test_the_patient_hears_the_reviewers_plain_words_else_the_tables():
    denial = ItemDecision("1", DENY, reason_code="NOT_A_COVERED_BENEFIT", provider_text="Plan excludes it.")
    assert patient_line(denial, REASONS) == "Your plan does not cover this service."
    own = ItemDecision("1", DENY, reason_code="NOT_A_COVERED_BENEFIT", provider_text="x", patient_text=" Not covered. ")
    assert patient_line(own, REASONS) == "Not covered."


def test_the_reason_table_is_checked_when_read():
    doc = json.loads((reference.resources.files(reference.__package__) / reference.DENIAL_REASONS).read_text())
    assert len(DenialReasons.from_document(doc).reasons) == len(REASONS.reasons) >= 8
    doc["reasons"].append(dict(doc["reasons"][0]))
    with pytest.raises(ValueError, match="repeats"):
        DenialReasons.from_document(doc)
    doc["reasons"][-1] = {"code": "X", "provider": "", "patient": "y"}
    with pytest.raises(ValueError, match=r"reasons\[8\]"):
        DenialReasons.from_document(doc)


@pytest.mark.parametrize("decision, field", [
    (ItemDecision("1", MODIFY, approved_code="J9355", provider_text="x"), "decisions[0].approved_code"),
    (ItemDecision("1", MODIFY, approved_code="27446", approved_quantity=float("nan"), provider_text="x"),
     "decisions[0].approved_quantity"),
    (ItemDecision("1", MODIFY, approved_code="27446", approved_quantity=-5, provider_text="x"),
     "decisions[0].approved_quantity"),
    (ItemDecision("1", MODIFY, approved_code="27446", reason_code="BOGUS", provider_text="x"),
     "decisions[0].reason_code"),
    (ItemDecision("1", APPROVE, approved_quantity=1), "decisions[0].action"),
])
def test_a_modification_keeps_to_the_items_system_and_sane_numbers(decision, field):
    violations = _check([decision, ItemDecision("2:T2", APPROVE)])
    assert field in [f for f, _ in violations], violations


def test_a_modification_by_a_reviewer_of_another_specialty_is_refused():
    violations = _check([ItemDecision("1", MODIFY, approved_code="27446", provider_text="Partial knee."),
                         ItemDecision("2:T2", APPROVE)], qualified=False)
    assert violations == [("decisions[0].action", "a modification needs a reviewer of the same or a similar "
                                                  "specialty as the service")]
