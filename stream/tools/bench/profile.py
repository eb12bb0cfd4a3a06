"""Where the in-process replay spends its time: a cProfile split by kind of work, and Redis
command time per event."""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import time
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry

from stream.config import Settings
from stream.core.facts import KEY_PREFIX
from stream.inputs import read_lines
from stream.runtime.alerts import ListAlertSink
from stream.runtime.dead_letters import ListDeadLetterSink, Source
from stream.runtime.engine import Engine
from stream.runtime.metrics import Metrics
from stream.state.state import RedisStateStore
from stream.tools.replay import run_engine


def reset_command_stats(redis_url: str) -> None:
    import redis as redis_sync

    redis_sync.Redis.from_url(redis_url).config_resetstat()


def command_time_per_event(redis_url: str, events: int) -> dict[str, float]:
    """Redis time per event by command since the last reset (INFO commandstats). Commands a
    script calls are counted both under their own name and inside ``evalsha``, so
    ``evalsha`` minus the others is the script's own interpretation time."""
    import redis as redis_sync

    stats = redis_sync.Redis.from_url(redis_url).info("commandstats")
    per_event = {
        name.removeprefix("cmdstat_"): round(stat["usec"] / events, 1)
        for name, stat in stats.items()
    }
    inner = sum(
        us
        for name, us in per_event.items()
        if name not in ("evalsha", "scan", "unlink", "info", "config")
    )
    per_event["evalsha_minus_other_commands"] = round(per_event.get("evalsha", 0.0) - inner, 1)
    return dict(sorted(per_event.items(), key=lambda item: -item[1]))


async def _profiled_replay(
    lines: list[bytes], settings: Settings, redis_url: str, profiler: cProfile.Profile
) -> float:
    """The loop of ``replay_in_process`` (same engine, sinks and batch size), profiled from
    the first batch to the last: neither set-up nor the clean-up of the namespace counts."""
    namespace = f"{KEY_PREFIX}:bench-profile-{os.getpid()}"
    state = RedisStateStore.from_url(redis_url, settings.windows, namespace)
    engine = Engine.from_settings(
        settings,
        state,
        ListAlertSink(),
        ListDeadLetterSink(),
        Metrics.create(CollectorRegistry()),
        check_topics=False,
    )
    try:
        started = time.perf_counter()
        profiler.enable()
        await run_engine(engine, ((raw, Source("bench", 0, i)) for i, raw in enumerate(lines)))
        profiler.disable()
        return len(lines) / (time.perf_counter() - started)
    finally:
        await state.drop_all()
        await state.close()


COST_GROUPS = (
    "parse",
    "validate",
    "state",
    "redis client",
    "waiting for redis",
    "models",
    "features+detectors",
    "alerts",
    "metrics",
    "engine",
    "asyncio",
    "other",
)


# The modules that turn a message into an Event: the msgspec pass, the full checks, the records.
PARSING_FILES: Final = (
    "stream/core/events.py",
    "stream/core/checks.py",
    "stream/core/records.py",
)


def _group_of(filename: str, function: str) -> str:
    if filename.endswith(PARSING_FILES):
        # json's C scanner is called by _decode_json, and cProfile gives it no entry of its own
        return "parse" if function == "_decode_json" else "validate"
    if "poll" in function and "epoll" in function:  # the loop idle: redis-server is at work
        return "waiting for redis"
    if filename.endswith(
        (
            "stream/core/store_state.py",
            "stream/core/windows.py",
            "stream/core/store_blob.py",
            "stream/core/store_view.py",
        )
    ):
        return "state"
    if (
        "/redis/" in filename
        or "hiredis" in function  # hiredis: C, filename '~'
        # update_for (stream/core/updates.py) was counted here while it lived in state.py:
        # kept so that shares stay comparable with the figures measured before the split
        or filename.endswith(
            (
                "stream/state/state.py",
                "stream/state/redis_client.py",
                "stream/core/updates.py",
                "stream/core/facts.py",
            )
        )
    ):
        return "redis client"
    if "/river/" in filename or filename.endswith("stream/core/models.py"):
        return "models"
    if (
        filename.endswith(
            ("stream/core/features.py", "stream/core/evidence.py", "stream/core/tracking.py")
        )
        or "stream/core/detectors/" in filename
    ):
        return "features+detectors"
    if filename.endswith("stream/runtime/alerts.py"):
        return "alerts"
    if "/prometheus_client/" in filename:
        return "metrics"
    if filename.endswith(
        ("stream/runtime/engine.py", "stream/runtime/dead_letters.py", "stream/tools/bench.py")
    ):
        return "engine"
    if "/asyncio/" in filename or filename.endswith("selectors.py"):
        return "asyncio"
    return "other"


