"""Per-store state in Redis: the store's profile, sliding windows and recent SKU sales.

Every event costs one Lua call (``apply_event.lua``) that writes its contribution and reads back
what the detectors need, so there is one round trip per event, or one per batch when
``apply_many`` pipelines them. All of a store's keys share the hash tag ``{store_id}``, so each
call touches a single Redis Cluster slot. Memory is bounded: each window is a ring of
``buckets_per_window`` buckets (plus the allowed lateness) with a running sum, SKU records are forgotten after the longest window, and every
key of a store expires after ``idle_store_ttl_s`` without events.

Windows are keyed by event time, so a late event lands in its own bucket; a window sum is
exact to one bucket (window length / buckets per window) at its old end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Protocol

import redis.asyncio as redis_asyncio
import redis.exceptions

from stream.config import WindowSettings, format_duration
from stream.events import Event

KEY_PREFIX: Final = "sw:v1"

# What every window counts, in the order the Lua script stores them.
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
)
_METRIC_INDEX: Final = {name: i for i, name in enumerate(WINDOW_METRICS)}


def store_keys(store_id: str, namespace: str = KEY_PREFIX) -> tuple[str, str, str]:
    """Profile, window and SKU keys of a store; the braces make them one Cluster slot.

    >>> store_keys("s42")
    ('sw:v1:{s42}:profile', 'sw:v1:{s42}:windows', 'sw:v1:{s42}:skus')
    """
    base = f"{namespace}:{{{store_id}}}"
    return f"{base}:profile", f"{base}:windows", f"{base}:skus"


@dataclass(frozen=True, slots=True)
class SkuSales:
    """A SKU's sales over the longest window, as of the event."""

    last_sale_ts_s: float
    highest_unit_price_cny: float
    units: float
    sales_cny: float


@dataclass(frozen=True, slots=True)
class StoreView:
    """What the state knew of a store when one of its events was applied.

    ``profile`` is as it was *before* the event (so "time since the last withdrawal" means the
    previous one); ``windows`` and ``sku`` already include the event.
    """

    late: bool
    max_ts_s: float
    profile: dict[str, str]
    windows: dict[float, dict[str, float]]
    sku: SkuSales | None

    def profile_float(self, name: str) -> float | None:
        value = self.profile.get(name)
        return float(value) if value is not None else None

    def window(self, length_s: float) -> dict[str, float]:
        return self.windows[length_s]


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """One event's effect on its store's state, as arguments of the Lua script."""

    store_id: str
    stream: str
    ts_s: float
    deltas: dict[str, float]
    profile_ops: list[tuple[str, str]]
    sku: str = ""
    sku_unit_price_cny: float = 0.0
    sku_units: int = 0


def update_for(event: Event) -> StateUpdate:
    """What an event adds to its store's windows and profile.

    Every count is keyed by the event's own time and needs no earlier event of the same order,
    so arrival order never changes what a window holds (a refund or a delivery seen before its
    order counts all the same).
    """
    f = event.fields
    ts = repr(event.ts_s)
    ops: list[tuple[str, str]] = [("<first_ts", ts)]
    deltas: dict[str, float] = {}
    sku, price, units = "", 0.0, 0
    if event.type == "store":
        ops += [("=opened_ts", ts), ("=deposit", repr(f["deposit"])),
                ("=bank_account", f["bank_account"]), ("=owner_id", f["owner_id"]),
                ("=category", f["category"])]
    elif event.type == "order":
        value_cny = f["unit_price"] * f["quantity"]
        status = f["status"]
        if status == "placed":
            deltas = {"sales_cny": value_cny, "orders_placed": 1}
            ops += [(">last_sale_ts", ts), ("<first_sale_ts", ts)]
            sku, price, units = f["sku"], f["unit_price"], f["quantity"]
        elif status == "cancelled":
            deltas = {"cancelled_cny": value_cny}
        elif status == "shipped":
            deltas = {"orders_shipped": 1}
        else:
            deltas = {"orders_delivered": 1}
    elif event.type == "price":
        sku = f["sku"]
        if f["new_price"] < f["old_price"]:
            deltas = {"price_cuts": 1}
            ops += [(">last_price_cut_ts", ts)]
    elif event.type == "refund":
        deltas = {f"refund_{f['reason']}_cny": f["amount"]}
    elif event.type == "withdrawal":
        deltas = {"withdrawn_cny": f["amount"], "withdrawals": 1}
        ops += [(">last_withdrawal_ts", ts)]
    return StateUpdate(event.store_id, event.type, event.ts_s, deltas, ops, sku, price, units)


