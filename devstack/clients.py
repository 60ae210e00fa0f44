"""Thin async clients of the services' gRPC APIs, carrying a bearer token.

Used by the `make run` demo, its simulated reviewer, the benchmark and the
end-to-end tests: the same calls a hospital integration makes.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import grpc
from google.protobuf import json_format

from secondlook.auth import mint_token
from secondlook.settings import Settings
from secondlook.v1 import (
    intake_pb2,
    intake_pb2_grpc,
    matching_pb2,
    matching_pb2_grpc,
    notify_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)

ROOT = Path(__file__).resolve().parents[1]  # the repository


class Authed:
    """A channel plus the metadata that authenticates every call on it."""

    def __init__(self, target: str, token: str):
        self.channel = grpc.aio.insecure_channel(target)
        self.metadata = (("authorization", f"Bearer {token}"),)

    async def close(self) -> None:
        await self.channel.close()


def submitter(settings: Settings, target: str, tenant: str, subject: str = "coordinator@example.org"):
    authed = Authed(target, mint_token(settings, subject=subject, tenant=tenant, roles=["submitter"]))
    return intake_pb2_grpc.IntakeServiceStub(authed.channel), authed


def directory_admin(settings: Settings, target: str, subject: str = "directory@secondlook.example.org"):
    authed = Authed(target, mint_token(settings, subject=subject, tenant="secondlook-operations",
                                       roles=["directory-admin"]))
    return matching_pb2_grpc.MatchingServiceStub(authed.channel), authed


def reviewer(settings: Settings, target: str, specialist_id: str):
    token = mint_token(settings, subject=f"{specialist_id}@reviewers.example.org", tenant="secondlook-reviewers",
                       roles=["reviewer"], specialist_id=specialist_id)
    authed = Authed(target, token)
    return review_pb2_grpc.ReviewServiceStub(authed.channel), authed


def tenant_admin(settings: Settings, target: str, tenant: str):
    authed = Authed(target, mint_token(settings, subject=f"admin@{tenant}", tenant=tenant, roles=["tenant-admin"]))
    return notify_pb2_grpc.NotifyServiceStub(authed.channel), authed


def submit_request(case: dict) -> intake_pb2.SubmitCaseRequest:
    """A SubmitCaseRequest from its JSON form (as in data/sample_cases.json), its
    consent given now."""
    req = json_format.ParseDict(case, intake_pb2.SubmitCaseRequest())
    req.consent.granted_at.FromDatetime(datetime.now(timezone.utc))
    return req


def sample_cases(prefix: str = "") -> list[intake_pb2.SubmitCaseRequest]:
    rows = json.loads((ROOT / "data" / "sample_cases.json").read_text())
    return [submit_request({**r, "client_request_id": prefix + r["client_request_id"]}) for r in rows]


def specialist_ids() -> list[str]:
    return [s["specialist_id"] for s in json.loads((ROOT / "data" / "specialists.json").read_text())]


async def directory_ids(settings: Settings, target: str) -> list[str]:
    """Every specialist the running directory lists (the seed and whatever was added
    since): who a panel's adjudicator or a refilled seat may be."""
    stub, authed = directory_admin(settings, target)
    ids, token = [], ""
    try:
        while True:
            page = await stub.ListSpecialists(matching_pb2.ListSpecialistsRequest(page_size=500, page_token=token),
                                              metadata=authed.metadata, timeout=10)
            ids += [s.specialist_id for s in page.specialists]
            token = page.next_page_token
            if not token:
                return ids
    finally:
        await authed.close()


def numbered_cases(prefix: str, n: int) -> list[intake_pb2.SubmitCaseRequest]:
    """`n` submissions cycling through the sample cases, keys `prefix-00`, `prefix-01`, ...,
    each asking for one reviewer, not blind (a panel is several reviews, a blind one
    another step: the volume these make is counted in cases, one review and one
    notice each)."""
    base = sample_cases()
    out = []
    for i in range(n):
        req = intake_pb2.SubmitCaseRequest()
        req.CopyFrom(base[i % len(base)])
        req.client_request_id = f"{prefix}-{i:02d}"
        req.panel_requested = req.blind_review_requested = False
        out.append(req)
    return out


def sample_bundle(request_id: str) -> dict:
    """data/sample_bundle.fhir.json with its own request identifier and its consent given now."""
    bundle = json.loads((ROOT / "data" / "sample_bundle.fhir.json").read_text())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "ServiceRequest":
            resource["identifier"][0]["value"] = request_id
        elif resource["resourceType"] == "Consent":
            resource["dateTime"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return bundle


def bundle_emails(bundle: dict) -> set[str]:
    """The e-mail addresses a bundle's people give (its patient's, its physicians')."""
    return {point["value"] for entry in bundle["entry"] for point in entry["resource"].get("telecom", [])
            if point.get("system") == "email" and point.get("value")}


def sample_pas_request(transaction_id: str) -> dict:
    """data/sample_pas_request.fhir.json with its own transaction id and trace number."""
    bundle = json.loads((ROOT / "data" / "sample_pas_request.fhir.json").read_text())
    bundle["identifier"]["value"] = transaction_id
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = f"{transaction_id}-trace"
    return bundle


async def submit_pas(settings: Settings, fhir_base: str, tenant: str, bundle: dict,
                     subject: str = "um@payer.example") -> tuple[int, dict]:
    """POSTs a PAS request Bundle to intake's Claim/$submit as a submitter of the tenant:
    (HTTP status, the response resource)."""
    token = mint_token(settings, subject=subject, tenant=tenant, roles=["submitter"])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        async with http.post(f"{fhir_base}/Claim/$submit", data=json.dumps(bundle).encode(),
                             headers={"Content-Type": "application/fhir+json",
                                      "Authorization": f"Bearer {token}"}) as response:
            return response.status, await response.json(content_type=None)


async def submit_bundle(settings: Settings, fhir_base: str, tenant: str, bundle: dict,
                        subject: str = "coordinator@example.org") -> tuple[int, dict, dict]:
    """POSTs a transaction Bundle to intake's FHIR endpoint as a submitter of the
    tenant: (HTTP status, the response resource, the response headers)."""
    token = mint_token(settings, subject=subject, tenant=tenant, roles=["submitter"])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        async with http.post(f"{fhir_base}/Bundle", data=json.dumps(bundle).encode(),
                             headers={"Content-Type": "application/fhir+json",
                                      "Authorization": f"Bearer {token}"}) as response:
            return response.status, await response.json(content_type=None), dict(response.headers)


def opinion(**fields) -> review_pb2.Opinion:
    """A complete opinion as a reviewer signs one: `fields` as given, the patient's
    summary and the three attestations filled in unless given."""
    signed = {"patient_summary": "A specialist reviewed your records and agrees with the plan; your doctor will "
                                 "go through the details with you.",
              "attestation": True, "no_conflict_of_interest": True, "all_records_reviewed": True}
    return review_pb2.Opinion(**{**signed, **fields})
