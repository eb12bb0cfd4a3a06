"""`storewatch bench`: how fast Storewatch is, how far from the limit, and how it scales.

Everything is measured in one run on the same simulated marketplace, and every speed is also
given as a ratio to a ceiling measured in the same run (these machines are noisy):

- ceilings: ``json.loads`` alone over the events, a bare aiokafka consumer over them, and a
  Faust worker that does nothing, through a stock agent and through the batch consumer the
  worker uses (``stream.tools.faust_ceiling``), each with its CPU per event;
- in-process replay against a real Redis;
- one Faust worker through Kafka (events published as fast as possible until all are decided),
  then two workers on the same partitions (the ratio two/one);
- latency from a record's Kafka timestamp (the send time) to its decision, at a fixed offered
  rate and at increasing rates, to find the highest that keeps p99 under the bound;
- Redis memory per tracked store and worker RSS at the end of the one-worker run;
- where the time goes, from a profile of the in-process replay, and the CPU seconds each
  process (broker, Redis, workers, this publisher) spent in every phase, read from
  ``/proc/<pid>/stat``, beside the machine's total (the machine is shared).

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

from prometheus_client import CollectorRegistry

from stream.runtime.alerts import ListAlertSink
from stream.config import Settings
from stream.tools.dev import DevStack
from stream.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics
from stream.runtime.engine import Engine, ListDeadLetterSink, Source
from stream.runtime.metrics import Metrics
from stream.inputs import read_lines
from stream.tools.replay import publish_file, replay_in_process, run_engine
from stream.tools.simulate import simulate, write_events
from stream.state.state import KEY_PREFIX, RedisStateStore

P99_BOUND_S = 0.25
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# The issue's targets (one core for the worker, on 2-core machines); reported, never asserted.
TARGETS = {
    "replay_in_process_per_s": 30_000,
    "replay_vs_json_ceiling": 0.11,
    "kafka_one_worker_per_s": 10_000,
    "one_worker_vs_replay": 0.8,
    "two_vs_one_worker": 1.6,
    "p99_at_fixed_rate_s": P99_BOUND_S,
    "redis_bytes_per_store": 4096,
}


@dataclass
class BenchPlan:
    """What to run; the defaults are the full benchmark (>= 300,000 events)."""

    stores: int = 700
    days: int = 30
    seed: int = 21
    partitions: int = 4
    fixed_rate_per_s: float = 2000.0
    probe_rates_per_s: tuple[float, ...] = (250.0, 500.0, 1000.0, 2000.0, 3000.0, 4000.0, 6000.0,
                                            8000.0)
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


async def bare_consumer_ceiling(bootstrap: str, lines: list[bytes],
                                partitions: int) -> tuple[float, float]:
    """Events per second a bare aiokafka consumer reads the same messages from the broker, and
    the CPU microseconds per message this process (all its threads) spent doing it."""
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
        seen, started, cpu_started_s = 0, time.perf_counter(), process_cpu_s(os.getpid())
        while seen < len(lines):
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                seen += len(records)
        cpu_us = 1e6 * (process_cpu_s(os.getpid()) - cpu_started_s) / seen
        return seen / (time.perf_counter() - started), cpu_us
    finally:
        await consumer.stop()


def faust_ceiling(path: Path, events: int, partitions: int, mode: str) -> dict[str, float]:
    """Events per second, and CPU microseconds per event, of a Faust worker that does nothing
    with the same events (``stream.tools.faust_ceiling``, in a process of its own), from its first
    batch to the last: through a stock agent (``mode="agent"``) or the batch consumer
    (``"batch"``)."""
    import subprocess
    import sys

    with EmbeddedKafka() as kafka:
        settings = Settings(kafka_bootstrap=kafka.bootstrap, kafka_partitions=partitions)
        create_topics(kafka.bootstrap, list(settings.topics.input_topics().values()), partitions)
        asyncio.run(publish_file(path, settings))
        done = subprocess.run(
            [sys.executable, "-m", "stream.tools.faust_ceiling", kafka.bootstrap, str(events),
             str(partitions), mode], capture_output=True, text=True, timeout=1800, check=False)
    for line in done.stdout.splitlines():
        if '{"events_per_s"' in line:  # after the terminal codes the worker writes
            figures: dict[str, float] = json.loads(line[line.index("{"):])
            return figures
    raise RuntimeError(f"the Faust ceiling run failed:\n{done.stderr[-2000:]}")


# --------------------------------------------------------------------------- CPU accounting


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used, from /proc/<pid>/stat.

    >>> process_cpu_s(os.getpid()) > 0
    True
    """
    with open(f"/proc/{pid}/stat") as stat:
        # the command name (field 2) may hold spaces; the fields after it are space-separated
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S  # utime, stime


