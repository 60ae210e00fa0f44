"""matching's gRPC entry point: the specialist directory (role "directory-admin"),
match explanations (role "operator") and a specialist's contact for a notice
(role "contact-reader", notify's), mapped to use cases and back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection

import grpc

from secondlook import paging
from secondlook.auth import require_role
from secondlook.clock import Clock
from secondlook.codes import jurisdiction_problem, language_problem
from secondlook.edge import size_violations, text_violations
from secondlook.errors import field_violations
from secondlook.logging import get_logger
from secondlook.unitofwork import Transact
from secondlook.v1 import matching_pb2, matching_pb2_grpc

from . import usecases
from .domain.csvimport import read_csv
from .domain.directory import CONTACT_CHANNELS, Affiliation, DirectoryQuery, Specialist
from .domain.fhirimport import read_fhir
from .domain.matcher import Verdict
from .domain.registration import SPECIALIST_ID, npi_held_elsewhere, validate_specialist
from .repository import AnsweredMeanwhile, MatchingRepository

log = get_logger(__name__)

ROLE = "directory-admin"
DEFAULT_PAGE, MAX_PAGE = 50, 500
DEFAULT_VERDICTS, MAX_VERDICTS = 200, 1000


def _waiting(decision, policy) -> dict[str, str]:
    """Since when and until when a case waits for a free slot, for ExplainMatch."""
    if decision.waiting_since is None:
        return {}
    until = decision.waiting_since + policy.offers.capacity_wait(decision.facts.urgency)
    return {"waiting_since": decision.waiting_since.isoformat(), "wait_until": until.isoformat()}


def _org(a: Affiliation) -> matching_pb2.DirectoryOrganization:
    return matching_pb2.DirectoryOrganization(organization_id=a.organization_id, name=a.name, npi=a.npi)


def message_of(s: Specialist) -> matching_pb2.Specialist:
    return matching_pb2.Specialist(
        specialist_id=s.specialist_id, npi=s.npi, display_name=s.display_name, specialties=list(s.specialties),
        focus=[matching_pb2.CodeRange(first=r.first, last=r.last) for r in s.focus],
        licences=[matching_pb2.Licence(jurisdiction=lic.jurisdiction, expires=lic.expires.isoformat())
                  for lic in s.licences],
        certifications=[matching_pb2.Certification(board=c.board, specialty=c.specialty, expires=c.expires.isoformat())
                        for c in s.certifications],
        years_in_practice=s.years_in_practice, languages=sorted(s.languages),
        affiliations=[_org(a) for a in s.affiliations], declared_conflicts=[_org(a) for a in s.declared_conflicts],
        capacity=s.capacity, accepting=s.accepting,
        out_of_office=[matching_pb2.Absence(first=a.first.isoformat(), last=a.last.isoformat())
                       for a in s.out_of_office],
        case_kinds=sorted(s.case_kinds), turnaround_days=s.turnaround_days, quality=s.quality, active=s.active,
        free_slots=max(0, s.free_slots), version=s.version,
        email=s.email, phone=s.phone, notice_language=s.notice_language,
    )


def _paging(request, most: int, default: int, listing: str, filters) -> tuple[str, list[tuple[str, str]]]:
    """The specialist id a page continues after, and the violations of page_size and page_token."""
    violations, after = [], ""
    if not 0 <= request.page_size <= most:
        violations.append(("page_size", f"must be from 1 to {most} (0 for {default})"))
    if request.page_token:
        position = paging.read_page_token(request.page_token, listing, filters)
        after = position[0] if position and len(position) == 1 and isinstance(position[0], str) else ""
        if not SPECIALIST_ID.fullmatch(after):
            violations.append(("page_token", f"is not a page token {listing} gave for these filters"))
    return after, violations


def _verdict(v: Verdict, rank: int, chosen: bool) -> matching_pb2.SpecialistVerdict:
    msg = matching_pb2.SpecialistVerdict(specialist_id=v.specialist.specialist_id, chosen=chosen)
    if v.excluded_by is not None:
        msg.excluded_by, msg.rule = v.excluded_by.name, v.excluded_by.meaning
    else:
        s = v.candidate.score
        msg.specialty, msg.rank = v.candidate.specialty, rank
        msg.score.CopyFrom(matching_pb2.ScoreComponents(fit=s.fit, load=s.load, turnaround=s.turnaround,
                                                        quality=s.quality, total=s.total))
    return msg


def _read_import(request: matching_pb2.ImportSpecialistsRequest, taxonomy: Collection[str]
                 ) -> tuple[list[Specialist], list[tuple[str, str]], dict[str, str]]:
    """The specialists a file proposes, checked as UpsertSpecialist checks one, every
    violation, and where in the file each specialist id is (`rows[7]`)."""
    rows, violations = read_fhir(request.fhir_bundle) if request.fhir_bundle else read_csv(request.csv)
    proposed, first_row, first_npi = [], {}, {}
    for where, msg in rows:
        # The edge's checks of an UpsertSpecialist (every text printable, lists bounded),
        # then its rules: a file's cells never reach the directory unchecked.
        violations.extend((f"{where}.{path}", rule) for path, rule in size_violations(msg) + text_violations(msg))
        entity, problems = validate_specialist(msg, taxonomy)
        violations.extend((f"{where}.{path}", rule) for path, rule in problems)
        if msg.specialist_id in first_row:
            violations.append((f"{where}.specialist_id", f"repeats {first_row[msg.specialist_id]}"))
        first_row.setdefault(msg.specialist_id, where)
        # One NPI is one person: two rows with it would double their capacity, and could
        # seat them twice on a panel.
        if msg.npi and first_npi.setdefault(msg.npi, (where, msg.specialist_id))[1] != msg.specialist_id:
            violations.append((f"{where}.npi", f"is the NPI of {first_npi[msg.npi][0]} (another specialist id): "
                                               "one NPI is one person"))
        if entity is not None:
            proposed.append(entity)
    return proposed, violations, first_row


class MatchingServicer(matching_pb2_grpc.MatchingServiceServicer):
    def __init__(self, transact: Transact, directory: MatchingRepository, taxonomy, clock: Clock,
                 policy: usecases.MatchPolicy, everyone: Callable[[], Awaitable[list[Specialist]]],
                 audit: usecases.AuditTrail):
        self._transact = transact
        self._directory = directory
        self._audit = audit
        self._taxonomy = taxonomy
        self._clock = clock
        self._policy = policy
        self._everyone = everyone

    async def ExplainMatch(self, request, context):
        principal = await require_role(context, "operator")
        after, violations = _paging(request, MAX_VERDICTS, DEFAULT_VERDICTS, "ExplainMatch", [request.case_id])
        if not request.case_id:
            violations.append(("case_id", "is required"))
        if violations:
            await context.abort_with_status(field_violations(*violations))
        try:
            found = await usecases.explain_match(self._directory, self._everyone, request.case_id, self._policy,
                                                 self._clock.now().date(), principal.readable_tenants())
        except usecases.NotFound:  # another tenant's case answers as no case at all
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"case_id: matching decided nothing for {request.case_id[:64]!r}")
        facts, chosen = found.decision.facts, {o.specialist_id for o in found.decision.offers}
        excluded: dict[str, int] = {}
        for v in found.verdicts:
            if v.excluded_by is not None:
                excluded[v.excluded_by.name] = excluded.get(v.excluded_by.name, 0) + 1
        size = request.page_size or DEFAULT_VERDICTS
        rest = [v for v in found.verdicts if v.specialist.specialist_id > after]
        page = rest[:size]
        return matching_pb2.MatchExplanation(
            case_id=facts.case_id, diagnosis_code=facts.diagnosis_code, jurisdiction=facts.jurisdiction,
            language=facts.language, specialties=list(found.wanted),
            offers=[matching_pb2.MatchOffer(assignment_id=o.assignment_id, specialist_id=o.specialist_id,
                                            specialty=o.specialty, score=o.score, explanation=o.explanation,
                                            offered_at=o.offered_at.isoformat(), state=o.state)
                    for o in found.decision.offers],
            unmatched_reason="; ".join(found.decision.unmatched_reasons),
            directory_size=len(found.verdicts), excluded_by_rule=excluded, eligible=len(found.ranks),
            verdicts=[_verdict(v, found.ranks.get(v.specialist.specialist_id, 0), v.specialist.specialist_id in chosen)
                      for v in page],
            next_page_token=paging.page_token("ExplainMatch", [request.case_id], [page[-1].specialist.specialist_id])
            if len(rest) > size else "",
            **_waiting(found.decision, self._policy),
        )

    async def UpsertSpecialist(self, request, context):
        await require_role(context, ROLE)
        if not request.HasField("specialist"):
            await context.abort_with_status(field_violations(("specialist", "is required")))
        proposed, violations = validate_specialist(request.specialist, self._taxonomy)
        if request.expected_version < 0:
            violations.append(("expected_version", "must be 0 (any) or a version the directory gave out"))
        if violations:
            await context.abort_with_status(field_violations(*(
                (f"specialist.{path}" if path != "expected_version" else path, rule) for path, rule in violations)))
        if held := npi_held_elsewhere([proposed], await self._everyone(), request.reactivate):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"specialist.npi: is the NPI of listed specialist {held[proposed.specialist_id]!r}: "
                                "one NPI is one person (update that specialist, or deactivate it first)")
        now = self._clock.now()
        try:
            saved, created, changed = await self._transact(
                lambda uow: usecases.upsert_specialist(uow, proposed, request.expected_version, now,
                                                       reactivate=request.reactivate))
        except usecases.VersionConflict as exc:
            held = f"version {exc.current}" if exc.current > 0 else "another version" if exc.current else "none"
            await context.abort(grpc.StatusCode.ABORTED,
                                f"expected_version: the directory holds {held} of {proposed.specialist_id!r}; "
                                "read it again")
        return matching_pb2.UpsertSpecialistResponse(specialist=message_of(saved), created=created,
                                                     unchanged=not changed)

    async def GetSpecialist(self, request, context):
        await require_role(context, ROLE)
        if not request.specialist_id:
            await context.abort_with_status(field_violations(("specialist_id", "is required")))
        try:
            found = await usecases.get_specialist(self._directory, request.specialist_id)
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"specialist_id: no specialist {request.specialist_id[:64]!r}")
        return message_of(found)

    async def ListSpecialists(self, request, context):
        await require_role(context, ROLE)
        violations = []
        if request.specialty and request.specialty not in self._taxonomy:
            violations.append(("specialty", f"{request.specialty[:20]!r} is not a NUCC taxonomy code the platform "
                                            "knows"))
        # A filter no specialist can match is a mistake to name, not an empty page ("WY", "english").
        jurisdiction, language = request.jurisdiction.strip(), request.language.strip()
        if jurisdiction:
            jurisdiction, problem = jurisdiction_problem(jurisdiction.upper())
            if problem:
                violations.append(("jurisdiction", problem))
        if language:
            language, problem = language_problem(language)
            if problem:
                violations.append(("language", problem))
        query = DirectoryQuery(request.specialty, jurisdiction or "", language or "", request.accepting_only)
        filters = [query.specialty, query.jurisdiction, query.language, query.accepting_only]
        after, paging_violations = _paging(request, MAX_PAGE, DEFAULT_PAGE, "ListSpecialists", filters)
        violations = paging_violations + violations
        if violations:
            await context.abort_with_status(field_violations(*violations))
        page, last = await usecases.list_specialists(self._directory, query, after,
                                                     request.page_size or DEFAULT_PAGE, self._clock.now().date())
        return matching_pb2.ListSpecialistsResponse(specialists=[message_of(s) for s in page],
                                                    next_page_token=paging.page_token("ListSpecialists", filters,
                                                                                      [last]) if last else "")

    async def ImportSpecialists(self, request, context):
        await require_role(context, ROLE)
        if request.csv and request.fhir_bundle:
            await context.abort_with_status(field_violations(("fhir_bundle", "send either csv or fhir_bundle")))
        # Reading and checking 20,000 rows takes seconds: off the event loop, which serves everyone else.
        proposed, violations, row_of = await asyncio.to_thread(_read_import, request, self._taxonomy)
        held = npi_held_elsewhere(proposed, await self._everyone())
        violations += [(f"{row_of[s.specialist_id]}.npi", f"is the NPI of listed specialist {held[s.specialist_id]!r}:"
                                                          " one NPI is one person")
                       for s in proposed if s.specialist_id in held]
        if violations:  # the first ones named, the rest counted (field_violations)
            await context.abort_with_status(field_violations(*violations))
        try:
            counts = await usecases.import_specialists(self._transact, proposed, self._clock.now(), request.dry_run)
        except usecases.VersionConflict:
            await context.abort(grpc.StatusCode.ABORTED, "a specialist changed while the import ran; send it again "
                                                         "(it upserts: rows already written are updated, not doubled)")
        log.info("specialists_imported", rows=len(proposed), **counts._asdict(), dry_run=request.dry_run)
        return matching_pb2.ImportSpecialistsResponse(rows=len(proposed), **counts._asdict())

    async def DeactivateSpecialist(self, request, context):
        await require_role(context, ROLE)
        if not request.specialist_id:
            await context.abort_with_status(field_violations(("specialist_id", "is required")))
        now = self._clock.now()
        try:
            saved = await self._transact(
                lambda uow: usecases.deactivate_specialist(uow, request.specialist_id, now))
        except usecases.NotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"specialist_id: no specialist {request.specialist_id[:64]!r}")
        except usecases.VersionConflict:
            await context.abort(grpc.StatusCode.ABORTED, "the specialist changed while this call ran; try again")
        except AnsweredMeanwhile:
            await context.abort(grpc.StatusCode.ABORTED, "the specialist answered an offer while this call ran; "
                                                         "try again")
        return message_of(saved)

    async def GetSpecialistContact(self, request: matching_pb2.GetSpecialistContactRequest,
                                   context: grpc.aio.ServicerContext):
        principal = await require_role(context, "contact-reader")
        problems = [("specialist_id", "is required")] if not request.specialist_id else []
        if not request.purpose or len(request.purpose) > 100 or not request.purpose.isprintable():
            problems.append(("purpose", "must name the notice: printable, 1 to 100 characters"))
        channels = tuple(dict.fromkeys(request.channels)) or ("email",)
        problems += [(f"channels[{i}]", f"must be one of {', '.join(CONTACT_CHANNELS)}")
                     for i, channel in enumerate(request.channels) if channel not in CONTACT_CHANNELS]
        if problems:
            await context.abort_with_status(field_violations(*problems))
        try:
            found = await usecases.specialist_contact(self._directory, self._audit, self._clock, principal,
                                                      request.specialist_id, request.purpose, channels)
        except usecases.NotNotifyService:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "GetSpecialistContact answers the notify service only")
        except usecases.NotFound:  # a deactivated specialist is sent no notice
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"specialist_id: no active specialist {request.specialist_id[:64]!r}")
        return matching_pb2.SpecialistContact(specialist_id=found.specialist_id, email=found.email,
                                              phone=found.phone, language=found.language)
