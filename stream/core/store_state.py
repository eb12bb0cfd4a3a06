"""One store's state in plain Python: its profile, sliding windows, recent SKU sales, the event
ids it has seen. Applying an event is arithmetic on this object; no I/O.

The worker that owns a store's partitions is the only one that writes it (every input topic is
keyed by store id and co-partitioned), so the state can live in the worker's memory and go to
Redis once per save as one value, packed with msgpack (see ``to_blob`` and
``state.RedisStateStore``). Memory is
bounded: each window keeps the buckets of its length plus the allowed lateness, SKU records
are forgotten after the longest window, event ids after the allowed lateness, orders once the
store is established.

Windows are keyed by event time, so a late event lands in its own bucket; a window sum is
exact to one bucket (window length / buckets per window) at its old end.
"""

from __future__ import annotations

import io
import math
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec

if TYPE_CHECKING:  # updates.py builds updates and imports this module
    from stream.core.updates import StateUpdate

# What every window counts; a bucket maps a metric's index here to its sum.
WINDOW_METRICS: Final = (
    "sales_cny",
    "orders_placed",
    "cancelled_cny",
    "orders_shipped",
    "orders_delivered",
    "refund_price_protection_cny",
    "refund_not_received_cny",
    "refund_return_cny",
    "refund_other_cny",
    "price_cuts",
    "withdrawn_cny",
    "withdrawals",
    "night_sales_cny",  # sales placed between midnight and 6 in the marketplace's local time
    "round_sales_cny",  # sales whose order value is a round sum (see state.roundness)
    "claims",  # price-protection claims (refunds), counted; their money is refund_price_protection_cny
    "repeat_buyer_sales_cny",  # sales to a buyer among the store's last RECENT_BUYERS buyers
)
METRIC_INDEX: Final = {name: i for i, name in enumerate(WINDOW_METRICS)}
NO_METRICS: Final = (0.0,) * len(WINDOW_METRICS)
# Why the state refused an event (nothing of it was written).
REFUSALS: Final = ("late", "duplicate", "unknown_order")
# A store's SKU records are scanned for stale ones once they have doubled since the last scan.
SKUS_PRUNED_FROM: Final = 32
IDS_PRUNED_FROM: Final = 64
# The distinct buyers a store remembers, newest first: a sale to one of them is a repeat. A
# shop paid by a handful of accounts repeats on almost every sale; a shop with a clientele
# rarely does, loyal buyers and all, since eight buyers are a day's trade.
RECENT_BUYERS: Final = 8
_REPEAT_SALES: Final = WINDOW_METRICS.index("repeat_buyer_sales_cny")
_SALES: Final = WINDOW_METRICS.index("sales_cny")
# What a store has done since it was first seen, never forgotten: its own long-run pace, which
# a week-long window cannot give (a rented dormant shop's burst spread over three days is its
# own baseline within the window). Indexes into WINDOW_METRICS.
LIFETIME_METRICS: Final = ("sales_cny", "orders_placed")
_LIFETIME_INDEX: Final = tuple(WINDOW_METRICS.index(name) for name in LIFETIME_METRICS)
NO_LIFETIME: Final = (0.0,) * len(LIFETIME_METRICS)
BLOB_VERSION: Final = 4
# Pickled, read by _PlainUnpickler: 3 is version 4's content, 2 the same without lifetime totals.
OLDER_BLOB_VERSIONS: Final = (2, 3)


@dataclass(frozen=True, slots=True)
class WindowShape:
    """A window's length and buckets. Its ring keeps the allowed lateness on top of the window,
    so a late event's window is still whole. ``key`` names the shape in the saved state: a
    window retuned at run time starts afresh instead of misreading buckets of another size."""

    length_s: float
    buckets: int
    bucket_s: float
    ring: int
    key: str

    @classmethod
    def of(cls, length_s: float, buckets: int, lateness_s: float) -> WindowShape:
        bucket_s = length_s / buckets
        ring = buckets + math.ceil(lateness_s / bucket_s) + 1
        return cls(length_s, buckets, bucket_s, ring, f"{length_s:g}/{buckets}/{ring}")


@dataclass(frozen=True, slots=True)
class StateConfig:
    """What applying an event needs to know of the window settings."""

    shapes: tuple[WindowShape, ...]
    lateness_s: float
    longest_s: float  # the last shape's length, read by every event

    @classmethod
    def of(cls, lengths_s: list[float], buckets: int, lateness_s: float) -> StateConfig:
        shapes = tuple(WindowShape.of(length_s, buckets, lateness_s) for length_s in lengths_s)
        return cls(shapes, lateness_s, shapes[-1].length_s)


