"""The Faust application: topics, the batch consumer's decider, sinks onto Kafka.

Faust runs the group membership, rebalances, commits, the producer, timers and the worker's
life cycle; the records themselves go through ``stream.runtime.batch_consumer.BatchConsumer``, which
hands each fetch (merged in event time) to ``BatchDecider``: one call into the transport-free
engine per batch, offsets committed only once the state they changed is saved. No agent: the
stock per-message path costs about 60 times the CPU, can commit past unfinished messages with
concurrency (faust-streaming #606) and processes records twice after a rebalance (#502).
Only this module, ``stream.runtime.faust_app`` (Faust's App adapted) and
``stream.runtime.batch_consumer`` import faust.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from faust.types import TP
from prometheus_client import REGISTRY

from stream.config import Settings
from stream.core.contract import REJECT_REASONS, SEVERITIES
from stream.core.records import Alert
from stream.core.tuning import Change, InvalidChangeError, apply_changes, current_value
from stream.runtime.batch_consumer import Fetched
from stream.runtime.control import consume_changes
from stream.runtime.dead_letters import DeadLetter, Source
from stream.runtime.engine import RETRY_FIRST_S, RETRY_MAX_S, Engine
from stream.runtime.faust_app import EventTimeScheduling, StorewatchApp, faust_settings
from stream.runtime.health import PING_TIMEOUT_S, WorkerHealth
from stream.runtime.health import serve as serve_metrics_and_health
from stream.runtime.metrics import Metrics
from stream.runtime.publishing import RetryingSink
from stream.runtime.redis_watch import RedisWatch
from stream.state.protocol import StateUnavailableError
from stream.state.redis_client import redis_client
from stream.state.state import RedisStateStore

log = logging.getLogger(__name__)

GAUGE_INTERVAL_S = 15.0


class KafkaAlertSink:
    """Publishes an alert keyed by its store and waits for the broker's acknowledgement, so an
    input offset is never committed before the alert it caused is stored."""

    def __init__(self, topic: Any) -> None:
        self._topic = topic

    async def send(self, alert: Alert) -> None:
        delivery = await self._topic.send(key=alert.store_id.encode(), value=alert.to_json())
        await delivery


class KafkaDeadLetterSink:
    """Publishes refused messages, keyed like the original, with their reason."""

    def __init__(self, topic: Any) -> None:
        self._topic = topic

    async def send(self, letter: DeadLetter) -> None:
        delivery = await self._topic.send(key=letter.source.topic.encode(), value=letter.to_json())
        await delivery


def create_app(settings: Settings, metrics: Metrics | None = None) -> faust.App:
    """A Faust app wired to Redis state and the detection engine."""
    app = StorewatchApp(settings.app_id, **faust_settings(settings))
    app.idempotent_producer = settings.kafka_idempotent_producer
    names = list(settings.topics.input_topics().values())
    inputs = app.topic(
        *names, key_type=bytes, value_type=bytes, partitions=settings.kafka_partitions
    )
    alerts = app.topic(
        settings.topics.alerts,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.kafka_partitions,
    )
    dead_letters = app.topic(
        settings.topics.dead_letter,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.kafka_partitions,
    )
    engine_metrics = metrics or Metrics.create(REGISTRY)
    health = WorkerHealth(
        partitions_after_s=settings.consumer_group_session_timeout_s
        + settings.consumer_group_rebalance_timeout_s
        + 10
    ).bind(engine_metrics)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        engine_metrics.assigned_partitions.set(0)
        health.revoked()
        engine_metrics.consumer_lag.clear()  # the next assignment reports its own partitions
        scheduler = getattr(app.consumer, "scheduler", None)
        if isinstance(scheduler, EventTimeScheduling):
            scheduler.merger.clear()
        state.release()  # their stores may belong to another worker now: read them afresh
        await save_models()  # the worker taking these partitions over resumes from here

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        mine = [tp for tp in app.consumer.assignment() if tp.topic in names]
        scheduler = getattr(app.consumer, "scheduler", None)
        if isinstance(scheduler, EventTimeScheduling):
            scheduler.merger.assign(mine)  # the watermark waits for each of them
        engine_metrics.assigned_partitions.set(len(mine))
        health.assigned(len(mine))

    state = RedisStateStore.from_url(
        settings.redis_url.get_secret_value(), settings.windows, **settings.redis_options()
    )

    def publish_failed(sink: str) -> None:
        engine_metrics.publish_errors.labels(sink).inc()

    engine = Engine.from_settings(
        settings,
        state,
        RetryingSink(KafkaAlertSink(alerts), "alert", settings.publish_give_up_s, publish_failed),
        RetryingSink(
            KafkaDeadLetterSink(dead_letters),
            "dead_letter",
            settings.publish_give_up_s,
            publish_failed,
        ),
        engine_metrics,
    )
    state_for_gauges = RedisStateStore.from_url(
        settings.redis_url.get_secret_value(), settings.windows, **settings.redis_options()
    )
    control = app.topic(
        settings.topics.control, key_type=bytes, value_type=bytes, partitions=1, compacting=True
    )
    tuned = RuntimeTuning(settings, engine, engine_metrics)
    engine_metrics.start_at_zero(
        list(REJECT_REASONS), names, [d.name for d in engine.detectors], list(SEVERITIES)
    )

    async def save_models() -> None:
        if decider.halted:  # the models learnt from a batch that will be decided again
            return
        try:
            await state_for_gauges.save_models(settings.app_id, engine.model_snapshots())
        except StateUnavailableError:
            engine_metrics.redis_errors.labels("unavailable").inc()
            log.warning(
                "models not saved: Redis unavailable (next try in %.0fs)",
                settings.detectors.model_snapshot_interval_s,
            )

    engine.save_watch = save_models

    @app.timer(interval=settings.detectors.model_snapshot_interval_s)
    async def _save_models_periodically() -> None:
        await save_models()

    watch = RedisWatch(
        redis_client(
            settings.redis_url.get_secret_value(),
            socket_timeout=PING_TIMEOUT_S,
            socket_connect_timeout=PING_TIMEOUT_S,
            **settings.redis_options(),
        ),
        health,
        engine_metrics,
    )

    @app.task
    @health.watched("task watch_redis")
    async def watch_redis() -> None:
        """PING for /healthz; notice a Redis that restarted empty or was flushed."""
        await watch.run()

    @app.timer(interval=0.5)
    async def _probe_pending_work() -> None:
        health.work_pending(_work_pending(app.consumer, names))

    @app.task
    @health.watched("task follow_control_topic")
    async def follow_control_topic() -> None:
        await control.maybe_declare()
        await consume_changes(settings, tuned.apply, tuned.refuse, tuned.caught_up)

    @app.timer(interval=GAUGE_INTERVAL_S)
    async def _update_gauges() -> None:
        """Gauges that cost a scan or a metadata read: refreshed on a timer, not per event."""
        try:
            engine_metrics.stores_tracked.set(await state_for_gauges.tracked_stores())
        except StateUnavailableError:
            engine_metrics.redis_errors.labels("unavailable").inc()
        newest_s = engine_metrics.newest_event_ts_seconds._value.get()
        if newest_s:  # keeps rising while processing stalls, which is the point
            engine_metrics.event_time_lag_seconds.set(max(0.0, time.time() - newest_s))
        for tp in app.consumer.assignment():
            if tp.topic not in names:
                continue
            end = app.consumer.highwater(tp)
            position = await app.consumer.position(tp)
            if end is not None and position is not None:
                engine_metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, end - position)
                )

    async def restore_models() -> None:
        delay_s = RETRY_FIRST_S
        while True:
            try:
                snapshots = await state_for_gauges.load_models(settings.app_id)
                break
            except StateUnavailableError as exc:
                log.warning("cannot load model snapshots yet, retrying in %.1fs: %s", delay_s, exc)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)
        restored = engine.restore_models(snapshots)
        log.info("models resumed from snapshots: %s", ", ".join(restored) or "none (fresh)")

    ready = asyncio.Event()
    decider = BatchDecider(engine, health, engine_metrics, settings.state_save_interval_s, ready)

    @app.task
    @health.watched("task prepare")
    async def prepare() -> None:
        """Every change already on the control topic applies before the first event, and the
        models resume from the latest snapshot of this app's workers."""
        await tuned.caught_up.wait()
        await restore_models()
        ready.set()

    # The batch consumer takes the input topics (no agent: Faust subscribes to the topics
    # registered with its conductor) and hands each fetch to the decider.
    app.topics.add(inputs)

    app.batch_processor = decider

    return app


