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

import base64
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Final, Protocol

import redis.asyncio as redis_asyncio
import redis.exceptions
from redis.asyncio.cluster import RedisCluster

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


def event_keys(store_id: str, stream: str, namespace: str = KEY_PREFIX) -> list[str]:
    """Every key one event's Lua call touches, in the script's KEYS order: the store's keys,
    the event ids seen on its stream, the views awaiting a decision, the orders it placed.

    >>> event_keys("s42", "refund")[3:]
    ['sw:v1:{s42}:ids:refund', 'sw:v1:{s42}:pending', 'sw:v1:{s42}:orders']
    """
    base = f"{namespace}:{{{store_id}}}"
    return [*store_keys(store_id, namespace), f"{base}:ids:{stream}",
            pending_key(store_id, namespace), f"{base}:orders"]


def pending_key(store_id: str, namespace: str = KEY_PREFIX) -> str:
    """The store's views awaiting a decision (event id -> the view it was applied with)."""
    return f"{namespace}:{{{store_id}}}:pending"


@dataclass(frozen=True, slots=True)
class SkuSales:
    """A SKU's sales over the longest window, as of the event."""

    last_sale_ts_s: float
    highest_unit_price_cny: float
    units: float
    sales_cny: float


# Cross-store facts: what links stores, how many members a fact keeps, how long it lives.
FACT_KINDS: Final = {
    "bank": "bank account",  # member: store id, value: its owner ('' when not registered)
    "trk": "tracking number",  # member: order id, value: its store
    "claim": "price-protection claimant",  # member: store id, value: ''
}
# How many members a fact keeps and how long it lives: windows.fact_cap and fact_ttl_s.
RING_FIELD: Final = "~ring"
MARKS_KEPT: Final = 100_000


def fact_key(kind: str, value: str, namespace: str = KEY_PREFIX) -> str:
    """The key of one cross-store fact; the braces give each fact its own Cluster slot.

    >>> fact_key("bank", "6222-01")
    'sw:v1:fact:bank:{6222-01}'
    """
    return f"{namespace}:fact:{kind}:{{{value}}}"


@dataclass(frozen=True, slots=True)
class Fact:
    """One event's touch of a cross-store fact: ``member`` (with ``value``) joins ``kind:value``."""

    kind: str
    value: str
    member: str
    member_value: str = ""


@dataclass(frozen=True, slots=True)
class FactLinks:
    """Who else touched a fact, as of the event (the event's own touch included)."""

    kind: str
    value: str
    members: dict[str, str]
    ring_id: str | None = None

    def other_stores(self, store_id: str) -> set[str]:
        """Stores other than ``store_id`` that share this fact."""
        if self.kind == "trk":
            return {store for store in self.members.values() if store and store != store_id}
        return {member for member in self.members if member != store_id}


# Why the state refused an event (nothing of it was written).
REFUSALS: Final = ("late", "duplicate", "unknown_order")


@dataclass(frozen=True, slots=True)
class StoreView:
    """What the state knew of a store when one of its events was applied.

    ``profile`` is as it was *before* the event (so "time since the last withdrawal" means the
    previous one); ``windows`` and ``sku`` already include the event. ``refusal`` names why
    the event was not applied (one of REFUSALS), and ``redo`` marks the saved view of an event
    applied earlier whose decision never finished (a crash), to be decided again.
    """

    refusal: str | None
    max_ts_s: float
    profile: dict[str, str]
    windows: dict[float, dict[str, float]]
    sku: SkuSales | None
    links: dict[str, FactLinks] = field(default_factory=dict)
    redo: bool = False

    @property
    def late(self) -> bool:
        return self.refusal == "late"

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
    facts: tuple[Fact, ...] = ()
    event_id: str = ""
    placed_order_id: str = ""
    refund_of_order_id: str = ""
    keep_view: bool = False


