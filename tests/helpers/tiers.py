"""The two test tiers, kept apart by machinery rather than by memory.

``integration`` tests start servers (redis-server, Tansu, Prometheus) or run storewatch as a
child process; ``make unit`` runs the rest (``pytest -m "not integration"``). A test is marked
when it, or a fixture it uses, names one of the ``SERVER_STARTERS`` or uses a ``SERVER_FIXTURES``
fixture, or runs on the Redis state backend; and an unmarked test that starts a process anyway
fails (``refusing_child_processes``), so a missing mark cannot go unnoticed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType
from typing import Any

import pytest

# Names whose use starts a server or a storewatch child process.
SERVER_STARTERS = frozenset(
    {
        "EmbeddedRedis",
        "EmbeddedKafka",
        "EmbeddedRedisCluster",
        "DevStack",
        "PrometheusServer",
        "run_cli",
        "run_worker",
        "start_worker",
        "Popen",
        "create_subprocess_exec",
    }
)
# Fixtures that are, or hold, a server (their users are integration tests).
SERVER_FIXTURES = frozenset({"redis_server", "redis_client"})
# The tests of this machinery name servers without starting any.
CHECKS_OF_THE_TIERS = frozenset({"tests.test_tiers"})


class ServerInUnitTestError(AssertionError):
    """A test without the ``integration`` mark started a server or a child process."""


def _names(code: CodeType) -> set[str]:
    """Global and attribute names a function's code (nested functions included) refers to;
    ``run_cli`` stands for a literal ``-m stream.cli`` command line."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _names(const)
        elif const == CLI_MODULE:
            names.add("run_cli")
    return names


def _is_server_class(value: Any) -> bool:
    """A class that is, or derives from, one of the starters (a test's own Redis build)."""
    return isinstance(value, type) and any(cls.__name__ in SERVER_STARTERS for cls in value.__mro__)


def starts_servers(function: Callable[..., Any], depth: int = 3) -> bool:
    """True when ``function`` refers to something that starts a server, directly or through
    the test helpers it calls (followed ``depth`` calls deep)."""
    function = getattr(function, "__wrapped__", function)
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    names = _names(code)
    if names & SERVER_STARTERS:
        return True
    found = getattr(function, "__globals__", {})
    for name in names:
        value = found.get(name)
        if _is_server_class(value):
            return True
        if (
            depth > 0
            and callable(value)
            and not isinstance(value, type)
            and getattr(value, "__module__", "").startswith("tests")
            and value.__module__ != __name__
            and starts_servers(value, depth - 1)
        ):
            return True
    return False


def needs_servers(item: pytest.Item) -> bool:
    """True when the test, or any fixture it uses, starts a server."""
    if not isinstance(item, pytest.Function) or item.module.__name__ in CHECKS_OF_THE_TIERS:
        return False
    if (
        getattr(item, "callspec", None) is not None
        and item.callspec.params.get("state_backend") == "redis"
    ):
        return True
    if SERVER_FIXTURES & set(item.fixturenames) or starts_servers(item.function):
        return True
    return any(
        starts_servers(definition.func)
        for definitions in item._fixtureinfo.name2fixturedefs.values()
        for definition in definitions
    )


# Child processes that are servers or storewatch itself (a library asking `file` or `uname`
# about the machine is neither).
SERVER_PROGRAMS = ("storewatch", "redis-server", "redis-cli", "tansu", "kafka", "prometheus")
CLI_MODULE = "stream.cli"


def _is_server_command(args: Any) -> bool:
    argv = [str(arg) for arg in args] if isinstance(args, list | tuple) else str(args).split()
    program = os.path.basename(argv[0]) if argv else ""
    return any(name in program for name in SERVER_PROGRAMS) or CLI_MODULE in argv[1:3]


@contextmanager
def refusing_child_processes(test: str) -> Iterator[None]:
    """While it is open, starting a server or storewatch as a child process raises."""
    original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> Any:
        if _is_server_command(args):
            raise ServerInUnitTestError(
                f"{test} starts a server or storewatch ({args!r}) but is not marked integration: "
                "mark it @pytest.mark.integration, or name its starter in "
                "tests/helpers/tiers.py SERVER_STARTERS"
            )
        return original(self, args, *rest, **kwargs)

    subprocess.Popen._execute_child = refuse  # type: ignore[attr-defined]
    try:
        yield
    finally:
        subprocess.Popen._execute_child = original  # type: ignore[attr-defined]
