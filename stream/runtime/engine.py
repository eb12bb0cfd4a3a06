"""The order of steps for one event, and the error policy. Transport-free: no Faust here.

parse and validate -> apply to the store's state (in memory; facts in Redis) -> run the
detectors that watch this event type -> send alerts; ``commit`` saves the state to Redis. A
message that cannot be processed is dead-lettered with its original bytes and a reason, counted,
and processing goes on: one bad message must never stop the worker or cost a good event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TypeVar

from stream.config import DetectorSettings, Settings, tunable_values
from stream.core.contract import MAX_FUTURE_S
from stream.core.detectors import RING_FACT_KINDS, Detector, Verdict, default_detectors
from stream.core.events import parse_event
from stream.core.features import Watch
from stream.core.models import SnapshotVersionError
from stream.core.records import Alert, Event, InvalidEventError, format_ts
from stream.core.store_view import StoreView
from stream.core.tuning import RESTART_ONLY
from stream.core.updates import DEFAULT_UTC_OFFSET_S, StateUpdate, update_for
from stream.runtime.alerts import AlertSink, build_alert, tie_to_ring, wall_clock_iso
from stream.runtime.dead_letters import (
    DEAD_LETTER_LINES_PER_MINUTE,
    DeadLetter,
    DeadLetterSink,
    LogBudget,
    Source,
)
from stream.runtime.metrics import Metrics, ModelScoreRecorder
from stream.state.protocol import PartitionId, StateStore, StateUnavailableError

log = logging.getLogger(__name__)
T = TypeVar("T")
# the key of the watch start among the saved model snapshots (no detector has this name)
WATCH_KEY = "~watch"
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0
# Refusals a redelivered event meets (its id is known, or its stream moved on past it): at or
# below its partition's saved decided offset they are counted as redeliveries, not bad input.
# An event the stores accept is applied whatever its offset (a topic created anew reuses them).
REDELIVERY_REFUSALS = frozenset({"duplicate", "late"})


def decided_through(messages: Sequence[tuple[bytes, Source]]) -> dict[PartitionId, int]:
    """The highest offset per partition among ``messages`` (those with an offset).

    >>> decided_through([(b"", Source("orders", 0, 7)), (b"", Source("orders", 0, 9)),
    ...                  (b"", Source("prices", 1, 3)), (b"", Source("file"))])
    {('orders', 0): 9, ('prices', 1): 3}
    """
    highest: dict[PartitionId, int] = {}
    for _, source in messages:
        if source.offset >= 0:
            partition = (source.topic, source.partition)
            if source.offset > highest.get(partition, -1):
                highest[partition] = source.offset
    return highest


class Engine:
    """Runs every event through state, detectors and sinks; shared by agents and replay."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        state: StateStore,
        alerts: AlertSink,
        dead_letters: DeadLetterSink,
        metrics: Metrics,
        check_topics: bool = True,
    ) -> Engine:
        """The engine every shell uses: the default detectors with the configured windows."""
        topic_types = {topic: kind for kind, topic in settings.topics.input_topics().items()}

        windows_s = list(settings.windows.lengths_s)
        detectors = default_detectors(
            settings.detectors, windows_s, ModelScoreRecorder(metrics), Watch()
        )
        engine = cls(
            state, detectors, alerts, dead_letters, metrics, topic_types if check_topics else None
        )
        engine._utc_offset_s = settings.detectors.local_utc_offset_h * 3600
        engine._tuned = (settings.detectors, windows_s)
        metrics.record_parameters(tunable_values(settings))
        return engine

    def reconfigure(self, settings: Settings) -> None:
        """Use validated new settings from the next event on (runtime tuning).

        The detectors read their thresholds and windows from the DetectorSettings and window
        list they were built with, so those are updated in place; the models keep what they
        learnt (their own parameters are restart-only, see ``tuning.RESTART_ONLY``).
        """
        if self._tuned is not None:
            detector_settings, windows_s = self._tuned
            for name, value in settings.detectors:
                if f"detectors.{name}" not in RESTART_ONLY:
                    setattr(detector_settings, name, value)
            windows_s[:] = settings.windows.lengths_s
        self.state.reconfigure(settings.windows)
        self.metrics.record_parameters(tunable_values(settings))

    def __init__(
        self,
        state: StateStore,
        detectors: Sequence[Detector],
        alerts: AlertSink,
        dead_letters: DeadLetterSink,
        metrics: Metrics,
        topic_types: Mapping[str, str] | None = None,
        clock: Callable[[], str] = wall_clock_iso,
        wall_s: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.detectors = list(detectors)
        self.alerts = alerts
        self.dead_letters = dead_letters
        self.metrics = metrics
        self._topic_types = dict(topic_types or {})
        self._clock = clock
        self._wall_s = wall_s
        self._tuned: tuple[DetectorSettings, list[float]] | None = None
        self._newest_ts_s = 0.0
        self._utc_offset_s = DEFAULT_UTC_OFFSET_S
        self._dead_letter_log = LogBudget(DEAD_LETTER_LINES_PER_MINUTE, wall_s)
        # set by a worker: saves the model snapshots (and the watch start with them)
        self.save_watch: Callable[[], Awaitable[None]] | None = None
        self._watch_saved_ts_s = float("inf")
        # the detectors share one Watch (since when the stream has been watched): found, not
        # made, so an engine built from hand-made detectors moves theirs
        self.watch: Watch = next(
            (w for d in self.detectors if isinstance(w := getattr(d, "watch", None), Watch)),
            Watch(),
        )
        self._by_type: dict[str, list[Detector]] = {}
        for detector in self.detectors:
            for event_type in detector.event_types:
                self._by_type.setdefault(event_type, []).append(detector)

    def model_snapshots(self) -> dict[str, bytes]:
        """Every detector's model state, by detector name, and since when the stream has been
        watched (what a worker saves)."""
        snapshots = {d.name: d.model.snapshot() for d in self.detectors if d.model is not None}
        snapshots[WATCH_KEY] = repr(self.watch.start_ts_s).encode()
        return snapshots

    def restore_models(self, snapshots: Mapping[str, bytes]) -> list[str]:
        """Resume the models from saved snapshots; returns the detectors restored. A snapshot
        of another River version or model shape is skipped with a warning: that model
        starts fresh, which is safe (a cold model only withholds weak-evidence alerts)."""
        restored = []
        watched = snapshots.get(WATCH_KEY)
        if watched is not None:
            self.watch.see(float(watched))
            self._watch_saved_ts_s = self.watch.start_ts_s
        for detector in self.detectors:
            model, blob = detector.model, snapshots.get(detector.name)
            if model is None or blob is None:
                continue
            try:
                model.restore(blob)
            except SnapshotVersionError as exc:
                log.warning("model %s starts fresh: %s", detector.name, exc)
                continue
            restored.append(detector.name)
        return restored

    async def process(self, raw: bytes, source: Source) -> list[Alert]:
        """One message, decided and saved at once (tests, tools)."""
        raised = await self.process_batch([(raw, source)])
        await self.commit()
        return raised

    async def process_batch(self, messages: Sequence[tuple[bytes, Source]]) -> list[Alert]:
        """Messages in order, with a few Redis round trips for all of them.

        Each event still sees the state left by the events before it, so a batch decides
        exactly as one-by-one processing would. What the batch changed stays in memory until
        ``commit``: a shell acknowledges its messages only after that, so a crash before it
        redelivers them to a worker that reads the state saved before them. While Redis does
        not answer, the batch waits and retries in place (every Redis step of a batch can be
        repeated), so the worker holds its position instead of losing or doubling an event.
        """
        self.metrics.batch_events.observe(len(messages))
        raised = await self._decide_batch(messages)
        self.metrics.newest_event_ts_seconds.set(self._newest_ts_s)
        self.metrics.event_time_lag_seconds.set(max(0.0, time.time() - self._newest_ts_s))
        return raised

    async def commit(self) -> None:
        """Save what the batches since the last commit changed (retried while Redis is down)."""
        started = time.perf_counter()
        await self._until_available(self.state.commit)
        self.metrics.redis_seconds.observe(time.perf_counter() - started)
        if self.save_watch is not None and self.watch.start_ts_s != self._watch_saved_ts_s:
            # the watch start decides how far a store's age is trusted: a worker restarted
            # before the next model snapshot must resume it, not start a watch of its own
            self._watch_saved_ts_s = self.watch.start_ts_s
            await self.save_watch()

    async def _until_available(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` until the state store answers; the worker reports itself unhealthy and
        counts every failure meanwhile. Only for calls that may be repeated."""
        delay_s = RETRY_FIRST_S
        while True:
            try:
                result = await call()
            except StateUnavailableError as exc:
                self.metrics.redis_errors.labels("unavailable").inc()
                self.metrics.healthy.set(0)
                log.warning("state store unavailable, retrying in %.1fs: %s", delay_s, exc)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, RETRY_MAX_S)
                continue
            self.metrics.healthy.set(1)
            return result

    async def _decide_batch(self, messages: Sequence[tuple[bytes, Source]]) -> list[Alert]:
        started = time.perf_counter()
        events: list[Event] = []
        kept: list[tuple[Source, bytes]] = []
        future_s = self._wall_s() + MAX_FUTURE_S
        topic_types = self._topic_types
        consumed: Counter[str] = Counter()
        decided_now: dict[PartitionId, int] = {}  # the highest offset per partition
        see, watch_start_s = self.watch.see, self.watch.start_ts_s
        for raw, source in messages:
            topic = source.topic
            consumed[topic] += 1
            if source.offset >= 0:
                partition = (topic, source.partition)
                if source.offset > decided_now.get(partition, -1):
                    decided_now[partition] = source.offset
            try:
                event = parse_event(raw)
                if topic_types:
                    self._check_topic(event, source)
                if event.ts_s > future_s:
                    self._check_not_future(event, future_s)
            except InvalidEventError as exc:
                await self._dead_letter(exc.reason, str(exc), raw, source)
                continue
            events.append(event)
            kept.append((source, raw))
            # a store event is dated when the store opened, maybe years ago
            if event.ts_s < watch_start_s and event.type != "store":
                see(event.ts_s)
                watch_start_s = self.watch.start_ts_s
        for topic, count in consumed.items():
            self.metrics.events_consumed.labels(topic).inc(count)
        decided_before = await self._decided_offsets(decided_now.keys())
        offset_s = self._utc_offset_s
        views = await self._apply([update_for(event, offset_s) for event in events])
        raised: list[Alert] = []
        observe_decided = self.metrics.processing_seconds.observe  # per event: looked up once
        by_type, current, newest_ts_s = self._by_type, self.state.current, self._newest_ts_s
        for event, (source, raw), view in zip(events, kept, views, strict=True):
            if view.refusal is not None:
                if (
                    view.refusal in REDELIVERY_REFUSALS
                    and source.offset >= 0
                    and source.offset <= decided_before.get((source.topic, source.partition), -1)
                ):
                    self.metrics.events_redelivered.labels(source.topic).inc()
                    continue
                await self._dead_letter(view.refusal, self._refusal_error(event, view), raw, source)
                continue
            detectors = by_type.get(event.type)
            if detectors:
                # marks written since the batch was read (episodes, rings), as one-by-one
                # would see them
                view = current(view, event.store_id)
                alerted_here = False  # an alert ties the event's facts to its ring itself
                for detector in detectors:
                    try:
                        decision = detector.evaluate(event, view)
                    except Exception as exc:  # a detector bug must not stop the stream
                        log.exception("detector %s failed on %s", detector.name, event.event_id)
                        await self._dead_letter(
                            "detector_error", f"{detector.name}: {exc!r}", raw, source
                        )
                        continue
                    if decision.note:  # the episode's evidence so far, for the next decisions
                        self.state.remember(event.store_id, dict(decision.note))
                        view = current(view, event.store_id)
                    if decision.verdict is not None:
                        raised.append(await self._raise(event, view, decision.verdict))
                        view = current(view, event.store_id)
                        alerted_here = True
                if view.links and view.profile.get("ring_id") and not alerted_here:
                    await self._tie_ring_facts(view)
            if event.ts_s > newest_ts_s:
                newest_ts_s = event.ts_s
            observe_decided(time.perf_counter() - started)
        self._newest_ts_s = newest_ts_s
        decided = self.state.decided
        for partition, offset in decided_now.items():
            decided(partition, offset)
        return raised

    async def _decided_offsets(self, partitions: Iterable[PartitionId]) -> dict[PartitionId, int]:
        """The saved decided offset of each Kafka partition of the batch (no I/O once read)."""
        wanted = set(partitions)
        if not wanted:
            return {}
        return await self._until_available(partial(self.state.decided_offsets, wanted))

    @staticmethod
    def _check_not_future(event: Event, future_s: float) -> None:
        if event.ts_s > future_s:
            raise InvalidEventError(
                "bad_ts",
                f"event time {format_ts(event.ts_s)} is more than "
                f"{MAX_FUTURE_S / 3600:.0f} h ahead of the wall clock",
            )

    @staticmethod
    def _refusal_error(event: Event, view: StoreView) -> str:
        if view.refusal == "late":
            return (
                f"event time {format_ts(event.ts_s)} is more than the allowed lateness "
                f"behind the store's newest {event.type} event, {format_ts(view.max_ts_s)}"
            )
        if view.refusal == "duplicate":
            return f"event_id {event.event_id!r} was already processed for store {event.store_id}"
        return (
            f"refund for order {event.fields.get('order_id')!r}, which store "
            f"{event.store_id} never placed"
        )

    async def _apply(self, updates: list[StateUpdate]) -> list[StoreView]:
        if not updates:
            return []
        # Redis time only: reading the stores met for the first time, then linking facts; the
        # in-memory apply between them is the engine's own work
        started = time.perf_counter()
        await self._until_available(partial(self.state.load, {u.store_id for u in updates}))
        loaded = time.perf_counter()
        views = await self.state.apply_many(updates)  # every store is in memory: no I/O
        applied = time.perf_counter()
        views = await self._until_available(partial(self.state.link_facts, updates, views))
        self.metrics.redis_seconds.observe(loaded - started + time.perf_counter() - applied)
        return views

    def _check_topic(self, event: Event, source: Source) -> None:
        expected = self._topic_types.get(source.topic)
        if expected is not None and expected != event.type:
            raise InvalidEventError(
                "wrong_topic",
                f"a {event.type} event on topic {source.topic!r}, which carries "
                f"{expected} events",
            )

    async def _raise(self, event: Event, view: StoreView, verdict: Verdict) -> Alert:
        """Tie a verdict to its ring, send it as an alert and count it."""
        verdict = await self._until_available(
            partial(tie_to_ring, self.state, event, view, verdict)
        )
        alert = build_alert(event, verdict, self._clock)
        await self.alerts.send(alert)
        self.metrics.alerts.labels(alert.detector, alert.severity).inc()
        return alert

    async def _tie_ring_facts(self, view: StoreView) -> None:
        """A store of a known ring marks what it touches, so the ring's next store is known."""
        ring_id = view.profile["ring_id"]
        untied = [
            link
            for link in view.links.values()
            if link.ring_id is None and link.kind in RING_FACT_KINDS
        ]
        if untied:
            await self._until_available(partial(self.state.tie_facts, ring_id, untied))

    async def _dead_letter(self, reason: str, error: str, raw: bytes, source: Source) -> None:
        self.metrics.events_rejected.labels(reason, source.topic).inc()
        if self._dead_letter_log.allow(reason):
            log.warning(
                "dead-lettered %s:%s@%s: %s", source.topic, source.partition, source.offset, error
            )
        await self.dead_letters.send(DeadLetter(reason, error, source, raw, wall_clock_iso()))