def update_for(event: Event, keep_view: bool = False) -> StateUpdate:
    """What an event adds to its store's windows and profile. ``keep_view``: save the view
    until ``decided`` is called, so a crash before the decision can be redone.

    Every count is keyed by the event's own time and needs no earlier event of the same order,
    so arrival order never changes what a window holds (a refund or a delivery seen before its
    order counts all the same).
    """
    f = event.fields
    ts = repr(event.ts_s)
    ops: list[tuple[str, str]] = [("<first_ts", ts)]
    if event.type != "store":
        # when the stream first saw the store at work: "quiet all week" needs a week of watching
        ops.append(("<first_activity_ts", ts))
    deltas: dict[str, float] = {}
    sku, price, units = "", 0.0, 0
    facts: tuple[Fact, ...] = ()
    placed = refund_of = ""
    if event.type == "store":
        ops += [("=opened_ts", ts), ("=deposit", repr(f["deposit"])),
                ("=bank_account", f["bank_account"]), ("=owner_id", f["owner_id"]),
                ("=category", f["category"])]
        facts = (Fact("bank", f["bank_account"], event.store_id, f["owner_id"]),)
    elif event.type == "order":
        value_cny = f["unit_price"] * f["quantity"]
        status = f["status"]
        if status == "placed":
            deltas = {"sales_cny": value_cny, "orders_placed": 1}
            ops += [(">last_sale_ts", ts), ("<first_sale_ts", ts)]
            sku, price, units = f["sku"], f["unit_price"], f["quantity"]
            placed = f["order_id"]
        elif status == "cancelled":
            deltas = {"cancelled_cny": value_cny}
        elif status == "shipped":
            deltas = {"orders_shipped": 1}
        else:
            deltas = {"orders_delivered": 1}
        if f.get("tracking_no"):
            facts = (Fact("trk", f["tracking_no"], f["order_id"], event.store_id),)
    elif event.type == "price":
        sku = f["sku"]
        if f["new_price"] < f["old_price"]:
            deltas = {"price_cuts": 1}
            ops += [(">last_price_cut_ts", ts)]
    elif event.type == "refund":
        deltas = {f"refund_{f['reason']}_cny": f["amount"]}
        refund_of = f["order_id"]
        if f["reason"] == "price_protection":
            facts = (Fact("claim", f["buyer_id"], event.store_id),)
    elif event.type == "withdrawal":
        deltas = {"withdrawn_cny": f["amount"], "withdrawals": 1}
        # first use of each payout account: "never used before" and rotation across accounts
        ops += [(">last_withdrawal_ts", ts), (f"<acct:{f['bank_account']}", ts)]
        facts = (Fact("bank", f["bank_account"], event.store_id),)
    return StateUpdate(event.store_id, event.type, event.ts_s, deltas, ops, sku, price, units,
                       facts, event.event_id, placed, refund_of, keep_view)


class StateUnavailableError(RuntimeError):
    """Redis could not be reached or answered with a connection error; the event may be
    retried. (Transport shells catch this instead of importing redis themselves.)"""


class StateStore(Protocol):
    """Where per-store state lives; the engine depends on this, not on Redis."""

    async def apply(self, update: StateUpdate) -> StoreView: ...

    async def apply_many(self, updates: list[StateUpdate]) -> list[StoreView]: ...

    async def decided(self, updates: Sequence[StateUpdate]) -> None: ...

    def reconfigure(self, windows: WindowSettings) -> None: ...

    def current(self, view: StoreView, store_id: str) -> StoreView: ...

    async def mark_alert(self, store_id: str, detector: str, ts_s: float, ring_id: str,
                         facts: list[FactLinks]) -> set[str]: ...

    async def tie_facts(self, ring_id: str, facts: list[FactLinks]) -> None: ...


