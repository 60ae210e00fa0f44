"""Which lifecycle event becomes which notice, to whom: pure rules, no I/O.

Every event that sets a case's status is a notice to the submitting tenant's
webhook endpoints that subscribe to its type (`case.<kind>`, e.g.
`case.offered`), carrying the status it sets and a few coded facts, never
PHI. Some also reach people by e-mail and text: the patient hears that an
opinion is ready, that more information is needed, and that the case was
withdrawn; the referring physician that the opinion is ready.

A tenant's webhook is one notice per event, and `status` is the stage that event
reports: the same one can come twice (a re-offer after a decline, a panel's
offer per seat, and a seat's offer can follow another seat's acceptance), and
notices can arrive out of order (a retry). The case's status is what GetCase
says. DELIVERED is not among them: it is the opinion's notice reaching the
tenant, which the tenant knows by receiving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone

from secondlook.events import Event
from secondlook.v1 import case_pb2, events_pb2

# Whom notices to people go to (a webhook's recipient is the tenant or one of its endpoints).
PATIENT, PHYSICIAN, REVIEWER, OPERATIONS = "patient", "physician", "reviewer", "operations"
EMAIL, SMS = "email", "sms"
PERSON_CHANNELS = (EMAIL, SMS)

# The kinds of notice whose delivery is the case's stage: opinion.delivered.
OPINION_READY, NEEDS_INFO, WITHDRAWN = "opinion_ready", "needs_info", "withdrawn"

# A withdrawal the patient is told of. Not a duplicate (the patient's other case goes
# on) nor one submitted in error (the address may be another person's).
_TOLD_OF_WITHDRAWAL = frozenset({
    case_pb2.WITHDRAWAL_REASON_UNSPECIFIED, case_pb2.WITHDRAWAL_REASON_PATIENT_REQUEST,
    case_pb2.WITHDRAWAL_REASON_TREATMENT_DECIDED, case_pb2.WITHDRAWAL_REASON_OTHER,
})


@dataclass(frozen=True)
class Route:
    """What an event tells: `kind` names the tenant's event type (`case.<kind>`) and
    the templates of people's notices (`<audience>_<kind>`)."""
    kind: str
    # The case status the event sets (CaseStatus without its prefix); "" : no stage of
    # the case, not a notice to the tenant's endpoints (a reminder, an escalation).
    status: str
    # Who hears of it by e-mail and by text.
    email: tuple[str, ...] = ()
    sms: tuple[str, ...] = ()
    # Waits for an endpoint when the tenant has none that receives it (the others
    # are not kept for an endpoint created later: a status long past is noise).
    waits_for_endpoint: bool = False
    # Cancelled with the case: a withdrawal stops it if it is not delivered yet.
    cancelled_by_withdrawal: bool = False

    @property
    def event_type(self) -> str:
        return f"case.{self.kind}"

    @property
    def to_tenant(self) -> bool:
        return bool(self.status)

    def audiences(self, channel: str) -> tuple[str, ...]:
        return {EMAIL: self.email, SMS: self.sms}.get(channel, ())


_OPINION = Route(OPINION_READY, "OPINION_READY", email=(PATIENT, PHYSICIAN), sms=(PATIENT,),
                 waits_for_endpoint=True, cancelled_by_withdrawal=True)
ROUTES: dict[str, Route] = {
    "case.submitted": Route("submitted", "SUBMITTED"),
    "matching.started": Route("matching", "MATCHING"),
    # Eligible reviewers are all at capacity: the case waits for a free slot (still MATCHING).
    "case.waiting": Route("waiting", "MATCHING"),
    # The reviewer hears of an offer at once, also away from the reviewer app.
    "specialist.offered": Route("offered", "OFFERED", email=(REVIEWER,), sms=(REVIEWER,)),
    # (An offer declined or expired sets no status: the next offer, or case.unmatched, is the notice.)
    "case.unmatched": Route("unmatched", "UNMATCHED", email=(OPERATIONS,)),  # an escalation
    "assignment.accepted": Route("assigned", "ASSIGNED"),
    "review.started": Route("in_review", "IN_REVIEW"),
    "review.resumed": Route("in_review", "IN_REVIEW"),
    "info.requested": Route(NEEDS_INFO, "NEEDS_INFO", email=(PATIENT,), sms=(PATIENT,),
                            waits_for_endpoint=True, cancelled_by_withdrawal=True),
    "opinion.submitted": _OPINION,
    "opinion.amended": Route("opinion_amended", "OPINION_READY", waits_for_endpoint=True,
                             cancelled_by_withdrawal=True),
    "case.withdrawn": Route(WITHDRAWN, "WITHDRAWN", email=(PATIENT,), sms=(PATIENT,)),
    # notify's own escalations: a notice that ran out of attempts, an endpoint it stopped sending to.
    "delivery.dead": Route("delivery_dead", "", email=(OPERATIONS,)),
    "endpoint.disabled": Route("endpoint_disabled", "", email=(OPERATIONS,)),
}
# sla.changed, by what changed: the reviewer is reminded; a breach is an escalation.
SLA_ROUTES = {
    events_pb2.SLA_CHANGE_REMINDER: Route("sla_reminder", "", email=(REVIEWER,), sms=(REVIEWER,)),
    events_pb2.SLA_CHANGE_BREACHED: Route("sla_breached", "", email=(OPERATIONS,)),
}
# Every event type notify routes (it consumes the rest without a store request).
ROUTED_TYPES = (*ROUTES, "sla.changed")
_ALL_ROUTES = (*ROUTES.values(), *SLA_ROUTES.values())

