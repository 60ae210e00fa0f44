"""What reviewers write is PHI and review seals it before it reaches the store: an
opinion's texts, a blind assessment's treatment, the display names of the procedures
either names, and a decline's note are ciphertext in review's documents (and in the
oplog), read back as written through the adapter and its change stream; documents
written before sealing read as they were, and are sealed once at start."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import datetime, timedelta, timezone

import bson
import pytest

from secondlook.phi import PhiCipher
from secondlook.store import Store
from secondlook.unitofwork import transactor
from secondlook.v1 import case_pb2, review_pb2
from services.review import repository
from services.review.domain.assignment import Assignment, assessed, declined, moved
from services.review.domain.opinion import Assessment, OpinionRecord
from services.review.repository import ASSIGNMENTS, OPINIONS, InboxReader, MongoReviewRepository, ReviewUnitOfWork
from tests.conftest import eventually

pytestmark = pytest.mark.integration

A = review_pb2
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
ENCRYPTED = 6  # BSON binary subtype of a client-side encrypted value


@pytest.fixture
async def review(infra_settings):
    store = Store(infra_settings, "review_phi")
    await store.ensure_indexes()
    await repository.ensure_indexes(store.db)
    cipher = PhiCipher(infra_settings, store.client, "review-phi")
    await cipher.ensure_key()
    yield store, cipher
    await store.client.drop_database(store.db.name)
    await store.close()


def _offer(i: int, blind: bool = False) -> Assignment:
    return Assignment(assignment_id=f"a{i}", case_id=f"c{i}", tenant_id="t", specialist_id="s1", specialty="x",
                      state=A.ASSIGNMENT_STATE_OFFERED, diagnosis_code="C50.911", urgency=1, offered_at=T0,
                      respond_by=T0 + timedelta(days=1), changed_at=T0, blind_review=blind)


async def _raw(store: Store, since: bson.Timestamp) -> bytes:
    """review's documents, and the oplog entries written since `since`, as raw BSON."""
    raw = b"".join([bson.encode(d) for name in (ASSIGNMENTS, OPINIONS) for d in await store.db[name].find().to_list()])
    async for entry in store.client["local"]["oplog.rs"].find({"ts": {"$gt": since}}):
        raw += bson.encode(entry)
    return raw


async def _oplog_now(store: Store) -> bson.Timestamp:
    last = await store.client["local"]["oplog.rs"].find().sort("$natural", -1).limit(1).to_list()
    return last[0]["ts"] if last else bson.Timestamp(0, 0)


async def test_what_a_reviewer_writes_is_ciphertext_at_rest_and_reads_back_as_written(review):
    store, cipher = review
    since = await _oplog_now(store)
    transact = transactor(store, lambda uow: ReviewUnitOfWork(uow, cipher))
    alone, inbox = MongoReviewRepository(store.db, cipher), InboxReader(store.db, cipher)
    blind, declining = _offer(1, blind=True), _offer(2)
    await alone.add_offers([blind, declining])

    accepted = moved(blind, "accept", T0)
    assessment = Assessment("C50.912", (("CPT", "19301", "canaryassessed mastectomy"),), "canarytreatment lumpectomy",
                            T0)
    recorded = assessed(accepted, assessment, T0 + timedelta(minutes=1))
    refused = declined(declining, case_pb2.DECLINE_REASON_CONFLICT_OF_INTEREST, "canarynote I treated her sister", T0)
    opinion = OpinionRecord("o1", "a1", "c1", "s1", 1, 2, "C50.912", 1, (("CPT", "19301", "canarydisplay"),),
                            "canaryrecommendation", "canarynarrative", ("canarytest MRI",), "canarysummary", 80, T0,
                            blind=True, assessment=assessment)
    amended = dataclasses.replace(opinion, opinion_id="o2", version=2, amendment_reason="canaryreason")
    for before, after in ((blind, accepted), (accepted, recorded), (declining, refused)):
        assert await transact(lambda uow, b=before, a=after: uow.assignments.save_move(b, a)) is True
    await transact(lambda uow: uow.assignments.add_opinion(opinion))
    await transact(lambda uow: uow.assignments.add_opinion(amended))

    raw = await _raw(store, since)
    assert b"C50.912" in raw and b"19301" in raw  # codes stay in clear: the bytes searched are the right ones
    assert [c for c in (b"canarytreatment", b"canarynote", b"canaryrecommendation", b"canarynarrative",
                        b"canarytest", b"canarysummary", b"canaryreason", b"canarydisplay", b"canaryassessed")
            if c in raw] == []
    stored = await store.db[OPINIONS].find_one({"_id": "o1"})
    assert stored["texts"].subtype == ENCRYPTED and "narrative" not in stored
    assert stored["procedures"] == [["CPT", "19301"]] and stored["assessment"]["procedures"] == [["CPT", "19301"]]
    assert stored["assessment"]["texts"].subtype == ENCRYPTED and "treatment" not in stored["assessment"]
    assert stored["assessment"]["diagnosis_code"] == "C50.912"
    assert (await store.db[ASSIGNMENTS].find_one({"_id": "a2"}))["decline_note"].subtype == ENCRYPTED

    # Read back as written: inside a unit of work, by the inbox, and by the panel's reads.
    assert await transact(lambda uow: uow.assignments.opinions_of("a1")) == [opinion, amended]
    assert await inbox.opinions_of("a1") == [opinion, amended]
    assert await transact(lambda uow: uow.assignments.get_for_specialist("a1", "s1")) == recorded
    assert await inbox.get_for_specialist("a2", "s1") == refused
    assert [a.assessment for a in await inbox.changed_since("s1", T0)] == [None, assessment]  # by change time
    # A move that keeps the assessment does not seal it again (the ciphertext stays as it was).
    sealed = (await store.db[ASSIGNMENTS].find_one({"_id": "a1"}))["assessment"]["texts"]
    started = moved(recorded, "start", T0 + timedelta(minutes=2))
    assert await transact(lambda uow: uow.assignments.save_move(recorded, started)) is True
    assert (await store.db[ASSIGNMENTS].find_one({"_id": "a1"}))["assessment"]["texts"] == sealed
    assert await inbox.get_for_specialist("a1", "s1") == started