def machine_busy_s() -> float:
    """CPU seconds all cores of the machine spent busy (not idle or iowait), from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLOCK_TICKS_PER_S


class CpuMeter:
    """CPU seconds of named processes between ``start()`` and ``stop()``, with the wall time
    and the machine's busy seconds over the same interval (what other work took is the rest)."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self._before: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        now = {"wall": time.perf_counter(), "machine": machine_busy_s()}
        for name, pid in self.pids.items():
            try:
                now[name] = process_cpu_s(pid)
            except OSError:  # exited
                now[name] = self._before.get(name, 0.0)
        return now

    def start(self) -> CpuMeter:
        self._before = self._read()
        return self

    def stop(self) -> dict[str, Any]:
        after = self._read()
        spent = {name: round(after[name] - self._before[name], 2) for name in self.pids}
        wall_s = after["wall"] - self._before["wall"]
        machine_s = after["machine"] - self._before["machine"]
        ours_s = sum(spent.values())
        return {"wall_s": round(wall_s, 2), "cpu_s": spent,
                "cores_busy_ours": round(ours_s / wall_s, 2) if wall_s else 0.0,
                "cores_busy_machine": round(machine_s / wall_s, 2) if wall_s else 0.0,
                "cores_busy_other_work": round(max(0.0, machine_s - ours_s) / wall_s, 2)
                if wall_s else 0.0}


def stack_pids(stack: DevStack) -> dict[str, int | None]:
    pids: dict[str, int | None] = {
        "broker": stack.kafka.pid if stack.kafka else None,
        "redis": stack.redis.pid if stack.redis else None,
    }
    for i, worker in enumerate(stack.workers):
        pids[f"worker{i}"] = worker.process.pid
    pids["bench (publisher)"] = os.getpid()
    return pids


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


def reset_command_stats(redis_url: str) -> None:
    import redis as redis_sync

    redis_sync.Redis.from_url(redis_url).config_resetstat()


def command_time_per_event(redis_url: str, events: int) -> dict[str, float]:
    """Redis time per event by command since the last reset (INFO commandstats). Commands a
    script calls are counted both under their own name and inside ``evalsha``, so
    ``evalsha`` minus the others is the script's own interpretation time."""
    import redis as redis_sync

    stats = redis_sync.Redis.from_url(redis_url).info("commandstats")
    per_event = {name.removeprefix("cmdstat_"): round(stat["usec"] / events, 1)
                 for name, stat in stats.items()}
    inner = sum(us for name, us in per_event.items()
                if name not in ("evalsha", "scan", "unlink", "info", "config"))
    per_event["evalsha_minus_other_commands"] = round(per_event.get("evalsha", 0.0) - inner, 1)
    return dict(sorted(per_event.items(), key=lambda item: -item[1]))


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# --------------------------------------------------------------------------- phases


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
                1e6 * sum(v for k, v in cpu["cpu_s"].items() if k.startswith("worker")) / events),
            "redis_cpu_us_per_event": round(1e6 * cpu["cpu_s"].get("redis", 0.0) / events),
            "broker_cpu_us_per_event": round(1e6 * cpu["cpu_s"].get("broker", 0.0) / events),
            "worker_rss_mib": [rss_mib(w.process.pid) for w in stack.workers],
            "mean_batch_events": mean_batch_events(stack),
        }
        if workers == 1:
            figures.update(state_footprint(stack, redis_before))
        return figures