CLUSTER_SCHEMES: Final = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def redis_client(url: str, **options: Any) -> Any:
    """A redis.asyncio client for ``url``: ``redis://`` or ``rediss://`` (TLS) for one server,
    ``redis+cluster://`` or ``rediss+cluster://`` for a Redis Cluster (any node's address;
    the client discovers the others). ``options`` (password, ssl_ca_certs, ...) go to the
    client; values in the URL win over them, as redis-py does."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in CLUSTER_SCHEMES:
        return RedisCluster.from_url(f"{CLUSTER_SCHEMES[scheme]}://{rest}",
                                     decode_responses=True, **options)
    return redis_asyncio.Redis.from_url(url, decode_responses=True, **options)


class _ClusterPipeline:
    """A non-transactional RedisCluster pipeline that also runs registered scripts.

    redis-py blocks ``evalsha`` on cluster pipelines (it cannot load a missing script on the
    right node mid-pipeline), so this queues EVALSHA as a raw command, which the cluster
    pipeline routes by its keys like any other: every script call here has all its keys in
    one slot. A node that does not know a script answers NOSCRIPT for that command alone; the
    scripts are then loaded on every primary and the failed commands re-run, in their order
    (they all went to the nodes that lacked the script, so no command of theirs had run).
    """

    def __init__(self, cluster: RedisCluster, scripts: list[Any]) -> None:
        self._cluster = cluster
        self._scripts = scripts
        self._queued: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> _ClusterPipeline:
        self._queued.append(("execute_command", ("EVALSHA", sha, numkeys, *keys_and_args), {}))
        return self

    def __getattr__(self, name: str) -> Any:
        def queue(*args: Any, **kwargs: Any) -> _ClusterPipeline:
            self._queued.append((name, args, kwargs))
            return self
        return queue

    async def _run(self, commands: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
        pipe = self._cluster.pipeline()
        for name, args, kwargs in commands:
            getattr(pipe, name)(*args, **kwargs)
        return list(await pipe.execute(raise_on_error=False))

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        results = await self._run(self._queued)
        missing = [i for i, r in enumerate(results) if isinstance(r, redis.exceptions.NoScriptError)]
        if missing:
            for script in self._scripts:
                await self._cluster.script_load(script.script)  # every primary
            for i, result in zip(missing, await self._run([self._queued[i] for i in missing]),
                                 strict=True):
                results[i] = result
        self._queued = []
        errors = [r for r in results if isinstance(r, Exception)]
        if raise_on_error and errors:
            raise errors[0]
        return results


class _ClusterClient:
    """A RedisCluster whose ``pipeline()`` runs registered scripts (see _ClusterPipeline)."""

    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        self._scripts: list[Any] = []

    def register_script(self, text: str) -> Any:
        script = self._cluster.register_script(text)
        self._scripts.append(script)
        return script

    def pipeline(self, transaction: bool = False) -> _ClusterPipeline:
        if transaction:
            raise ValueError("a transaction cannot span the slots of a Redis Cluster")
        return _ClusterPipeline(self._cluster, self._scripts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster, name)


class RedisStateStore:
    """StateStore on Redis (single node or Cluster) through one Lua script per event."""

    def __init__(self, client: Any, windows: WindowSettings, namespace: str = KEY_PREFIX) -> None:
        if isinstance(client, RedisCluster):
            client = _ClusterClient(client)
        self._client = client
        self._namespace = namespace
        self.reconfigure(windows)
        self._script = client.register_script(
            resources.files("stream").joinpath("apply_event.lua").read_text()
        )
        self._link = client.register_script(
            resources.files("stream").joinpath("link_fact.lua").read_text()
        )
        # Alert marks this process wrote, so events already read in the same pipelined batch
        # see them as one-by-one processing would (Redis holds them for other workers).
        self._marks: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._fact_rings: OrderedDict[str, str] = OrderedDict()

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
        self._fact_cap = windows.fact_cap
        self._fact_ttl_s = int(windows.fact_ttl_s)

    @classmethod
    def from_url(cls, url: str, windows: WindowSettings, namespace: str = KEY_PREFIX,
                 **options: Any) -> RedisStateStore:
        """A store on ``url`` (see ``redis_client`` for the schemes and ``options``)."""
        return cls(redis_client(url, **options), windows, namespace)

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
            "id": update.event_id,
            "keep": 1 if update.keep_view else 0,
            "placed": update.placed_order_id,
            "refund_of": update.refund_of_order_id,
        }, separators=(",", ":"))
        return event_keys(update.store_id, update.stream, self._namespace), [self._conf, payload]

    def _view(self, reply: str) -> StoreView:
        data = json.loads(reply)
        if "max_ts" not in data:
            refusal = next(reason for reason in REFUSALS if reason in data)
            return StoreView(refusal, float(data.get("late", 0.0)), {}, {}, None)
        windows = {length_s: dict(zip(WINDOW_METRICS, sums, strict=True))
                   for length_s, sums in zip(self._lengths_s, data["windows"], strict=True)}
        sku = SkuSales(*map(float, data["sku"].split(","))) if data["sku"] else None
        # cjson encodes an empty Lua table as {} and a profile is never a list
        profile = {k: str(v) for k, v in data["profile"].items()} if data["profile"] else {}
        return StoreView(None, float(data["max_ts"]), profile, windows, sku,
                         redo=bool(data.get("redo")))

    @staticmethod
    def _links(facts: tuple[Fact, ...], fact_replies: Sequence[str]) -> dict[str, FactLinks]:
        links = {}
        for fact, fact_reply in zip(facts, fact_replies, strict=True):
            members = json.loads(fact_reply) if fact_reply else {}
            members = members if isinstance(members, dict) else {}
            ring_id = members.pop(RING_FIELD, None)
            links[fact.kind] = FactLinks(fact.kind, fact.value, members, ring_id)
        return links

    def current(self, view: StoreView, store_id: str) -> StoreView:
        """``view`` with the alert marks and ring ids written since it was read."""
        marks = self._marks.get(store_id)
        rings = {kind: self._fact_rings.get(fact_key(kind, link.value, self._namespace))
                 for kind, link in view.links.items()}
        if not marks and not any(rings.values()):
            return view
        links = {kind: replace(link, ring_id=link.ring_id or rings[kind])
                 for kind, link in view.links.items()}
        return replace(view, profile={**view.profile, **(marks or {})}, links=links)

    async def mark_alert(self, store_id: str, detector: str, ts_s: float, ring_id: str,
                         facts: list[FactLinks]) -> set[str]:
        """Remember an alert and return the stores of its ring (this one included).

        The alert's time goes to the store's profile (episodes survive restarts and are shared
        by workers), its ring id to the profile and to the facts the event touched (a later
        store touching one of them learns it joins a known ring), the store to the ring's
        member set. Single-slot commands in one pipeline; one per alert, so rare."""
        fields = {f"alerted:{detector}": repr(ts_s), "ring_id": ring_id}
        profile_key = store_keys(store_id, self._namespace)[0]
        marks = self._marks.setdefault(store_id, {})
        marks.update(fields)
        self._marks.move_to_end(store_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.hset(profile_key, mapping=fields)
        await self._link(keys=[fact_key("ring", ring_id, self._namespace)],
                         args=[store_id, "", self._fact_cap, self._fact_ttl_s], client=pipe)
        self._tie(pipe, ring_id, facts)
        try:
            replies = await pipe.execute()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc
        members = json.loads(replies[1]) if replies[1] else {}
        return {m for m in (members if isinstance(members, dict) else {}) if m != RING_FIELD}

    async def tie_facts(self, ring_id: str, facts: list[FactLinks]) -> None:
        """Mark facts a store of ``ring_id`` touched after its alert with the ring's id."""
        pipe = self._client.pipeline(transaction=False)
        self._tie(pipe, ring_id, facts)
        try:
            await pipe.execute()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc

    def _tie(self, pipe: Any, ring_id: str, facts: list[FactLinks]) -> None:
        for link in facts:
            key = fact_key(link.kind, link.value, self._namespace)
            self._fact_rings[key] = ring_id
            self._fact_rings.move_to_end(key)
            pipe.hset(key, RING_FIELD, ring_id)
            pipe.expire(key, self._fact_ttl_s)  # the fact may have expired since it was read
        while len(self._marks) > MARKS_KEPT:
            self._marks.popitem(last=False)
        while len(self._fact_rings) > MARKS_KEPT:
            self._fact_rings.popitem(last=False)

    async def apply(self, update: StateUpdate) -> StoreView:
        return (await self.apply_many([update]))[0]

    async def apply_many(self, updates: list[StateUpdate]) -> list[StoreView]:
        """Apply updates in order in one pipeline; each view sees the updates before it.

        The cross-store facts of the events the stores accepted follow in a second pipeline
        (a refused event must leave no trace), so a batch costs two round trips at most."""
        if not updates:
            return []
        try:
            if len(updates) == 1:
                keys, args = self._args(updates[0])
                replies = [await self._script(keys=keys, args=args)]
            else:
                pipe = self._client.pipeline(transaction=False)
                for update in updates:
                    keys, args = self._args(update)
                    await self._script(keys=keys, args=args, client=pipe)
                replies = await pipe.execute()
            views = [self._view(reply) for reply in replies]
            linking = [(i, update) for i, (update, view) in enumerate(zip(updates, views))
                       if update.facts and view.refusal is None]
            if linking:
                pipe = self._client.pipeline(transaction=False)
                for _, update in linking:
                    for fact in update.facts:
                        await self._link(keys=[fact_key(fact.kind, fact.value, self._namespace)],
                                         args=[fact.member, fact.member_value,
                                               self._fact_cap, self._fact_ttl_s], client=pipe)
                fact_replies = iter(await pipe.execute())
                for i, update in linking:
                    links = self._links(update.facts, [next(fact_replies) for _ in update.facts])
                    views[i] = replace(views[i], links=links)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc
        return views

    async def decided(self, updates: Sequence[StateUpdate]) -> None:
        """Forget the saved views of events whose decision (and alerts) are done: one
        pipelined HDEL per store, one round trip per batch."""
        done: dict[str, list[str]] = {}
        for update in updates:
            if update.keep_view:
                done.setdefault(update.store_id, []).append(update.event_id)
        if not done:
            return
        pipe = self._client.pipeline(transaction=False)
        for store_id, event_ids in done.items():
            pipe.hdel(pending_key(store_id, self._namespace), *event_ids)
        try:
            await pipe.execute()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc

    def models_key(self, app_id: str) -> str:
        """The hash of an app's model snapshots, one field per detector (its own slot)."""
        return f"{self._namespace}:models:{{{app_id}}}"

    async def save_models(self, app_id: str, snapshots: dict[str, bytes]) -> None:
        """Store model snapshots (base64: the client decodes replies as text). Every worker
        of an app writes the same key: they learn the same population, so a worker that
        starts resumes from whichever saved last."""
        if not snapshots:
            return
        encoded = {name: base64.b64encode(blob).decode() for name, blob in snapshots.items()}
        try:
            await self._client.hset(self.models_key(app_id), mapping=encoded)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc

    async def load_models(self, app_id: str) -> dict[str, bytes]:
        try:
            encoded = await self._client.hgetall(self.models_key(app_id))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc
        return {name: base64.b64decode(text) for name, text in encoded.items()}

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
        keys = [key async for key in self._client.scan_iter(match=f"{self._namespace}:*",
                                                               count=1000)]
        deleted = 0
        for start in range(0, len(keys), 1000):  # one round trip per thousand keys
            pipe = self._client.pipeline(transaction=False)
            for key in keys[start:start + 1000]:
                # one key a command, sent raw: a Cluster pipeline routes it by its key, where
                # its own unlink() would split keys across slots and run at once
                pipe.execute_command("UNLINK", key)
            deleted += sum(await pipe.execute())
        return deleted

    async def ping(self) -> None:
        """Raise StateUnavailableError unless Redis answers (for health at start-up)."""
        try:
            await self._client.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StateUnavailableError(f"Redis unavailable: {exc}") from exc

    async def close(self) -> None:
        await self._client.aclose()
