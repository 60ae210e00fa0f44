"""intake's repository contract against the in-memory fake and the real store,
including the redrive compare-and-set."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from devstack import clients
from secondlook.clock import FakeClock
from secondlook.events import caused_by
from secondlook.phi import PhiCipher
from secondlook.store import Store
from secondlook.unitofwork import transactor
from secondlook.v1 import case_pb2, events_pb2, intake_pb2
from services.intake import repository
from services.intake.domain import case as cases
from services.intake.domain.listing import page_token, parse_query
from services.intake.domain.submission import validate
from services.intake.repository import DuplicateRequest, IntakeUnitOfWork, MongoCaseReader, MongoCaseRepository
from tests.fakes.intake import InMemoryCaseReader, InMemoryCases, intake_transact
from tests.fakes.transact import Committed
from tests.integration.store_requests import QueryPlans

pytestmark = pytest.mark.integration

CLOCK = FakeClock()


@pytest.fixture(params=["fake", "mongo"])
async def ports(request, infra_settings):
    if request.param == "fake":
        transact = intake_transact()
        yield transact, InMemoryCaseReader(transact), Committed(transact, InMemoryCases)
        return
    plans = QueryPlans()
    store = Store(infra_settings, "intake", listeners=(plans,))
    await store.ensure_indexes()
    await repository.ensure_indexes(store.db)
    cipher = PhiCipher(infra_settings, store.client, "intake-phi")
    await cipher.ensure_key()
    yield (transactor(store, lambda uow: IntakeUnitOfWork(uow, cipher)), MongoCaseReader(store.db, cipher),
           MongoCaseRepository(store.db, cipher))
    scans = plans.scans()
    assert not scans, "\n".join(scans)
    await store.client.drop_database(store.db.name)
    await store.close()


def _new(key="k1", tenant="t1", case_id="c1"):
    req = clients.sample_cases()[0]
    req.client_request_id = key
    req.consent.granted_at.FromDatetime(CLOCK.now() - timedelta(hours=1))
    valid, violations = validate(req, CLOCK.now())
    assert not violations
    return cases.new_case(valid, case_id=case_id, tenant_id=tenant, submitted_by="u", traceparent="",
                          now=CLOCK.now(), stuck_after=30)


async def test_a_case_is_stored_whole_and_found_by_key_and_by_tenant(ports):
    transact, reader, _ = ports
    case, _ = _new()
    assert case.content is not None
    await transact(lambda uow: uow.cases.add(case))
    # Bookkeeping reads (the projection's, a repeated key's) leave the content out.
    bookkeeping = dataclasses.replace(case, content=None)
    assert await transact(lambda uow: uow.cases.get("c1")) == bookkeeping
    assert await transact(lambda uow: uow.cases.get_many(["c1", "nope"])) == {"c1": bookkeeping}
    assert await transact(lambda uow: uow.cases.by_request_id("t1", "k1")) == bookkeeping
    assert await reader.get_for_tenant("c1", "t1") == case
    assert await reader.get_for_tenant("c1", "t2") is None
    assert await reader.by_request_id("t2", "k1") is None


async def test_a_key_is_unique_within_its_tenant(ports):
    transact, _, _ = ports
    await transact(lambda uow: uow.cases.add(_new()[0]))
    with pytest.raises(DuplicateRequest):
        await transact(lambda uow: uow.cases.add(_new(case_id="c2")[0]))
    await transact(lambda uow: uow.cases.add(_new(tenant="t2", case_id="c3")[0]))


async def test_a_key_is_its_id_within_the_system_that_assigned_it(ports):
    """Two order placers' equal numbers are two requests; one placer's number twice is one.
    A key without a system is stored without the field, as every case from before."""
    transact, reader, _ = ports

    def placed(system: str, case_id: str):
        case = _new(key="ORD-7", case_id=case_id)[0]
        return dataclasses.replace(case, client_request_system=system)

    await transact(lambda uow: uow.cases.add(placed("urn:oid:1.2.3", "c1")))
    await transact(lambda uow: uow.cases.add(placed("https://other.example.org/orders", "c2")))
    await transact(lambda uow: uow.cases.add(placed("", "c3")))
    for system, case_id in (("urn:oid:1.2.3", "c4"), ("", "c5")):
        with pytest.raises(DuplicateRequest):
            await transact(lambda uow, system=system, case_id=case_id: uow.cases.add(placed(system, case_id)))
    found = {system: (await reader.by_request_id("t1", "ORD-7", system)).case_id
             for system in ("urn:oid:1.2.3", "https://other.example.org/orders", "")}
    assert found == {"urn:oid:1.2.3": "c1", "https://other.example.org/orders": "c2", "": "c3"}
    assert (await reader.get_for_tenant("c1", "t1")).client_request_system == "urn:oid:1.2.3"


async def test_a_projection_appends_to_the_timeline_and_moves_the_status(ports):
    transact, reader, repository_alone = ports
    case, submitted = _new()
    await transact(lambda uow: uow.cases.add(case))
    offer = caused_by(submitted, events_pb2.SpecialistOffered(assignment_id="a", specialist_id="s9"),
                      producer="matching")
    offer.occurred_at.FromDatetime(CLOCK.now())  # MongoDB keeps milliseconds: a round time compares equal
    moved, _ = cases.project(case, offer, CLOCK.now() + timedelta(seconds=1), 30)
    assert await repository_alone.save_projection(case, moved, (offer.event_id,))
    assert await reader.get_for_tenant("c1", "t1") == moved

    # The write is guarded: the same event again, or any event over a stale read
    # (the status moved since), is refused and changes nothing.
    assert not await repository_alone.save_projection(case, moved, (offer.event_id,))
    started = caused_by(submitted, events_pb2.MatchingStarted(), producer="matching")
    started.occurred_at.FromDatetime(CLOCK.now())
    late, _ = cases.project(case, started, CLOCK.now() + timedelta(seconds=2), 30)  # over the SUBMITTED read
    assert not await repository_alone.save_projection(case, late, (started.event_id,))
    assert await reader.get_for_tenant("c1", "t1") == moved


async def test_a_redrive_is_recorded_only_over_the_case_as_it_was_read(ports):
    transact, reader, _ = ports
    case, _ = _new()
    await transact(lambda uow: uow.cases.add(case))
    later = CLOCK.now() + timedelta(minutes=1)
    [due] = await reader.due_for_redrive(later, 10)
    first, _ = cases.redrive(due, later, 30)
    assert await transact(lambda uow: uow.cases.save_redrive(due, first)) is True
    # Another replica read the case at the same time: its compare-and-set fails.
    assert await transact(lambda uow: uow.cases.save_redrive(due, dataclasses.replace(first, redrives=9))) is False
    assert (await reader.get_for_tenant("c1", "t1")).redrives == 1
    assert await reader.due_for_redrive(later, 10) == []


async def test_a_projection_over_a_read_the_sweeper_or_another_event_overtook_keeps_both(ports):
    """Between the projection's read and its write the sweeper re-drives the case
    and a late event joins its timeline: the status change still lands, resets the
    redrive count, and keeps the other event's entry."""
    transact, reader, repository_alone = ports
    case, submitted = _new()
    await transact(lambda uow: uow.cases.add(case))
    read = await reader.get_for_tenant("c1", "t1")

    later = CLOCK.now() + timedelta(minutes=1)
    redriven, _ = cases.redrive(read, later, 30)
    assert await transact(lambda uow: uow.cases.save_redrive(read, redriven))
    # A late event that leaves the status as it is (only its entry joins the timeline).
    resubmitted = caused_by(submitted, events_pb2.CaseSubmitted(), producer="intake")
    resubmitted.occurred_at.FromDatetime(CLOCK.now())
    same_status, step = cases.project(read, resubmitted, later, 30)
    assert not step.status_changed
    assert await repository_alone.save_projection(read, same_status, (resubmitted.event_id,))

    started = caused_by(submitted, events_pb2.MatchingStarted(), producer="matching")
    started.occurred_at.FromDatetime(CLOCK.now())
    moved, _ = cases.project(read, started, later + timedelta(seconds=1), 30)
    assert await repository_alone.save_projection(read, moved, (started.event_id,))

    now = await reader.get_for_tenant("c1", "t1")
    assert now.status == moved.status and now.redrives == 0 and now.next_redrive_at == moved.next_redrive_at
    assert [e.event_type for e in now.timeline] == ["case.submitted", "case.submitted", "matching.started"]
    assert {resubmitted.event_id, started.event_id} <= now.seen_event_ids