def state_footprint(stack: DevStack, redis_before_bytes: int) -> dict[str, Any]:
    """Redis memory per tracked store at the end of a run: used memory above what the same
    server used before the first event (workers connected, scripts not yet loaded), divided by
    the stores with saved state. Cross-store facts are included: they exist because of stores."""
    import redis

    client = redis.Redis.from_url(str(stack.redis_url))
    try:
        stores = sum(1 for _ in client.scan_iter(match="sw:v1:*:state", count=1000))
        keys = client.dbsize()
        used = int(client.info("memory")["used_memory"])
    finally:
        client.close()
    return {
        "stores_tracked": stores,
        "redis_keys": keys,
        "redis_bytes_by_kind": redis_bytes_by_kind(str(stack.redis_url)),
        "redis_used_memory_before_bytes": redis_before_bytes,
        "redis_used_memory_bytes": used,
        "redis_bytes_per_store": round(max(0, used - redis_before_bytes) / max(1, stores)),
    }


def key_kind(key: str) -> str:
    """What a Storewatch key holds, for the memory breakdown.

    >>> key_kind("sw:v1:{s42}:state"), key_kind("sw:v1:fact:trk:{YT123}")
    ('state', 'fact:trk')
    """
    if "}:" in key:
        return key.rsplit("}:", 1)[1]
    if ":fact:" in key:
        return "fact:" + key.split(":fact:", 1)[1].split(":", 1)[0]
    return "other"


