"""The state step alone, timed over a file's events: window adds, whole applies, saved blobs.

No engine, no I/O: what changes in ``stream/core/store_state.py`` shows here without the
noise of a whole replay. Run two versions of the code back to back on the same file::

    python -m stream.tools.bench.state_step e.jsonl

Each time is the best of ``--rounds`` passes (the machine's other work only adds time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.core.events import parse_event
from stream.core.records import InvalidEventError
from stream.core.store_state import StoreState
from stream.core.updates import StateUpdate, update_for
from stream.core.windows import StateConfig, Window
from stream.inputs import read_lines


def _updates(path: str | Path) -> list[StateUpdate]:
    updates = []
    for raw in read_lines(path):
        try:
            updates.append(update_for(parse_event(raw)))
        except InvalidEventError:
            continue
    return updates


def _best_s(rounds: int, run: Any) -> float:
    best_s = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best_s = min(best_s, time.perf_counter() - started)
    return best_s


def measure(path: str | Path, rounds: int = 5) -> dict[str, Any]:
    """Window.add, StoreState.apply, to_blob and from_blob over every event of ``path``."""
    windows = Settings().windows
    config = StateConfig.of(
        list(windows.lengths_s), windows.buckets_per_window, windows.allowed_lateness_s
    )
    updates = _updates(path)
    by_store: dict[str, list[tuple[float, dict[int, float]]]] = {}
    for update in updates:
        by_store.setdefault(update.store_id, []).append((update.ts_s, update.deltas))

    def add_all() -> None:
        for events in by_store.values():
            pairs = [(shape, Window()) for shape in config.shapes]
            for ts_s, deltas in events:
                for shape, window in pairs:
                    window.add(shape, ts_s, deltas)

    stores: dict[str, StoreState] = {}

    def apply_all() -> None:
        stores.clear()
        for update in updates:
            state = stores.get(update.store_id)
            if state is None:
                state = stores[update.store_id] = StoreState()
            state.apply(update, config)

    adds = len(updates) * len(config.shapes)
    add_s = _best_s(rounds, add_all)
    apply_s = _best_s(rounds, apply_all)
    states = list(stores.values())
    blobs: list[bytes] = []

    def save_all() -> None:
        blobs[:] = [state.to_blob(config) for state in states]

    to_blob_s = _best_s(rounds, save_all)
    from_blob_s = _best_s(rounds, lambda: [StoreState.from_blob(blob) for blob in blobs])
    per_store = max(1, len(states))
    return {
        "events": len(updates),
        "stores": len(states),
        "window_add_ns": round(add_s / max(1, adds) * 1e9),
        "apply_us": round(apply_s / max(1, len(updates)) * 1e6, 2),
        "blob_bytes_mean": round(statistics.mean(map(len, blobs))) if blobs else 0,
        "to_blob_us": round(to_blob_s / per_store * 1e6, 1),
        "from_blob_us": round(from_blob_s / per_store * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stream.tools.bench.state_step")
    parser.add_argument("input", help="events as JSON Lines (storewatch simulate --out)")
    parser.add_argument("--rounds", type=int, default=5, help="passes; the best counts")
    args = parser.parse_args(argv)
    json.dump(measure(args.input, max(1, args.rounds)), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