# The event types a tenant's endpoint can subscribe to, in the order of a case's life.
EVENT_TYPES = tuple(dict.fromkeys(r.event_type for r in ROUTES.values() if r.to_tenant))
# What RegisterWebhook's default endpoint receives: the notices it always did.
DEFAULT_ENDPOINT_TYPES = ("case.opinion_ready", "case.needs_info")
CANCELLED_KINDS = tuple(sorted({r.kind for r in ROUTES.values() if r.cancelled_by_withdrawal}))
# Every (audience, kind) a person's template exists for, by channel.
TEMPLATES_BY_CHANNEL = {channel: tuple(sorted({f"{a}_{r.kind}" for r in _ALL_ROUTES for a in r.audiences(channel)}))
                        for channel in PERSON_CHANNELS}


def stopped_by_withdrawal(kind: str, recipient: str, person_id: str = "") -> bool:
    """Whether a withdrawal cancels such a notice not yet delivered: an opinion's and an
    information request's (to anyone), and every reviewer's (an offer or a reminder
    about a case no longer to be reviewed)."""
    return kind in CANCELLED_KINDS or recipient == REVIEWER


def offer_notices_of(specialist_id: str):
    """What an offer declined or expired cancels: its notices to that reviewer not yet
    delivered (one waiting for the reviewer's quiet hours to end, say)."""
    def stopped(kind: str, recipient: str, person_id: str) -> bool:
        return kind == "offered" and recipient == REVIEWER and person_id == specialist_id
    return stopped


# Events that cancel notices rather than send them.
OFFER_ENDED = ("assignment.declined", "assignment.expired")


def route_of(event: Event) -> Route | None:
    """The notice an event is, or None (it is not one)."""
    if event.type == "sla.changed":
        return SLA_ROUTES.get(event.sla_changed.change)
    return ROUTES.get(event.type)


def reviewer_of(event: Event) -> str:
    """The specialist a reviewer's notice is for."""
    if event.type == "specialist.offered":
        return event.specialist_offered.specialist_id
    return event.sla_changed.specialist_id if event.type == "sla.changed" else ""


def expedited(event: Event) -> bool:
    """Whether the event says its case is expedited (those of a patient's case ask intake)."""
    urgency = event.specialist_offered.urgency if event.type == "specialist.offered" else \
        event.sla_changed.urgency if event.type == "sla.changed" else 0
    return urgency == case_pb2.URGENCY_EXPEDITED