def _work_pending(consumer: Any, topics: list[str]) -> bool:
    """Records on an assigned input partition past its committed offset (fetched or not)."""
    for tp in consumer.assignment():
        if tp.topic in topics:
            end = consumer.highwater(tp)
            committed = consumer._committed_offset.get(tp)
            if end and end > (committed or 0):
                return True
    return False


class RuntimeTuning:
    """Applies control-topic changes to a running engine; refuses invalid ones, logging both."""

    def __init__(self, settings: Settings, engine: Engine, metrics: Metrics) -> None:
        self.settings = settings
        self.engine = engine
        self.metrics = metrics
        self.caught_up = asyncio.Event()

    def apply(self, change: Change) -> None:
        try:
            new = apply_changes(self.settings, {change.key: change.value})
        except InvalidChangeError as exc:
            self.refuse(str(exc), change.to_json())
            return
        old = current_value(self.settings, change.key)
        self.settings = new
        self.engine.reconfigure(new)
        self.metrics.control_changes.labels("applied").inc()
        log.warning(
            "tuning applied: %s changed %s from %s to %s (requested at %s)",
            change.who,
            change.key,
            old,
            current_value(new, change.key),
            change.at,
        )

    def refuse(self, reason: str, raw: bytes) -> None:
        self.metrics.control_changes.labels("refused").inc()
        log.error("tuning refused, nothing applied: %s (record %r)", reason, raw[:200])


