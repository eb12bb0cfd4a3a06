"""The engine wired to list sinks and a fresh registry, fed events one at a time."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis_asyncio
from prometheus_client import CollectorRegistry

from stream.config import Settings
from stream.runtime.alerts import ListAlertSink
from stream.runtime.dead_letters import ListDeadLetterSink, Source
from stream.runtime.engine import Engine
from stream.runtime.metrics import Metrics
from stream.state.protocol import StateStore
from stream.state.state import RedisStateStore
from tests.helpers import factories as f
from tests.helpers.factories import DAY, HOUR, T0


class Harness:
    """One engine over ``store``: a state store of any backend, or a Redis client (a
    ``RedisStateStore`` is built on it with ``settings``' windows). Two harnesses given the
    same store, or the same Redis, are two workers sharing their state (or one restarted)."""

    def __init__(
        self, store: StateStore | redis_asyncio.Redis, settings: Settings | None = None
    ) -> None:
        self.settings = settings or Settings()
        self.registry = CollectorRegistry()
        self.alerts = ListAlertSink()
        self.dead = ListDeadLetterSink()
        if isinstance(store, redis_asyncio.Redis):
            store = RedisStateStore(store, self.settings.windows)
        self.state = store
        self.engine = Engine.from_settings(
            self.settings, store, self.alerts, self.dead, Metrics.create(self.registry)
        )

    async def feed(
        self, *events: dict[str, Any] | bytes, topic: str = "file", first_offset: int = 0
    ) -> None:
        for offset, event in enumerate(events, start=first_offset):
            raw = event if isinstance(event, bytes) else f.raw(event)
            await self.engine.process(raw, Source(topic, 0, offset))

    def detectors(self) -> list[str]:
        return [alert.detector for alert in self.alerts.alerts]


def price_protection_scheme(store_id: str, t0: float = T0) -> list[dict[str, Any]]:
    """A new store sells a 10,000 CNY item to itself, cuts it to 300 next day, cashes out."""
    return [
        f.store(store_id, t0, deposit=1000, bank=f"bank-{store_id}"),
        f.order(store_id, t0 + HOUR, price=10_000, qty=3, sku="tv"),
        f.price(store_id, t0 + DAY, old=10_000, new=300, sku="tv"),
        f.refund(store_id, t0 + DAY + HOUR, amount=29_100),
        f.withdrawal(store_id, t0 + DAY + 2 * HOUR, amount=29_900, bank=f"bank-{store_id}"),
    ]