async def test_projections_of_several_cases_are_saved_together_and_each_guard_holds(ports):
    transact, reader, repository_alone = ports
    (one, sub_one), (two, sub_two) = _new("k1", case_id="c1"), _new("k2", case_id="c2")
    for case in (one, two):
        await transact(lambda uow, case=case: uow.cases.add(case))
    assert set(await repository_alone.get_many(["c1", "c2", "missing"])) == {"c1", "c2"}
    writes = []
    for case, submitted in ((one, sub_one), (two, sub_two)):
        started = caused_by(submitted, events_pb2.MatchingStarted(), producer="matching")
        started.occurred_at.FromDatetime(CLOCK.now())
        moved, _ = cases.project(case, started, CLOCK.now() + timedelta(seconds=1), 30)
        writes.append((case, moved, (started.event_id,)))
    # c2 moved since it was read: its guard refuses the write, c1's lands.
    offer = caused_by(sub_two, events_pb2.SpecialistOffered(assignment_id="a", specialist_id="s9"),
                      producer="matching")
    offer.occurred_at.FromDatetime(CLOCK.now())
    offered, _ = cases.project(two, offer, CLOCK.now() + timedelta(seconds=1), 30)
    assert await repository_alone.save_projection(two, offered, (offer.event_id,))

    assert await repository_alone.save_projections(writes) == [True, False]
    assert await reader.get_for_tenant("c1", "t1") == writes[0][1]
    assert await reader.get_for_tenant("c2", "t1") == offered
    # Over a stale read, an event recorded meanwhile counts as saved (by whoever wrote it).
    assert await repository_alone.save_projections(writes[:1]) == [True]
    assert await reader.get_for_tenant("c1", "t1") == writes[0][1]


