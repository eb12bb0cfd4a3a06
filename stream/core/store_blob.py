"""A store's state in its saved form: the blob of version 4, and reading versions 2 and 3.

Version 4 is one msgpack array, packed by msgspec in C (faster than pickle and about half its
size on a busy store: 1,964 against 3,683 B). Floats that are whole numbers (counts, most
prices) go as integers, 1 to 5 B instead of 9, and come back as the same floats (the typed
decoder turns them back); a zero keeps its float, so -0.0 stays -0.0. A bucket is filed under
its distance from the window's head (one byte) and a window's running sums keep only their
non-zero metrics. Every value is read back exactly: a store loaded from Redis decides as the
one that stayed in memory.
"""

from __future__ import annotations

import io
import math
import pickle
from typing import TYPE_CHECKING, Any, Final

import msgspec

from stream.core.windows import NO_LIFETIME, NO_METRICS, StateConfig, Window

if TYPE_CHECKING:  # store_state.py saves through this module and imports it
    from stream.core.store_state import StoreState

BLOB_VERSION: Final = 4
# Pickled, read by _PlainUnpickler: 3 is version 4's content, 2 the same without lifetime totals.
OLDER_BLOB_VERSIONS: Final = (2, 3)


def encode(state: StoreState, config: StateConfig) -> bytes:
    """``state`` as a version 4 blob, its windows' buckets older than their ring pruned first
    (``StoreState.to_blob`` prunes its event ids before)."""
    windows = {}
    for shape in config.shapes:
        window = state.windows.get(shape.key)
        if window is None or window.head < 0:
            continue
        if len(window.buckets) > shape.ring:
            window.prune(shape)
        head = window.head
        windows[shape.key] = (
            head,
            {m: v for m, v in enumerate(window.running) if v or math.copysign(1.0, v) < 0},
            {
                head - idx: {
                    m: int(v) if v and v.is_integer() and -_EXACT < v < _EXACT else v
                    for m, v in bucket.items()
                }
                for idx, bucket in window.buckets.items()
            },
        )
    skus = {
        sku: [
            record[0],
            *[int(v) if v and v.is_integer() and -_EXACT < v < _EXACT else v for v in record[1:]],
        ]
        for sku, record in state.skus.items()
    }
    return _ENCODER.encode(
        (
            BLOB_VERSION,
            state.profile,
            state.max_ts_s,
            state.stream_max_ts_s,
            windows,
            skus,
            state.ids,
            state.orders,
            state.buyers,
            state.lifetime,
        )
    )


def decode(blob: bytes, state: StoreState) -> StoreState:
    """Fill the empty ``state`` from a blob of this version or an older one (see
    OLDER_BLOB_VERSIONS) and return it. Raises ValueError for anything else."""
    if blob[:1] == b"\x80":  # a pickle's first opcode (PROTO): versions 2 and 3
        return _decode_pickled(blob, state)
    try:
        saved = _DECODER.decode(blob)
    except msgspec.MsgspecError as exc:
        raise ValueError(f"store state unreadable as version {BLOB_VERSION}: {exc}") from exc
    if saved[0] != BLOB_VERSION:
        raise ValueError(f"store state of version {saved[0]}, expected {BLOB_VERSION}")
    windows = _fill_fields(state, saved)
    for key, (head, nonzero, buckets) in windows.items():
        running = list(NO_METRICS)
        for m, value in nonzero.items():
            running[m] = value
        state.windows[key] = Window(
            head, running, {head - back: bucket for back, bucket in buckets.items()}
        )
    return state


def _fill_fields(state: StoreState, saved: Any) -> Any:
    """Set the state's fields from a saved tuple (every version has the same order); the
    windows are returned as saved, since each version packs them its own way."""
    (
        _,
        state.profile,
        state.max_ts_s,
        state.stream_max_ts_s,
        windows,
        state.skus,
        state.ids,
        state.orders,
        state.buyers,
        state.lifetime,
    ) = saved
    return windows


def _decode_pickled(blob: bytes, state: StoreState) -> StoreState:
    saved = _PlainUnpickler(io.BytesIO(blob)).load()
    if not isinstance(saved, tuple) or not saved or saved[0] not in OLDER_BLOB_VERSIONS:
        raise ValueError(f"store state of another version, expected {BLOB_VERSION}")
    if saved[0] == 2:  # version 2: the same as 3, without lifetime totals
        saved = (*saved, list(NO_LIFETIME))
    windows = _fill_fields(state, saved)
    for key, (head, running, buckets) in windows.items():
        state.windows[key] = Window(head, running, buckets)
    return state


# Whole floats below this go to msgpack as integers (exact as floats up to 2**53).
_EXACT: Final = 2.0**53
# A window as saved: head, its non-zero running sums, its buckets by distance from the head.
_SavedWindow = tuple[int, dict[int, float], dict[int, dict[int, float]]]
_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(
    tuple[
        int,
        dict[str, str],
        float,
        dict[str, float],
        dict[str, _SavedWindow],
        dict[str, list[float]],
        dict[str, dict[str, float]],
        dict[str, float],
        list[str],
        list[float],
    ]
)


class _PlainUnpickler(pickle.Unpickler):
    """Loads only builtin containers and scalars: any class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a saved store state may not name {module}.{name}")