class Window:
    """A window's buckets by index (event time / bucket length), and the running sum of the
    buckets in (head - buckets, head], head being its newest bucket. Moving the head forward
    subtracts the buckets that fall out, so an in-order event reads its window in O(1)."""

    __slots__ = ("head", "running", "buckets")

    def __init__(
        self,
        head: int = -1,
        running: list[float] | None = None,
        buckets: dict[int, dict[int, float]] | None = None,
    ) -> None:
        self.head = head
        self.running = running if running is not None else list(NO_METRICS)
        self.buckets = buckets if buckets is not None else {}

    def add(self, shape: WindowShape, ts_s: float, deltas: dict[int, float]) -> tuple[float, ...]:
        """Count ``deltas`` at ``ts_s`` and return the window's sums ending at that time. A tuple:
        it outlives the event in its view, and the collector stops tracking a tuple of floats."""
        idx = int(ts_s // shape.bucket_s)
        head = self.head
        if idx == head:  # the newest bucket: most events of the longer windows (a month: 61%)
            running = self.running
            if deltas:
                bucket = self.buckets.get(idx)
                if bucket is None:
                    bucket = self._new_bucket(shape, idx)
                for m, delta in deltas.items():
                    bucket[m] = bucket.get(m, 0.0) + delta
                    running[m] += delta
            return tuple(running)
        n = shape.buckets
        if head < 0 or idx - head >= n:
            running = self.running = list(NO_METRICS)
            head = self.head = idx
        else:
            running = self.running
            if idx > head:
                buckets = self.buckets
                for old in range(head - n + 1, idx - n + 1):
                    bucket = buckets.get(old)
                    if bucket:
                        for m, value in bucket.items():
                            running[m] -= value
                head = self.head = idx
        if deltas and idx > head - shape.ring:  # older than the ring keeps: too late for any window
            bucket = self.buckets.get(idx)
            if bucket is None:
                bucket = self._new_bucket(shape, idx)
            if idx > head - n:  # within the window: counted in its running sums too
                for m, delta in deltas.items():
                    bucket[m] = bucket.get(m, 0.0) + delta
                    running[m] += delta
            else:
                for m, delta in deltas.items():
                    bucket[m] = bucket.get(m, 0.0) + delta
        if idx == head:
            return tuple(running)
        return self.sum_ending_at(shape, idx)

    def _new_bucket(self, shape: WindowShape, idx: int) -> dict[int, float]:
        bucket: dict[int, float] = {}
        self.buckets[idx] = bucket
        if len(self.buckets) > 2 * shape.ring:
            self.prune(shape)
        return bucket

    def sum_ending_at(self, shape: WindowShape, idx: int) -> tuple[float, ...]:
        """Sums of the buckets in (idx - buckets, idx] that the ring still keeps: the slow
        path, for an event older than the window's newest bucket (skew between topics)."""
        total = list(NO_METRICS)
        buckets = self.buckets
        for b in range(max(idx - shape.buckets, self.head - shape.ring) + 1, idx + 1):
            bucket = buckets.get(b)
            if bucket:
                for m, value in bucket.items():
                    total[m] += value
        return tuple(total)

    def prune(self, shape: WindowShape) -> None:
        """Forget the buckets older than the ring (never read again)."""
        oldest_kept = self.head - shape.ring
        for b in [b for b in self.buckets if b <= oldest_kept]:
            del self.buckets[b]


# The records made for every event (SkuSales, Applied, and state.StateUpdate and StoreView) are
# not frozen: a frozen dataclass sets each field through object.__setattr__, which made their
# construction cost more than the arithmetic of applying an event. Nothing writes them after.


@dataclass(slots=True)
class SkuSales:
    """A SKU's sales over the longest window, as of the event."""

    last_sale_ts_s: float
    highest_unit_price_cny: float
    units: float
    sales_cny: float


@dataclass(slots=True)
class Applied:
    """What one event found and left: the profile before it, its windows and SKU after it.

    ``profile`` is the store's own dict of that moment, shared and never written again (the
    store copies it before its next change); ``window_sums`` has the sums (indexed as
    WINDOW_METRICS) per configured window, in the order of the config's shapes."""

    refusal: str | None
    max_ts_s: float
    profile: dict[str, str]
    window_sums: list[tuple[float, ...]]
    sku: SkuSales | None
    lifetime: tuple[float, ...] = NO_LIFETIME  # LIFETIME_METRICS, the event included


class StoreState:
    """Everything the detectors remember of one store."""

    __slots__ = (
        "profile",
        "profile_shared",
        "profile_times",
        "max_ts_s",
        "stream_max_ts_s",
        "windows",
        "skus",
        "skus_pruned_size",
        "ids",
        "ids_pruned_size",
        "orders",
        "orders_pruned_size",
        "buyers",
        "lifetime",
        "window_list",
        "window_list_of",
    )

    def __init__(self) -> None:
        self.profile: dict[str, str] = {}
        # Copy on write: the profile dict was handed to a view (as the profile before its
        # event), so it is copied before it changes. Most events change nothing in it.
        self.profile_shared = False
        # The profile's event-time fields as numbers, parsed once from their saved text;
        # not saved, refilled as read.
        self.profile_times: dict[str, float] = {}
        self.max_ts_s = -1.0
        self.stream_max_ts_s: dict[str, float] = {}
        self.windows: dict[str, Window] = {}
        # sku -> [last sale ts, highest unit price, units, sales], over the longest window
        self.skus: dict[str, list[float]] = {}
        self.skus_pruned_size = SKUS_PRUNED_FROM
        # stream -> event id -> event time, kept for the allowed lateness
        self.ids: dict[str, dict[str, float]] = {}
        self.ids_pruned_size: dict[str, int] = {}
        # orders placed while the store is young: order id -> event time
        self.orders: dict[str, float] = {}
        self.orders_pruned_size = IDS_PRUNED_FROM
        self.buyers: list[str] = []  # the last RECENT_BUYERS distinct buyers, newest first
        self.lifetime: list[float] = list(NO_LIFETIME)  # LIFETIME_METRICS since first seen
        # self.windows in the order of the shapes of the config they were last looked up for
        # (one look-up per window a config, not per event); not saved
        self.window_list: list[tuple[WindowShape, Window]] = []
        self.window_list_of: StateConfig | None = None

    def apply(self, update: StateUpdate, config: StateConfig) -> Applied:
        """Apply one event, or refuse it and change nothing."""
        ts = update.ts_s
        stream = update.stream
        stream_max = self.stream_max_ts_s.get(stream, -1.0)
        # Late means behind newer events of the same store *on the same stream*: Kafka keeps
        # order within a partition only, so skew between the five topics is not lateness.
        if stream_max >= 0 and ts < stream_max - config.lateness_s:
            return Applied("late", stream_max, {}, [], None)
        ids = self.ids.get(stream)
        if ids is None:
            ids = self.ids[stream] = {}
        # Exactly one effect per event id; ids are kept as long as the stream would accept
        # the event, beyond which a copy is refused as late anyway.
        if update.event_id in ids:
            return Applied("duplicate", stream_max, {}, [], None)
        order_memory_s = config.longest_s
        first_ts = self._profile_time("first_ts")
        if first_ts is None:
            first_ts = ts
        if (
            update.refund_of_order_id
            and update.refund_of_order_id not in self.orders
            and self._order_is_unknown(ts, first_ts, order_memory_s, config.lateness_s)
        ):
            return Applied("unknown_order", stream_max, {}, [], None)

        before = self.profile
        self.profile_shared = True
        self._apply_profile(update)
        if ts > self.max_ts_s:
            self.max_ts_s = ts
        if stream_max < ts:
            self.stream_max_ts_s[stream] = ts
        deltas = update.deltas
        if update.placed_order_id and update.buyer:
            deltas = self._count_repeat(update.buyer, deltas)
        if self.window_list_of is not config:
            self._list_windows(config)
        sums = [window.add(shape, ts, deltas) for shape, window in self.window_list]
        lifetime = self.lifetime
        for position, index in enumerate(_LIFETIME_INDEX):
            if index in deltas:
                lifetime[position] += deltas[index]
        sku = self._apply_sku(update, order_memory_s) if update.sku else None
        if update.placed_order_id:
            self._remember_order(update.placed_order_id, ts, min(first_ts, ts), order_memory_s)
        ids[update.event_id] = ts
        if len(ids) > 2 * self.ids_pruned_size.get(stream, IDS_PRUNED_FROM):
            self._prune_ids(stream, config.lateness_s)
        return Applied(None, self.max_ts_s, before, sums, sku, tuple(lifetime))

    def _list_windows(self, config: StateConfig) -> None:
        windows = self.windows
        for shape in config.shapes:
            if shape.key not in windows:
                windows[shape.key] = Window()
        self.window_list = [(shape, windows[shape.key]) for shape in config.shapes]
        self.window_list_of = config

    def _count_repeat(self, buyer: str, deltas: dict[int, float]) -> dict[int, float]:
        """Note the buyer as the newest; a sale to a buyer already among the recent ones also
        counts as a repeat sale (a new dict: the update's deltas are not ours to change)."""
        buyers = self.buyers
        if buyer in buyers:
            buyers.remove(buyer)
            deltas = {**deltas, _REPEAT_SALES: deltas.get(_SALES, 0.0)}
        elif len(buyers) >= RECENT_BUYERS:
            buyers.pop()
        buyers.insert(0, buyer)
        return deltas

    def _order_is_unknown(
        self, ts: float, first_ts: float, order_memory_s: float, lateness_s: float
    ) -> bool:
        """A refund for an order this store never placed. Decided only where it can be: the
        store is younger than the order memory (so every order it placed is remembered), and
        its order stream has moved past the refund by more than the allowed lateness (so the
        order can no longer arrive in time). Otherwise the refund counts: it may have
        overtaken its order."""
        order_stream_ts = self.stream_max_ts_s.get("order", -1.0)
        return first_ts >= ts - order_memory_s and order_stream_ts > ts + lateness_s

    def _apply_profile(self, update: StateUpdate) -> None:
        """Keep the earliest ('<') or latest ('>') event time in each of the update's time
        fields, then set its other fields. The time is written as its repr, read back exactly."""
        ts = update.ts_s
        times = self.profile_times
        for keep, name in update.profile_times:
            old = times.get(name)
            if old is None:
                text = self.profile.get(name)
                if text is not None:
                    old = times[name] = float(text)
            if old is None or (ts < old if keep == "<" else ts > old):
                self._set_profile(name, repr(ts))
                times[name] = ts
        for name, value in update.profile_sets:
            self._set_profile(name, value)

    def _profile_time(self, name: str) -> float | None:
        """A time field of the profile as a number, None when the profile has none."""
        value = self.profile_times.get(name)
        if value is None:
            text = self.profile.get(name)
            if text is None:
                return None
            value = self.profile_times[name] = float(text)
        return value

    def _set_profile(self, name: str, value: str) -> None:
        """Write one profile field, copying the profile first if a view holds it."""
        if self.profile_shared:
            self.profile = dict(self.profile)
            self.profile_shared = False
        self.profile[name] = value
        self.profile_times.pop(name, None)

    def _apply_sku(self, update: StateUpdate, horizon_s: float) -> SkuSales | None:
        ts = update.ts_s
        record = self.skus.get(update.sku)
        if record is not None and record[0] < ts - horizon_s:
            record = None
        if update.sku_units > 0:
            price = update.sku_unit_price_cny
            if record is None:
                record = self.skus[update.sku] = [ts, 0.0, 0.0, 0.0]
                if len(self.skus) > 2 * self.skus_pruned_size:
                    self._prune_skus(ts - horizon_s)
            record[0] = max(record[0], ts)
            record[1] = max(record[1], price)
            record[2] += update.sku_units
            record[3] += price * update.sku_units
        return SkuSales(record[0], record[1], record[2], record[3]) if record is not None else None

    def _prune_skus(self, oldest_ts: float) -> None:
        """SKUs that sold nothing since ``oldest_ts`` are forgotten, so a store that keeps
        listing new SKUs stays bounded by the SKUs it sold within the longest window."""
        self.skus = {sku: rec for sku, rec in self.skus.items() if rec[0] >= oldest_ts}
        self.skus_pruned_size = max(SKUS_PRUNED_FROM, len(self.skus))

    def _remember_order(
        self, order_id: str, ts: float, first_ts: float, order_memory_s: float
    ) -> None:
        """Orders are remembered only while the store is younger than the order memory: past
        that the unknown-order check cannot be decided, so an established store keeps none."""
        if first_ts >= ts - order_memory_s:
            self.orders[order_id] = ts
            if len(self.orders) > 2 * self.orders_pruned_size:
                self.orders = {o: t for o, t in self.orders.items() if t >= ts - order_memory_s}
                self.orders_pruned_size = max(IDS_PRUNED_FROM, len(self.orders))
        elif self.orders:
            self.orders = {}

    def _prune_ids(self, stream: str, lateness_s: float) -> None:
        oldest = self.stream_max_ts_s.get(stream, 0.0) - lateness_s
        kept = {i: t for i, t in self.ids[stream].items() if t >= oldest}
        self.ids[stream] = kept
        self.ids_pruned_size[stream] = max(IDS_PRUNED_FROM, len(kept))

    def mark(self, fields: dict[str, str]) -> None:
        """Record an alert's marks (episode times, ring id) in the profile."""
        for name, value in fields.items():
            self._set_profile(name, value)

    # Saved form (version 4): one msgpack array, packed by msgspec in C (faster than pickle and
    # about half its size on a busy store: 1,964 against 3,683 B). Floats that are whole
    # numbers (counts, most prices) go as integers, 1 to 5 B instead of 9, and come back as
    # the same floats (the typed decoder turns them back); a zero keeps its float, so -0.0
    # stays -0.0. A bucket is filed under its distance from the window's head (one byte) and
    # a window's running sums keep only their non-zero metrics. Every value is read back
    # exactly: a store loaded from Redis decides as the one that stayed in memory.
    def to_blob(self, config: StateConfig) -> bytes:
        windows = {}
        for shape in config.shapes:
            window = self.windows.get(shape.key)
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
        for stream, seen in self.ids.items():  # ids arrive about in event time: oldest first
            if (
                seen
                and next(iter(seen.values())) < self.stream_max_ts_s[stream] - config.lateness_s
            ):
                self._prune_ids(stream, config.lateness_s)
        skus = {
            sku: [
                record[0],
                *[
                    int(v) if v and v.is_integer() and -_EXACT < v < _EXACT else v
                    for v in record[1:]
                ],
            ]
            for sku, record in self.skus.items()
        }
        return _ENCODER.encode(
            (
                BLOB_VERSION,
                self.profile,
                self.max_ts_s,
                self.stream_max_ts_s,
                windows,
                skus,
                self.ids,
                self.orders,
                self.buyers,
                self.lifetime,
            )
        )

    @classmethod
    def from_blob(cls, blob: bytes) -> StoreState:
        """A state saved by ``to_blob``, of this version or an older one (see
        OLDER_BLOB_VERSIONS). Raises ValueError for anything else."""
        if blob[:1] == b"\x80":  # a pickle's first opcode (PROTO): versions 2 and 3
            return cls._from_pickled(blob)
        try:
            saved = _DECODER.decode(blob)
        except msgspec.MsgspecError as exc:
            raise ValueError(f"store state unreadable as version {BLOB_VERSION}: {exc}") from exc
        if saved[0] != BLOB_VERSION:
            raise ValueError(f"store state of version {saved[0]}, expected {BLOB_VERSION}")
        state = cls()
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
        for key, (head, nonzero, buckets) in windows.items():
            running = list(NO_METRICS)
            for m, value in nonzero.items():
                running[m] = value
            state.windows[key] = Window(
                head, running, {head - back: bucket for back, bucket in buckets.items()}
            )
        state._size_prune_marks()
        return state

    @classmethod
    def _from_pickled(cls, blob: bytes) -> StoreState:
        saved = _PlainUnpickler(io.BytesIO(blob)).load()
        if not isinstance(saved, tuple) or not saved or saved[0] not in OLDER_BLOB_VERSIONS:
            raise ValueError(f"store state of another version, expected {BLOB_VERSION}")
        state = cls()
        if saved[0] == 2:  # version 2: the same as 3, without lifetime totals
            saved = (*saved, list(NO_LIFETIME))
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
        for key, (head, running, buckets) in windows.items():
            state.windows[key] = Window(head, running, buckets)
        state._size_prune_marks()
        return state

    def _size_prune_marks(self) -> None:
        self.skus_pruned_size = max(SKUS_PRUNED_FROM, len(self.skus) // 2)
        self.orders_pruned_size = max(IDS_PRUNED_FROM, len(self.orders) // 2)
        self.ids_pruned_size = {
            stream: max(IDS_PRUNED_FROM, len(ids) // 2) for stream, ids in self.ids.items()
        }


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
