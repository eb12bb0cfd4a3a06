"""One store's state in plain Python: its profile, sliding windows, recent SKU sales, the event
ids it has seen. Applying an event is arithmetic on this object; no I/O.

The worker that owns a store's partitions is the only one that writes it (every input topic is
keyed by store id and co-partitioned), so the state can live in the worker's memory and go to
Redis once per save as one value, packed with msgpack (see ``store_blob`` and
``state.RedisStateStore``). Memory is
bounded: each window keeps the buckets of its length plus the allowed lateness, SKU records
are forgotten after the longest window, event ids after the allowed lateness, orders once the
store is established.

Windows are keyed by event time, so a late event lands in its own bucket; a window sum is
exact to one bucket (window length / buckets per window) at its old end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from stream.core import store_blob
from stream.core.updates import StateUpdate
from stream.core.windows import (
    LIFETIME_METRICS,
    NO_LIFETIME,
    WINDOW_METRICS,
    StateConfig,
    Window,
    WindowShape,
)

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
_LIFETIME_INDEX: Final = tuple(WINDOW_METRICS.index(name) for name in LIFETIME_METRICS)


# The records made for every event (SkuSales, Applied, and updates.StateUpdate and StoreView) are
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

    def to_blob(self, config: StateConfig) -> bytes:
        """The state in its saved form (``store_blob``), its stale event ids pruned first."""
        for stream, seen in self.ids.items():  # ids arrive about in event time: oldest first
            if (
                seen
                and next(iter(seen.values())) < self.stream_max_ts_s[stream] - config.lateness_s
            ):
                self._prune_ids(stream, config.lateness_s)
        return store_blob.encode(self, config)

    @classmethod
    def from_blob(cls, blob: bytes) -> StoreState:
        """A state saved by ``to_blob``, of this version or an older one (see
        ``store_blob.OLDER_BLOB_VERSIONS``). Raises ValueError for anything else."""
        state = store_blob.decode(blob, cls())
        state._size_prune_marks()
        return state

    def _size_prune_marks(self) -> None:
        self.skus_pruned_size = max(SKUS_PRUNED_FROM, len(self.skus) // 2)
        self.orders_pruned_size = max(IDS_PRUNED_FROM, len(self.orders) // 2)
        self.ids_pruned_size = {
            stream: max(IDS_PRUNED_FROM, len(ids) // 2) for stream, ids in self.ids.items()
        }
