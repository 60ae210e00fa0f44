"""`secondlook report prior-auth` over the real store: prior authorizations stored and
decided through intake's own code (sealed content, decisions kept then announced),
the figures read back by the command, as a table and as JSON."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest

from secondlook.clock import FakeClock
from secondlook.events import new_event
from secondlook.feed import Feed
from secondlook.fhir.bundle import read_bundle
from secondlook.phi import PhiCipher
from secondlook.v1 import case_pb2, events_pb2
from services.intake import usecases
from services.intake.domain import case as cases
from services.intake.domain.priorauth import DecidedItem, Decision
from services.intake.domain.submission import validate_prior_auth
from services.intake.fhir.pas import translate_pas
from services.intake.repository import MongoCaseReader, MongoCaseRepository
from tests.unit.test_fhir_pas import DATA

pytestmark = pytest.mark.integration

RECEIVED = datetime(2026, 4, 6, 8, 0, tzinfo=UTC)
APPROVE, DENY, MODIFY = case_pb2.ITEM_ACTION_APPROVE, case_pb2.ITEM_ACTION_DENY, case_pb2.ITEM_ACTION_MODIFY


async def _decided(store, cipher, n: int, *, expedited: bool, decisions: list[tuple[int, list[int]]]):
    """A prior authorization received at RECEIVED, each decision (hours after receipt,
    its items' actions) kept and announced as review does."""
    bundle, _ = read_bundle((DATA / "conformant_pas_bundle_v110_multiple_items.json").read_bytes())
    request = dataclasses.replace(translate_pas(bundle, today=date.today()).request, submission_id=f"tx-{n}", expedited=expedited)
    valid, violations = validate_prior_auth(request, RECEIVED)
    assert violations == []
    case, _ = cases.new_case(valid, case_id=f"pa-report-{n}", tenant_id="payer-r", submitted_by="um",
                             traceparent="", now=RECEIVED, stuck_after=30)
    repository = MongoCaseRepository(store.db, cipher)
    await repository.add(case)
    for version, (hours, actions) in enumerate(decisions, start=1):
        at = RECEIVED + timedelta(hours=hours)
        decision = Decision(f"d{n}-{version}", "spec-1", tuple(
            DecidedItem(item.key, action, "NOT_MEDICALLY_NECESSARY" if action == DENY else "",
                        "Reason given." if action == DENY else "")
            for item, action in zip(request.items, actions, strict=True)), at,
            "Appeal." if version > 1 else "")
        current = await MongoCaseReader(store.db, cipher).get_any(case.case_id)
        assert await repository.add_prior_auth_decision(current, decision)
        payload = events_pb2.OpinionSubmitted(
            assignment_id="a1", specialist_id="spec-1", opinion_id=decision.decision_id, version=version,
            prior_auth_decisions=[case_pb2.ItemDecision(item_key=i.key, action=i.action) for i in decision.items])
        event = new_event(payload if version == 1 else events_pb2.OpinionAmended(opinion=payload),
                          case_id=case.case_id, tenant_id="payer-r", producer="review", occurred_at=at)
        assert await usecases.project(repository, Feed(), event, FakeClock(), 30)


async def test_the_report_reads_the_decided_requests_figures_from_the_store(store, infra_settings, tmp_path):
    cipher = PhiCipher(infra_settings, store.client, "intake-phi")
    await cipher.ensure_key()
    both = [APPROVE, APPROVE]  # the request has two items
    await _decided(store, cipher, 1, expedited=False, decisions=[(10, both)])
    await _decided(store, cipher, 2, expedited=False, decisions=[(30, [DENY, DENY]), (60, both)])
    await _decided(store, cipher, 3, expedited=True, decisions=[(5, [MODIFY, DENY])])
    out = tmp_path / "figures.json"
    env = {**os.environ, "SECONDLOOK_MONGO_URI": infra_settings.mongo_uri,
           "SECONDLOOK_MONGO_DATABASE_PREFIX": infra_settings.mongo_database_prefix, "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "services.cli", "report", "prior-auth", "--from", "2026-04-01",
                           "--to", "2026-04-30", "--json", str(out)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    [row] = [line for line in done.stdout.splitlines() if line.startswith("payer-r")]
    assert row.split()[:6] == ["payer-r", "3", "33.3%", "33.3%", "33.3%", "33.3%"]
    [figures] = json.loads(out.read_text())["tenants"]
    assert figures["requests"] == 3 and figures["approved_after_amendment_share"] == pytest.approx(1 / 3)
    assert (figures["standard_requests"], figures["standard_mean_hours"], figures["standard_p90_hours"]) == (
        2, pytest.approx(20.0), pytest.approx(30.0))
    assert (figures["expedited_requests"], figures["expedited_mean_hours"]) == (1, pytest.approx(5.0))
    none = subprocess.run([sys.executable, "-m", "services.cli", "report", "prior-auth", "--from", "2026-05-01",
                           "--to", "2026-05-31"], env=env, capture_output=True, text=True, timeout=60)
    assert none.returncode == 0 and "no prior-authorization request was decided" in none.stdout
