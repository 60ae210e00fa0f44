"""The PHI cipher against the real store: sealing, the data key made once, the
local master key rotated with its predecessor configured, and settings refused
by name."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import asdict
from datetime import date, datetime, timedelta, timezone

import pytest
from bson.binary import Binary

from devstack import clients
from secondlook.phi import PhiCipher, PhiConfigurationError, new_local_master_key, rotate
from secondlook.store import Store
from services.intake.casedoc import to_doc
from services.intake.domain import case as cases
from services.intake.domain.submission import validate
from services.intake.repository import CASES, MongoCaseReader

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(infra_settings):
    store = Store(infra_settings, "intake")
    yield store
    await store.close()


@pytest.fixture
async def vault(infra_settings, store, tmp_path):
    """Settings of their own key vault, so that tests do not share data keys."""
    db = f"kv_{abs(hash(tmp_path)) % 10**10}"
    yield infra_settings.model_copy(update={"phi_key_vault_namespace": f"{db}.datakeys"})
    await store.client.drop_database(db)


async def test_sealed_values_are_ciphertext_that_opens_to_the_value(store, vault):
    cipher = PhiCipher(vault, store.client, "test-phi")
    await cipher.ensure_key()
    sealed = await cipher.seal({"given_name": "Ada", "birth_date": "1815-12-10"})
    assert isinstance(sealed, Binary) and sealed.subtype == 6 and b"Ada" not in bytes(sealed)
    assert await cipher.open(sealed) == {"given_name": "Ada", "birth_date": "1815-12-10"}
    assert await cipher.seal("x") != await cipher.seal("x")  # randomised
    assert await cipher.seal_lookup("MRN-1") == await cipher.seal_lookup("MRN-1")  # deterministic, for lookups
    assert await cipher.open("written before encryption") == "written before encryption"


async def test_replicas_starting_together_share_one_data_key(store, vault):
    ciphers = [PhiCipher(vault, store.client, "shared-phi") for _ in range(3)]
    await asyncio.gather(*(c.ensure_key() for c in ciphers))
    db, coll = vault.phi_key_vault_namespace.split(".")
    assert await store.client[db][coll].count_documents({"keyAltNames": "shared-phi"}) == 1
    sealed = await ciphers[0].seal("one key")
    assert [await c.open(sealed) for c in ciphers] == ["one key"] * 3


async def test_the_local_master_key_is_rotated_and_what_it_sealed_stays_readable(store, vault, tmp_path):
    old_key, new_key = tmp_path / "old.key", tmp_path / "new.key"
    new_local_master_key(old_key)
    new_local_master_key(new_key)
    before = vault.model_copy(update={"phi_local_master_key_file": old_key})
    cipher = PhiCipher(before, store.client, "rotated-phi")
    await cipher.ensure_key()
    sealed = await cipher.seal("sealed under the old master key")
    await cipher.close()

    during = vault.model_copy(update={"phi_local_master_key_file": new_key,
                                      "phi_local_previous_master_key_file": old_key})
    assert await rotate(during, store.client) == 1

    after = vault.model_copy(update={"phi_local_master_key_file": new_key})  # the old key is gone
    assert await PhiCipher(after, store.client, "rotated-phi").open(sealed) == "sealed under the old master key"
    stale = PhiCipher(before, store.client, "rotated-phi")  # only the retired key: cannot unwrap any more
    with pytest.raises(Exception, match="local"):
        await stale.open(sealed)
    with pytest.raises(PhiConfigurationError, match="cannot be used with the configured master key"):
        await PhiCipher(before, store.client, "rotated-phi").ensure_key()  # a service stops at start


def test_missing_or_unusable_settings_are_named(infra_settings, tmp_path):
    with pytest.raises(PhiConfigurationError, match="SECONDLOOK_PHI_LOCAL_MASTER_KEY_FILE is required"):
        PhiCipher(infra_settings.model_copy(update={"phi_local_master_key_file": None}), None, "k")
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 32)
    with pytest.raises(PhiConfigurationError, match="96 bytes"):
        PhiCipher(infra_settings.model_copy(update={"phi_local_master_key_file": short}), None, "k")
    with pytest.raises(PhiConfigurationError, match="SECONDLOOK_PHI_MASTER_KEY is required"):
        PhiCipher(infra_settings.model_copy(update={"phi_kms_provider": "aws"}), None, "k")
    with pytest.raises(FileExistsError):
        new_local_master_key(infra_settings.phi_local_master_key_file)  # a key in use is never overwritten


async def test_a_case_sealed_field_by_field_before_the_content_was_one_value_still_reads(store, vault):
    """Cases written by the earlier layout (each PHI field sealed on its own) stay readable."""
    cipher = PhiCipher(vault, store.client, "test-phi")
    await cipher.ensure_key()
    now = datetime.now(timezone.utc)
    request = clients.sample_cases()[0]
    request.consent.granted_at.FromDatetime(now - timedelta(hours=1))
    valid, _ = validate(request, now)
    case, _ = cases.new_case(valid, case_id="legacy-1", tenant_id="t1", submitted_by="u", traceparent="", now=now,
                             stuck_after=30)
    content, f = case.content, case.content.first_opinion
    doc = await to_doc(dataclasses.replace(case, content=None), cipher)
    seal = cipher.seal
    doc.update({
        "patient": await seal(asdict(content.patient)), "diagnosis_text": await seal(content.diagnosis_text),
        "secondary_diagnoses": [{"code": d.code, "text": await seal(d.text)} for d in content.secondary_diagnoses],
        "first_opinion": {
            "physician_npi": f.physician_npi, "organization_name": f.organization_name,
            "organization_npi": f.organization_npi,
            "physician": await seal({"given_name": f.physician_given_name, "family_name": f.physician_family_name}),
            "diagnosis": {"code": f.diagnosis.code, "text": await seal(f.diagnosis.text)},
            "treatment_codes": [{"system": p.system, "code": p.code, "display": await seal(p.display)}
                                for p in f.treatment_codes],
            "treatment_text": await seal(f.treatment_text), "rationale": await seal(f.rationale)},
        "clinical_question": await seal(content.clinical_question),
        "attachments": await seal([asdict(a) for a in content.attachments]),
        "consent": await seal(asdict(content.consent)),
    })
    await store.db[CASES].insert_one(doc)
    try:
        read = await MongoCaseReader(store.db, cipher).get_for_tenant("legacy-1", "t1")
        # That layout predates the physician's e-mail: it reads back without one.
        assert read.content == dataclasses.replace(content, consent=dataclasses.replace(
            content.consent, granted_at=read.content.consent.granted_at),
            first_opinion=dataclasses.replace(f, physician_email=""))
        assert abs(read.content.consent.granted_at - content.consent.granted_at) < timedelta(milliseconds=1)
    finally:
        await store.db[CASES].delete_one({"_id": "legacy-1"})


async def test_a_prior_authorization_is_kept_sealed_and_found_by_its_trace_number_in_its_tenant(store, vault):
    from secondlook.fhir.bundle import read_bundle
    from services.intake.domain.submission import validate_prior_auth
    from services.intake.fhir.pas import translate_pas
    from services.intake.repository import PATIENT_LOOKUPS, MongoCaseRepository
    from tests.unit.test_fhir_pas import DATA

    cipher = PhiCipher(vault, store.client, "test-phi")
    await cipher.ensure_key()
    now = datetime.now(timezone.utc)
    bundle, _ = read_bundle((DATA / "conformant_pas_bundle_v110.json").read_bytes())
    request = translate_pas(bundle, today=date.today()).request
    valid, violations = validate_prior_auth(request, now)
    assert violations == []
    case, _ = cases.new_case(valid, case_id="pa-sealed-1", tenant_id="payer-a", submitted_by="u", traceparent="",
                             now=now, stuck_after=30)
    await MongoCaseRepository(store.db, cipher).add(case)
    try:
        raw = await store.db[CASES].find_one({"_id": "pa-sealed-1"})
        # The provider organisation's name stays in clear (conflict screening): in the public
        # example it is "DR. JOE SMITH CORPORATION", the patient's name by chance.
        assert raw["first_opinion"].pop("organization_name") == request.requesting_organization.name
        clear = {k: v for k, v in raw.items() if any(x.encode() in bson_bytes({k: v}) for x in (
            request.member_id, request.patient_family_name, request.patient_given_names[0]))}
        assert clear == {}
        reader = MongoCaseReader(store.db, cipher)
        [found] = await reader.prior_auth_requests("payer-a", request.claim_identifier, request.member_id)
        assert found.case_id == "pa-sealed-1" and found.content.prior_auth == request
        [by_transaction] = await reader.prior_auth_requests("payer-a", request.submission_id, request.member_id)
        assert by_transaction.case_id == "pa-sealed-1"
        assert await reader.prior_auth_requests("payer-b", request.claim_identifier, request.member_id) == []
        assert await reader.prior_auth_requests("payer-a", "another-trace-number", request.member_id) == []
        assert await reader.prior_auth_requests("payer-a", request.claim_identifier, "another-member") == []
        # A reviewer's decision: its codes in clear, its texts sealed, read back whole.
        from services.intake.domain.priorauth import DecidedItem, Decision
        decision = Decision("d1", "spec-1", (DecidedItem(request.items[0].key, 3, "NOT_MEDICALLY_NECESSARY",
                                                         "No trial of physical therapy is documented.",
                                                         "Physical therapy comes first."),), now)
        repository = MongoCaseRepository(store.db, cipher)
        assert await repository.add_prior_auth_decision(found, decision)
        assert not await repository.add_prior_auth_decision(found, decision)  # once
        raw = await store.db[CASES].find_one({"_id": "pa-sealed-1"})
        assert raw["prior_auth_decisions"][0]["items"][0]["reason_code"] == "NOT_MEDICALLY_NECESSARY"
        assert b"physical therapy" not in bson_bytes(raw)
        [read] = (await reader.get_for_tenant("pa-sealed-1", "payer-a")).prior_auth_decisions
        assert read.items == decision.items and read.decision_id == "d1"
    finally:
        await store.db[CASES].delete_one({"_id": "pa-sealed-1"})
        await store.db[PATIENT_LOOKUPS].delete_many({"case_id": "pa-sealed-1"})


def bson_bytes(doc: dict) -> bytes:
    import bson
    return bson.encode(doc)


async def test_what_is_kept_of_a_requests_content_is_keyed(store, vault):
    """A repeat of a key must repeat its request: what the case keeps to tell is a digest
    keyed by the data key (no guess can be tested against the store without it)."""
    cipher = PhiCipher(vault, store.client, "test-phi")
    await cipher.ensure_key()
    reader = MongoCaseReader(store.db, cipher)
    now = datetime.now(timezone.utc)
    request = clients.sample_cases()[0]
    request.consent.granted_at.FromDatetime(now - timedelta(hours=1))
    valid, _ = validate(request, now)
    request.clinical_question += " And the margins?"
    changed, _ = validate(request, now)
    digest = await reader.request_digest(valid.fingerprint)
    assert len(digest) == 64 and digest not in (valid.fingerprint, changed.fingerprint)
    assert digest == await reader.request_digest(valid.fingerprint)  # the same on every replica
    assert digest != await reader.request_digest(changed.fingerprint)
    other = PhiCipher(vault, store.client, "another-phi")
    await other.ensure_key()
    assert digest != await MongoCaseReader(store.db, other).request_digest(valid.fingerprint)  # keyed


async def test_the_latest_requests_under_one_trace_number_are_the_ones_read(store, vault):
    """More requests under one trace number for one member than are read at once: the
    latest are read (the lookups' ids are random, their time is not)."""
    from secondlook.fhir.bundle import read_bundle
    from services.intake.domain.submission import validate_prior_auth
    from services.intake.fhir.pas import translate_pas
    from services.intake.repository import MAX_SAME_REQUESTS, PATIENT_LOOKUPS, MongoCaseRepository
    from tests.unit.test_fhir_pas import DATA

    cipher = PhiCipher(vault, store.client, "test-phi")
    await cipher.ensure_key()
    now = datetime.now(timezone.utc)
    bundle, _ = read_bundle((DATA / "conformant_pas_bundle_v110.json").read_bytes())
    request = translate_pas(bundle, today=date.today()).request
    repository = MongoCaseRepository(store.db, cipher)
    count = MAX_SAME_REQUESTS + 3
    try:
        for n in range(count):
            valid, _ = validate_prior_auth(dataclasses.replace(request, submission_id=f"TX-{n}"), now)
            case, _ = cases.new_case(valid, case_id=f"same-trace-{n:02d}", tenant_id="payer-a", submitted_by="u",
                                     traceparent="", now=now + timedelta(seconds=n), stuck_after=30)
            await repository.add(case)
        found = await MongoCaseReader(store.db, cipher).prior_auth_requests("payer-a", request.claim_identifier,
                                                                             request.member_id)
        assert [c.case_id for c in found] == [f"same-trace-{n:02d}" for n in range(count - MAX_SAME_REQUESTS, count)]
    finally:
        await store.db[CASES].delete_many({"_id": {"$regex": "^same-trace-"}})
        await store.db[PATIENT_LOOKUPS].delete_many({"_id": {"$regex": "^same-trace-"}})