LEGACY_OPINION = {
    "_id": "old", "assignment_id": "a9", "case_id": "c9", "specialist_id": "s1", "version": 1, "diagnosis": 2,
    "reviewer_diagnosis_code": "C50.912", "treatment": 1, "procedures": [["CPT", "19301", "legacydisplay"]],
    "recommendation": "legacyrecommendation", "narrative": "legacynarrative", "further_tests": ["legacytest"],
    "patient_summary": "legacysummary", "confidence": 70, "attested": True, "submitted_at": T0,
    "amendment_reason": "", "blind": True,
    "assessment": {"diagnosis_code": "C50.912", "procedures": [["CPT", "19303", "legacyassessed"]],
                   "treatment": "legacytreatment", "recorded_at": T0}}


async def test_documents_written_in_clear_read_as_they_were_and_are_sealed_once_at_start(review):
    store, cipher = review
    inbox = InboxReader(store.db, cipher)
    # Before sealing: everything in clear.
    await store.db[OPINIONS].insert_one(LEGACY_OPINION)
    declining = declined(_offer(8), case_pb2.DECLINE_REASON_OTHER, "legacynote", T0)
    await store.db[ASSIGNMENTS].insert_one({**await repository._doc(declining, cipher), "decline_note": "legacynote"})
    assessment = Assessment("C50.912", (("CPT", "19303", "legacyassessed"),), "legacytreatment", T0)
    blind = assessed(moved(_offer(7, blind=True), "accept", T0), assessment, T0)
    await store.db[ASSIGNMENTS].insert_one({**await repository._doc(blind, cipher),
                                            "assessment": LEGACY_OPINION["assessment"]})
    # The first sealed shape: the opinion's texts sealed but its display names in clear,
    # the assessment's treatment sealed alone.
    first_shape = {**LEGACY_OPINION, "_id": "first", "assignment_id": "a6", "texts": await cipher.seal({
        name: LEGACY_OPINION[name] for name in ("recommendation", "narrative", "further_tests", "patient_summary",
                                                "amendment_reason")}),
        "assessment": {**LEGACY_OPINION["assessment"], "treatment": await cipher.seal("legacytreatment")}}
    for name in ("recommendation", "narrative", "further_tests", "patient_summary", "amendment_reason"):
        del first_shape[name]
    await store.db[OPINIONS].insert_one(first_shape)

    [old] = await inbox.opinions_of("a9")
    assert (old.narrative, old.recommendation, old.further_tests, old.patient_summary) == (
        "legacynarrative", "legacyrecommendation", ("legacytest",), "legacysummary")
    assert old.procedures == (("CPT", "19301", "legacydisplay"),) and old.assessment == assessment
    assert await inbox.opinions_of("a6") == [dataclasses.replace(old, opinion_id="first", assignment_id="a6")]
    assert await inbox.get_for_specialist("a8", "s1") == declining
    assert await inbox.get_for_specialist("a7", "s1") == blind

    assert await repository.seal_legacy_texts(store.db, cipher) == (4, 0)
    raw = b"".join([bson.encode(d) for name in (ASSIGNMENTS, OPINIONS) for d in await store.db[name].find().to_list()])
    assert b"legacy" not in raw
    assert await inbox.opinions_of("a9") == [old]
    assert await inbox.opinions_of("a6") == [dataclasses.replace(old, opinion_id="first", assignment_id="a6")]
    assert await inbox.get_for_specialist("a8", "s1") == declining
    assert await inbox.get_for_specialist("a7", "s1") == blind
    # Done once at start: a later start reads the marker and nothing else; the command
    # (after a rolling update, whose older pods wrote in clear meanwhile) looks again.
    await store.db[OPINIONS].insert_one({**LEGACY_OPINION, "_id": "older", "assignment_id": "a5"})
    assert await repository.seal_legacy_texts(store.db, cipher) == (0, 0)
    assert await repository.seal_legacy_texts(store.db, cipher, once=False) == (1, 0)
    assert b"legacy" not in bson.encode(await store.db[OPINIONS].find_one({"_id": "older"}))


