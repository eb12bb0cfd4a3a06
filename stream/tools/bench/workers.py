"""Faust workers through Kafka: throughput from produced to decided, and latency at offered rates."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.inputs import read_lines
from stream.tools.bench.cpu import CpuMeter, rss_mib, stack_pids
from stream.tools.bench.memory import state_footprint
from stream.tools.bench.plan import P99_BOUND_S, BenchPlan
from stream.tools.dev import DevStack
from stream.tools.publish import publish_file


def scrape(port: int) -> dict[str, float]:
    """A worker's /metrics as {sample line key: value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def decided(stack: DevStack) -> float:
    """Events the workers have decided (their alerts sent, if any): the count of the
    Kafka-to-decision histogram, observed for every event once its batch is processed."""
    total = 0.0
    for worker in stack.workers:
        try:
            samples = scrape(worker.metrics_port)
        except OSError:
            continue
        total += samples.get("storewatch_kafka_to_decision_seconds_count", 0.0)
    return total


def mean_batch_events(stack: DevStack) -> float:
    """Messages per batch the workers decided, on average (storewatch_batch_events)."""
    count = total = 0.0
    for worker in stack.workers:
        samples = scrape(worker.metrics_port)
        count += samples.get("storewatch_batch_events_count", 0.0)
        total += samples.get("storewatch_batch_events_sum", 0.0)
    return round(total / count, 1) if count else 0.0


