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
the stores it meets for the first time, link its facts), and a commit two (the stores, then the
offsets decided).
"""

from __future__ import annotations

import base64
import logging
import pickle
import time
import zlib
from collections import OrderedDict
from importlib import resources
from typing import Any, Final

from redis.asyncio.cluster import RedisCluster

from stream.config import WindowSettings
from stream.core.facts import KEY_PREFIX, FactIndex, FactLinks
from stream.core.store_state import StoreState
from stream.core.store_view import StoreView, apply_in_order, with_marks
from stream.core.updates import StateUpdate
from stream.core.windows import StateConfig
from stream.state.protocol import PartitionId
from stream.state.redis_client import ClusterClient, redis_client, redis_errors, slot_of

__all__ = ["RedisStateStore", "state_key"]

log = logging.getLogger(__name__)


def state_key(store_id: str, namespace: str = KEY_PREFIX) -> str:
    """The Redis key of a store's saved state; the braces name its Cluster slot.

    >>> state_key("s42")
    'sw:v1:{s42}:state'
    """
    return f"{namespace}:{{{store_id}}}:state"


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
            client = ClusterClient(client)
        self._client = client
        self._namespace = namespace
        self.facts = FactIndex(
            client,
            namespace,
            windows.fact_cap,
            int(windows.fact_ttl_s),
            trk_buckets=windows.trk_buckets,
            slot_of=slot_of if cluster else None,
        )
        self._save_script = (
            None
            if cluster
            else client.register_script(
                resources.files("stream.state").joinpath("save_stores.lua").read_text()
            )
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
        return apply_in_order(
            self._stores, updates, self._config, self._lengths_s, self._changed, new_stores=False
        )

    async def link_facts(
        self, updates: list[StateUpdate], views: list[StoreView]
    ) -> list[StoreView]:
        """Record the cross-store facts of the events the stores accepted (a refused event
        leaves no trace) and return the views with who else touched them as of each event.
        One round trip; repeating it after a failure, or after a crash before the commit,
        changes nothing more."""
        linking = [
            i
            for i, (update, view) in enumerate(zip(updates, views, strict=True))
            if update.facts and view.refusal is None
        ]
        if not linking:
            return views
        facts = [fact for i in linking for fact in updates[i].facts]
        at_s = [updates[i].ts_s for i in linking for _ in updates[i].facts]
        with redis_errors():
            links = iter(await self.facts.link(facts, at_s))
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
        with redis_errors():
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
        """Save every store changed since the last commit, with the idle TTL, then the offsets
        decided: two round trips, the second only once Redis has acknowledged every store,
        since the offsets may only claim what is saved. Called once the alerts of the batches
        before are published, and before their offsets are committed. Nothing is forgotten
        when it fails: it may be repeated."""
        if not self._changed and not self._decided_unsaved:
            return
        changed = list(self._changed)
        if changed:
            keys = [state_key(store_id, self._namespace) for store_id in changed]
            blobs = [self._stores[store_id].to_blob(self._config) for store_id in changed]
            with redis_errors():
                await self._save_stores(keys, blobs)
        if self._decided_unsaved:
            pipe = self._client.pipeline(transaction=False)
            pipe.hset(
                self._decided_key,
                mapping={
                    f"{topic}:{number}": self._decided[(topic, number)]
                    for topic, number in self._decided_unsaved
                },
            )
            # kept as long as the stores it vouches for
            pipe.expire(self._decided_key, self._ttl_s)
            with redis_errors():
                await pipe.execute()
        self._decided_unsaved.clear()
        now_s = time.monotonic()
        for store_id in changed:
            self._saved_at_s[store_id] = now_s
        self._after_commit()
        while len(self._stores) > self._capacity:
            store_id, _ = self._stores.popitem(last=False)
            self._saved_at_s.pop(store_id, None)

    async def _save_stores(self, keys: list[str], blobs: list[bytes]) -> None:
        """SET each key to its blob with the idle TTL; raises unless Redis saved them all. One
        call of ``save_stores.lua`` on one server (its header says why); on a Cluster, where
        every store has a slot of its own, a pipeline of SETs that the client sends to each
        node."""
        if self._save_script is not None:
            await self._save_script(keys=keys, args=[self._ttl_s, *blobs])
            return
        pipe = self._client.pipeline(transaction=False)
        for key, blob in zip(keys, blobs, strict=True):
            pipe.set(key, blob, ex=self._ttl_s)
        await pipe.execute()

    @property
    def _decided_key(self) -> str:
        return f"{self._namespace}:decided"

    async def decided_offsets(self, partitions: set[PartitionId]) -> dict[PartitionId, int]:
        """The highest decided offset of each partition (-1: none), read from Redis the first
        time a partition is met after an assignment; from memory after that."""
        missing = [partition for partition in partitions if partition not in self._decided]
        if missing:
            with redis_errors():
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
        with redis_errors():
            return await self.facts.join_ring(ring_id, store_id, facts, ts_s)

    async def tie_facts(self, ring_id: str, facts: list[FactLinks]) -> None:
        """Mark facts a store of ``ring_id`` touched after its alert with the ring's id."""
        with redis_errors():
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
        with redis_errors():
            await self._client.hset(self.models_key(app_id), mapping=packed)

    async def load_models(self, app_id: str) -> dict[str, bytes]:
        """The snapshots saved by ``save_models``, or by its base64 form before."""
        with redis_errors():
            saved = await self._client.execute_command(
                "HGETALL", self.models_key(app_id), NEVER_DECODE=[]
            )
        if isinstance(saved, list):  # a reply without the client's pairing
            saved = dict(zip(saved[::2], saved[1::2], strict=True))
        return {_text(name): _unpacked_snapshot(value) for name, value in saved.items()}

    async def tracked_stores(self) -> int:
        """How many stores have state (scans; for tests, reports and gauges, not the hot path)."""
        count = 0
        with redis_errors():
            async for _ in self._client.scan_iter(match=f"{self._namespace}:*:state", count=1000):
                count += 1
        return count

    async def saved_state(self, store_id: str) -> StoreState | None:
        """A store's state as saved in Redis (for tests and tools; the worker reads its own
        memory)."""
        with redis_errors():
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
        with redis_errors():
            await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()
