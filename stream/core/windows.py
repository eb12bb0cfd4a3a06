"""What a store's windows count (the metrics) and the sliding windows that count them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

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
    "round_sales_cny",  # sales whose order value is a round sum (see updates.roundness)
    "claims",  # price-protection claims (refunds), counted; their money is refund_price_protection_cny
    "repeat_buyer_sales_cny",  # sales to a buyer among the store's last RECENT_BUYERS buyers
)
METRIC_INDEX: Final = {name: i for i, name in enumerate(WINDOW_METRICS)}
NO_METRICS: Final = (0.0,) * len(WINDOW_METRICS)
# What a store has done since it was first seen, never forgotten: its own long-run pace, which
# a week-long window cannot give (a rented dormant shop's burst spread over three days is its
# own baseline within the window). Indexes into WINDOW_METRICS.
LIFETIME_METRICS: Final = ("sales_cny", "orders_placed")
NO_LIFETIME: Final = (0.0,) * len(LIFETIME_METRICS)


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