class StateUnavailableError(RuntimeError):
    """Redis could not be reached or answered with a connection error; the event may be
    retried. (Transport shells catch this instead of importing redis themselves.)"""


class StateStore(Protocol):
    """Where per-store state lives; the engine depends on this, not on Redis."""

    async def apply(self, update: StateUpdate) -> StoreView: ...

    async def apply_many(self, updates: list[StateUpdate]) -> list[StoreView]: ...

    def reconfigure(self, windows: WindowSettings) -> None: ...


class RedisStateStore:
    """StateStore on Redis (single node or Cluster) through one Lua script per event."""

    def __init__(self, client: Any, windows: WindowSettings, namespace: str = KEY_PREFIX) -> None:
        self._client = client
        self._namespace = namespace
        self.reconfigure(windows)
        self._script = client.register_script(
            resources.files("stream").joinpath("apply_event.lua").read_text()
        )

    def reconfigure(self, windows: WindowSettings) -> None:
        """Use new window settings from the next event on (runtime tuning). A window whose
        length, bucket count or ring size changed starts empty and fills over its length."""
        self._windows = windows
        self._lengths_s = list(windows.lengths_s)
        self._conf = json.dumps({
            "lateness_s": windows.allowed_lateness_s,
            "ttl_s": int(windows.idle_store_ttl_s),
            "buckets": windows.buckets_per_window,
            "metrics": len(WINDOW_METRICS),
            "lengths_s": self._lengths_s,
        })

    @classmethod
    def from_url(cls, url: str, windows: WindowSettings, namespace: str = KEY_PREFIX) -> RedisStateStore:
        return cls(redis_asyncio.Redis.from_url(url, decode_responses=True), windows, namespace)

    @property
    def window_names(self) -> dict[float, str]:
        return {length_s: format_duration(length_s) for length_s in self._lengths_s}

    def _args(self, update: StateUpdate) -> tuple[list[str], list[str]]:
        payload = json.dumps({
            "ts": update.ts_s,
            "stream": update.stream,
            "deltas": {str(_METRIC_INDEX[name]): float(delta) for name, delta in update.deltas.items()},
            "ops": update.profile_ops,
            "sku": update.sku,
            "price": update.sku_unit_price_cny,
            "units": update.sku_units,
        }, separators=(",", ":"))
        return list(store_keys(update.store_id, self._namespace)), [self._conf, payload]

    def _view(self, reply: str) -> StoreView:
        data = json.loads(reply)
        if "late" in data:
            return StoreView(True, float(data["late"]), {}, {}, None)
        windows = {length_s: dict(zip(WINDOW_METRICS, sums, strict=True))
                   for length_s, sums in zip(self._lengths_s, data["windows"], strict=True)}
        sku = SkuSales(*map(float, data["sku"].split(","))) if data["sku"] else None
        # cjson encodes an empty Lua table as {} and a profile is never a list
        profile = {k: str(v) for k, v in data["profile"].items()} if data["profile"] else {}
        return StoreView(False, float(data["max_ts"]), profile, windows, sku)

    async def apply(self, update: StateUpdate) -> StoreView:
        return (await self.apply_many([update]))[0]

    async def apply_many(self, updates: list[StateUpdate]) -> list[StoreView]:
        """Apply updates in order in one pipeline; each view sees the updates before it."""
        if not updates:
            return []
        try:
            if len(updates) == 1:
                keys, args = self._args(updates[0])
                return [self._view(await self._script(keys=keys, args=args))]
            pipe = self._client.pipeline(transaction=False)
            for update in updates:
                keys, args = self._args(update)
                await self._script(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc
        return [self._view(reply) for reply in replies]

    async def tracked_stores(self) -> int:
        """How many stores have state (scans; for tests, reports and gauges, not the hot path)."""
        count = 0
        try:
            async for _ in self._client.scan_iter(match=f"{self._namespace}:*:profile", count=1000):
                count += 1
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc
        return count

    async def drop_all(self) -> int:
        """Delete every key of this store's namespace (fresh state for a replay run)."""
        deleted = 0
        async for key in self._client.scan_iter(match=f"{self._namespace}:*", count=1000):
            deleted += await self._client.unlink(key)
        return deleted

    async def ping(self) -> None:
        """Raise StateUnavailableError unless Redis answers (for health at start-up)."""
        try:
            await self._client.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc

    async def close(self) -> None:
        await self._client.aclose()
