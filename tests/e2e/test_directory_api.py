"""Acceptance (issue 9, the directory): a directory admin lists, changes and
deactivates specialists over gRPC; bad input is refused naming each field; every
change is an event on matching's topic; and matching offers cases from the
directory as it now stands."""

from __future__ import annotations

import asyncio
import json
import sys

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from devstack import clients
from secondlook import directorygen
from secondlook.auth import mint_token
from secondlook.events import decode
from secondlook.v1 import case_pb2, intake_pb2, matching_pb2, matching_pb2_grpc
from services.matching.domain.csvimport import write_csv
from services.matching.domain.fhirimport import write_fhir
from services.topology import PRODUCES
from tests.conftest import Pending, eventually
from tests.e2e.specialists import npi_of
from tests.integration.kafka_reader import read_topic

pytestmark = pytest.mark.e2e

# A specialty and a place nobody in the seed directory has: only this test's specialist fits.
PEDIATRIC_CARDIOLOGY, WYOMING = "2080P0202X", "US-WY"


def _specialist(**changes) -> matching_pb2.Specialist:
    sid = changes.get("specialist_id", "e2e-peds-cardio")
    msg = matching_pb2.Specialist(
        specialist_id=sid, npi=npi_of(sid), display_name="Dr. Kit Synth (synthetic)",
        specialties=[PEDIATRIC_CARDIOLOGY],
        licences=[matching_pb2.Licence(jurisdiction=WYOMING, expires="2099-12-31")],
        certifications=[matching_pb2.Certification(board="ABP", specialty=PEDIATRIC_CARDIOLOGY, expires="2099-12-31")],
        languages=["en", "es"], capacity=2, accepting=True, turnaround_days=2.0, quality=0.9,
    )
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


async def _refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def _case(intake, authed, key: str) -> str:
    request = clients.numbered_cases(key, 1)[0]
    request.diagnosis_code = "Q21.1"  # an atrial septal defect: pediatric cardiology first
    request.jurisdiction = WYOMING
    request.language = "en"
    reply = await intake.SubmitCase(request, metadata=authed.metadata, timeout=10)
    return reply.case_id


async def _status(intake, authed, case_id: str, wanted: int) -> intake_pb2.Case:
    async def reached():
        case = await intake.GetCase(intake_pb2.GetCaseRequest(case_id=case_id), metadata=authed.metadata, timeout=10)
        return case if case.status == wanted else Pending(case_pb2.CaseStatus.Name(case.status))

    return await eventually(reached, 60, f"the case to reach {case_pb2.CaseStatus.Name(wanted)}")


