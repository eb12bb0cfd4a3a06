"""The Faust ceiling: how fast a worker whose agent does nothing takes the input topics.

Run by ``storewatch bench`` in a process of its own (a Faust worker owns its process's event
loop and signals): the same app class, scheduler, batch size and partitions as the real worker,
an agent that only counts. Prints one JSON line {"events_per_s": ..., "events": ...} once it has
taken ``events`` messages, timed from the first batch, then exits.

    python -m stream.faust_ceiling <bootstrap> <events> <partitions>
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import faust

from stream.app import BATCH_MAX, BATCH_WITHIN_S, StorewatchApp, faust_settings
from stream.config import Settings


def main(bootstrap: str, events: int, partitions: int) -> None:
    settings = Settings(kafka_bootstrap=bootstrap, app_id="storewatch-faust-ceiling",
                        kafka_partitions=partitions)
    app = StorewatchApp(settings.app_id, **faust_settings(settings))
    app.idempotent_producer = False
    app.batch_consumer = False  # the stock agent path is what this measures
    inputs = app.topic(*settings.topics.input_topics().values(), key_type=bytes,
                       value_type=bytes, partitions=partitions)
    taken = 0
    started_s = 0.0

    @app.agent(inputs, concurrency=1)
    async def count(stream: Any) -> None:
        nonlocal taken, started_s
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            started_s = started_s or time.perf_counter()
            taken += len(batch)
            if taken >= events:
                elapsed_s = time.perf_counter() - started_s
                # straight to file descriptor 1: the worker sends sys.stdout to its log
                os.write(1, json.dumps({"events_per_s": round(taken / elapsed_s),
                                        "events": taken}).encode() + b"\n")
                os._exit(0)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