class BatchDecider:
    """Decides what the batch consumer fetched, and says which offsets are safe to commit.

    The engine keeps what a batch changed in memory; every ``interval_s`` (or when the consumer
    finds nothing new, is revoked or stops) it saves the changed stores to Redis, and only then
    are the offsets of the batches before offered for commit: Faust never commits an offset
    whose effect is not in Redis. Alerts and dead letters are acknowledged by the broker inside
    ``process_batch``, before their batch is even decided.
    """

    def __init__(
        self,
        engine: Engine,
        health: WorkerHealth,
        metrics: Metrics,
        interval_s: float,
        ready: asyncio.Event,
    ) -> None:
        self._engine = engine
        self._health = health
        self._metrics = metrics
        self._interval_s = interval_s
        self._ready = ready
        self._unsaved: dict[TP, int] = {}  # next offset per partition, decided but not saved
        self._saved_at_s = time.monotonic()
        self.halted = False

    async def decide(self, batch: Fetched) -> dict[TP, int]:
        await self._ready.wait()
        unsaved = self._unsaved
        messages = []
        for tp, record in batch:
            messages.append((record.value, Source(tp.topic, tp.partition, record.offset)))
            unsaved[tp] = record.offset + 1  # a partition's records come in offset order
        await self._engine.process_batch(messages)  # decided: their alerts are published
        self._health.batch_decided()
        decided_at_ms = time.time() * 1000
        observe = self._metrics.kafka_to_decision_seconds.observe
        for _, record in batch:
            if record.timestamp:
                observe(max(0.0, decided_at_ms - record.timestamp) / 1000)
        if time.monotonic() - self._saved_at_s >= self._interval_s:
            return await self.save()
        return {}

    async def save(self) -> dict[TP, int]:
        if not self._unsaved or self.halted:
            return {}
        await self._engine.commit()
        safe, self._unsaved = self._unsaved, {}
        self._saved_at_s = time.monotonic()
        return safe

    def halt(self, exc: BaseException) -> None:
        """Stop for good rather than skip: an exception out of the batch path (above all an
        alert or dead letter that could not be published) leaves a batch half decided, so
        nothing from it on may be saved or committed. The worker reports ``halted`` and waits
        to be restarted, which redelivers everything after the last commit."""
        self.halted = True
        self._health.halted(f"{type(exc).__name__}: {exc}")
        log.error(
            "worker halted: nothing from the batch in flight on is saved or committed; "
            "restart it once the cause is fixed (%s: %s)",
            type(exc).__name__,
            exc,
        )


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run one worker until SIGINT/SIGTERM: Faust's event loop, plus the metrics endpoint."""
    if settings.metrics_port:
        serve_metrics_and_health(settings.metrics_port)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
