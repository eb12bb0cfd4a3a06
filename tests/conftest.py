"""Shared fixtures (real servers started by the project itself, never mocks) and the tiers:
tests that start servers are marked ``integration`` here, whether or not they say so."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from prometheus_client import CollectorRegistry

from stream.config import Settings, WindowSettings
from stream.runtime.metrics import Metrics
from stream.state.memory_state import InMemoryStateStore
from stream.state.protocol import StateStore
from stream.state.state import RedisStateStore
from stream.tools.embedded import EmbeddedRedis
from tests.helpers.stores import STATE_BACKENDS, StateStoreFactory
from tests.helpers.tiers import needs_servers, refusing_child_processes


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
async def redis_client(redis_server: EmbeddedRedis) -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics.create(registry)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_servers(item) and item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("integration") is not None:
        yield
        return
    with refusing_child_processes(request.node.nodeid):
        yield


@pytest.fixture(params=STATE_BACKENDS)
def state_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_state_store(state_backend: str, request: pytest.FixtureRequest) -> StateStoreFactory:
    """Builds stores of the backend under test, with the window settings given (the defaults
    when none): one in this process's memory, or one on a freshly emptied embedded Redis.
    Redis stores built by one test share that Redis, as two workers would."""
    if state_backend == "memory":

        def in_memory(**windows: Any) -> InMemoryStateStore:
            return InMemoryStateStore(WindowSettings(**windows) if windows else Settings().windows)

        return in_memory
    client = request.getfixturevalue("redis_client")

    def on_redis(**windows: Any) -> RedisStateStore:
        return RedisStateStore(client, WindowSettings(**windows) if windows else Settings().windows)

    return on_redis


@pytest.fixture
def state_store(make_state_store: StateStoreFactory) -> StateStore:
    """A store of each backend with the default settings."""
    store: StateStore = make_state_store()
    return store