async def test_a_directory_admin_manages_specialists_and_matching_follows(stack, stack_settings):
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    _, submitter = clients.submitter(stack_settings, stack.target("matching"), "dir-tenant")
    intake, intake_auth = clients.submitter(stack_settings, stack.target("intake"), "dir-tenant")
    operator = clients.Authed(stack.target("matching"), mint_token(
        stack_settings, subject="ops@example.org", tenant="secondlook-operations", roles=["operator"],
        tenants=["dir-tenant"]))
    stranger = clients.Authed(stack.target("matching"), mint_token(
        stack_settings, subject="ops@example.org", tenant="other-tenant", roles=["operator"]))
    try:
        denied = await _refused(matching_pb2_grpc.MatchingServiceStub(submitter.channel).ListSpecialists(
            matching_pb2.ListSpecialistsRequest(), metadata=submitter.metadata))
        assert denied.code() == grpc.StatusCode.PERMISSION_DENIED and "directory-admin" in denied.details()

        bad = _specialist(npi="1234567890", capacity=-3)
        bad.licences.add(jurisdiction="Wyoming", expires="2099-12-31")
        error = await _refused(directory.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=bad),
                                                          metadata=admin.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = error_details_pb2.BadRequest()
        assert rpc_status.from_call(error).details[0].Unpack(details)
        assert {v.field for v in details.field_violations} == {
            "specialist.npi", "specialist.capacity", "specialist.licences[1].jurisdiction"}
        missing = await _refused(directory.GetSpecialist(matching_pb2.GetSpecialistRequest(specialist_id="e2e-peds-cardio"),
                                                         metadata=admin.metadata))
        assert missing.code() == grpc.StatusCode.NOT_FOUND  # nothing was written

        created = await directory.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=_specialist()),
                                                   metadata=admin.metadata)
        assert created.created and created.specialist.version == 1 and created.specialist.free_slots == 2
        again = await directory.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=_specialist()),
                                                 metadata=admin.metadata)
        assert again.unchanged and not again.created and again.specialist.version == 1
        twin = _specialist(specialist_id="e2e-peds-twin")
        twin.npi = created.specialist.npi
        error = await _refused(directory.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=twin),
                                                          metadata=admin.metadata))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error.details().startswith("specialist.npi: ") and "'e2e-peds-cardio'" in error.details()
        got = await directory.GetSpecialist(matching_pb2.GetSpecialistRequest(specialist_id="e2e-peds-cardio"),
                                            metadata=admin.metadata)
        assert got.licences[0].jurisdiction == WYOMING and got.active
        listed = await directory.ListSpecialists(
            matching_pb2.ListSpecialistsRequest(specialty=PEDIATRIC_CARDIOLOGY, jurisdiction=WYOMING),
            metadata=admin.metadata)
        assert [s.specialist_id for s in listed.specialists] == ["e2e-peds-cardio"] and not listed.next_page_token
        # A filter no specialist could match is named, not answered with an empty page.
        for field, value in (("jurisdiction", "WY"), ("language", "english")):
            error = await _refused(directory.ListSpecialists(matching_pb2.ListSpecialistsRequest(**{field: value}),
                                                             metadata=admin.metadata))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and error.details().startswith(f"{field}: ")
        # A page token continues the list it came from, under the same filters only.
        first = await directory.ListSpecialists(matching_pb2.ListSpecialistsRequest(page_size=2),
                                                metadata=admin.metadata)
        assert len(first.specialists) == 2 and first.next_page_token
        second = await directory.ListSpecialists(matching_pb2.ListSpecialistsRequest(
            page_size=2, page_token=first.next_page_token), metadata=admin.metadata)
        assert second.specialists[0].specialist_id > first.specialists[-1].specialist_id
        error = await _refused(directory.ListSpecialists(matching_pb2.ListSpecialistsRequest(
            page_size=2, accepting_only=True, page_token=first.next_page_token), metadata=admin.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and error.details().startswith("page_token: ")
        spelled = await directory.ListSpecialists(matching_pb2.ListSpecialistsRequest(
            specialty=PEDIATRIC_CARDIOLOGY, jurisdiction="us-wy", language="EN"), metadata=admin.metadata)
        assert [s.specialist_id for s in spelled.specialists] == ["e2e-peds-cardio"]
        stale = await _refused(directory.UpsertSpecialist(
            matching_pb2.UpsertSpecialistRequest(specialist=_specialist(), expected_version=7), metadata=admin.metadata))
        assert stale.code() == grpc.StatusCode.ABORTED and "version 1" in stale.details()

        # Matching offers a case only this specialist can take to them.
        first_case = await _case(intake, intake_auth, "dir-a")
        offered = await _status(intake, intake_auth, first_case, case_pb2.CASE_STATUS_OFFERED)
        assert offered.specialist_id == "e2e-peds-cardio"

        unnamed = await _refused(directory.DeactivateSpecialist(
            matching_pb2.DeactivateSpecialistRequest(specialist_id=""), metadata=admin.metadata))
        assert unnamed.code() == grpc.StatusCode.INVALID_ARGUMENT and "specialist_id" in unnamed.details()
        gone = await directory.DeactivateSpecialist(
            matching_pb2.DeactivateSpecialistRequest(specialist_id="e2e-peds-cardio"), metadata=admin.metadata)
        assert not gone.active and gone.version == 2
        # Its unanswered offer is taken back: the case moves on, and nobody else can take it.
        taken_back = await _status(intake, intake_auth, first_case, case_pb2.CASE_STATUS_UNMATCHED)
        assert [e.event_type for e in taken_back.timeline][-2:] == ["assignment.expired", "case.unmatched"], \
            taken_back.timeline
        unmatched = await _status(intake, intake_auth, await _case(intake, intake_auth, "dir-b"),
                                  case_pb2.CASE_STATUS_UNMATCHED)
        why = unmatched.timeline[-1]  # the reason, on the case's timeline
        assert why.event_type == "case.unmatched" and "1 excluded by active" in why.detail, why

        async def told():
            records = await read_topic(stack.kafka_bootstrap, PRODUCES["matching"])
            changes = [decode(r.value) for r in records if r.key == b"e2e-peds-cardio"]
            seen = [(e.specialist_changed.version, e.specialist_changed.active) for e in changes
                    if e.type == "specialist.changed"]
            return seen if seen == [(1, True), (2, False)] else Pending(seen)

        await eventually(told, 30, "both changes on matching's topic")

        # Operations ask why: the offer made then, and every specialist as the rules see the case now.
        explain = matching_pb2_grpc.MatchingServiceStub(operator.channel).ExplainMatch
        why = await explain(matching_pb2.ExplainMatchRequest(case_id=first_case, page_size=1000),
                            metadata=operator.metadata)
        assert [o.specialist_id for o in why.offers] == ["e2e-peds-cardio"] and why.specialties[0] == PEDIATRIC_CARDIOLOGY
        assert why.offers[0].state in ("expiring", "expired")  # taken back when its specialist was deactivated
        verdicts = {v.specialist_id: v for v in why.verdicts}
        assert len(verdicts) == len(why.verdicts) == why.directory_size and not why.next_page_token
        assert sum(why.excluded_by_rule.values()) + why.eligible == why.directory_size
        assert verdicts["e2e-peds-cardio"].chosen and verdicts["e2e-peds-cardio"].excluded_by == "active"
        # Nobody in the seed directory is a paediatric cardiologist or licensed in Wyoming.
        assert why.eligible == 0 and why.excluded_by_rule["active"] == 1
        assert why.excluded_by_rule["covers_diagnosis"] + why.excluded_by_rule["licensed_in_jurisdiction"] \
            == why.directory_size - 1
        page = await explain(matching_pb2.ExplainMatchRequest(case_id=first_case, page_size=10),
                             metadata=operator.metadata)
        assert len(page.verdicts) == 10 and page.next_page_token
        elsewhere = await _refused(explain(matching_pb2.ExplainMatchRequest(
            case_id=first_case + "-other", page_size=10, page_token=page.next_page_token), metadata=operator.metadata))
        assert elsewhere.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in elsewhere.details()
        for caller, code in ((stranger, grpc.StatusCode.NOT_FOUND), (submitter, grpc.StatusCode.PERMISSION_DENIED)):
            refused = await _refused(matching_pb2_grpc.MatchingServiceStub(caller.channel).ExplainMatch(
                matching_pb2.ExplainMatchRequest(case_id=first_case), metadata=caller.metadata))
            assert refused.code() == code
    finally:
        await operator.close()
        await stranger.close()
        await admin.close()
        await submitter.close()
        await intake_auth.close()


async def test_a_directory_is_imported_from_csv_and_a_bad_file_writes_nothing(stack, stack_settings):
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    try:
        entries = list(directorygen.specialists(30, seed=21, prefix="csv"))
        text = write_csv(entries)
        extra = {**entries[0], "specialist_id": "csv-extra", "specialties": ["999999999X"]}
        broken = text.replace(entries[3]["npi"], "1234567890", 1) + write_csv([extra]).split("\n", 1)[1]
        # A cell UpsertSpecialist would refuse (a tab in a name) is refused in a file too.
        broken = broken.replace(entries[10]["display_name"], entries[10]["display_name"] + "\tx", 1)
        error = await _refused(directory.ImportSpecialists(matching_pb2.ImportSpecialistsRequest(csv=broken),
                                                           metadata=admin.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = error_details_pb2.BadRequest()
        assert rpc_status.from_call(error).details[0].Unpack(details)
        # rows[32] copies the first row under another id: its NPI is that person's already.
        assert {v.field for v in details.field_violations} == {"rows[5].npi", "rows[32].specialties[0]",
                                                               "rows[32].npi", "rows[12].display_name"}
        listed = await directory.ListSpecialists(matching_pb2.ListSpecialistsRequest(page_size=500),
                                                 metadata=admin.metadata)
        assert not [s for s in listed.specialists if s.specialist_id.startswith("csv-")]  # nothing written

        dry = await directory.ImportSpecialists(matching_pb2.ImportSpecialistsRequest(csv=text, dry_run=True),
                                                metadata=admin.metadata)
        assert (dry.rows, dry.created, dry.updated) == (30, 30, 0)
        done = await directory.ImportSpecialists(matching_pb2.ImportSpecialistsRequest(csv=text),
                                                 metadata=admin.metadata)
        assert (done.rows, done.created, done.updated) == (30, 30, 0)
        again = await directory.ImportSpecialists(matching_pb2.ImportSpecialistsRequest(csv=text),
                                                  metadata=admin.metadata)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 30)  # the same file: no new versions
        # A later file may not give a listed person's NPI to another id either.
        twin = write_csv([{**entries[1], "specialist_id": "csv-twin"}])
        error = await _refused(directory.ImportSpecialists(matching_pb2.ImportSpecialistsRequest(csv=twin),
                                                           metadata=admin.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rpc_status.from_call(error).details[0].Unpack(details)
        assert [(v.field, entries[1]["specialist_id"] in v.description) for v in details.field_violations] == [
            ("rows[2].npi", True)]
        got = await directory.GetSpecialist(matching_pb2.GetSpecialistRequest(specialist_id=entries[0]["specialist_id"]),
                                            metadata=admin.metadata)
        assert got.npi == entries[0]["npi"] and got.version == 1
    finally:
        await admin.close()


async def test_a_directory_is_imported_from_a_fhir_bundle_and_a_bad_one_writes_nothing(stack, stack_settings):
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    try:
        entries = list(directorygen.specialists(12, seed=34, prefix="fhir"))
        bundle = write_fhir(entries)
        broken = json.loads(json.dumps(bundle))
        first = broken["entry"][0]["resource"]
        del first["identifier"]  # no NPI
        role = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "PractitionerRole")
        role["practitioner"]["reference"] = "Practitioner/nobody"
        error = await _refused(directory.ImportSpecialists(
            matching_pb2.ImportSpecialistsRequest(fhir_bundle=json.dumps(broken)), metadata=admin.metadata))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = error_details_pb2.BadRequest()
        assert rpc_status.from_call(error).details[0].Unpack(details)
        fields = {v.field for v in details.field_violations}
        assert "Bundle.entry[1].resource.practitioner" in fields
        assert f"Bundle.entry[0](Practitioner/{first['id']}).npi" in fields
        both = await _refused(directory.ImportSpecialists(
            matching_pb2.ImportSpecialistsRequest(csv=write_csv(entries), fhir_bundle=json.dumps(bundle)),
            metadata=admin.metadata))
        assert both.code() == grpc.StatusCode.INVALID_ARGUMENT
        listed = await directory.ListSpecialists(matching_pb2.ListSpecialistsRequest(page_size=500),
                                                 metadata=admin.metadata)
        assert not [s for s in listed.specialists if s.specialist_id.startswith("fhir-")]  # nothing written

        done = await directory.ImportSpecialists(matching_pb2.ImportSpecialistsRequest(fhir_bundle=json.dumps(bundle)),
                                                 metadata=admin.metadata)
        assert (done.rows, done.created, done.updated) == (12, 12, 0)
        got = await directory.GetSpecialist(matching_pb2.GetSpecialistRequest(specialist_id=entries[0]["specialist_id"]),
                                            metadata=admin.metadata)
        assert got.npi == entries[0]["npi"] and list(got.specialties) == entries[0]["specialties"]
        assert [x.jurisdiction for x in got.licences] == [x["jurisdiction"] for x in entries[0]["licences"]]
    finally:
        await admin.close()


async def test_a_conflicted_specialist_is_never_offered_the_case(stack, stack_settings):
    """The first-opinion physician and a colleague of the first opinion's organisation
    would score best; the case goes to the third, who has no conflict."""
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    intake, intake_auth = clients.submitter(stack_settings, stack.target("intake"), "conflict-tenant")
    try:
        request = clients.numbered_cases("conflict", 1)[0]
        request.diagnosis_code, request.jurisdiction, request.language = "Q21.1", "US-VT", "en"
        first_npi = request.first_opinion.physician.npi
        first_org = request.first_opinion.organization.name
        place = [matching_pb2.Licence(jurisdiction="US-VT", expires="2099-12-31")]
        for sid, changes in (
            ("vt-first-opinion", dict(npi=first_npi, quality=1.0)),
            ("vt-colleague", dict(quality=1.0, affiliations=[matching_pb2.DirectoryOrganization(
                organization_id="org-bayview", name=first_org.upper())])),
            ("vt-independent", dict(quality=0.5, turnaround_days=6.0)),
        ):
            msg = _specialist(specialist_id=sid, **{k: v for k, v in changes.items() if k != "affiliations"})
            msg.ClearField("licences")
            msg.licences.extend(place)
            msg.affiliations.extend(changes.get("affiliations", []))
            await directory.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=msg),
                                             metadata=admin.metadata)
        reply = await intake.SubmitCase(request, metadata=intake_auth.metadata, timeout=10)
        offered = await _status(intake, intake_auth, reply.case_id, case_pb2.CASE_STATUS_OFFERED)
        assert offered.specialist_id == "vt-independent"
    finally:
        await admin.close()
        await intake_auth.close()


async def _cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "secondlook.cli", *args,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


async def test_a_directory_file_is_imported_from_the_command_line(stack, stack_settings, tmp_path):
    token = mint_token(stack_settings, subject="directory@secondlook.example.org", tenant="secondlook-operations",
                       roles=["directory-admin"])
    entries = list(directorygen.specialists(12, seed=33, prefix="cli"))
    good, bad = tmp_path / "directory.csv", tmp_path / "bad.json"
    good.write_text(write_csv(entries))
    broken = write_fhir(entries[:2])
    broken["entry"][0]["resource"]["identifier"][0]["value"] = "1234567890"  # fails the NPI check digit
    bad.write_text(json.dumps(broken))
    target = ("--target", stack.target("matching"), "--token", token)

    code, out, _ = await _cli("directory", "import", str(good), "--dry-run", *target)
    assert code == 0 and "would be (dry run)" in out and "12 rows" in out
    code, out, _ = await _cli("directory", "import", str(good), *target)
    assert code == 0 and "were" in out
    directory, admin = clients.directory_admin(stack_settings, stack.target("matching"))
    try:
        got = await directory.GetSpecialist(matching_pb2.GetSpecialistRequest(specialist_id=entries[5]["specialist_id"]),
                                            metadata=admin.metadata)
        assert got.npi == entries[5]["npi"]
    finally:
        await admin.close()
    code, _, err = await _cli("directory", "import", str(bad), *target)  # a .json file: read as FHIR
    assert code == 1 and "INVALID_ARGUMENT" in err and f"Bundle.entry[0](Practitioner/{entries[0]['specialist_id']}).npi" in err
    code, _, err = await _cli("directory", "import", str(good), "--target", stack.target("matching"))
    assert code == 2 and "directory-admin token" in err
    code, _, err = await _cli("directory", "import", str(good), "--target", stack.target("matching"),
                              "--token", token + "\nx")
    assert code == 2 and "printable ASCII" in err and "Traceback" not in err
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(write_csv(entries[:1]).replace("\n", ",\n", 0).encode() + "Zoë".encode("latin-1"))
    code, _, err = await _cli("directory", "import", str(latin1), *target)
    assert code == 2 and "is not UTF-8 text" in err and "Traceback" not in err
