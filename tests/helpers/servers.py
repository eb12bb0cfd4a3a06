"""Reading what real servers hold: a topic, a worker's /metrics, Redis's saved state, a process."""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

import redis.asyncio as redis_asyncio

from stream.config import Settings
from stream.core.store_state import StoreState
from stream.core.windows import Window
from stream.runtime.metrics import read_metrics_page, sample_sum
from stream.runtime.topic_reader import read_from_start

LABEL = re.compile(r'(\w+)="([^"]*)"')


async def read_topic(settings: Settings, topic: str, idle_s: float = 2.0) -> list[Any]:
    """Every record on ``topic`` so far (read until it has been quiet for ``idle_s``)."""
    records: list[Any] = []
    await read_from_start(settings, topic, records.append, quiet_s=idle_s)
    return records


def metric(port: int, name: str, /, **labels: str) -> float | None:
    """The sum of the samples ``name`` (with ``labels``) on a worker's /metrics page; None
    when it has none. ``name`` may carry its labels as the page writes them:
    ``storewatch_redis_errors_total{kind="unavailable"}``."""
    sample, _, written = name.partition("{")
    labels = {**dict(LABEL.findall(written)), **labels}
    return sample_sum(read_metrics_page(port), sample, **labels)


async def wait_for_metric(
    port: int, name: str, value: float, timeout_s: float, *, at_least: bool = False
) -> float:
    """Poll /metrics until ``name`` equals ``value`` (or reaches it, for a counter)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        seen = await asyncio.to_thread(metric, port, name)
        if seen is not None and (seen >= value if at_least else seen == value):
            return seen
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{name} is {seen}, not {value}, after {timeout_s:.0f}s")
        await asyncio.sleep(0.2)


def kept_buckets(shape: str, window: Window) -> dict[int, tuple[tuple[int, float], ...]]:
    """The buckets a window can still read (its ring back from its head), rounded: older ones
    may linger until the next pruning, which depends on when a worker last started."""
    ring = int(shape.rsplit("/", 1)[1])
    return {
        b: tuple(sorted((m, round(v, 2)) for m, v in bucket.items()))
        for b, bucket in window.buckets.items()
        if b > window.head - ring
    }


async def redis_state(url: str) -> dict[str, dict[str, dict[int, tuple[tuple[int, float], ...]]]]:
    """Every store's saved window buckets (rounded to the cent: the order of float additions
    may differ between runs)."""
    client = redis_asyncio.Redis.from_url(url, decode_responses=True)
    try:
        windows = {}
        async for key in client.scan_iter(match="sw:v1:{*}:state", count=1000):
            blob = await client.execute_command("GET", key, NEVER_DECODE=[])  # type: ignore[no-untyped-call]
            saved = StoreState.from_blob(blob)
            windows[key] = {
                shape: kept_buckets(shape, window) for shape, window in saved.windows.items()
            }
        return windows
    finally:
        await client.aclose()


def process_gone(pid: int) -> bool:
    """True when neither the process nor any member of its process group is alive."""
    for probe in (os.kill, os.killpg):
        try:
            probe(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True
