"""Per-store state: kept in the memory of the worker that owns the store, saved to Redis.

Every input topic is keyed by store id and the topics are co-partitioned, so one worker at a
time sees all of a store's events: it keeps the store's ``StoreState`` (profile, windows, SKU
sales, event ids) in memory, applies each event in Python, and at the end of every batch,
after the batch's alerts were published and before its offsets are committed, writes each
store the batches changed to Redis as one value (``commit``). Redis is the durable copy: a store is read from it the first time a worker meets it
(after a start or a rebalance), so a crash redelivers the events after the last commit to a
worker that decides them again on the same state, with the same alert ids. Every Redis step
can be repeated after a failure, so a Redis outage only holds the worker where it is.

Cross-store facts (accounts, tracking numbers, claimants, rings) link stores of different
workers, so they stay in Redis (``stream.core.facts``): a batch costs two round trips at most (read
the stores it meets for the first time, link its facts), and a commit one.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import pickle
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

import redis.asyncio as redis_asyncio
import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from stream.config import WindowSettings
from stream.core.facts import FACT_KINDS, KEY_PREFIX, Fact, FactIndex, FactLinks, fact_key
from stream.core.records import Event
from stream.core.store_state import (
    METRIC_INDEX,
    REFUSALS,
    WINDOW_METRICS,
    SkuSales,
    StateConfig,
    StoreState,
)
from stream.core.store_view import (  # pure: re-exported here for every import
    StoreView,
    WindowSums,
    with_marks,
)

__all__ = [
    "FACT_KINDS",
    "KEY_PREFIX",
    "REFUSALS",
    "WINDOW_METRICS",
    "Fact",
    "FactLinks",
    "RedisStateStore",
    "SkuSales",
    "StateStore",
    "StateUnavailableError",
    "StateUpdate",
    "StoreView",
    "WindowSums",
    "fact_key",
    "redis_client",
    "state_key",
    "update_for",
]

log = logging.getLogger(__name__)


def state_key(store_id: str, namespace: str = KEY_PREFIX) -> str:
    """The Redis key of a store's saved state; the braces name its Cluster slot.

    >>> state_key("s42")
    'sw:v1:{s42}:state'
    """
    return f"{namespace}:{{{store_id}}}:state"


@dataclass(slots=True)  # not frozen, as the state's records (see store_state.Applied): read-only
class StateUpdate:
    """One event's effect on its store's state.

    ``deltas`` are keyed by the metric's index in WINDOW_METRICS. ``profile_times`` are
    (op, field) pairs that keep the event's time in the field: op '<' the earliest, '>' the
    latest; ``profile_sets`` (field, value) pairs set the field. Both apply in their order."""

    store_id: str
    stream: str
    ts_s: float
    deltas: dict[int, float]
    profile_times: tuple[tuple[str, str], ...]
    profile_sets: tuple[tuple[str, str], ...] = ()
    sku: str = ""
    sku_unit_price_cny: float = 0.0
    sku_units: int = 0
    facts: tuple[Fact, ...] = ()
    event_id: str = ""
    placed_order_id: str = ""
    refund_of_order_id: str = ""
    buyer: str = ""  # the buyer of a placed order


_SALES = METRIC_INDEX["sales_cny"]
_PLACED = METRIC_INDEX["orders_placed"]
_CANCELLED = METRIC_INDEX["cancelled_cny"]
_SHIPPED = METRIC_INDEX["orders_shipped"]
_DELIVERED = METRIC_INDEX["orders_delivered"]
_PRICE_CUTS = METRIC_INDEX["price_cuts"]
_WITHDRAWN = METRIC_INDEX["withdrawn_cny"]
_WITHDRAWALS = METRIC_INDEX["withdrawals"]
_NIGHT_SALES = METRIC_INDEX["night_sales_cny"]
_ROUND_SALES = METRIC_INDEX["round_sales_cny"]
_CLAIMS = METRIC_INDEX["claims"]
_PRICE_PROTECTION = METRIC_INDEX["refund_price_protection_cny"]
NIGHT_HOURS: Final = range(0, 6)
DEFAULT_UTC_OFFSET_S: Final = 8 * 3600.0

# when the store was first seen at all, and first seen at work: "quiet all week" needs a week
# of watching
_SEEN: Final = (("<", "first_ts"),)
_OPENED: Final = (*_SEEN, ("<", "opened_ts"), (">", "registered_ts"))
_ACTIVE: Final = (("<", "first_ts"), ("<", "first_activity_ts"))
_SALE: Final = (*_ACTIVE, (">", "last_sale_ts"), ("<", "first_sale_ts"))
_PRICE_CUT: Final = (*_ACTIVE, (">", "last_price_cut_ts"))
_SHIPMENT: Final = (*_ACTIVE, (">", "last_shipment_ts"))


def roundness(value_cny: float) -> float:
    """How round a sum is: 1 for a multiple of 100 CNY, 0.5 of 10, 0 otherwise. Top-ups and
    stakes come in round sums; prices end in .99 or any odd figure.

    >>> roundness(500.0), roundness(230.0), roundness(199.9), roundness(0.0)
    (1.0, 0.5, 0.0, 0.0)
    """
    fen = round(value_cny * 100)
    if fen <= 0:
        return 0.0
    if fen % 10_000 == 0:
        return 1.0
    return 0.5 if fen % 1_000 == 0 else 0.0


def local_hour(ts_s: float, utc_offset_s: float = DEFAULT_UTC_OFFSET_S) -> int:
    """The hour of the day in the marketplace's local time.

    >>> local_hour(0.0), local_hour(0.0, utc_offset_s=0.0)
    (8, 0)
    """
    return int((ts_s + utc_offset_s) // 3600) % 24


def update_for(event: Event, utc_offset_s: float = DEFAULT_UTC_OFFSET_S) -> StateUpdate:
    """What an event adds to its store's windows and profile.

    Every count is keyed by the event's own time and needs no earlier event of the same order,
    so arrival order never changes what a window holds (a refund or a delivery seen before its
    order counts all the same).
    """
    f = event.fields
    times: tuple[tuple[str, str], ...] = _ACTIVE
    sets: tuple[tuple[str, str], ...] = ()
    deltas: dict[int, float] = {}
    sku, price, units = "", 0.0, 0
    facts: tuple[Fact, ...] = ()
    placed = refund_of = buyer = ""
    if event.type == "store":
        # a store opens once: a later store event (a new payout account, a new owner) updates
        # the registration but leaves the store as old as its first one
        times = _OPENED
        sets = (
            ("deposit", repr(f["deposit"])),
            ("bank_account", f["bank_account"]),
            ("owner_id", f["owner_id"]),
            ("category", f["category"]),
        )
        facts = (Fact("bank", f["bank_account"], event.store_id, f["owner_id"]),)
    elif event.type == "order":
        value_cny = f["unit_price"] * f["quantity"]
        status = f["status"]
        if status == "placed":
            deltas = {_SALES: float(value_cny), _PLACED: 1.0}
            if local_hour(event.ts_s, utc_offset_s) in NIGHT_HOURS:
                deltas[_NIGHT_SALES] = float(value_cny)
            round_share = roundness(value_cny)
            if round_share:
                deltas[_ROUND_SALES] = float(value_cny) * round_share
            times = _SALE
            sku, price, units = f["sku"], f["unit_price"], f["quantity"]
            placed, buyer = f["order_id"], f["buyer_id"]
        elif status == "cancelled":
            deltas = {_CANCELLED: float(value_cny)}
        elif status == "shipped":
            deltas = {_SHIPPED: 1.0}
            times = _SHIPMENT
        else:
            deltas = {_DELIVERED: 1.0}
        if f.get("tracking_no"):
            # members are buyers, not orders: one buyer's orders merged into one parcel share a
            # number honestly; a number shared by several buyers or stores is the oddity
            facts = (Fact("trk", f["tracking_no"], f["buyer_id"], event.store_id),)
    elif event.type == "price":
        sku = f["sku"]
        if f["new_price"] < f["old_price"]:
            deltas = {_PRICE_CUTS: 1.0}
            times = _PRICE_CUT
    elif event.type == "refund":
        deltas = {METRIC_INDEX[f"refund_{f['reason']}_cny"]: float(f["amount"])}
        refund_of = f["order_id"]
        if f["reason"] == "price_protection":
            deltas[_CLAIMS] = 1.0
            facts = (Fact("claim", f["buyer_id"], event.store_id),)
    elif event.type == "withdrawal":
        deltas = {_WITHDRAWN: float(f["amount"]), _WITHDRAWALS: 1.0}
        # first use of each payout account: "never used before" and rotation across accounts
        times = (*_ACTIVE, (">", "last_withdrawal_ts"), ("<", f"acct:{f['bank_account']}"))
        facts = (Fact("bank", f["bank_account"], event.store_id),)
    return StateUpdate(
        event.store_id,
        event.type,
        event.ts_s,
        deltas,
        times,
        sets,
        sku,
        price,
        units,
        facts,
        event.event_id,
        placed,
        refund_of,
        buyer,
    )


class StateUnavailableError(RuntimeError):
    """Redis could not be reached or answered with a connection error; the batch may be
    retried. (Transport shells catch this instead of importing redis themselves.)"""


@contextmanager
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise StateUnavailableError(f"Redis unavailable: {exc}") from exc


# A Kafka partition (topic, number), or a replayed file and 0.
PartitionId = tuple[str, int]


class StateStore(Protocol):
    """Where per-store state lives; the engine depends on this, not on Redis (RedisStateStore
    below; stream.state.memory_state.InMemoryStateStore keeps it all in the process).

    It also keeps, per input partition, the highest offset whose event is decided and whose
    effect is saved (``decided``, saved by ``commit`` with the stores): after a crash, an event
    at or below it that the stores refuse as a copy is a redelivery, not bad input.
    """

    async def load(self, store_ids: set[str]) -> None: ...

    async def apply_many(self, updates: list[StateUpdate]) -> list[StoreView]: ...

    async def link_facts(
        self, updates: list[StateUpdate], views: list[StoreView]
    ) -> list[StoreView]: ...

    async def commit(self) -> None: ...

    def release(self) -> None: ...

    async def decided_offsets(self, partitions: set[PartitionId]) -> dict[PartitionId, int]: ...

    def decided(self, partition: PartitionId, offset: int) -> None: ...

    def reconfigure(self, windows: WindowSettings) -> None: ...

    def current(self, view: StoreView, store_id: str) -> StoreView: ...

    def remember(self, store_id: str, fields: dict[str, str]) -> None: ...

    async def mark_alert(
        self, store_id: str, detector: str, ts_s: float, ring_id: str, facts: list[FactLinks]
    ) -> set[str]: ...

    async def tie_facts(self, ring_id: str, facts: list[FactLinks]) -> None: ...


CLUSTER_SCHEMES: Final = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def redis_client(url: str, **options: Any) -> Any:
    """A redis.asyncio client for ``url``: ``redis://`` or ``rediss://`` (TLS) for one server,
    ``redis+cluster://`` or ``rediss+cluster://`` for a Redis Cluster (any node's address;
    the client discovers the others). ``options`` (password, ssl_ca_certs, ...) go to the
    client; values in the URL win over them, as redis-py does."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in CLUSTER_SCHEMES:
        return RedisCluster.from_url(
            f"{CLUSTER_SCHEMES[scheme]}://{rest}", decode_responses=True, **options
        )
    return redis_asyncio.Redis.from_url(url, decode_responses=True, **options)