async def test_a_document_that_cannot_be_opened_is_left_and_named_and_the_others_are_sealed(review):
    store, cipher = review
    await store.db[OPINIONS].insert_many([
        {**LEGACY_OPINION, "_id": "broken", "assignment_id": "a4", "assessment": {"treatment": "x"}},  # no codes
        LEGACY_OPINION])
    assert await repository.seal_legacy_texts(store.db, cipher) == (1, 1)
    assert await store.db[repository.MIGRATIONS].find_one() is None  # not done: the next start tries again
    assert b"legacy" not in bson.encode(await store.db[OPINIONS].find_one({"_id": "old"}))


async def test_another_replicas_change_reaches_the_feed_opened_or_ends_the_watchers(review):
    store, cipher = review
    published: list[Assignment] = []
    gaps: list[int] = []
    follower = asyncio.create_task(repository.follow_changes(store.db, cipher, published.append,
                                                             lambda: gaps.append(1)))
    try:
        # The stream started from now: what is committed after this is passed on.
        await eventually(lambda: asyncio.sleep(0, result=gaps), 15, "the change stream to open")
        offer = _offer(3, blind=True)
        await MongoReviewRepository(store.db, cipher).add_offer(offer)
        accepted = moved(offer, "accept", T0)
        recorded = assessed(accepted, Assessment("C50.912", (), "canaryfeed", T0), T0)
        transact = transactor(store, lambda uow: ReviewUnitOfWork(uow, cipher))
        await transact(lambda uow: uow.assignments.save_move(offer, accepted))
        await transact(lambda uow: uow.assignments.save_move(accepted, recorded))
        await eventually(lambda: asyncio.sleep(0, result=recorded in published), 15,
                         "the assessed assignment on the feed, its treatment opened")
        assert published[0] == offer  # one change at a time, in commit order
        # A change that cannot be opened ends the watchers (their clients read the store) ...
        await store.db[ASSIGNMENTS].update_one({"_id": "a3"}, {"$set": {"decline_note": bson.Binary(b"x" * 40, 6)}})
        await eventually(lambda: asyncio.sleep(0, result=len(gaps) == 2), 15, "the unopened change counted as a gap")
        # ... and the next one is passed on.
        await store.db[ASSIGNMENTS].update_one({"_id": "a3"}, {"$set": {"decline_note": "", "version": 9}})
        await eventually(lambda: asyncio.sleep(0, result=published[-1].version == 9), 15, "the change after it")
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


async def test_the_fingerprint_of_a_reviewers_text_is_keyed_and_the_same_on_every_replica(review, infra_settings):
    """The ids of a reviewer's questions and decisions come from it: events and both
    stores carry them, so a plain hash would let anyone test a guessed text."""
    store, cipher = review
    text = "Was the biopsy of the left breast done before 2025?"
    digest = await cipher.fingerprint(text)
    replica = PhiCipher(infra_settings, store.client, "review-phi")  # another replica: the same data key
    try:
        assert await replica.fingerprint(text) == digest
        assert await replica.fingerprint(text + " ") != digest
    finally:
        await replica.close()
    other = PhiCipher(infra_settings, store.client, "review-phi-elsewhere")  # another key: another digest
    try:
        await other.ensure_key()
        assert await other.fingerprint(text) != digest
    finally:
        await other.close()
        vault, keys = infra_settings.phi_key_vault_namespace.split(".", 1)
        await store.client[vault][keys].delete_many({"keyAltNames": "review-phi-elsewhere"})
    assert digest not in {hashlib.sha256(text.encode()).hexdigest(), hashlib.sha1(text.encode()).hexdigest()}
    assert len(digest) == 64
