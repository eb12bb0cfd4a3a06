"""The unit tier needs no server: tests that start one are marked integration, and an
unmarked one that starts one anyway fails."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from stream.tools.embedded import EmbeddedRedis
from tests.helpers.tiers import ServerInUnitTestError, refusing_child_processes, starts_servers


def _starts_redis() -> None:
    with EmbeddedRedis():
        pass


def _through_a_helper() -> None:
    _starts_redis()


def test_a_test_naming_a_server_or_calling_a_helper_that_does_is_found() -> None:
    assert starts_servers(_starts_redis)
    assert starts_servers(_through_a_helper)
    assert not starts_servers(test_a_bare_interpreter_is_not_a_server)


def test_a_server_started_outside_the_integration_tier_fails_the_test() -> None:
    with refusing_child_processes("a unit test"), pytest.raises(ServerInUnitTestError):
        subprocess.run([sys.executable, "-m", "stream.cli", "--version"], check=False)


def test_a_bare_interpreter_is_not_a_server() -> None:
    with refusing_child_processes("a unit test"):
        done = subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True, check=True)
    assert done.stdout.strip() == b"1"


@pytest.fixture
def collected(request: pytest.FixtureRequest) -> Iterator[list[pytest.Item]]:
    yield list(request.session.items)


def test_every_collected_test_on_redis_or_a_server_fixture_is_marked_integration(
    collected: list[pytest.Item],
) -> None:
    unmarked = [
        item.nodeid
        for item in collected
        if isinstance(item, pytest.Function)
        and (
            "redis_client" in item.fixturenames
            or "redis_server" in item.fixturenames
            or "[redis" in item.nodeid
        )
        and item.get_closest_marker("integration") is None
    ]
    assert unmarked == []
