"""`storewatch bench`: how fast Storewatch is, how far from the limit, and how it scales.

Everything is measured in one run on the same simulated marketplace, and every speed is also
given as a ratio to a ceiling measured in the same run (these machines are noisy):

- ceilings: ``json.loads`` alone over the events, and a bare aiokafka consumer over them;
- in-process replay against a real Redis;
- one Faust worker through Kafka (events published as fast as possible until all are decided),
  then two workers on the same partitions (the ratio two/one);
- latency from a record's Kafka timestamp (the send time) to its decision, at a fixed offered
  rate and at increasing rates, to find the highest that keeps p99 under the bound;
- Redis memory per tracked store and worker RSS at the end of the one-worker run;
- where the time goes, from a profile of the in-process replay.

A benchmark is not a test: nothing here fails on a slow machine. ``make test`` runs it once on a
small input so that it cannot rot.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import platform
import pstats
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.dev import DevStack
from stream.embedded import EmbeddedKafka, EmbeddedRedis, create_topics
from stream.replay import publish_file, read_lines, replay_in_process
from stream.simulate import simulate, write_events

P99_BOUND_S = 0.25


@dataclass
class BenchPlan:
    """What to run; the defaults are the full benchmark (>= 300,000 events)."""

    stores: int = 700
    days: int = 30
    seed: int = 21
    partitions: int = 4
    fixed_rate_per_s: float = 2000.0
    probe_rates_per_s: tuple[float, ...] = (1000.0, 2000.0, 3000.0, 4000.0, 6000.0, 8000.0)
    probe_s: float = 10.0
    profile_events: int = 40_000


@dataclass
class BenchResult:
    hardware: dict[str, Any]
    events: int
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


# --------------------------------------------------------------------------- ceilings


def json_ceiling_per_s(lines: list[bytes]) -> float:
    """Events per second that json.loads alone reaches over the same lines (best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for line in lines:
            json.loads(line)
        best = min(best, time.perf_counter() - started)
    return len(lines) / best


async def bare_consumer_ceiling_per_s(bootstrap: str, lines: list[bytes], partitions: int) -> float:
    """Events per second a bare aiokafka consumer reads the same messages from the broker."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topic = "storewatch-bench-ceiling"
    create_topics(bootstrap, [topic], partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for i, line in enumerate(lines):
            await producer.send(topic, line, partition=i % partitions)
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        seen, started = 0, time.perf_counter()
        while seen < len(lines):
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                seen += len(records)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------- worker metrics


def scrape(port: int) -> dict[str, float]:
    """A worker's /metrics as {sample line key: value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def consumed(stack: DevStack) -> float:
    total = 0.0
    for worker in stack.workers:
        try:
            samples = scrape(worker.metrics_port)
        except OSError:
            continue
        total += sum(v for k, v in samples.items() if k.startswith("storewatch_events_consumed_total{"))
    return total


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

    >>> quantile_from_buckets(0.5, {0.1: 0, 0.2: 0, float("inf"): 0}, {0.1: 0, 0.2: 10, float("inf"): 10})
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


# --------------------------------------------------------------------------- phases


def _stack(plan: BenchPlan, workers: int) -> DevStack:
    settings = Settings(kafka_partitions=plan.partitions, app_id=f"storewatch-bench-{workers}")
    return DevStack(settings).start(workers=workers)


def worker_throughput(path: Path, plan: BenchPlan, workers: int, events: int) -> dict[str, Any]:
    """Publish every event as fast as possible; time until the workers decided all of them."""
    with _stack(plan, workers) as stack:
        started = time.perf_counter()
        asyncio.run(publish_file(path, stack.settings))
        published_s = time.perf_counter() - started
        while consumed(stack) < events:
            time.sleep(0.1)
        elapsed_s = time.perf_counter() - started
        figures: dict[str, Any] = {
            "workers": workers,
            "events_per_s": round(events / elapsed_s),
            "publish_events_per_s": round(events / published_s),
            "elapsed_s": round(elapsed_s, 1),
        }
        if workers == 1:
            figures.update(state_footprint(stack))
        return figures


def state_footprint(stack: DevStack) -> dict[str, Any]:
    """Redis memory per tracked store and the worker's resident memory, at the end of a run."""
    import redis

    client = redis.Redis.from_url(str(stack.redis_url))
    stores = sum(1 for _ in client.scan_iter(match="sw:v1:*:profile", count=1000))
    used = client.info("memory")["used_memory"]
    baseline = 900_000  # an empty redis-server 6.2 uses about this much; subtracted below
    rss_kib = 0
    with open(f"/proc/{stack.workers[0].process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    return {
        "stores_tracked": stores,
        "redis_used_memory_bytes": used,
        "redis_bytes_per_store": round(max(0, used - baseline) / max(1, stores)),
        "worker_rss_mib": round(rss_kib / 1024, 1),
    }


def latency(path: Path, plan: BenchPlan) -> dict[str, Any]:
    """p50/p95/p99 of Kafka timestamp to decision at offered rates; records carry send time."""
    lines = list(read_lines(path))
    rates = sorted({plan.fixed_rate_per_s, *plan.probe_rates_per_s})
    results = []
    # The first seconds of a worker (script loading, model creation) are not its steady state.
    cursor = warm_up = min(len(lines) // 10, int(plan.fixed_rate_per_s * plan.probe_s))
    with _stack(plan, 1) as stack:
        warm = Path(tempfile.mkdtemp()) / "warm-up.jsonl"
        warm.write_bytes(b"\n".join(lines[:warm_up]) + b"\n")
        asyncio.run(publish_file(warm, stack.settings, rate_per_s=plan.fixed_rate_per_s))
        while consumed(stack) < warm_up:
            time.sleep(0.1)
        for rate in rates:
            count = int(rate * plan.probe_s)
            chunk = tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False)
            with chunk:
                chunk.write(b"\n".join(lines[cursor:cursor + count]) + b"\n")
            cursor += count
            before, target = latency_buckets(stack), consumed(stack) + count
            asyncio.run(publish_file(chunk.name, stack.settings, rate_per_s=rate,
                                     stamp_send_time=True))
            deadline = time.monotonic() + 120
            while consumed(stack) < target and time.monotonic() < deadline:
                time.sleep(0.1)
            after = latency_buckets(stack)
            os.unlink(chunk.name)
            row = {"offered_per_s": rate, **{f"p{int(q * 100)}_s": quantile_from_buckets(q, before, after)
                                               for q in (0.5, 0.95, 0.99)}}
            results.append(row)
            if row["p99_s"] > P99_BOUND_S and rate > plan.fixed_rate_per_s:
                break
            if cursor + count >= len(lines):
                break
    fixed = next(r for r in results if r["offered_per_s"] == plan.fixed_rate_per_s)
    within = [r["offered_per_s"] for r in results if r["p99_s"] <= P99_BOUND_S]
    return {"at_fixed_rate": fixed, "probes": results,
            "highest_rate_p99_within_bound_per_s": max(within) if within else None,
            "p99_bound_s": P99_BOUND_S}


def cost_split(path: Path, redis_url: str, events: int) -> dict[str, float]:
    """Share of the in-process replay's CPU time by kind of work, from cProfile's own times."""
    subset = Path(tempfile.mkdtemp()) / "subset.jsonl"
    lines = list(read_lines(path))[:events]
    subset.write_bytes(b"\n".join(lines) + b"\n")
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(replay_in_process(subset, Settings(), redis_url))
    profiler.disable()
    groups = {"parse": 0.0, "validate": 0.0, "redis": 0.0, "models": 0.0, "features+detectors": 0.0,
              "alerts": 0.0, "waiting for redis": 0.0, "other": 0.0}
    stats = pstats.Stats(profiler)
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        own_s = row[2]
        if "json/decoder" in filename or function in ("loads", "raw_decode"):
            groups["parse"] += own_s
        elif filename.endswith("stream/events.py"):
            groups["validate"] += own_s
        elif "poll" in function and "select" in function:  # the event loop idle, awaiting Redis
            groups["waiting for redis"] += own_s
        elif "/redis/" in filename or filename.endswith("stream/state.py"):
            groups["redis"] += own_s
        elif "/river/" in filename or filename.endswith("stream/models.py"):
            groups["models"] += own_s
        elif filename.endswith(("stream/features.py", "stream/detectors.py")):
            groups["features+detectors"] += own_s
        elif filename.endswith("stream/alerts.py"):
            groups["alerts"] += own_s
        else:
            groups["other"] += own_s
    total = sum(groups.values()) or 1.0
    return {name: round(seconds / total, 3) for name, seconds in groups.items()}


def run_bench(plan: BenchPlan, out_json: str | Path | None = None, say: Any = print) -> BenchResult:
    workdir = Path(tempfile.mkdtemp(prefix="storewatch-bench-"))
    path = workdir / "events.jsonl"
    sim = simulate(stores=plan.stores, days=plan.days, seed=plan.seed)
    write_events(path, sim.events)
    lines = list(read_lines(path))
    result = BenchResult(
        hardware={"cores": os.cpu_count(), "python": platform.python_version(),
                  "machine": platform.machine(), "plan": asdict(plan)},
        events=len(lines))
    f = result.figures
    say(f"{len(lines):,} events, {os.cpu_count()} cores")
    f["json_ceiling_per_s"] = round(json_ceiling_per_s(lines))
    say(f"json.loads ceiling: {f['json_ceiling_per_s']:,}/s")
    with EmbeddedKafka() as kafka:
        f["bare_consumer_ceiling_per_s"] = round(asyncio.run(
            bare_consumer_ceiling_per_s(kafka.bootstrap, lines, plan.partitions)))
    say(f"bare aiokafka consumer ceiling: {f['bare_consumer_ceiling_per_s']:,}/s")
    with EmbeddedRedis() as redis:
        replayed = asyncio.run(replay_in_process(path, Settings(), redis.url))
        f["replay_in_process_per_s"] = round(replayed.events_per_s)
        f["replay_vs_json_ceiling"] = round(replayed.events_per_s / f["json_ceiling_per_s"], 4)
        say(f"replay in-process: {f['replay_in_process_per_s']:,}/s "
            f"({f['replay_vs_json_ceiling']} of the JSON ceiling)")
        f["cost_split"] = cost_split(path, redis.url, plan.profile_events)
        say(f"cost split: {f['cost_split']}")
    one = worker_throughput(path, plan, 1, len(lines))
    f["kafka_one_worker"] = one
    say(f"one worker through Kafka: {one['events_per_s']:,}/s; Redis {one['redis_bytes_per_store']} "
        f"B/store over {one['stores_tracked']} stores; worker RSS {one['worker_rss_mib']} MiB")
    two = worker_throughput(path, plan, 2, len(lines))
    f["kafka_two_workers"] = two
    f["two_vs_one_worker"] = round(two["events_per_s"] / one["events_per_s"], 2)
    f["one_worker_vs_bare_consumer"] = round(one["events_per_s"] / f["bare_consumer_ceiling_per_s"], 4)
    say(f"two workers: {two['events_per_s']:,}/s ({f['two_vs_one_worker']}x one)")
    f["latency"] = latency(path, plan)
    fixed = f["latency"]["at_fixed_rate"]
    say(f"latency at {fixed['offered_per_s']:,.0f}/s: p50 {fixed['p50_s']}s p95 {fixed['p95_s']}s "
        f"p99 {fixed['p99_s']}s; highest rate with p99 <= {P99_BOUND_S}s: "
        f"{f['latency']['highest_rate_p99_within_bound_per_s']}/s")
    if out_json:
        Path(out_json).write_text(result.to_json())
    return result
