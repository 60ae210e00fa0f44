"""The FHIR HTTP app over the in-memory fakes: auth, every refusal as an
OperationOutcome with its status, submit then repeat, status reads, and junk
bodies that never get a 5xx nor store anything."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import random
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from secondlook.auth import TokenVerifier, mint_token
from secondlook.clock import FakeClock
from services.intake import fhir_api
from services.intake.fhir_api import MAX_BODY, make_fhir_app
from tests.fakes.intake import InMemoryCaseReader, RecordedAccesses, intake_transact

BUNDLE = json.loads((Path(__file__).parents[2] / "data" / "sample_bundle.fhir.json").read_text())
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture
async def fhir(settings):
    transact, audit = intake_transact(), RecordedAccesses()
    app = make_fhir_app(transact, InMemoryCaseReader(transact), audit, FakeClock(), TokenVerifier(settings), 30.0)

    def auth(tenant="t1", roles=("submitter",), **claims) -> dict:
        token = mint_token(settings, subject="coordinator", tenant=tenant, roles=list(roles), **claims)
        return {**FHIR_JSON, "Authorization": f"Bearer {token}"}

    async with TestClient(TestServer(app)) as client:
        yield SimpleNamespace(client=client, transact=transact, audit=audit, auth=auth)


async def _post(fhir, body, headers=None, path="/fhir/Bundle"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await fhir.client.post(path, data=data, headers=fhir.auth() if headers is None else headers)
    return response, await response.json(content_type=None)


def _issue(outcome: dict) -> tuple[str, str]:
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome["issue"][0]["code"], outcome["issue"][0].get("expression", [""])[0]


async def test_a_bundle_becomes_a_case_and_a_repeat_returns_it(fhir):
    response, body = await _post(fhir, BUNDLE)
    assert response.status == 201, body
    assert response.content_type == "application/fhir+json"
    [case] = fhir.transact.state.cases.values()
    assert case.jurisdiction == "US-CA" and case.content.first_opinion.physician_npi == "1234567893"
    assert response.headers["Location"].endswith(f"/fhir/ServiceRequest/{case.case_id}/_history/1")
    assert body["type"] == "transaction-response" and len(body["entry"]) == len(BUNDLE["entry"])
    assert body["entry"][0]["response"]["location"] == f"ServiceRequest/{case.case_id}/_history/1"
    again, body = await _post(fhir, BUNDLE, path="/fhir")  # the transaction endpoint at the base, too
    assert again.status == 200 and body["entry"][0]["response"]["status"] == "200 OK"
    assert len(fhir.transact.state.cases) == 1 and [e.type for e in fhir.transact.committed] == ["case.submitted"]
    assert [a.method for a in fhir.audit.accesses] == ["SubmitCase"]


async def test_the_same_number_from_another_placer_is_another_request_and_reads_back_with_its_system(fhir):
    first, _ = await _post(fhir, BUNDLE)
    other = copy.deepcopy(BUNDLE)
    other["entry"][0]["resource"]["identifier"][0]["system"] = "https://other-department.example.org/orders"
    other["entry"][0]["resource"]["note"][0]["text"] = "Another patient's question"
    response, body = await _post(fhir, other)
    assert (first.status, response.status) == (201, 201) and len(fhir.transact.state.cases) == 2
    location = response.headers["Location"].split("/fhir/", 1)[1].split("/_history")[0]
    read = await fhir.client.get(f"/fhir/{location}", headers=fhir.auth())
    [identifier] = (await read.json(content_type=None))["identifier"]
    assert (identifier["system"], identifier["value"]) == ("https://other-department.example.org/orders",
                                                           "fhir-breast-onc-001")


async def test_the_same_identifier_for_a_different_request_is_a_409(fhir):
    await _post(fhir, BUNDLE)
    changed = copy.deepcopy(BUNDLE)
    changed["entry"][0]["resource"]["note"][0]["text"] = "Another question"
    response, body = await _post(fhir, changed)
    assert response.status == 409
    assert _issue(body) == ("duplicate", "Bundle.entry[0].resource.identifier[0].value")
    assert len(fhir.transact.state.cases) == 1


async def test_without_a_valid_token_is_401_and_the_wrong_role_403(fhir, settings):
    response, body = await _post(fhir, BUNDLE, headers=FHIR_JSON)
    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _issue(body)[0] == "login"
    response, _ = await _post(fhir, BUNDLE, headers={**FHIR_JSON, "Authorization": "Bearer not-a-jwt"})
    assert response.status == 401
    response, body = await _post(fhir, BUNDLE, headers=fhir.auth(roles=("reviewer",)))
    assert response.status == 403 and _issue(body)[0] == "forbidden"
    response = await fhir.client.get("/fhir/ServiceRequest/x", headers=fhir.auth(roles=("reviewer",)))
    assert response.status == 403
    assert fhir.transact.state.cases == {}


async def test_two_authorization_headers_are_a_401_whichever_is_valid(fhir):
    valid = fhir.auth()["Authorization"]
    for first, second in ((valid, fhir.auth(tenant="t2")["Authorization"]), ("Bearer junk", valid)):
        headers = CIMultiDict(FHIR_JSON)
        headers.add("Authorization", first)
        headers.add("Authorization", second)
        response, body = await _post(fhir, BUNDLE, headers=headers)
        assert response.status == 401 and "send one 'authorization: Bearer <token>' header, not 2" in \
            body["issue"][0]["diagnostics"]
    response, body = await _post(fhir, BUNDLE, headers=FHIR_JSON)
    assert "header" in body["issue"][0]["diagnostics"]  # an HTTP client's words, not gRPC's
    assert fhir.transact.state.cases == {}


async def test_the_wrong_content_type_is_415_and_an_oversized_body_413(fhir):
    response, body = await _post(fhir, BUNDLE, headers={**fhir.auth(), "Content-Type": "text/plain"})
    assert response.status == 415 and _issue(body)[0] == "not-supported"
    oversized = dict(BUNDLE, id="x" * MAX_BODY)
    response, body = await _post(fhir, oversized)
    assert response.status == 413 and _issue(body)[0] == "too-costly"
    assert fhir.transact.state.cases == {}
    assert "Server" not in response.headers  # no versions given away


@pytest.mark.parametrize("extra, path, status", [
    ({"Accept": "application/fhir+xml"}, "/fhir/Bundle", 406),
    ({"Accept": "application/fhir+json; fhirVersion=5.0"}, "/fhir/Bundle", 406),
    ({}, "/fhir/Bundle?_format=xml", 406),
    ({"Content-Type": "application/fhir+json; fhirVersion=5.0"}, "/fhir/Bundle", 415),
    ({"Content-Type": "application/fhir+json; fhirVersion=4.01"}, "/fhir/Bundle", 415),
    ({"Content-Type": "application/fhir+json; charset=iso-8859-1"}, "/fhir/Bundle", 415),
    ({"Accept": "application/fhir+json;q=0.00000"}, "/fhir/Bundle", 406),
])
async def test_what_this_server_cannot_answer_is_refused_before_anything_is_done(fhir, extra, path, status):
    response, body = await _post(fhir, BUNDLE, headers={**fhir.auth(), **extra}, path=path)
    assert response.status == status and _issue(body)[0] == "not-supported"
    assert fhir.transact.state.cases == {}


@pytest.mark.parametrize("extra, path", [
    ({"Accept": "application/fhir+xml;q=0.9, application/fhir+json"}, "/fhir/Bundle"),
    ({"Accept": "*/*", "Content-Type": "application/fhir+json; fhirVersion=4.0"}, "/fhir/Bundle?_format=json"),
])
async def test_json_r4_among_what_a_client_accepts_is_answered(fhir, extra, path):
    response, body = await _post(fhir, BUNDLE, headers={**fhir.auth(), **extra}, path=path)
    assert response.status == 201, body


async def test_created_and_read_carry_last_modified_in_milliseconds_as_stored(fhir):
    response, body = await _post(fhir, BUNDLE)
    [case] = fhir.transact.state.cases.values()
    created = body["entry"][0]["response"]["lastModified"]
    assert created.endswith("Z") and len(created.split(".")[1]) == 4  # ".mmmZ": as the store keeps it
    assert response.headers["Last-Modified"].endswith(" GMT")
    read = await fhir.client.get(f"/fhir/ServiceRequest/{case.case_id}", headers=fhir.auth())
    resource = await read.json(content_type=None)
    assert resource["meta"]["lastUpdated"] == created and read.headers["Last-Modified"] == response.headers[
        "Last-Modified"]
    metadata = await (await fhir.client.get("/fhir/metadata")).json(content_type=None)
    assert metadata["rest"][0]["resource"][0]["readHistory"] is True  # vread reads every version


async def test_a_trailing_slash_is_redirected_to_the_path_without_it(fhir):
    response = await fhir.client.get("/fhir/metadata/", allow_redirects=False)
    assert response.status == 308 and response.headers["Location"] == "/fhir/metadata"
    response = await fhir.client.post("/fhir/Bundle/", data=json.dumps(BUNDLE).encode(), headers=fhir.auth())
    assert response.status == 201  # followed with the method and body kept


async def test_location_is_built_on_the_public_base_url_or_never_on_a_host_header_that_names_no_host(settings):
    transact = intake_transact()
    app = make_fhir_app(transact, InMemoryCaseReader(transact), RecordedAccesses(), FakeClock(),
                        TokenVerifier(settings), 30.0, base_url="https://fhir.example.org/fhir/")
    token = mint_token(settings, subject="coordinator", tenant="t1", roles=["submitter"])
    headers = {**FHIR_JSON, "Authorization": f"Bearer {token}"}
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/fhir/Bundle", data=json.dumps(BUNDLE).encode(), headers=headers)
        assert response.headers["Location"].startswith("https://fhir.example.org/fhir/ServiceRequest/")
    transact = intake_transact()
    app = make_fhir_app(transact, InMemoryCaseReader(transact), RecordedAccesses(), FakeClock(),
                        TokenVerifier(settings), 30.0)
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/fhir/Bundle", data=json.dumps(BUNDLE).encode(),
                                     headers={**headers, "Host": "evil.example/x?"})
        assert response.status == 201 and response.headers["Location"].startswith("/fhir/ServiceRequest/")


async def test_prefer_return_minimal_or_an_outcome(fhir):
    response = await fhir.client.post("/fhir/Bundle", data=json.dumps(BUNDLE).encode(),
                                      headers={**fhir.auth(), "Prefer": "return=minimal"})
    assert response.status == 201 and await response.read() == b"" and "/fhir/ServiceRequest/" in response.headers[
        "Location"]
    response, body = await _post(fhir, BUNDLE, headers={**fhir.auth(), "Prefer": "return=OperationOutcome"})
    assert response.status == 200 and body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "information" and "Location" in response.headers


async def _raw_post(fhir, head: bytes, body: bytes = b"") -> bytes:
    """Headers and a part of a body as a slow or lying client sends them: the status line answered."""
    reader, writer = await asyncio.open_connection(fhir.client.server.host, fhir.client.server.port)
    try:
        auth = fhir.auth()["Authorization"].encode()
        writer.write(b"POST /fhir/Bundle HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                     b"Authorization: " + auth + b"\r\n" + head + b"\r\n" + body)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def test_a_declared_length_over_the_limit_is_413_at_once_and_a_body_that_never_comes_408(fhir, monkeypatch):
    status = await _raw_post(fhir, b"Content-Length: 1000000000\r\n")  # and no body at all
    assert status.startswith(b"HTTP/1.1 413")
    monkeypatch.setattr(fhir_api, "BODY_SECONDS", 0.3)
    status = await _raw_post(fhir, b"Content-Length: 5000\r\n", b'{"resourceType": "Bun')  # and no more
    assert status.startswith(b"HTTP/1.1 408")
    assert fhir.transact.state.cases == {}


async def test_a_timed_out_body_closes_its_connection_what_follows_is_not_taken_for_it(fhir, monkeypatch):
    monkeypatch.setattr(fhir_api, "BODY_SECONDS", 0.3)
    reader, writer = await asyncio.open_connection(fhir.client.server.host, fhir.client.server.port)
    try:
        auth = fhir.auth()["Authorization"].encode()
        writer.write(b"POST /fhir/Bundle HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
                     b"Authorization: " + auth + b"\r\nContent-Length: 5000\r\n\r\n{")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    # The client is told not to send another request on it (the server drains, then closes).
    assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer


def _raw_deflate(data: bytes) -> bytes:
    squeezer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return squeezer.compress(data) + squeezer.flush()


@pytest.mark.parametrize("coding, encode", [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress),
    ("deflate", _raw_deflate),  # without the zlib wrapper, as some clients send it
    ("identity", bytes), ("GZIP, identity", gzip.compress),
])
async def test_a_body_in_gzip_or_deflate_is_read(fhir, coding, encode):
    data = encode(json.dumps(BUNDLE).encode())
    response, answer = await _post(fhir, data, headers={**fhir.auth(), "Content-Encoding": coding})
    assert response.status == 201, answer


@pytest.mark.parametrize("coding, data, status, rule", [
    ("gzip", b"notgzip", 400, "is not gzip data"),
    ("deflate", b'{"resourceType": "Bundle"}', 400, "is not deflate data"),
    ("gzip", gzip.compress(b"{}")[:-6], 400, "not one whole gzip stream"),
    ("br", b"{}", 415, "Content-Encoding br is not taken"),
    ("zstd", b"{}", 415, "Content-Encoding zstd"),
    ("foo", json.dumps(BUNDLE).encode(), 415, "Content-Encoding foo"),
    ("gzip, gzip", gzip.compress(gzip.compress(b"{}")), 415, "gzip, gzip"),
])
async def test_a_body_not_in_its_coding_or_in_one_not_taken_is_refused_as_fhir(fhir, coding, data, status, rule):
    for path in ("/fhir/Bundle", "/fhir/Claim/$submit", "/fhir/Claim/$inquire"):
        response, answer = await _post(fhir, data, headers={**fhir.auth(), "Content-Encoding": coding}, path=path)
        assert response.status == status and answer["resourceType"] == "OperationOutcome", (path, answer)
        assert rule in answer["issue"][0]["diagnostics"], answer
        if status == 415:
            assert response.headers["Accept-Encoding"] == "gzip, deflate"
    assert fhir.transact.state.cases == {}


async def test_a_gzip_bomb_is_413_once_decoded(fhir):
    bomb = gzip.compress(b" " * (MAX_BODY * 50))  # ~50 MiB of spaces in ~50 KB
    response, answer = await _post(fhir, bomb, headers={**fhir.auth(), "Content-Encoding": "gzip"})
    assert len(bomb) < MAX_BODY and response.status == 413 and answer["resourceType"] == "OperationOutcome"


async def test_not_json_is_400_and_a_broken_rule_422_at_its_fhirpath(fhir):
    response, body = await _post(fhir, b"{not json")
    assert response.status == 400 and _issue(body) == ("structure", "Bundle")
    bad = copy.deepcopy(BUNDLE)
    bad["entry"][6]["resource"]["identifier"][0]["value"] = "1234567890"
    response, body = await _post(fhir, bad)
    assert response.status == 422 and _issue(body) == ("value", "Bundle.entry[6].resource.identifier[0].value")
    assert fhir.transact.state.cases == {} and fhir.audit.accesses == []


async def test_the_status_read_gives_no_phi_and_another_tenants_case_is_404(fhir):
    await _post(fhir, BUNDLE)
    [case] = fhir.transact.state.cases.values()
    response = await fhir.client.get(f"/fhir/ServiceRequest/{case.case_id}", headers=fhir.auth())
    text = await response.text()
    body = json.loads(text)
    assert response.status == 200 and response.content_type == "application/fhir+json"
    assert (body["id"], body["status"], body["intent"], body["priority"]) == (case.case_id, "active", "order",
                                                                              "urgent")
    assert body["extension"][0]["valueCode"] == "SUBMITTED" and body["meta"]["lastUpdated"]
    assert "Testperson" not in text and "Maria" not in text
    assert [a.method for a in fhir.audit.accesses] == ["SubmitCase"]  # nothing read that needs recording
    for headers in (fhir.auth(tenant="t2"), fhir.auth(tenant="t2", roles=("operator",))):
        response = await fhir.client.get(f"/fhir/ServiceRequest/{case.case_id}", headers=headers)
        assert response.status == 404 and _issue(await response.json(content_type=None))[0] == "not-found"
    operator = fhir.auth(tenant="ops", roles=("operator",), tenants=["t1"])
    assert (await fhir.client.get(f"/fhir/ServiceRequest/{case.case_id}", headers=operator)).status == 200
    assert (await fhir.client.get("/fhir/ServiceRequest/no-such-case", headers=fhir.auth())).status == 404


async def test_the_location_reads_back_and_the_version_moves_with_the_status(fhir):
    import dataclasses

    response, _ = await _post(fhir, BUNDLE)
    location = response.headers["Location"]
    [case] = fhir.transact.state.cases.values()
    read = await fhir.client.get(location[location.index("/fhir/"):], headers=fhir.auth())
    assert read.status == 200 and read.headers["ETag"] == 'W/"1"'
    assert (await read.json(content_type=None))["meta"]["versionId"] == "1"
    # matching picked it up: a new entry on the timeline is a new version of what the read shows
    from secondlook.v1 import case_pb2
    entry = dataclasses.replace(case.timeline[0], event_type="matching.started", status=case_pb2.CASE_STATUS_MATCHING)
    fhir.transact.state.cases[case.case_id] = dataclasses.replace(case, timeline=(*case.timeline, entry),
                                                                  status=case_pb2.CASE_STATUS_MATCHING)
    now = await fhir.client.get(f"/fhir/ServiceRequest/{case.case_id}", headers=fhir.auth())
    shown = await now.json(content_type=None)
    assert now.headers["ETag"] == 'W/"2"' and (shown["meta"]["versionId"], shown["extension"][0]["valueCode"]) == (
        "2", "MATCHING")
    then = await fhir.client.get(location[location.index("/fhir/"):], headers=fhir.auth())  # the Location still reads
    shown = await then.json(content_type=None)
    assert then.status == 200 and then.headers["ETag"] == 'W/"1"'
    assert (shown["meta"]["versionId"], shown["extension"][0]["valueCode"]) == ("1", "SUBMITTED")
    for missing in ("3", "0", "x", "\u00b2", "9" * 5000):  # a number too long to read is no version either
        gone = await fhir.client.get(f"/fhir/ServiceRequest/{case.case_id}/_history/{missing}", headers=fhir.auth())
        assert gone.status == 404 and "versions 1 to 2" in (await gone.text())


async def test_the_capability_statement_is_public_and_unknown_paths_are_outcomes(fhir):
    response = await fhir.client.get("/fhir/metadata")
    body = await response.json(content_type=None)
    assert response.status == 200 and body["resourceType"] == "CapabilityStatement" and body["fhirVersion"] == "4.0.1"
    [claim] = [r for r in body["rest"][0]["resource"] if r["type"] == "Claim"]
    assert [o["name"] for o in claim["operation"]] == ["submit", "inquire"]  # Da Vinci PAS
    response = await fhir.client.get("/fhir/Patient/1", headers=fhir.auth())
    assert response.status == 404 and _issue(await response.json(content_type=None))[0] == "not-found"
    response = await fhir.client.delete("/fhir/Bundle", headers=fhir.auth())
    assert response.status == 405 and (await response.json(content_type=None))["resourceType"] == "OperationOutcome"


# --- junk --------------------------------------------------------------------------------
JUNK = [None, "", 0, -1, 10**30, 1.5e308, [], {}, "x" * 5000, True, {"resourceType": "Nope"}, [[[[]]]], "\u0000",
        "\U0001F600", {"reference": "urn:uuid:nowhere"}, {"resourceType": "Bundle", "entry": [{}]}, "2026-02-30"]


def _nodes(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nodes(value, (*path, i))


def _mutated(rng: random.Random) -> bytes:
    bundle = copy.deepcopy(BUNDLE)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice([p for p in _nodes(bundle) if p])
        parent = bundle
        for step in path[:-1]:
            parent = parent[step]
        if rng.random() < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))
    return json.dumps(bundle).encode()


def _junk(rng: random.Random) -> bytes:
    valid = json.dumps(BUNDLE).encode()
    kind = rng.randrange(6)
    if kind == 0:
        return valid[:rng.randrange(len(valid))]  # truncated
    if kind == 1:
        depth = rng.choice([50, 65, 1000, 100_000])
        return b'{"resourceType": "Bundle", "type": "transaction", "meta": ' + b'{"extension": [' * depth
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 3:
        return b'{"resourceType": "Bundle", "type": "transaction", "total": 1' + b"0" * rng.choice([10, 5000]) + b"}"
    return _mutated(rng)


async def test_junk_never_gets_a_5xx_and_a_refusal_stores_nothing(fhir):
    rng = random.Random(20260101)
    statuses = set()
    for _ in range(250):
        before = len(fhir.transact.state.cases)
        body = _junk(rng)
        response = await fhir.client.post("/fhir/Bundle", data=body, headers=fhir.auth())
        outcome = await response.json(content_type=None)
        assert response.status < 500, (response.status, body[:200], outcome)
        statuses.add(response.status)
        if response.status >= 400:
            assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"]
            assert len(fhir.transact.state.cases) == before
    assert {400, 422} <= statuses  # the junk reached both the parser and the rules


def _count(route: str, code: str) -> float:
    from prometheus_client import REGISTRY
    return REGISTRY.get_sample_value("secondlook_http_requests_total",
                                     {"service": "intake", "route": route, "code": code}) or 0.0


async def test_requests_are_counted_by_route_template_and_status_never_by_id(fhir):
    submitted, read, unknown = (_count("POST /fhir/Bundle", "201"), _count("GET /fhir/ServiceRequest/{id}", "404"),
                                _count("unmatched", "404"))
    await _post(fhir, BUNDLE)
    missing = await fhir.client.get("/fhir/ServiceRequest/case-nobody", headers=fhir.auth())
    assert missing.status == 404
    assert (await fhir.client.request("PATCH", "/fhir/anything-else")).status == 404
    assert _count("POST /fhir/Bundle", "201") == submitted + 1
    assert _count("GET /fhir/ServiceRequest/{id}", "404") == read + 1
    assert _count("unmatched", "404") == unknown + 1
    from prometheus_client import REGISTRY
    routes = {s.labels["route"] for m in REGISTRY.collect() if m.name == "secondlook_http_requests"
              for s in m.samples if "route" in s.labels}
    assert not [r for r in routes if "case-nobody" in r or "anything-else" in r]


@pytest.mark.parametrize("failure, status, code", [
    (lambda: __import__("pymongo.errors").errors.AutoReconnect("connection closed"), 503, "transient"),
    (lambda: __import__("pymongo.errors").errors.ServerSelectionTimeoutError("no primary"), 503, "transient"),
    (lambda: RuntimeError("a bug quoting SMITH"), 500, "exception"),
])
async def test_a_store_outage_is_503_to_retry_and_a_bug_500_with_a_reference_both_as_outcomes(
        settings, failure, status, code):
    from structlog.testing import capture_logs
    transact = intake_transact()

    async def failing(*args, **kwargs):
        raise failure()

    app = make_fhir_app(failing, InMemoryCaseReader(transact), RecordedAccesses(), FakeClock(),
                        TokenVerifier(settings), 30.0)
    token = mint_token(settings, subject="coordinator", tenant="t1", roles=["submitter"])
    async with TestClient(TestServer(app)) as client:
        with capture_logs() as logs:
            response = await client.post("/fhir/Bundle", data=json.dumps(BUNDLE).encode(),
                                         headers={**FHIR_JSON, "Authorization": f"Bearer {token}"})
            body = await response.json(content_type=None)
    assert response.status == status and response.content_type == "application/fhir+json"
    assert _issue(body)[0] == code and "SMITH" not in json.dumps(body)
    if status == 503:
        assert response.headers["Retry-After"] == "5" and "try again" in body["issue"][0]["diagnostics"]
    else:
        reference = body["issue"][0]["diagnostics"].split("reference ")[1].split(":")[0]
        [logged] = [e for e in logs if e.get("reference") == reference]
        assert (logged["event"], logged["route"], logged["error"]) == ("http_request_failed", "/fhir/Bundle",
                                                                       "RuntimeError")
        assert logged["at"].startswith("unit/test_fhir_api.py:") and "SMITH" not in str(logged)