async def ping_redis(url: str, timeout_s: float, **options: Any) -> None:
    """Raise StateUnavailableError unless Redis at ``url`` answers PING within ``timeout_s``.

    One-shot commands call this first: the engine retries an unavailable Redis for ever, as a
    worker should, but a replay started against nothing would then wait for ever."""
    try:
        client = redis_client(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, **options
        )
        try:
            await asyncio.wait_for(client.ping(), timeout_s)
        finally:
            await client.aclose()
    except (redis.exceptions.RedisError, OSError) as exc:  # TimeoutError is an OSError
        raise StateUnavailableError(f"Redis unavailable: {exc or type(exc).__name__}") from exc


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
        missing = [
            i for i, r in enumerate(results) if isinstance(r, redis.exceptions.NoScriptError)
        ]
        if missing:
            for script in self._scripts:
                await self._cluster.script_load(script.script)  # every primary
            for i, result in zip(
                missing, await self._run([self._queued[i] for i in missing]), strict=True
            ):
                results[i] = result
        self._queued = []
        errors = [r for r in results if isinstance(r, Exception)]
        if raise_on_error and errors:
            raise errors[0]
        return results


def _slot_of(key: str) -> int:
    return int(key_slot(key.encode()))


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


# A snapshot saved compressed starts with this byte, which base64 text (the form before) never
# holds.
_ZLIB_SNAPSHOT: Final = b"\x00"


