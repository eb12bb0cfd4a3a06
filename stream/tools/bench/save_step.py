"""The worker's state save alone, timed: ``RedisStateStore.commit`` of many changed stores.

Once a second the worker saves every store it changed to Redis and decides nothing meanwhile,
so the save's cost per store is a stall every record waits through. This builds the stores of
a file's events (their windows, SKUs and event ids as a month of traffic leaves them) on an
embedded redis-server, then commits ``--stores`` of them changed, ``--rounds`` times, and
splits the time: serializing the stores (``StoreState.to_blob``) and the rest (sending them,
Redis's work, the replies). Run two versions of the code back to back on the same file::

    python -m stream.tools.bench.save_step e.jsonl --stores 400

Each figure is the median of the rounds, per store saved; ``cpu`` is this process's CPU, so
the redis-server's own work shows only in ``wall``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.core.windows import StateConfig
from stream.state.state import RedisStateStore
from stream.tools.bench.state_step import _updates
from stream.tools.embedded import EmbeddedRedis

# events applied per batch while the stores are built
_BATCH_EVENTS = 5000


async def _measure(url: str, path: str | Path, stores: int, rounds: int) -> dict[str, Any]:
    windows = Settings().windows
    state = RedisStateStore.from_url(url, windows.model_copy(update={"stores_in_memory": 10**9}))
    config = StateConfig.of(
        list(windows.lengths_s), windows.buckets_per_window, windows.allowed_lateness_s
    )
    try:
        updates = _updates(path)
        for start in range(0, len(updates), _BATCH_EVENTS):
            await state.apply_many(updates[start : start + _BATCH_EVENTS])
        await state.commit()
        store_ids = list(dict.fromkeys(update.store_id for update in updates))[:stores]
        cpu_s: list[float] = []
        wall_s: list[float] = []
        for number in range(rounds + 1):  # the first round loads the script: not counted
            for store_id in store_ids:  # a note changes each store, as a decision would
                state.remember(store_id, {"save_step": str(number)})
            state.decided(("save_step", 0), number)
            started_s, started_cpu_s = time.perf_counter(), time.process_time()
            await state.commit()
            if number:
                cpu_s.append(time.process_time() - started_cpu_s)
                wall_s.append(time.perf_counter() - started_s)
        # the very objects the commit serializes (copies read back from Redis, laid out
        # afresh in memory, serialize faster)
        live = [state._stores[store_id] for store_id in store_ids]
        blob_s: list[float] = []
        for _ in range(rounds):
            started_cpu_s = time.process_time()
            blobs = [store.to_blob(config) for store in live]
            blob_s.append(time.process_time() - started_cpu_s)
    finally:
        await state.close()
    per_store_us = 1e6 / max(1, len(store_ids))
    commit_cpu_us = statistics.median(cpu_s) * per_store_us
    to_blob_us = statistics.median(blob_s) * per_store_us
    return {
        "stores": len(store_ids),
        "blob_bytes_mean": round(statistics.mean(map(len, blobs))) if blobs else 0,
        "commit_wall_us": round(statistics.median(wall_s) * per_store_us, 1),
        "commit_cpu_us": round(commit_cpu_us, 1),
        "to_blob_cpu_us": round(to_blob_us, 1),
        "rest_cpu_us": round(commit_cpu_us - to_blob_us, 1),
    }


def measure(path: str | Path, stores: int = 400, rounds: int = 30) -> dict[str, Any]:
    """The cost per store of committing ``stores`` changed stores built from ``path``."""
    with EmbeddedRedis() as redis:
        return asyncio.run(_measure(redis.url, path, stores, rounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream.tools.bench.save_step")
    parser.add_argument("input", help="events as JSON Lines (storewatch simulate --out)")
    parser.add_argument("--stores", type=int, default=400, help="stores changed per commit")
    parser.add_argument("--rounds", type=int, default=30, help="commits; the median counts")
    args = parser.parse_args(argv)
    json.dump(measure(args.input, max(1, args.stores), max(1, args.rounds)), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
