"""An assignment moves OFFERED -> ACCEPTED -> IN_REVIEW -> OPINION_SUBMITTED.

Each reviewer action is allowed from exactly one state; anything else is
refused with the state it was attempted in, never applied.
"""

from __future__ import annotations

from secondlook.v1.case_pb2 import Concordance
from secondlook.v1.review_pb2 import AssignmentState, Opinion

A = AssignmentState

# action -> (state it needs, state it leads to)
TRANSITIONS = {
    "accept": (A.ASSIGNMENT_STATE_OFFERED, A.ASSIGNMENT_STATE_ACCEPTED),
    "start": (A.ASSIGNMENT_STATE_ACCEPTED, A.ASSIGNMENT_STATE_IN_REVIEW),
    "submit_opinion": (A.ASSIGNMENT_STATE_IN_REVIEW, A.ASSIGNMENT_STATE_OPINION_SUBMITTED),
}

MAX_TEXT = 20_000


class IllegalAction(Exception):
    pass


def state_name(state: int) -> str:
    return AssignmentState.Name(state).removeprefix("ASSIGNMENT_STATE_")


def next_state(current: int, action: str) -> int:
    needed, result = TRANSITIONS[action]
    if current != needed:
        raise IllegalAction(f"{action} needs state {state_name(needed)}; the assignment is {state_name(current)}")
    return result


def validate_opinion(opinion: Opinion | None) -> list[tuple[str, str]]:
    if opinion is None:
        return [("opinion", "is required")]
    v = []
    concordances = (Concordance.CONCORDANCE_SAME, Concordance.CONCORDANCE_REFINED, Concordance.CONCORDANCE_DIFFERENT)
    for name in ("diagnosis_concordance", "treatment_concordance"):
        if getattr(opinion, name) not in concordances:
            v.append((f"opinion.{name}", "must be SAME, REFINED or DIFFERENT"))
    if not opinion.recommendation.strip():
        v.append(("opinion.recommendation", "is required"))
    for name in ("recommendation", "narrative"):
        if len(getattr(opinion, name)) > MAX_TEXT:
            v.append((f"opinion.{name}", f"must be at most {MAX_TEXT} characters"))
    if not 0 <= opinion.confidence <= 100:
        v.append(("opinion.confidence", "must be between 0 and 100"))
    if not opinion.attestation:
        v.append(("opinion.attestation", "must be true: the reviewer attests the opinion is their own"))
    return v