def redis_bytes_by_kind(redis_url: str) -> dict[str, dict[str, int]]:
    """Keys and bytes (MEMORY USAGE, which counts a key's own overhead) per kind of key."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    kinds: dict[str, dict[str, int]] = {}
    try:
        keys = list(client.scan_iter(count=1000))
        for first in range(0, len(keys), 1000):
            pipe = client.pipeline(transaction=False)
            chunk = keys[first:first + 1000]
            for key in chunk:
                pipe.memory_usage(key, samples=0)
            for key, used in zip(chunk, pipe.execute(), strict=True):
                kind = kinds.setdefault(key_kind(key), {"keys": 0, "bytes": 0})
                kind["keys"] += 1
                kind["bytes"] += int(used or 0)
    finally:
        client.close()
    return kinds


def _probe(stack: DevStack, lines: list[bytes], rate: float, probe_s: float) -> dict[str, Any]:
    count = int(rate * probe_s)
    chunk = tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False)
    with chunk:
        chunk.write(b"\n".join(lines[:count]) + b"\n")
    try:
        before, target = latency_buckets(stack), decided(stack) + count
        started = time.perf_counter()
        asyncio.run(publish_file(chunk.name, stack.settings, rate_per_s=rate,
                                 stamp_send_time=True))
        sent_s = time.perf_counter() - started
        drained = wait_decided(stack, target, timeout_s=180)
        after = latency_buckets(stack)
    finally:
        os.unlink(chunk.name)
    return {"offered_per_s": rate, "achieved_offered_per_s": round(count / sent_s),
            "events": count, "drained": drained,
            **{f"p{int(q * 100)}_s": quantile_from_buckets(q, before, after)
               for q in (0.5, 0.95, 0.99)}}


def latency(path: Path, plan: BenchPlan) -> dict[str, Any]:
    """p50/p95/p99 of Kafka timestamp to decision at offered rates; records carry send time.

    Rates rise through the probe list until p99 passes the bound at or above the fixed rate;
    one bisection step between the highest rate within the bound below the first rate beyond
    it and that rate then narrows the highest rate. Every probe waits until its events are
    decided (the backlog of an overloaded probe does not leak into the next one).
    """
    lines = list(read_lines(path))
    rates = sorted({plan.fixed_rate_per_s, *plan.probe_rates_per_s})
    results = []
    # The first seconds of a worker (script loading, model creation) are not its steady state.
    cursor = warm_up = min(len(lines) // 10, int(plan.fixed_rate_per_s * plan.probe_s))
    with _stack(plan, 1) as stack:
        warm = Path(tempfile.mkdtemp()) / "warm-up.jsonl"
        warm.write_bytes(b"\n".join(lines[:warm_up]) + b"\n")
        asyncio.run(publish_file(warm, stack.settings, rate_per_s=plan.fixed_rate_per_s))
        wait_decided(stack, warm_up, timeout_s=180)
        meter = CpuMeter(stack_pids(stack)).start()
        for rate in rates:
            if cursor + int(rate * plan.probe_s) > len(lines):
                break
            row = _probe(stack, lines[cursor:], rate, plan.probe_s)
            cursor += row["events"]
            results.append(row)
            if row["p99_s"] > P99_BOUND_S and rate >= plan.fixed_rate_per_s:
                break
        failed = [r["offered_per_s"] for r in results if r["p99_s"] > P99_BOUND_S]
        below = [r["offered_per_s"] for r in results
                 if r["p99_s"] <= P99_BOUND_S and failed and r["offered_per_s"] < min(failed)]
        if below:
            middle = round((max(below) + min(failed)) / 2)
            if cursor + int(middle * plan.probe_s) <= len(lines):
                results.append(_probe(stack, lines[cursor:], middle, plan.probe_s))
        cpu = meter.stop()
    fixed = next((r for r in results if r["offered_per_s"] == plan.fixed_rate_per_s), None)
    within = [r["offered_per_s"] for r in results if r["p99_s"] <= P99_BOUND_S]
    highest = max(within) if within else None
    return {"at_fixed_rate": fixed, "probes": sorted(results, key=lambda r: r["offered_per_s"]),
            "highest_rate_p99_within_bound_per_s": highest,
            "at_highest_rate": next((r for r in results if r["offered_per_s"] == highest), None),
            "p99_bound_s": P99_BOUND_S, "cpu": cpu}


async def _profiled_replay(lines: list[bytes], settings: Settings, redis_url: str,
                           profiler: cProfile.Profile) -> float:
    """The loop of ``replay_in_process`` (same engine, sinks and batch size), profiled from
    the first batch to the last: neither set-up nor the clean-up of the namespace counts."""
    namespace = f"{KEY_PREFIX}:bench-profile-{os.getpid()}"
    state = RedisStateStore.from_url(redis_url, settings.windows, namespace)
    engine = Engine.from_settings(settings, state, ListAlertSink(), ListDeadLetterSink(),
                                  Metrics.create(CollectorRegistry()), check_topics=False)
    try:
        started = time.perf_counter()
        profiler.enable()
        await run_engine(engine, ((raw, Source("bench", 0, i)) for i, raw in enumerate(lines)))
        profiler.disable()
        return len(lines) / (time.perf_counter() - started)
    finally:
        await state.drop_all()
        await state.close()


COST_GROUPS = ("parse", "validate", "state", "redis client", "waiting for redis", "models",
               "features+detectors", "alerts", "metrics", "engine", "asyncio", "other")


def _group_of(filename: str, function: str) -> str:
    if filename.endswith("stream/core/events.py"):
        # json's C scanner is called by _decode_json, and cProfile gives it no entry of its own
        return "parse" if function == "_decode_json" else "validate"
    if "poll" in function and "epoll" in function:  # the loop idle: redis-server is at work
        return "waiting for redis"
    if filename.endswith("stream/core/store_state.py"):
        return "state"
    if ("/redis/" in filename or "hiredis" in function  # hiredis: C, filename '~'
            or filename.endswith(("stream/state/state.py", "stream/core/facts.py"))):
        return "redis client"
    if "/river/" in filename or filename.endswith("stream/core/models.py"):
        return "models"
    if filename.endswith(("stream/core/features.py", "stream/core/detectors.py")):
        return "features+detectors"
    if filename.endswith("stream/runtime/alerts.py"):
        return "alerts"
    if "/prometheus_client/" in filename:
        return "metrics"
    if filename.endswith(("stream/runtime/engine.py", "stream/tools/bench.py")):
        return "engine"
    if "/asyncio/" in filename or filename.endswith("selectors.py"):
        return "asyncio"
    return "other"


def cost_split(path: Path, redis_url: str, events: int) -> dict[str, Any]:
    """Share of the in-process replay's time by kind of work, from cProfile's own times.

    JSON is charged to whoever called it: ``json.loads`` from ``events.py`` is "parse",
    ``json.dumps`` from ``store_state.py`` (saving a store) "state", from ``facts.py`` (the
    fact script's reply) "redis client", from ``alerts.py`` "alerts". cProfile slows
    Python calls more than C code, so the shares of call-heavy parts are somewhat inflated.
    """
    lines = list(read_lines(path))[:events]
    profiler = cProfile.Profile()
    profiled_per_s = asyncio.run(_profiled_replay(lines, Settings(), redis_url, profiler))
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    groups = dict.fromkeys(COST_GROUPS, 0.0)
    json_own = {"loads": 0.0, "dumps": 0.0}
    callers_of: dict[str, dict[str, float]] = {"loads": {}, "dumps": {}}
    for (filename, _, function), row in raw.items():
        own_s = row[2]
        if "/json/" in filename or function in ("<built-in method _json.scanstring>",
                                                "<built-in method _json.encode_basestring_ascii>"):
            kind = "dumps" if "encoder" in filename or "encode" in function else "loads"
            json_own[kind] += own_s
            if filename.endswith("json/__init__.py") and function in callers_of:
                for (caller_file, _, caller_fn), edge in row[4].items():
                    group = ("parse" if caller_file.endswith("stream/core/events.py") and
                             function == "loads" else _group_of(caller_file, caller_fn))
                    callers_of[function][group] = callers_of[function].get(group, 0.0) + edge[3]
            continue
        groups[_group_of(filename, function)] += own_s
    for kind, own_s in json_own.items():
        total_ct = sum(callers_of[kind].values())
        for group, ct in callers_of[kind].items():
            groups[group] += own_s * ct / total_ct if total_ct else 0.0
        if not total_ct:
            groups["parse" if kind == "loads" else "other"] += own_s
    total_s = sum(groups.values()) or 1.0
    return {"events": len(lines), "profiled_events_per_s": round(profiled_per_s),
            "profiled_s": round(total_s, 2),
            "share": {name: round(seconds / total_s, 3) for name, seconds in groups.items()},
            "us_per_event": {name: round(1e6 * seconds / len(lines), 1)
                             for name, seconds in groups.items()}}


def hardware() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo
                          if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "machine": platform.machine(), "load_average_at_start": os.getloadavg()}


def summary_rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, ratio to its ceiling, target) for the printed table."""
    one, two, lat = f["kafka_one_worker"], f["kafka_two_workers"], f["latency"]
    fixed = lat["at_fixed_rate"] or {"offered_per_s": 0, "p50_s": None, "p95_s": None,
                                     "p99_s": None}
    highest = lat["at_highest_rate"] or {}
    split = f["cost_split"]["share"]
    return [
        ("json.loads ceiling", f"{f['json_ceiling_per_s']:,}/s", "1", ""),
        ("bare aiokafka consumer ceiling", f"{f['bare_consumer_ceiling_per_s']:,}/s",
         f"{f['bare_consumer_cpu_us_per_event']} us CPU/event", ""),
        ("Faust agent doing nothing", f"{f['faust_agent_ceiling_per_s']:,}/s",
         f"{f['faust_agent_cpu_us_per_event']} us CPU/event", ""),
        ("batch consumer doing nothing (ceiling)", f"{f['batch_consumer_ceiling_per_s']:,}/s",
         f"{f['batch_consumer_cpu_us_per_event']} us CPU/event, "
         f"{f['batch_consumer_cpu_vs_bare_consumer']}x bare", ""),
        ("replay in-process, real Redis", f"{f['replay_in_process_per_s']:,}/s",
         f"{f['replay_vs_json_ceiling']} of json", ">= 30,000/s, >= 0.11"),
        ("one Faust worker, produced to decided", f"{one['events_per_s']:,}/s",
         f"{f['one_worker_vs_replay']} of replay, {one['worker_cpu_us_per_event']} us "
         "CPU/event", ">= 0.8 of replay"),
        ("two Faust workers", f"{two['events_per_s']:,}/s",
         f"{f['two_vs_one_worker']}x one", ">= 1.6x"),
        (f"latency at {fixed['offered_per_s']:,.0f}/s p50/p95/p99",
         f"{fixed['p50_s']}/{fixed['p95_s']}/{fixed['p99_s']} s", "", "p99 <= 0.25 s"),
        ("highest probed rate with p99 <= 0.25 s",
         f"{lat['highest_rate_p99_within_bound_per_s']}/s (p99 {highest.get('p99_s')} s)", "", ""),
        ("Redis memory per tracked store",
         f"{one['redis_bytes_per_store']:,} B ({one['stores_tracked']} stores)", "",
         "<= 4,096 B"),
        ("worker RSS at end (1 worker; 2 workers)",
         f"{one['worker_rss_mib']} MiB; {two['worker_rss_mib']} MiB", "", ""),
    ] + [(f"cost split: {name}", f"{share:.1%}",
          f"{f['cost_split']['us_per_event'][name]} us/event", "") for name, share in split.items()]


def print_table(rows: list[tuple[str, str, str, str]], say: Any) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, value, ratio, target in rows:
        say(f"{name:<{widths[0]}}  {value:<{widths[1]}}  {ratio:<{widths[2]}}  {target}")


def run_bench(plan: BenchPlan, out_json: str | Path | None = None, say: Any = print) -> BenchResult:
    workdir = Path(tempfile.mkdtemp(prefix="storewatch-bench-"))
    path = workdir / "events.jsonl"
    sim = simulate(stores=plan.stores, days=plan.days, seed=plan.seed)
    write_events(path, sim.events)
    lines = list(read_lines(path))
    result = BenchResult(hardware={**hardware(), "plan": asdict(plan)}, events=len(lines))
    f = result.figures
    f["targets"] = TARGETS
    say(f"{len(lines):,} events ({plan.stores} stores, {plan.days} days, seed {plan.seed}); "
        f"{os.cpu_count()} cores ({result.hardware['cpu_model']}), load average "
        f"{result.hardware['load_average_at_start'][0]:.2f} at start")
    f["json_ceiling_per_s"] = round(json_ceiling_per_s(lines))
    say(f"json.loads ceiling: {f['json_ceiling_per_s']:,}/s")
    with EmbeddedKafka() as kafka:
        bare_per_s, bare_cpu_us = asyncio.run(
            bare_consumer_ceiling(kafka.bootstrap, lines, plan.partitions))
    f["bare_consumer_ceiling_per_s"] = round(bare_per_s)
    f["bare_consumer_cpu_us_per_event"] = round(bare_cpu_us, 2)
    say(f"bare aiokafka consumer ceiling: {f['bare_consumer_ceiling_per_s']:,}/s, "
        f"{f['bare_consumer_cpu_us_per_event']} us CPU/event")
    agent = faust_ceiling(path, len(lines), plan.partitions, "agent")
    f["faust_agent_ceiling_per_s"] = round(agent["events_per_s"])
    f["faust_agent_cpu_us_per_event"] = agent["cpu_us_per_event"]
    say(f"Faust agent that does nothing: {f['faust_agent_ceiling_per_s']:,}/s, "
        f"{f['faust_agent_cpu_us_per_event']} us CPU/event")
    batch = faust_ceiling(path, len(lines), plan.partitions, "batch")
    f["batch_consumer_ceiling_per_s"] = round(batch["events_per_s"])
    f["batch_consumer_cpu_us_per_event"] = batch["cpu_us_per_event"]
    f["batch_consumer_cpu_vs_bare_consumer"] = round(
        batch["cpu_us_per_event"] / max(bare_cpu_us, 1e-9), 2)
    say(f"batch consumer that does nothing: {f['batch_consumer_ceiling_per_s']:,}/s, "
        f"{f['batch_consumer_cpu_us_per_event']} us CPU/event "
        f"({f['batch_consumer_cpu_vs_bare_consumer']}x the bare consumer's)")
    with EmbeddedRedis() as redis:
        reset_command_stats(redis.url)
        meter = CpuMeter({"redis": redis.pid, "bench (replay)": os.getpid()}).start()
        replayed = asyncio.run(replay_in_process(path, Settings(), redis.url))
        cpu = meter.stop()
        f["replay_redis_commands"] = command_time_per_event(redis.url, len(lines))
        f["replay_in_process_per_s"] = round(replayed.events_per_s)
        f["replay_vs_json_ceiling"] = round(replayed.events_per_s / f["json_ceiling_per_s"], 4)
        f["replay_cpu"] = {**cpu, "redis_cpu_us_per_event":
                           round(1e6 * cpu["cpu_s"]["redis"] / len(lines)),
                           "replay_cpu_us_per_event":
                           round(1e6 * cpu["cpu_s"]["bench (replay)"] / len(lines))}
        say(f"replay in-process: {f['replay_in_process_per_s']:,}/s "
            f"({f['replay_vs_json_ceiling']} of the JSON ceiling); CPU {cpu['cpu_s']}")
        f["cost_split"] = cost_split(path, redis.url, plan.profile_events)
        say(f"cost split: {f['cost_split']['share']}")
    one = worker_throughput(path, plan, 1, len(lines))
    f["kafka_one_worker"] = one
    say(f"one worker through Kafka: {one['events_per_s']:,}/s; "
        f"Redis {one['redis_bytes_per_store']} B/store over {one['stores_tracked']} stores; "
        f"worker RSS {one['worker_rss_mib']} MiB; "
        f"CPU {one['cpu']}")
    two = worker_throughput(path, plan, 2, len(lines))
    f["kafka_two_workers"] = two
    f["two_vs_one_worker"] = round(two["events_per_s"] / one["events_per_s"], 2)
    f["one_worker_vs_bare_consumer"] = round(
        one["events_per_s"] / f["bare_consumer_ceiling_per_s"], 4)
    f["one_worker_vs_faust_ceiling"] = round(
        one["events_per_s"] / f["faust_agent_ceiling_per_s"], 4)
    f["one_worker_vs_batch_ceiling"] = round(
        one["events_per_s"] / f["batch_consumer_ceiling_per_s"], 4)
    f["one_worker_vs_replay"] = round(one["events_per_s"] / f["replay_in_process_per_s"], 4)
    say(f"two workers: {two['events_per_s']:,}/s ({f['two_vs_one_worker']}x one); CPU {two['cpu']}")
    f["latency"] = latency(path, plan)
    fixed = f["latency"]["at_fixed_rate"] or {"offered_per_s": 0, "p50_s": None, "p95_s": None,
                                              "p99_s": None}
    say(f"latency at {fixed['offered_per_s']:,.0f}/s: p50 {fixed['p50_s']}s p95 {fixed['p95_s']}s "
        f"p99 {fixed['p99_s']}s; highest rate with p99 <= {P99_BOUND_S}s: "
        f"{f['latency']['highest_rate_p99_within_bound_per_s']}/s")
    say("")
    print_table(summary_rows(f), say)
    if out_json:
        Path(out_json).write_text(result.to_json())
    return result