Key = tuple[str, int, str]


def _parses_json(function: str) -> bool:
    """msgspec's JSON decoding, which parses and types the usual event in C. Its msgpack
    coding of a store's saved state is not parsing: it is charged to its caller (state).

    >>> _parses_json("<method 'decode' of 'msgspec.json.Decoder' objects>")
    True
    >>> _parses_json("<method 'encode' of 'msgspec.msgpack.Encoder' objects>")
    False
    """
    return "msgspec.json" in function


def _caller_shares(
    raw: dict[Key, Any], key: Key, memo: dict[Key, dict[str, float]], seen: set[Key]
) -> dict[str, float]:
    """Which groups a function works for: its own group if it has one, else its callers'
    groups weighted by the time each call edge took. Builtins (``dict.get``, ``len``) and the
    standard library (``random`` building River's trees, ``dataclasses.replace``) have no group
    of their own; left as "other" they would hide most of a short run's cost."""
    if key in memo:
        return memo[key]
    own = _group_of(key[0], key[2])
    callers = raw[key][4] if key in raw else {}
    if own != "other" or not callers or key in seen:
        return {own: 1.0}
    seen.add(key)
    weights: dict[str, float] = {}
    total_s = sum(edge[3] for edge in callers.values())
    for caller, edge in callers.items():
        weight = edge[3] / total_s if total_s > 0 else 1.0 / len(callers)
        for group, share in _caller_shares(raw, caller, memo, seen).items():
            weights[group] = weights.get(group, 0.0) + weight * share
    seen.discard(key)
    memo[key] = weights
    return weights


def cost_split(path: Path, redis_url: str, events: int) -> dict[str, Any]:
    """Share of the in-process replay's time by kind of work, from cProfile's own times.

    JSON is charged to whoever called it: ``json.loads`` from the parsing modules is "parse",
    ``json.dumps`` from ``store_state.py`` (saving a store) "state", from ``facts.py`` (the
    fact script's reply) "redis client", from ``alerts.py`` "alerts". Builtins and the
    standard library are charged the same way, through their callers. cProfile slows
    Python calls more than C code, so the shares of call-heavy parts are somewhat inflated.
    """
    lines = list(read_lines(path))[:events]
    profiler = cProfile.Profile()
    profiled_per_s = asyncio.run(_profiled_replay(lines, Settings(), redis_url, profiler))
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    groups = dict.fromkeys(COST_GROUPS, 0.0)
    memo: dict[Key, dict[str, float]] = {}
    json_own = {"loads": 0.0, "dumps": 0.0}
    callers_of: dict[str, dict[str, float]] = {"loads": {}, "dumps": {}}
    for (filename, line, function), row in raw.items():
        own_s = row[2]
        if _parses_json(function):
            groups["parse"] += own_s
            continue
        if "/json/" in filename or function in (
            "<built-in method _json.scanstring>",
            "<built-in method _json.encode_basestring_ascii>",
        ):
            kind = "dumps" if "encoder" in filename or "encode" in function else "loads"
            json_own[kind] += own_s
            if filename.endswith("json/__init__.py") and function in callers_of:
                for (caller_file, _, caller_fn), edge in row[4].items():
                    group = (
                        "parse"
                        if caller_file.endswith(PARSING_FILES) and function == "loads"
                        else _group_of(caller_file, caller_fn)
                    )
                    callers_of[function][group] = callers_of[function].get(group, 0.0) + edge[3]
            continue
        for group, share in _caller_shares(raw, (filename, line, function), memo, set()).items():
            groups[group] += own_s * share
    for kind, own_s in json_own.items():
        total_ct = sum(callers_of[kind].values())
        for group, ct in callers_of[kind].items():
            groups[group] += own_s * ct / total_ct if total_ct else 0.0
        if not total_ct:
            groups["parse" if kind == "loads" else "other"] += own_s
    total_s = sum(groups.values()) or 1.0
    return {
        "events": len(lines),
        "profiled_events_per_s": round(profiled_per_s),
        "profiled_s": round(total_s, 2),
        "share": {name: round(seconds / total_s, 3) for name, seconds in groups.items()},
        "us_per_event": {
            name: round(1e6 * seconds / len(lines), 1) for name, seconds in groups.items()
        },
    }
