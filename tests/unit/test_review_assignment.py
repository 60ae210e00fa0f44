from datetime import datetime, timezone

import pytest

from devstack import clients
from secondlook.v1 import case_pb2, intake_pb2, review_pb2
from services.review.domain.assignment import IllegalAction, next_state, validate_decline
from services.review.domain.opinion import conclusions, concordances, record_of, validate_opinion, validate_reason

A = review_pb2


def test_the_happy_path_of_an_assignment():
    state = A.ASSIGNMENT_STATE_OFFERED
    for action in ("accept", "start", "submit_opinion"):
        state = next_state(state, action)
    assert state == A.ASSIGNMENT_STATE_OPINION_SUBMITTED


@pytest.mark.parametrize("state, action", [
    (A.ASSIGNMENT_STATE_OFFERED, "start"),
    (A.ASSIGNMENT_STATE_OFFERED, "submit_opinion"),
    (A.ASSIGNMENT_STATE_ACCEPTED, "accept"),
    (A.ASSIGNMENT_STATE_OPINION_SUBMITTED, "submit_opinion"),
])
def test_out_of_order_actions_are_refused_naming_the_states(state, action):
    with pytest.raises(IllegalAction, match="needs state"):
        next_state(state, action)


def test_a_complete_opinion_is_valid_and_the_first_model_maps_forward():
    old = clients.opinion(diagnosis_concordance=case_pb2.CONCORDANCE_SAME,
                          treatment_concordance=case_pb2.CONCORDANCE_DIFFERENT, recommendation="Avoid surgery",
                          confidence=70)
    assert validate_opinion(old) == []
    assert concordances(old) == (case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED,
                                 case_pb2.TREATMENT_CONCORDANCE_ALTERNATIVE_RECOMMENDED)
    new = clients.opinion(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_REFINED, reviewer_diagnosis_code="c50911",
                          treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE_WITH_MODIFICATIONS,
                          recommended_procedures=[intake_pb2.ProcedureCode(system="CPT", code="19301")],
                          further_tests=["Oncotype DX"])
    assert validate_opinion(new) == []
    record = record_of(new, opinion_id="o", assignment_id="a", case_id="c", specialist_id="s",
                       case_diagnosis_code="C50.911", version=1, now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert record.reviewer_diagnosis_code == "C50.911" and record.procedures == (("CPT", "19301", ""),)
    coded = conclusions(record)  # what the event carries: codes, and the first model's values for older readers
    assert (coded.diagnosis_concordance, coded.treatment_concordance) == (case_pb2.CONCORDANCE_REFINED,
                                                                         case_pb2.CONCORDANCE_REFINED)
    assert list(coded.recommended_procedure_codes) == ["CPT:19301"] and coded.version == 1
    assert b"Oncotype" not in coded.SerializeToString() and b"reviewed your records" not in coded.SerializeToString()


def test_an_incomplete_opinion_names_every_gap():
    fields = {f for f, _ in validate_opinion(A.Opinion(confidence=101))}
    assert fields == {"opinion.diagnosis", "opinion.treatment", "opinion.patient_summary", "opinion.confidence",
                      "opinion.attestation", "opinion.no_conflict_of_interest", "opinion.all_records_reviewed"}
    assert validate_opinion(None) == [("opinion", "is required")]


def test_a_code_the_contract_lacks_is_said_to_be_none_of_the_choices_not_missing():
    rules = dict(validate_opinion(A.Opinion(diagnosis=99, treatment=0)))
    assert rules["opinion.diagnosis"].startswith("must be one of CONFIRMED") and "(99 is none of them)" in \
        rules["opinion.diagnosis"]
    assert rules["opinion.treatment"].startswith("is required: one of AGREE")
    assert validate_decline(99, "") == [("reason", "must be one of " + ", ".join(
        n.removeprefix("DECLINE_REASON_") for n in case_pb2.DeclineReason.keys()[1:]) + " (99 is none of them)")]
    assert validate_decline(0, "")[0][1].startswith("is required: one of ")


def test_each_opinion_rule_names_its_field():
    def gaps(**fields):
        return {f for f, _ in validate_opinion(clients.opinion(**fields))}

    assert gaps(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_DIFFERENT,
                treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE) == {"opinion.reviewer_diagnosis_code"}
    assert gaps(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED, reviewer_diagnosis_code="Z99.999",
                treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE) == {"opinion.reviewer_diagnosis_code"}
    assert gaps(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED,
                treatment=case_pb2.TREATMENT_CONCORDANCE_NOT_RECOMMENDED) == {"opinion.recommendation"}
    assert gaps(diagnosis=case_pb2.DIAGNOSIS_CONCORDANCE_CONFIRMED, treatment=case_pb2.TREATMENT_CONCORDANCE_AGREE,
                recommended_procedures=[intake_pb2.ProcedureCode(system="CPT", code="1930")],
                further_tests=["", "x" * 501], patient_summary="x" * 1501) == {
        "opinion.recommended_procedures[0].code", "opinion.further_tests[0]", "opinion.further_tests[1]",
        "opinion.patient_summary"}
    assert validate_reason(" ") == [("reason", "is required: why the opinion is amended")]