async def test_pages_of_500_cases_list_each_once_while_cases_keep_arriving(ports):
    transact, reader, _ = ports
    base, template = CLOCK.now() - timedelta(days=1), _new()[0]

    def case(i: int, tenant: str, at):
        return dataclasses.replace(template, case_id=f"c{i:04d}", client_request_id=f"k{i}", tenant_id=tenant,
                                   submitted_at=at)

    async def add(*new) -> None:
        async def body(uow):
            for c in new:
                await uow.cases.add(c)
        await transact(body)

    # Every millisecond holds three cases (ties broken by id); 50 cases a transaction.
    existing = [case(i, "t1", base + timedelta(milliseconds=i // 3)) for i in range(500)]
    for start in range(0, 500, 50):
        await add(*existing[start:start + 50])
    await add(case(900, "t2", base))  # another tenant's: never listed
    existing = {c.case_id for c in existing}

    seen, token, pages, arriving = [], "", 0, 1000
    while True:
        req = intake_pb2.ListCasesRequest(page_size=37, page_token=token)
        query, violations = parse_query(req, frozenset({"t1"}))
        assert violations == []
        page = await reader.list_cases(query, query.page_size + 1)
        assert all(c.content is None for c in page)  # the summary view reads no PHI
        seen += [c.case_id for c in page[:query.page_size]]
        pages += 1
        for _ in range(3):  # submissions while the client pages through
            arriving += 1
            await add(case(arriving, "t1", CLOCK.now() + timedelta(seconds=arriving)))
        if len(page) <= query.page_size:
            break
        token = page_token(query, page[query.page_size - 1].submitted_at, page[query.page_size - 1].case_id)
    assert len(seen) == len(set(seen)) == 500 and set(seen) == existing and pages == 14
    assert seen == sorted(seen, key=lambda c: (int(c[1:]) // 3, c), reverse=True)  # newest first, then by id


async def test_list_filters_and_the_whole_case_view(ports):
    transact, reader, _ = ports
    urgent = dataclasses.replace(_new("k1", "t1", "c1")[0], urgency=case_pb2.URGENCY_EXPEDITED)
    plain = dataclasses.replace(_new("k2", "t1", "c2")[0], urgency=case_pb2.URGENCY_STANDARD,
                                submitted_at=CLOCK.now() - timedelta(hours=2))
    for case in (urgent, plain):
        await transact(lambda uow, case=case: uow.cases.add(case))
    query, _ = parse_query(intake_pb2.ListCasesRequest(urgencies=[case_pb2.URGENCY_EXPEDITED],
                                                       view=intake_pb2.CASE_VIEW_FULL), frozenset({"t1"}))
    assert await reader.list_cases(query, 10) == [urgent]  # whole, content opened
    req = intake_pb2.ListCasesRequest()
    req.submitted_before.FromDatetime(CLOCK.now() - timedelta(hours=1))
    query, _ = parse_query(req, frozenset({"t1"}))
    assert [c.case_id for c in await reader.list_cases(query, 10)] == ["c2"]


async def test_a_patients_cases_are_found_by_their_identifier_in_their_tenant_only(ports):
    transact, reader, _ = ports
    mine = _new("k1", "t1", "c1")[0]
    patient = mine.content.patient
    other_patient = dataclasses.replace(patient, identifiers=tuple(
        dataclasses.replace(i, value="MRN-OTHER") if i.type == "MR" else i for i in patient.identifiers))
    other = dataclasses.replace(_new("k2", "t1", "c2")[0], content=dataclasses.replace(mine.content,
                                                                                       patient=other_patient))
    elsewhere = _new("k3", "t2", "c3")[0]  # the same number at another tenant is another patient's
    for case in (mine, other, elsewhere):
        await transact(lambda uow, case=case: uow.cases.add(case))
    [(system, value)] = patient.mrns
    found = {}
    for tenants in (("t1",), ("t2",), ("t1", "t2")):
        query, violations = parse_query(intake_pb2.ListCasesRequest(
            patient_identifier=intake_pb2.Identifier(system=system, value=value)), frozenset(tenants))
        assert not violations
        found[tenants] = sorted(c.case_id for c in await reader.list_cases(query, 10))
    assert found == {("t1",): ["c1"], ("t2",): ["c3"], ("t1", "t2"): ["c1", "c3"]}
    query, _ = parse_query(intake_pb2.ListCasesRequest(
        patient_identifier=intake_pb2.Identifier(system="https://another.example.org/mrn", value=value)),
        frozenset({"t1"}))
    assert await reader.list_cases(query, 10) == []  # the same number from another assigner: not this patient
    query, _ = parse_query(intake_pb2.ListCasesRequest(
        patient_identifier=intake_pb2.Identifier(system=system, value=value),
        statuses=[case_pb2.CASE_STATUS_DELIVERED]), frozenset({"t1"}))
    assert await reader.list_cases(query, 10) == []  # the other filters still apply


async def test_the_key_index_on_the_id_alone_is_replaced_by_the_one_with_its_system(infra_settings):
    """A store from before: its index on (tenant, id) would refuse a second placer's equal number."""
    from pymongo import ASCENDING

    store = Store(infra_settings, "intake")
    try:
        await store.db[repository.CASES].create_index(
            [("tenant_id", ASCENDING), ("client_request_id", ASCENDING)], unique=True, name="idempotency_key")
        await repository.ensure_indexes(store.db)
        await repository.ensure_indexes(store.db)  # a second replica starting: nothing left to drop
        names = set(await store.db[repository.CASES].index_information())
        assert "idempotency_key_by_system" in names and "idempotency_key" not in names
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()
