"""Replay a JSONL file of events: in-process through the engine, or through Kafka and a worker.

In-process replay runs the same engine as the Faust agent, against a real Redis, with fresh
state each run (its own key namespace, deleted afterwards), so a month of history gives the
alerts the live path would have given; with ``state_backend="memory"`` the state lives in this
process instead (``stream.state.memory_state``: no Redis, the same alerts). ``--via-kafka``
(``stream.tools.replay_kafka``) publishes the file to the input topics of a running worker
and collects the alerts it publishes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from stream.config import Settings
from stream.core.facts import KEY_PREFIX
from stream.core.records import Alert
from stream.inputs import read_lines
from stream.runtime.alerts import JsonlAlertSink, ListAlertSink
from stream.runtime.dead_letters import ListDeadLetterSink, Source
from stream.runtime.engine import Engine
from stream.runtime.metrics import Metrics
from stream.state.memory_state import InMemoryStateStore
from stream.state.state import RedisStateStore

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
