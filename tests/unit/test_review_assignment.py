import pytest

from secondlook.v1 import case_pb2, review_pb2
from services.review.domain.assignment import (
    IllegalAction,
    next_state,
    validate_opinion,
)

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


def test_a_complete_opinion_is_valid():
    opinion = A.Opinion(diagnosis_concordance=case_pb2.CONCORDANCE_SAME,
                        treatment_concordance=case_pb2.CONCORDANCE_DIFFERENT,
                        recommendation="Avoid surgery", confidence=70, attestation=True)
    assert validate_opinion(opinion) == []


def test_an_incomplete_opinion_names_every_gap():
    fields = {f for f, _ in validate_opinion(A.Opinion(confidence=101))}
    assert fields == {"opinion.diagnosis_concordance", "opinion.treatment_concordance",
                      "opinion.recommendation", "opinion.confidence", "opinion.attestation"}
    assert validate_opinion(None) == [("opinion", "is required")]