def message_facts(event: Event) -> dict[str, str]:
    """What a reviewer's or operations' message says beside where to sign in: ids,
    codes and times from the event, never PHI (an event carries none). Every name a
    template of the event's kind uses is there ("" when the event has no value)."""
    found = {"case_id": event.case_id, "tenant_id": event.tenant_id}
    if event.type == "specialist.offered":
        offer = event.specialist_offered
        found["respond_by"] = _utc(offer.respond_by) if offer.HasField("respond_by") else ""
    elif event.type == "sla.changed":
        change = event.sla_changed
        found |= {"assignment_id": change.assignment_id, "specialist_id": change.specialist_id,
                  "due_at": _utc(change.due_at) if change.HasField("due_at") else "",
                  "overdue_minutes": str(max(0, -change.seconds_left) // 60)
                  if change.change == events_pb2.SLA_CHANGE_BREACHED else ""}
    elif event.type == "case.unmatched":
        found |= {"cause": _name(events_pb2.UnmatchedCause, event.case_unmatched.cause, "UNMATCHED_CAUSE_"),
                  "offers_made": str(event.case_unmatched.offers_made)}
    elif event.type == "delivery.dead":
        dead = event.delivery_dead
        found |= {"delivery_id": dead.delivery_id, "channel": dead.channel, "notice_type": dead.notice_type,
                  "attempts": str(dead.attempts), "endpoint_id": dead.endpoint_id, "last_error": dead.last_error}
    elif event.type == "endpoint.disabled":
        found = {"tenant_id": event.tenant_id, "endpoint_id": event.endpoint_disabled.endpoint_id,
                 "consecutive_dead": str(event.endpoint_disabled.consecutive_dead),
                 "reason": event.endpoint_disabled.reason}
    return found


def _utc(stamp) -> str:
    return stamp.ToDatetime(tzinfo=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def people_told(event: Event, route: Route, channel: str) -> tuple[str, ...]:
    """Who among people hears of this event on `channel`."""
    if route.kind == WITHDRAWN and event.case_withdrawn.reason not in _TOLD_OF_WITHDRAWAL:
        return ()
    return route.audiences(channel)


# X12 review actions (element 306) by case_pb2.ItemAction.
REVIEW_ACTIONS = {case_pb2.ITEM_ACTION_APPROVE: "A1", case_pb2.ITEM_ACTION_MODIFY: "A6",
                  case_pb2.ITEM_ACTION_DENY: "A3", case_pb2.ITEM_ACTION_PEND: "A4"}


def carries_claim_response(body: bytes) -> bool:
    """A tenant's notice of a prior authorization's decision: sent with its ClaimResponse."""
    return b'"review_actions":' in body


def facts(event: Event) -> dict:
    """The coded facts a tenant's notice carries beside the status: no PHI, no text."""
    if event.type in ("opinion.submitted", "opinion.amended"):
        opinion = event.opinion_submitted if event.type == "opinion.submitted" else event.opinion_amended.opinion
    if event.type in ("opinion.submitted", "opinion.amended") and opinion.prior_auth_decisions:
        # A prior authorization's decision (or its amendment): each item's X12 review action
        # and reason code (the ClaimResponse itself is read from intake when the webhook is sent).
        # The version on every notice (1: the first decision): notices can arrive out of order.
        return {"decision_id": opinion.opinion_id, "decision_version": opinion.version or 1,
                "review_actions": [
                    {"item": d.item_key, "review_action": REVIEW_ACTIONS.get(d.action, str(d.action)),
                     **({"reason_code": d.reason_code} if d.reason_code else {})}
                    for d in opinion.prior_auth_decisions]}
    if event.type in ("opinion.submitted", "opinion.amended"):
        found = {
            # The reviewer's conclusions as the opinion form has them (the four treatment
            # answers apart), and the first model's three for receivers written against it.
            "diagnosis": _name(case_pb2.DiagnosisConcordance, opinion.diagnosis, "DIAGNOSIS_CONCORDANCE_"),
            "treatment": _name(case_pb2.TreatmentConcordance, opinion.treatment, "TREATMENT_CONCORDANCE_"),
            "diagnosis_concordance": _name(case_pb2.Concordance, opinion.diagnosis_concordance, "CONCORDANCE_"),
            "treatment_concordance": _name(case_pb2.Concordance, opinion.treatment_concordance, "CONCORDANCE_"),
        }
        if opinion.panel_outcome:  # AGREED, ADJUDICATED, DISAGREED (no shared conclusion) or ALONE
            found["panel_outcome"] = _name(events_pb2.PanelOutcome, opinion.panel_outcome, "PANEL_OUTCOME_")
        found["opinion_version"] = opinion.version or 1  # on every notice: they can arrive out of order
        return found
    if event.type == "info.requested":
        return {"question_count": event.info_requested.question_count}
    if event.type == "case.unmatched":
        return {"cause": _name(events_pb2.UnmatchedCause, event.case_unmatched.cause, "UNMATCHED_CAUSE_")}
    if event.type == "case.waiting":
        until = event.case_waiting.wait_until.ToDatetime(tzinfo=timezone.utc)
        return {"eligible_at_capacity": event.case_waiting.eligible_at_capacity, "wait_until": until.isoformat()}
    if event.type == "case.withdrawn":
        return {"reason": _name(case_pb2.WithdrawalReason, event.case_withdrawn.reason, "WITHDRAWAL_REASON_")}
    if event.type == "assignment.accepted" and event.assignment_accepted.HasField("sla_due_at"):
        due = event.assignment_accepted.sla_due_at.ToDatetime(tzinfo=timezone.utc)
        return {"opinion_due_at": due.isoformat()}
    return {}


def _name(enum, value: int, prefix: str) -> str:
    try:
        return enum.Name(value).removeprefix(prefix)
    except ValueError:  # a value newer than this build
        return str(value)
