"""The access audit's hash chain: a whole chain verifies; a changed, deleted or
moved record breaks it, and verify names the first record that does not hold."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from secondlook.audit import GENESIS, Access, chain, record_hash, verify

T0 = datetime(2026, 11, 27, 9, 0, 0, 123456, tzinfo=timezone.utc)


def _chain(n: int, tenant: str = "t1") -> list[dict]:
    records, prev = [], GENESIS
    for i in range(1, n + 1):
        access = Access(tenant, f"user-{i}", ("submitter",), "GetCase", f"case-{i % 3}", ("patient",),
                        T0 + timedelta(seconds=i))
        records.append(chain(access, i, prev))
        prev = records[-1]["hash"]
    return records


def test_a_whole_chain_verifies():
    records = _chain(10)
    assert verify(records) == (10, None)
    assert records[0]["prev_hash"] == GENESIS and records[0]["_id"] == "t1:000000000001"
    assert records[0]["at"] == datetime(2026, 11, 27, 9, 0, 1, 123000, tzinfo=timezone.utc)  # to the ms, as stored


def test_a_changed_field_is_named():
    for field, value in (("subject", "someone-else"), ("case_id", "case-9"), ("fields", ["patient", "consent"]),
                         ("at", T0), ("roles", ["operations"]), ("method", "ListCases"),
                         ("caller_tenant", "another-tenant")):
        records = _chain(10)
        records[6][field] = value
        held, broken = verify(records)
        assert (held, broken.seq) == (6, 7), field
        assert "changed" in broken.reason


def test_a_deleted_record_is_named():
    records = _chain(10)
    del records[3]
    held, broken = verify(records)
    assert (held, broken.seq) == (3, 4) and "missing" in broken.reason


def test_two_records_swapped_are_named():
    records = _chain(10)
    records[4], records[5] = records[5], records[4]
    held, broken = verify(records)
    assert (held, broken.seq) == (4, 5)


def test_swapped_sequence_numbers_are_named():
    records = _chain(10)
    records[4]["seq"], records[5]["seq"] = 6, 5  # renumbered and re-sorted: content stays, order changes
    records[4], records[5] = records[5], records[4]
    held, broken = verify(records)
    assert (held, broken.seq) == (4, 5) and "does not follow" in broken.reason


def test_a_record_rebuilt_with_a_fresh_hash_still_breaks_the_next_link():
    records = _chain(10)
    # A forger who rewrites record 3 and recomputes its hash makes it self-consistent...
    records[2] = chain(Access("t1", "forger", ("submitter",), "GetCase", "case-0", ("patient",), T0), 3,
                       records[1]["hash"])
    held, broken = verify(records)
    assert (held, broken.seq) == (3, 4) and "does not follow" in broken.reason  # ...but the next link breaks


def test_a_callers_own_tenant_is_kept_and_a_chain_from_before_it_still_verifies():
    records, prev = [], GENESIS
    for i in range(1, 4):
        access = Access("t1", "ops@b", ("operator",), "GetCase", "case-1", ("patient",), T0, caller_tenant="t2")
        records.append(chain(access, i, prev))
        prev = records[-1]["hash"]
    assert records[0]["caller_tenant"] == "t2" and verify(records) == (3, None)
    del records[1]["caller_tenant"]  # taken out to hide who read: the record no longer holds
    assert verify(records)[1].seq == 2
    before = _chain(3)  # records written before the caller's tenant was kept
    for r in before:
        r.pop("caller_tenant")
        r["hash"] = record_hash(r)
    for later, earlier in zip(before[1:], before[:-1], strict=True):
        later["prev_hash"] = earlier["hash"]
        later["hash"] = record_hash(later)
    assert verify(before) == (3, None)
