"""The e2e tests' own specialists: a specialty nobody in the seed directory has, in a
place of each test's choosing, so that only the test's specialists fit its cases."""

from __future__ import annotations

import hashlib

from devstack import clients
from secondlook.directorygen import npi_with_check_digit
from secondlook.v1 import case_pb2, matching_pb2, review_pb2
from tests.conftest import Pending, eventually

PEDIATRIC_CARDIOLOGY = "2080P0202X"
DIAGNOSIS = "Q21.1"  # mapped to PEDIATRIC_CARDIOLOGY


def npi_of(specialist_id: str) -> str:
    """A valid NPI of the test's own: one NPI is one person in the directory."""
    digits = int.from_bytes(hashlib.sha256(specialist_id.encode()).digest()[:8]) % 10**8
    return npi_with_check_digit(f"1{digits:08d}")


async def list_specialists(directory, admin, place: str, *specialists: tuple[str, float, str],
                           languages: tuple[str, ...] = ("en",), phone: str = "") -> None:
    """Specialists who fit a Q21.1 case in `place`: (id, quality, organisation or ""); with
    `phone`, reachable for notices: that number and the e-mail `<id>@reviewers.example`."""
    for sid, quality, org in specialists:
        msg = matching_pb2.Specialist(
            specialist_id=sid, npi=npi_of(sid), display_name=f"Dr. {sid} (synthetic)",
            specialties=[PEDIATRIC_CARDIOLOGY], licences=[matching_pb2.Licence(jurisdiction=place, expires="2099-12-31")],
            certifications=[matching_pb2.Certification(board="ABP", specialty=PEDIATRIC_CARDIOLOGY,
                                                       expires="2099-12-31")],
            languages=list(languages), capacity=3, accepting=True, turnaround_days=2.0, quality=quality,
            email=f"{sid}@reviewers.example" if phone else "", phone=phone)
        if org:
            msg.affiliations.add(organization_id=org, name=f"{org} (synthetic)")
        await directory.UpsertSpecialist(matching_pb2.UpsertSpecialistRequest(specialist=msg), metadata=admin.metadata)


def case_for(key: str, place: str, **changes) -> object:
    """A numbered sample case those specialists fit."""
    request = clients.numbered_cases(key, 1)[0]
    request.diagnosis_code, request.jurisdiction, request.language = DIAGNOSIS, place, "en"
    request.urgency = changes.pop("urgency", case_pb2.URGENCY_STANDARD)
    for name, value in changes.items():
        setattr(request, name, value)
    return request


async def offer_of(reviewer, authed, case_id: str, timeout: float = 60) -> review_pb2.Assignment:
    """The reviewer's assignment for the case, once it is in their inbox."""
    async def offered():
        found = await reviewer.ListAssignments(review_pb2.ListAssignmentsRequest(), metadata=authed.metadata)
        mine = [a for a in found.assignments if a.case_id == case_id]
        return mine[0] if mine else Pending(len(found.assignments))

    return await eventually(offered, timeout, f"the offer of case {case_id}")