def wait_decided(stack: DevStack, target: float, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while decided(stack) < target:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def latency_buckets(stack: DevStack) -> dict[float, float]:
    """Cumulative counts of storewatch_kafka_to_decision_seconds, summed over workers."""
    buckets: dict[float, float] = {}
    for worker in stack.workers:
        for key, value in scrape(worker.metrics_port).items():
            if key.startswith("storewatch_kafka_to_decision_seconds_bucket{"):
                bound = key.split('le="')[1].split('"')[0]
                upper = float("inf") if bound == "+Inf" else float(bound)
                buckets[upper] = buckets.get(upper, 0.0) + value
    return buckets


def quantile_from_buckets(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """The q-quantile of the observations made between two scrapes of a cumulative histogram,
    interpolated linearly inside its bucket (as Prometheus' histogram_quantile does).

    >>> empty, ten = {0.1: 0, 0.2: 0, float("inf"): 0}, {0.1: 0, 0.2: 10, float("inf"): 10}
    >>> quantile_from_buckets(0.5, empty, ten)
    0.15
    """
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return round(lower + (bound - lower) * ((rank - below) / inside if inside else 1.0), 4)
        lower, below = bound, cumulative
    return lower


def _stack(plan: BenchPlan, workers: int) -> DevStack:
    settings = Settings(kafka_partitions=plan.partitions, app_id=f"storewatch-bench-{workers}")
    return DevStack(settings).start(workers=workers)


def _redis_used_memory(stack: DevStack) -> int:
    import redis

    client = redis.Redis.from_url(str(stack.redis_url))
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def worker_throughput(path: Path, plan: BenchPlan, workers: int, events: int) -> dict[str, Any]:
    """Publish every event as fast as possible; time until the workers decided all of them,
    with the CPU seconds each process spent meanwhile."""
    with _stack(plan, workers) as stack:
        redis_before = _redis_used_memory(stack)
        meter = CpuMeter(stack_pids(stack)).start()
        started = time.perf_counter()
        asyncio.run(publish_file(path, stack.settings))
        published_s = time.perf_counter() - started
        wait_decided(stack, events, timeout_s=3600)
        elapsed_s = time.perf_counter() - started
        cpu = meter.stop()
        figures: dict[str, Any] = {
            "workers": workers,
            "events_per_s": round(events / elapsed_s),
            "publish_events_per_s": round(events / published_s),
            "elapsed_s": round(elapsed_s, 1),
            "cpu": cpu,
            "worker_cpu_us_per_event": round(
                1e6 * sum(v for k, v in cpu["cpu_s"].items() if k.startswith("worker")) / events
            ),
            "redis_cpu_us_per_event": round(1e6 * cpu["cpu_s"].get("redis", 0.0) / events),
            "broker_cpu_us_per_event": round(1e6 * cpu["cpu_s"].get("broker", 0.0) / events),
            "worker_rss_mib": [rss_mib(w.process.pid) for w in stack.workers],
            "mean_batch_events": mean_batch_events(stack),
        }
        if workers == 1:
            figures.update(state_footprint(stack, redis_before))
        return figures


def _probe(stack: DevStack, lines: list[bytes], rate: float, probe_s: float) -> dict[str, Any]:
    count = int(rate * probe_s)
    chunk = tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False)  # noqa: SIM115 (closed below, kept after)
    with chunk:
        chunk.write(b"\n".join(lines[:count]) + b"\n")
    try:
        before, target = latency_buckets(stack), decided(stack) + count
        started = time.perf_counter()
        asyncio.run(publish_file(chunk.name, stack.settings, rate_per_s=rate, stamp_send_time=True))
        sent_s = time.perf_counter() - started
        drained = wait_decided(stack, target, timeout_s=180)
        after = latency_buckets(stack)
    finally:
        os.unlink(chunk.name)
    return {
        "offered_per_s": rate,
        "achieved_offered_per_s": round(count / sent_s),
        "events": count,
        "drained": drained,
        **{
            f"p{int(q * 100)}_s": quantile_from_buckets(q, before, after) for q in (0.5, 0.95, 0.99)
        },
    }


def latency(path: Path, plan: BenchPlan) -> dict[str, Any]:
    """p50/p95/p99 of Kafka timestamp to decision at offered rates; records carry send time.

    Rates rise through the probe list until p99 passes the bound at or above the fixed rate;
    one bisection step between the highest rate within the bound below the first rate beyond
    it and that rate then narrows the highest rate. Every probe waits until its events are
    decided (the backlog of an overloaded probe does not leak into the next one).
    """
    if plan.fixed_rate_per_s is None:
        raise ValueError("latency needs a fixed rate (run_bench sets half of one worker's)")
    fixed_rate_per_s = plan.fixed_rate_per_s
    lines = list(read_lines(path))
    rates = sorted({fixed_rate_per_s, *plan.probe_rates_per_s})
    results = []
    # The first seconds of a worker (script loading, model creation) are not its steady state.
    cursor = warm_up = min(len(lines) // 10, int(fixed_rate_per_s * plan.probe_s))
    with _stack(plan, 1) as stack:
        warm = Path(tempfile.mkdtemp()) / "warm-up.jsonl"
        warm.write_bytes(b"\n".join(lines[:warm_up]) + b"\n")
        asyncio.run(publish_file(warm, stack.settings, rate_per_s=fixed_rate_per_s))
        wait_decided(stack, warm_up, timeout_s=180)
        meter = CpuMeter(stack_pids(stack)).start()
        for rate in rates:
            if cursor + int(rate * plan.probe_s) > len(lines):
                break
            row = _probe(stack, lines[cursor:], rate, plan.probe_s)
            cursor += row["events"]
            results.append(row)
            if row["p99_s"] > P99_BOUND_S and rate >= fixed_rate_per_s:
                break
        failed = [r["offered_per_s"] for r in results if r["p99_s"] > P99_BOUND_S]
        below = [
            r["offered_per_s"]
            for r in results
            if r["p99_s"] <= P99_BOUND_S and failed and r["offered_per_s"] < min(failed)
        ]
        if below:
            middle = round((max(below) + min(failed)) / 2)
            if cursor + int(middle * plan.probe_s) <= len(lines):
                results.append(_probe(stack, lines[cursor:], middle, plan.probe_s))
        cpu = meter.stop()
    fixed = next((r for r in results if r["offered_per_s"] == fixed_rate_per_s), None)
    within = [r["offered_per_s"] for r in results if r["p99_s"] <= P99_BOUND_S]
    highest = max(within) if within else None
    return {
        "at_fixed_rate": fixed,
        "probes": sorted(results, key=lambda r: r["offered_per_s"]),
        "highest_rate_p99_within_bound_per_s": highest,
        "at_highest_rate": next((r for r in results if r["offered_per_s"] == highest), None),
        "p99_bound_s": P99_BOUND_S,
        "cpu": cpu,
    }
