"""intake's sweeper against the real store: one sweep over 10,000 open cases
re-drives exactly the 20 stuck in stages the system owns, at a cost in store
requests that follows the stuck cases, not the open ones."""

from __future__ import annotations

from datetime import timedelta

import pytest

from secondlook.clock import utcnow
from secondlook.events import decode
from secondlook.phi import PhiCipher
from secondlook.store import OUTBOX, Store
from secondlook.unitofwork import transactor
from secondlook.v1 import case_pb2
from services.intake import repository
from services.intake.domain.lifecycle import REDRIVE_REPUBLISH
from services.intake.repository import IntakeUnitOfWork, MongoCaseReader
from services.intake.sweeper import Sweeper
from tests.integration.store_requests import StoreRequests as Requests

pytestmark = pytest.mark.integration

S = case_pb2.CaseStatus


def _case(i: int, status: int, next_redrive_at, now) -> dict:
    return {"_id": f"case-{i:05d}", "tenant_id": "t", "client_request_id": f"r-{i}", "status": status,
            "diagnosis_code": "G35", "urgency": 1, "jurisdiction": "US-CA", "language": "en",
            "patient": {"given_name": "A", "family_name": "B", "birth_date": "1970-01-01"},
            "proposed_treatment": "x", "consent": {"granted": True, "granted_at": now},
            "submitted_at": now - timedelta(minutes=6), "updated_at": now - timedelta(minutes=5),
            "redrives": 0, "next_redrive_at": next_redrive_at, "traceparent": ""}


async def test_one_sweep_redrives_exactly_the_cases_stuck_in_system_stages(infra_settings):
    requests = Requests()
    store = Store(infra_settings, "intake", listeners=(requests,))
    try:
        await store.ensure_indexes()
        await repository.ensure_indexes(store.db)
        now = utcnow()
        system = [S.CASE_STATUS_SUBMITTED, S.CASE_STATUS_MATCHING, S.CASE_STATUS_OPINION_READY]
        person = [S.CASE_STATUS_OFFERED, S.CASE_STATUS_ASSIGNED, S.CASE_STATUS_IN_REVIEW]
        docs = []
        for i in range(10_000):
            if i % 500 == 0:  # 20 stuck in a stage the system owns
                docs.append(_case(i, system[i % 3], now - timedelta(minutes=1), now))
            elif i % 3 == 0:  # in a system stage, not due yet
                docs.append(_case(i, system[i % 3], now + timedelta(minutes=10), now))
            elif i % 97 == 0:  # waiting on a person, with a due time left by an older version
                docs.append(_case(i, person[i % 3], now - timedelta(minutes=1), now))
            else:  # waiting on a person: the sweeper never looks at them
                docs.append(_case(i, person[i % 3], None, now))
        for start in range(0, len(docs), 2_000):
            await store.db[repository.CASES].insert_many(docs[start:start + 2_000])
        stuck = {d["_id"]: d["status"] for d in docs if d["next_redrive_at"] is not None
                 and d["next_redrive_at"] <= now and d["status"] in system}
        assert len(stuck) == 20

        cipher = PhiCipher(infra_settings, store.client, "intake-phi")
        sweeper = Sweeper(transactor(store, lambda uow: IntakeUnitOfWork(uow, cipher)),
                          MongoCaseReader(store.db, cipher), interval=1,
                          stuck_after=30, max_per_sweep=100)
        requests.counts.clear()
        assert await sweeper.sweep_once() == 20
        cost = dict(requests.counts)
        total = sum(cost.values())
        print(f"\none sweep over 10,000 open cases: 20 re-driven with {total} store requests {cost}")

        rows = await store.db[OUTBOX].find({"type": "redrive.requested"}).to_list()
        redriven = {r["case_id"]: decode(r["payload"]).redrive_requested for r in rows}
        assert set(redriven) == set(stuck)
        for case_id, request in redriven.items():
            assert request.stuck_in == stuck[case_id]
            assert tuple(request.republish_types) == REDRIVE_REPUBLISH[stuck[case_id]]
        # Per stuck case: its compare-and-set and its sequence number; one read, one
        # outbox write and the commit for the sweep. Nothing per open case.
        assert total <= 2 * 20 + 5, cost

        requests.counts.clear()
        assert await sweeper.sweep_once() == 0  # the next redrive of each waits twice as long
        assert sum(requests.counts.values()) == 1, dict(requests.counts)
    finally:
        await store.client.drop_database(store.db.name)
        await store.close()