def _packed_snapshot(blob: bytes) -> bytes:
    return _ZLIB_SNAPSHOT + zlib.compress(blob)


def _unpacked_snapshot(value: bytes) -> bytes:
    if value[:1] == _ZLIB_SNAPSHOT:
        return zlib.decompress(value[1:])
    return base64.b64decode(value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStateStore:
    """StateStore: the stores this worker owns in memory, saved to Redis once per batch."""

    def __init__(self, client: Any, windows: WindowSettings, namespace: str = KEY_PREFIX) -> None:
        cluster = isinstance(client, RedisCluster)
        if cluster:
            client = _ClusterClient(client)
        self._client = client
        self._namespace = namespace
        self.facts = FactIndex(
            client,
            namespace,
            windows.fact_cap,
            int(windows.fact_ttl_s),
            trk_buckets=windows.trk_buckets,
            slot_of=_slot_of if cluster else None,
        )
        self.reconfigure(windows)
        # least recently used first; a store is dropped from memory once saved and past the cap
        self._stores: OrderedDict[str, StoreState] = OrderedDict()
        self._saved_at_s: dict[str, float] = {}
        self._changed: set[str] = set()
        # alert marks written during this batch, for the views read before them
        self._batch_marks: dict[str, dict[str, str]] = {}
        self._release_after_commit = False
        # per partition, the highest offset decided (saved ones, and those this worker
        # decided since); -1: none
        self._decided: dict[PartitionId, int] = {}
        self._decided_unsaved: set[PartitionId] = set()

    def reconfigure(self, windows: WindowSettings) -> None:
        """Use new window settings from the next event on (runtime tuning). A window whose
        length, bucket count or ring size changed starts empty and fills over its length."""
        self._windows = windows
        self._lengths_s = tuple(windows.lengths_s)
        self._config = StateConfig.of(
            list(self._lengths_s), windows.buckets_per_window, windows.allowed_lateness_s
        )
        self._ttl_s = int(windows.idle_store_ttl_s)
        self._capacity = windows.stores_in_memory
        self.facts.cap = windows.fact_cap
        self.facts.ttl_s = int(windows.fact_ttl_s)

    @classmethod
    def from_url(
        cls, url: str, windows: WindowSettings, namespace: str = KEY_PREFIX, **options: Any
    ) -> RedisStateStore:
        """A store on ``url`` (see ``redis_client`` for the schemes and ``options``)."""
        return cls(redis_client(url, **options), windows, namespace)

    async def apply_many(self, updates: list[StateUpdate]) -> list[StoreView]:
        """Apply updates in order; each view sees the updates before it. The stores not yet in
        memory are read first, so a failure (StateUnavailableError) leaves nothing applied."""
        if not updates:
            return []
        await self.load({update.store_id for update in updates})
        views: list[StoreView] = []
        stores, changed, config = self._stores, self._changed, self._config
        lengths_s = self._lengths_s
        for update in updates:
            applied = stores[update.store_id].apply(update, config)
            if applied.refusal is None:
                changed.add(update.store_id)
            views.append(
                StoreView(
                    applied.refusal,
                    applied.max_ts_s,
                    applied.profile,
                    lengths_s,
                    applied.window_sums,
                    applied.sku,
                    lifetime_sums=applied.lifetime,
                )
            )
        return views

    async def link_facts(
        self, updates: list[StateUpdate], views: list[StoreView]
    ) -> list[StoreView]:
        """Record the cross-store facts of the events the stores accepted (a refused event
        leaves no trace) and return the views with who else touched them. One round trip;
        repeating it after a failure changes nothing more."""
        linking = [
            i
            for i, (update, view) in enumerate(zip(updates, views, strict=True))
            if update.facts and view.refusal is None
        ]
        if not linking:
            return views
        with _redis_errors():
            links = iter(
                await self.facts.link([fact for i in linking for fact in updates[i].facts])
            )
        for i in linking:  # views made by apply_many for this batch, not yet handed out
            views[i].links = {fact.kind: next(links) for fact in updates[i].facts}
        return views

    async def load(self, store_ids: set[str]) -> None:
        """Bring the stores not in memory (or idle past their TTL) from Redis, in one round
        trip; a store Redis does not know starts empty. Nothing is read when all are here."""
        now_s = time.monotonic()
        missing = []
        for store_id in store_ids:
            idle_s = now_s - self._saved_at_s.get(store_id, now_s)
            # a store with unsaved changes is never read over, however long Redis was away
            if store_id in self._stores and (idle_s < self._ttl_s or store_id in self._changed):
                self._stores.move_to_end(store_id)
            else:
                missing.append(store_id)
        if not missing:
            return
        pipe = self._client.pipeline(transaction=False)
        for store_id in missing:
            pipe.execute_command("GET", state_key(store_id, self._namespace), NEVER_DECODE=[])
        with _redis_errors():
            replies = await pipe.execute()
        for store_id, saved in zip(missing, replies, strict=True):
            self._stores[store_id] = self._restore(store_id, saved)
            self._stores.move_to_end(store_id)

    @staticmethod
    def _restore(store_id: str, saved: bytes | None) -> StoreState:
        if saved is None:
            return StoreState()
        try:
            return StoreState.from_blob(saved)
        except (ValueError, TypeError, pickle.UnpicklingError) as exc:
            log.error("state of store %s unreadable, starting it afresh: %s", store_id, exc)
            return StoreState()

    async def commit(self) -> None:
        """Save every store changed since the last commit (one SET each, one round trip), with
        the idle TTL, then the offsets decided (in the same round trip, after the stores: they
        may only claim what is saved). Called once the alerts of the batches before are
        published, and before their offsets are committed. Nothing is forgotten when it fails:
        it may be repeated."""
        if not self._changed and not self._decided_unsaved:
            return
        changed = list(self._changed)
        pipe = self._client.pipeline(transaction=False)
        for store_id in changed:
            pipe.set(
                state_key(store_id, self._namespace),
                self._stores[store_id].to_blob(self._config),
                ex=self._ttl_s,
            )
        if self._decided_unsaved:
            pipe.hset(
                self._decided_key,
                mapping={
                    f"{topic}:{number}": self._decided[(topic, number)]
                    for topic, number in self._decided_unsaved
                },
            )
            # kept as long as the stores it vouches for
            pipe.expire(self._decided_key, self._ttl_s)
        with _redis_errors():
            await pipe.execute()
        self._decided_unsaved.clear()
        now_s = time.monotonic()
        for store_id in changed:
            self._saved_at_s[store_id] = now_s
        self._after_commit()
        while len(self._stores) > self._capacity:
            store_id, _ = self._stores.popitem(last=False)
            self._saved_at_s.pop(store_id, None)

    @property
    def _decided_key(self) -> str:
        return f"{self._namespace}:decided"

    async def decided_offsets(self, partitions: set[PartitionId]) -> dict[PartitionId, int]:
        """The highest decided offset of each partition (-1: none), read from Redis the first
        time a partition is met after an assignment; from memory after that."""
        missing = [partition for partition in partitions if partition not in self._decided]
        if missing:
            with _redis_errors():
                saved = await self._client.hmget(
                    self._decided_key, [f"{topic}:{number}" for topic, number in missing]
                )
            for partition, offset in zip(missing, saved, strict=True):
                self._decided[partition] = int(offset) if offset is not None else -1
        return {partition: self._decided[partition] for partition in partitions}

    def decided(self, partition: PartitionId, offset: int) -> None:
        """This worker decided the event at ``offset`` (saved by the next commit). Only ever
        raises the mark: a partition taken over resumes below it."""
        if offset > self._decided.get(partition, -1):
            self._decided[partition] = offset
            self._decided_unsaved.add(partition)

    def release(self) -> None:
        """Forget every store (partitions revoked: another worker may own them now). Changes
        not yet saved are kept until the next commit, so what was applied is not lost."""
        if self._changed or self._decided_unsaved:
            self._release_after_commit = True
            return
        self._stores.clear()
        self._saved_at_s.clear()
        self._batch_marks.clear()
        self._decided.clear()  # another worker may move them on now

    def _after_commit(self) -> None:
        self._changed.clear()
        self._batch_marks.clear()
        if self._release_after_commit:
            self._release_after_commit = False
            self.release()

    @property
    def stores_in_memory(self) -> int:
        return len(self._stores)

    def current(self, view: StoreView, store_id: str) -> StoreView:
        """``view`` with the alert marks and ring ids written since it was read."""
        return with_marks(view, self._batch_marks.get(store_id), self.facts.ring_of)

    def remember(self, store_id: str, fields: dict[str, str]) -> None:
        """Write a detector's note (its episode's evidence so far) to the store's profile; the
        store's next events, in this batch or later, see it."""
        self._stores[store_id].mark(fields)
        self._changed.add(store_id)
        self._batch_marks.setdefault(store_id, {}).update(fields)

    async def mark_alert(
        self, store_id: str, detector: str, ts_s: float, ring_id: str, facts: list[FactLinks]
    ) -> set[str]:
        """Remember an alert and return the stores of its ring (this one included).

        The alert's time and ring id go to the store's profile (episodes survive restarts),
        its ring id to the facts the event touched (a later store touching one of them learns
        it joins a known ring), the store to the ring's member set."""
        fields = {f"alerted:{detector}": repr(ts_s), "ring_id": ring_id}
        self._stores[store_id].mark(fields)
        self._changed.add(store_id)
        self._batch_marks.setdefault(store_id, {}).update(fields)
        with _redis_errors():
            return await self.facts.join_ring(ring_id, store_id, facts)

    async def tie_facts(self, ring_id: str, facts: list[FactLinks]) -> None:
        """Mark facts a store of ``ring_id`` touched after its alert with the ring's id."""
        with _redis_errors():
            await self.facts.tie(ring_id, facts)

    def models_key(self, app_id: str) -> str:
        """The hash of an app's model snapshots, one field per detector (its own slot)."""
        return f"{self._namespace}:models:{{{app_id}}}"

    async def save_models(self, app_id: str, snapshots: dict[str, bytes]) -> None:
        """Store model snapshots, zlib-compressed (a pickled forest shrinks about fourfold:
        710 KB of snapshots made 947 KB of base64 in Redis, 179 KB compressed). Every worker
        of an app writes the same key: they learn the same population, so a worker that
        starts resumes from whichever saved last."""
        if not snapshots:
            return
        packed = {name: _packed_snapshot(blob) for name, blob in snapshots.items()}
        with _redis_errors():
            await self._client.hset(self.models_key(app_id), mapping=packed)

    async def load_models(self, app_id: str) -> dict[str, bytes]:
        """The snapshots saved by ``save_models``, or by its base64 form before."""
        with _redis_errors():
            saved = await self._client.execute_command(
                "HGETALL", self.models_key(app_id), NEVER_DECODE=[]
            )
        if isinstance(saved, list):  # a reply without the client's pairing
            saved = dict(zip(saved[::2], saved[1::2], strict=True))
        return {_text(name): _unpacked_snapshot(value) for name, value in saved.items()}

    async def tracked_stores(self) -> int:
        """How many stores have state (scans; for tests, reports and gauges, not the hot path)."""
        count = 0
        with _redis_errors():
            async for _ in self._client.scan_iter(match=f"{self._namespace}:*:state", count=1000):
                count += 1
        return count

    async def saved_state(self, store_id: str) -> StoreState | None:
        """A store's state as saved in Redis (for tests and tools; the worker reads its own
        memory)."""
        with _redis_errors():
            saved = await self._client.execute_command(
                "GET", state_key(store_id, self._namespace), NEVER_DECODE=[]
            )
        return StoreState.from_blob(saved) if saved is not None else None

    async def drop_all(self) -> int:
        """Delete every key of this store's namespace (fresh state for a replay run)."""
        self.release()
        keys = [
            key async for key in self._client.scan_iter(match=f"{self._namespace}:*", count=1000)
        ]
        deleted = 0
        for start in range(0, len(keys), 1000):  # one round trip per thousand keys
            pipe = self._client.pipeline(transaction=False)
            for key in keys[start : start + 1000]:
                # one key a command, sent raw: a Cluster pipeline routes it by its key, where
                # its own unlink() would split keys across slots and run at once
                pipe.execute_command("UNLINK", key)
            deleted += sum(await pipe.execute())
        return deleted

    async def ping(self) -> None:
        """Raise StateUnavailableError unless Redis answers (for health at start-up)."""
        with _redis_errors():
            await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()
