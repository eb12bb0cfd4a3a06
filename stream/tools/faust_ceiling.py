"""The Faust ceilings: how fast, and at what CPU cost, a worker that does nothing takes the inputs.

Run by ``storewatch bench`` in a process of its own (a Faust worker owns its process's event
loop and signals): the same app class, scheduler (the event-time merge) and partitions as the
real worker, and one of two consumers that only count:

- ``agent``: Faust's stock path, an agent over ``take_events`` (what the worker used before
  the batch consumer);
- ``batch``: ``stream.runtime.batch_consumer.BatchConsumer`` with a processor that counts each fetch
  (the worker's own path, without the engine).

Prints one JSON line {"events_per_s", "events", "cpu_us_per_event"} once it has taken
``events`` messages, timed from the first batch (CPU: this process, all its threads, from
``/proc``), then exits.

    python -m stream.tools.faust_ceiling <bootstrap> <events> <partitions> [agent|batch]
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import faust

from stream.config import Settings
from stream.runtime.faust_app import BATCH_MAX, BATCH_WITHIN_S, StorewatchApp, faust_settings


def _cpu_s() -> float:
    with open(f"/proc/{os.getpid()}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Counter:
    """Counts what it is handed; prints the figures and exits once ``events`` are taken."""

    def __init__(self, events: int) -> None:
        self.events = events
        self.taken = 0
        self.started_s = 0.0
        self.cpu_started_s = 0.0

    def count(self, n: int) -> None:
        if not self.started_s:
            self.started_s, self.cpu_started_s = time.perf_counter(), _cpu_s()
        self.taken += n
        if self.taken >= self.events:
            elapsed_s = time.perf_counter() - self.started_s
            cpu_s = _cpu_s() - self.cpu_started_s
            # straight to file descriptor 1: the worker sends sys.stdout to its log
            os.write(
                1,
                json.dumps(
                    {
                        "events_per_s": round(self.taken / elapsed_s),
                        "events": self.taken,
                        "cpu_us_per_event": round(1e6 * cpu_s / self.taken, 2),
                    }
                ).encode()
                + b"\n",
            )
            os._exit(0)


class _CountingProcessor:
    """A BatchProcessor that decides nothing: the batch consumer's own cost."""

    def __init__(self, counter: _Counter) -> None:
        self.counter = counter

    async def decide(self, batch: list[tuple[Any, Any]]) -> Mapping[Any, int]:
        self.counter.count(len(batch))
        return {}

    async def save(self) -> Mapping[Any, int]:
        return {}

    def halt(self, exc: BaseException) -> None:
        raise exc


def main(bootstrap: str, events: int, partitions: int, mode: str = "agent") -> None:
    settings = Settings(
        kafka_bootstrap=bootstrap,
        app_id=f"storewatch-faust-ceiling-{mode}",
        kafka_partitions=partitions,
    )
    app = StorewatchApp(settings.app_id, **faust_settings(settings))
    app.idempotent_producer = False
    inputs = app.topic(
        *settings.topics.input_topics().values(),
        key_type=bytes,
        value_type=bytes,
        partitions=partitions,
    )
    counter = _Counter(events)
    if mode == "batch":
        app.batch_processor = _CountingProcessor(counter)
        app.topics.add(inputs)
    elif mode == "agent":
        app.batch_consumer = False

        @app.agent(inputs, concurrency=1)
        async def count(stream: Any) -> None:
            async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
                counter.count(len(batch))
    else:
        raise ValueError(f"mode {mode!r}: expected 'agent' or 'batch'")

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:5])
