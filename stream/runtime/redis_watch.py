"""The watch on Redis: a PING for the ``redis`` health check, and a marker key that notices a
Redis which lost its data.

``RedisWatch`` records Redis' ``run_id`` and keeps a marker key (``<namespace>:marker``,
no TTL) in Redis. A marker that disappears or is replaced means Redis restarted empty or was
flushed: the worker logs one ERROR line, counts ``storewatch_redis_state_lost_total`` and sets
``storewatch_redis_state_lost_timestamp_seconds``. A changed ``run_id`` with the marker intact
is a restart that kept its data (an append-only file): logged as a warning, not counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stream.runtime.health import PING_INTERVAL_S, WorkerHealth

if TYPE_CHECKING:
    from stream.runtime.metrics import Metrics

log = logging.getLogger(__name__)

STATE_CHECK_INTERVAL_S = 2.0
RUNBOOK_STATE_LOST = "docs/runbook.md#storewatchredisstatelost"


@dataclass
class StateMarker:
    """What a worker last saw of Redis: its run id and the value of the marker key."""

    run_id: str
    marker: str


class RedisWatch:
    """PINGs Redis for the health check and notices a Redis that lost its data.

    ``client`` is a redis.asyncio client (single server or cluster) with short socket
    timeouts, decoding replies as text.
    """

    def __init__(
        self,
        client: Any,
        health: WorkerHealth,
        metrics: Metrics,
        namespace: str = "sw:v1",
        ping_interval_s: float = PING_INTERVAL_S,
        state_check_interval_s: float = STATE_CHECK_INTERVAL_S,
    ) -> None:
        self.client = client
        self.health = health
        self.metrics = metrics
        self.key = f"{namespace}:marker"
        self.ping_interval_s = ping_interval_s
        self.state_check_interval_s = state_check_interval_s
        self.seen: StateMarker | None = None

    async def ping(self) -> bool:
        clock = self.health.clock
        with self.health._lock:
            self.health.redis.sent(clock())
        try:
            async with asyncio.timeout(self.health.redis.timeout_s):
                await self.client.ping()
        except (Exception, TimeoutError) as exc:
            why = str(exc) or type(exc).__name__
            with self.health._lock:
                self.health.redis.refused(clock(), why)
            return False
        with self.health._lock:
            self.health.redis.answered(clock())
        return True

    async def _run_id(self) -> str:
        info = await self.client.info("server")
        if "run_id" in info:
            return str(info["run_id"])
        # a Redis Cluster answers per node
        return ",".join(
            sorted(str(node.get("run_id")) for node in info.values() if isinstance(node, dict))
        )

    async def check_state(self) -> bool:
        """Compare Redis with what was seen last; True when it lost its data since then."""
        run_id = await self._run_id()
        marker = await self.client.get(self.key)
        seen = self.seen
        if marker is None:
            await self.client.set(self.key, f"{uuid.uuid4().hex} {time.time():.0f}", nx=True)
            marker = await self.client.get(self.key)
        if seen is None:
            self.seen = StateMarker(run_id, marker)
            return False
        lost = marker != seen.marker
        if lost:
            self.metrics.redis_state_lost.inc()
            self.metrics.redis_state_lost_at.set(time.time())
            log.error(
                "Redis lost its data: its state marker %s was %s (run_id %s -> %s); the "
                "saved windows, facts and model snapshots of before are gone and rebuild "
                "from new events; see %s",
                self.key,
                "gone" if run_id == seen.run_id else "gone after a restart",
                seen.run_id,
                run_id,
                RUNBOOK_STATE_LOST,
            )
        elif run_id != seen.run_id:
            log.warning(
                "Redis restarted (run_id %s -> %s) and kept its data (state marker intact)",
                seen.run_id,
                run_id,
            )
        self.seen = StateMarker(run_id, marker)
        return bool(lost)

    async def run(self) -> None:
        """PING every ping_interval_s, check the marker every state_check_interval_s; forever."""
        next_state_check = 0.0
        while True:
            answered = await self.ping()
            now = self.health.clock()
            if answered and now >= next_state_check:
                next_state_check = now + self.state_check_interval_s
                try:
                    async with asyncio.timeout(self.health.redis.timeout_s * 2):
                        await self.check_state()
                except (Exception, TimeoutError) as exc:
                    log.debug("state marker not checked: %r", exc)
            await asyncio.sleep(self.ping_interval_s)
