"""Replay a JSONL file of events: in-process through the engine, or through Kafka and a worker.

In-process replay runs the same engine as the Faust agent, against a real Redis, with fresh
state each run (its own key namespace, deleted afterwards), so a month of history gives the
alerts the live path would have given; with ``state_backend="memory"`` the state lives in this
process instead (``stream.state.memory_state``: no Redis, the same alerts). ``--via-kafka`` publishes the file to the input topics
of a running worker and collects the alerts it publishes.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from stream.config import Settings
from stream.core.events import Alert, InvalidEventError, parse_event
from stream.inputs import read_lines
from stream.runtime.alerts import JsonlAlertSink, ListAlertSink
from stream.runtime.engine import Engine, ListDeadLetterSink, Source
from stream.runtime.metrics import Metrics
from stream.state.memory_state import InMemoryStateStore
from stream.state.state import KEY_PREFIX, RedisStateStore

STATE_BACKENDS = ("redis", "memory")
BATCH_SIZE = 500  # as a Faust worker under load takes them (app.BATCH_MAX)
# A worker saves its stores every `state_save_interval_s` (1 s); a replay every so many events.
SAVE_EVERY_EVENTS = 10_000
Progress = Callable[[int], None]


@dataclass
class ReplayResult:
    """What a replay did: counts, the alerts, and how fast."""

    events: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def flagged_stores(self) -> set[str]:
        return {str(alert["store_id"]) for alert in self.alerts}


class _TeeSink:
    def __init__(self, *sinks: Any) -> None:
        self._sinks = sinks

    async def send(self, alert: Alert) -> None:
        for sink in self._sinks:
            await sink.send(alert)


async def replay_in_process(
    path: str | Path,
    settings: Settings,
    redis_url: str | None,
    alerts_out: str | Path | None = None,
    progress: Progress | None = None,
    state_backend: str = "redis",
) -> ReplayResult:
    """Run the detection core over a file, in file order, with fresh state.

    ``redis_url`` alone says how to reach Redis (a password and TLS options go in it, e.g.
    ``rediss://:pw@host:6380/0?ssl_ca_certs=/ca.pem``): replays usually run on an embedded
    Redis, which the worker's ``redis_password`` and ``redis_tls_*`` settings would not fit.
    With ``state_backend="memory"`` no Redis is used and ``redis_url`` may be None."""
    state: RedisStateStore | InMemoryStateStore
    if state_backend == "memory":
        state = InMemoryStateStore(settings.windows)
    elif state_backend == "redis" and redis_url:
        namespace = f"{KEY_PREFIX}:replay-{uuid.uuid4().hex[:8]}"
        state = RedisStateStore.from_url(redis_url, settings.windows, namespace)
    else:
        raise ValueError(
            f"state backend {state_backend!r} (one of {STATE_BACKENDS}) "
            f"with Redis URL {redis_url!r}"
        )
    collected = ListAlertSink()
    file_sink = JsonlAlertSink(alerts_out) if alerts_out else None
    dead_letters = ListDeadLetterSink()
    engine = Engine.from_settings(
        settings,
        state,
        _TeeSink(collected, *([file_sink] if file_sink else [])),
        dead_letters,
        Metrics.create(CollectorRegistry()),
        check_topics=False,
    )
    result = ReplayResult()
    started = time.perf_counter()
    source_name = str(path)
    try:
        result.events = await run_engine(
            engine,
            (
                (raw, Source(source_name, 0, line_no))
                for line_no, raw in enumerate(read_lines(path), start=1)
            ),
            progress,
        )
    finally:
        result.elapsed_s = time.perf_counter() - started
        if file_sink:
            file_sink.close()
        await state.drop_all()
        await state.close()
    for letter in dead_letters.letters:
        result.rejected[letter.reason] = result.rejected.get(letter.reason, 0) + 1
    result.alerts = [alert.to_dict() for alert in collected.alerts]
    return result


async def run_engine(
    engine: Engine, messages: Iterable[tuple[bytes, Source]], progress: Progress | None = None
) -> int:
    """Feed messages to the engine in batches as a worker under load takes them, saving the
    state every SAVE_EVERY_EVENTS events and at the end; returns how many were fed."""
    fed = since_save = 0
    batch: list[tuple[bytes, Source]] = []
    for message in messages:
        batch.append(message)
        if len(batch) >= BATCH_SIZE:
            _stop_if_cancelled()
            await engine.process_batch(batch)
            fed, since_save = fed + len(batch), since_save + len(batch)
            if progress:
                progress(len(batch))
            batch = []
            if since_save >= SAVE_EVERY_EVENTS:
                await engine.commit()
                since_save = 0
    if batch:
        await engine.process_batch(batch)
        fed += len(batch)
        if progress:
            progress(len(batch))
    await engine.commit()
    return fed


def _stop_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop (Ctrl-C cancels it).

    On Python 3.11, asyncio.wait_for drops a cancellation that arrives as its inner call
    completes, and redis-py wraps every write in it: a replay against Redis would run on after
    Ctrl-C. The task still counts the request (``cancelling()``), so it is honoured here,
    between batches, where stopping leaves nothing half done."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


# --------------------------------------------------------------------------- via Kafka


@dataclass(frozen=True, slots=True)
class Routing:
    """Where a line is published: topic, key (store_id) and record timestamp (event time)."""

    topic: str
    key: bytes | None
    timestamp_ms: int | None
    event_id: str | None


def route(raw: bytes, settings: Settings) -> Routing:
    """Routing of a raw line; a line that is not a valid event still goes out as it is, to the
    orders topic unless its type names another, so the worker dead-letters it as a bad producer
    would cause."""
    topics = settings.topics.input_topics()
    try:
        event = parse_event(raw)
    except InvalidEventError:
        return Routing(topics.get(_declared_type(raw), settings.topics.orders), None, None, None)
    return Routing(
        topics[event.type], event.store_id.encode(), int(event.ts_s * 1000), event.event_id
    )


def _declared_type(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    return str(data.get("type")) if isinstance(data, dict) else ""


async def publish_file(
    path: str | Path,
    settings: Settings,
    rate_per_s: float | None = None,
    progress: Progress | None = None,
    stamp_send_time: bool = False,
    published: PublishedOffsets | None = None,
) -> tuple[int, dict[tuple[str, int], int], set[str]]:
    """Publish every line to its topic, keyed by store_id, in file order.

    Returns the count, the next offset per partition written (to know when the worker is done),
    and the event ids. ``rate_per_s`` paces publishing, as live traffic would arrive. Records
    carry the event time as their timestamp, or with ``stamp_send_time`` the time they are sent
    (to measure latency from Kafka to decision). ``published``, if given, learns the offset of
    every record written, to tell this run's dead letters from any other's.
    """
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=5,
        **settings.kafka_security.aiokafka_options(),
    )
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # a failed start leaves connections that warn at exit
        raise
    ends: dict[tuple[str, int], int] = {}
    event_ids: set[str] = set()
    sent = 0
    started = time.perf_counter()
    pending: list[asyncio.Future[Any]] = []
    try:
        for raw in read_lines(path):
            routing = route(raw, settings)
            timestamp_ms = None if stamp_send_time else routing.timestamp_ms
            pending.append(
                await producer.send(routing.topic, raw, key=routing.key, timestamp_ms=timestamp_ms)
            )
            if routing.event_id:
                event_ids.add(routing.event_id)
            sent += 1
            if len(pending) >= 500:
                await _settle(pending, ends, published)
                if progress:
                    progress(500)
            if rate_per_s:
                ahead_s = sent / rate_per_s - (time.perf_counter() - started)
                if ahead_s > 0:
                    await asyncio.sleep(ahead_s)
        remainder = len(pending)
        await _settle(pending, ends, published)
        if progress:
            progress(remainder)
    finally:
        await producer.stop()
    return sent, ends, event_ids


async def _settle(
    pending: list[asyncio.Future[Any]],
    ends: dict[tuple[str, int], int],
    published: PublishedOffsets | None = None,
) -> None:
    for metadata in await asyncio.gather(*pending):
        key = (metadata.topic, metadata.partition)
        ends[key] = max(ends.get(key, 0), metadata.offset + 1)
        if published is not None:
            published.add(key, metadata.offset)
    pending.clear()


class PublishedOffsets:
    """The offsets one run wrote, per partition, as runs of consecutive offsets: a million
    records published alone are one run per partition, not a million set entries.

    >>> mine = PublishedOffsets()
    >>> for offset in (4, 5, 6, 9):
    ...     mine.add(("orders", 0), offset)
    >>> [mine.holds(("orders", 0), o) for o in (3, 4, 6, 7, 9)]
    [False, True, True, False, True]
    """

    def __init__(self) -> None:
        self._runs: dict[tuple[str, int], list[list[int]]] = {}

    def add(self, partition: tuple[str, int], offset: int) -> None:
        runs = self._runs.setdefault(partition, [])
        if runs and runs[-1][1] == offset:
            runs[-1][1] = offset + 1
        else:
            runs.append([offset, offset + 1])

    def holds(self, partition: tuple[str, int], offset: int) -> bool:
        runs = self._runs.get(partition, [])
        i = bisect.bisect_right(runs, offset, key=lambda run: run[0]) - 1
        return i >= 0 and runs[i][0] <= offset < runs[i][1]


def committed_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """The worker group's committed offsets, per input partition.

    kafka-python's admin client, because aiokafka's OffsetFetch version is one Tansu drops.
    """
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="storewatch-replay",
        **settings.kafka_security.kafka_python_options(),
    )
    try:
        offsets = admin.list_group_offsets(settings.app_id).get(settings.app_id, {})
    finally:
        admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def wait_until_processed(
    settings: Settings, ends: dict[tuple[str, int], int], timeout_s: float
) -> None:
    """Wait until the worker group has committed every offset that was published."""
    deadline = time.monotonic() + timeout_s
    while True:
        committed = await asyncio.to_thread(committed_offsets, settings)
        behind = {
            tp: end - committed.get(tp, 0) for tp, end in ends.items() if committed.get(tp, 0) < end
        }
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the worker group {settings.app_id!r} has not processed "
                f"{sum(behind.values())} events after {timeout_s:.0f}s "
                f"(is `storewatch worker` running?)"
            )
        await asyncio.sleep(0.5)


async def follow_alerts(
    settings: Settings,
    on_alert: Callable[[dict[str, Any]], None],
    done: asyncio.Event,
    idle_s: float = 2.0,
    start: dict[int, int] | None = None,
) -> None:
    """Hand every alert on the alert topic to ``on_alert``, from the start (or from ``start``,
    partition -> offset), as it arrives; return once ``done`` is set and the topic has then
    stayed quiet for ``idle_s``.

    Assigned partitions, no group: Tansu's end offsets are unreliable, so "finished" means
    quiet. Every alert is acknowledged before its input offset is committed, so once the
    worker has committed the last input, every alert it caused is already readable.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.kafka_security.aiokafka_options(),
    )
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # a failed start leaves connections that warn at exit
        raise
    try:
        await consumer.topics()  # loads the cluster metadata partitions_for_topic reads
        partitions = consumer.partitions_for_topic(settings.topics.alerts) or set()
        assigned = [TopicPartition(settings.topics.alerts, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning()
        for tp in assigned:
            if start and start.get(tp.partition):
                consumer.seek(tp, start[tp.partition])
        quiet_since = time.monotonic()
        while not done.is_set() or time.monotonic() - quiet_since < idle_s:
            batches = await consumer.getmany(timeout_ms=250)
            for records in batches.values():
                for record in records:
                    on_alert(json.loads(record.value))
                    quiet_since = time.monotonic()
            if not done.is_set():
                quiet_since = time.monotonic()
    finally:
        await consumer.stop()


async def replay_via_kafka(
    path: str | Path,
    settings: Settings,
    alerts_out: str | Path | None = None,
    rate_per_s: float | None = None,
    timeout_s: float = 300.0,
    progress: Progress | None = None,
    on_alert: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayResult:
    """Publish a file to a running worker's topics and report what this run caused: the
    alerts its events raised and the reasons the worker refused some of them.

    Only this run counts: alerts are read from where the alert topic ended when the run began
    (a file replayed twice does not report the first run's alerts again), and dead letters are
    read from the dead-letter topic and kept when they name a record this run published (a
    second run of the same file is refused as duplicate or late, and says so). ``on_alert``
    sees each alert live, as the worker publishes it.
    """
    from stream.tools.topic_reader import end_offsets

    result = ReplayResult()
    started = time.perf_counter()
    seen: list[dict[str, Any]] = []

    def collect(alert: dict[str, Any]) -> None:
        seen.append(alert)
        if on_alert:
            on_alert(alert)

    alerts_from = await end_offsets(settings, settings.topics.alerts)
    letters_from = await end_offsets(settings, settings.topics.dead_letter)
    published = PublishedOffsets()
    done = asyncio.Event()
    follower = asyncio.create_task(follow_alerts(settings, collect, done, start=alerts_from))
    try:
        result.events, ends, event_ids = await publish_file(
            path, settings, rate_per_s, progress, published=published
        )
        await wait_until_processed(settings, ends, timeout_s)
    finally:
        done.set()
        await follower
    result.alerts = [a for a in seen if a.get("event_id") in event_ids]
    result.rejected = await refused_in_run(settings, letters_from, published)
    result.elapsed_s = time.perf_counter() - started
    if alerts_out:
        with open(alerts_out, "w", encoding="utf-8") as handle:
            for alert in result.alerts:
                handle.write(json.dumps(alert, separators=(",", ":")) + "\n")
    return result


async def refused_in_run(
    settings: Settings, start: dict[int, int], published: PublishedOffsets
) -> dict[str, int]:
    """Dead letters per reason, of the records ``published`` holds, read from ``start``.

    Every dead letter is acknowledged before its input offset is committed, so once the
    worker has committed the run's last record they are all on the topic."""
    from stream.tools.topic_reader import read_records

    rejected: dict[str, int] = {}
    async for record in read_records(settings, settings.topics.dead_letter, start):
        try:
            letter = json.loads(record.value)
            source = (str(letter["topic"]), int(letter["partition"]))
            mine = published.holds(source, int(letter["offset"]))
        except (ValueError, KeyError, TypeError):
            continue  # not a dead letter this version wrote
        if mine:
            reason = str(letter.get("reason", "unknown"))
            rejected[reason] = rejected.get(reason, 0) + 1
    return dict(sorted(rejected.items()))
