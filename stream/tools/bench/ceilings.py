"""Ceilings: what the same events cost with nothing of Storewatch in the way (json.loads, a bare
aiokafka consumer, a Faust worker that does nothing, by a stock agent or the batch consumer)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from stream.config import Settings
from stream.tools.bench.cpu import process_cpu_s
from stream.tools.embedded import EmbeddedKafka, create_topics
from stream.tools.publish import publish_file


def json_ceiling_per_s(lines: list[bytes]) -> float:
    """Events per second that json.loads alone reaches over the same lines (best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for line in lines:
            json.loads(line)
        best = min(best, time.perf_counter() - started)
    return len(lines) / best


async def bare_consumer_ceiling(
    bootstrap: str, lines: list[bytes], partitions: int
) -> tuple[float, float]:
    """Events per second a bare aiokafka consumer reads the same messages from the broker, and
    the CPU microseconds per message this process (all its threads) spent doing it."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topic = "storewatch-bench-ceiling"
    create_topics(bootstrap, [topic], partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for i, line in enumerate(lines):
            await producer.send(topic, line, partition=i % partitions)
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        seen, started, cpu_started_s = 0, time.perf_counter(), process_cpu_s(os.getpid())
        while seen < len(lines):
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                seen += len(records)
        cpu_us = 1e6 * (process_cpu_s(os.getpid()) - cpu_started_s) / seen
        return seen / (time.perf_counter() - started), cpu_us
    finally:
        await consumer.stop()


def faust_ceiling(path: Path, events: int, partitions: int, mode: str) -> dict[str, float]:
    """Events per second, and CPU microseconds per event, of a Faust worker that does nothing
    with the same events (``stream.tools.faust_ceiling``, in a process of its own), from its first
    batch to the last: through a stock agent (``mode="agent"``) or the batch consumer
    (``"batch"``)."""
    import subprocess
    import sys

    with EmbeddedKafka() as kafka:
        settings = Settings(kafka_bootstrap=kafka.bootstrap, kafka_partitions=partitions)
        create_topics(kafka.bootstrap, list(settings.topics.input_topics().values()), partitions)
        asyncio.run(publish_file(path, settings))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "stream.tools.faust_ceiling",
                kafka.bootstrap,
                str(events),
                str(partitions),
                mode,
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    for line in done.stdout.splitlines():
        if '{"events_per_s"' in line:  # after the terminal codes the worker writes
            figures: dict[str, float] = json.loads(line[line.index("{") :])
            return figures
    raise RuntimeError(f"the Faust ceiling run failed:\n{done.stderr[-2000:]}")
