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
small input so that it cannot rot."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.inputs import read_lines
from stream.tools.bench.ceilings import bare_consumer_ceiling, faust_ceiling, json_ceiling_per_s
from stream.tools.bench.cpu import CpuMeter
from stream.tools.bench.plan import P99_BOUND_S, TARGETS, BenchPlan
from stream.tools.bench.profile import command_time_per_event, cost_split, reset_command_stats
from stream.tools.bench.workers import latency, worker_throughput
from stream.tools.embedded import EmbeddedKafka, EmbeddedRedis
from stream.tools.replay import replay_in_process
from stream.tools.simulate import simulate, write_events


@dataclass
class BenchResult:
    hardware: dict[str, Any]
    events: int
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def hardware() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                "",
            )
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average_at_start": os.getloadavg(),
    }


def summary_rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, ratio to its ceiling, target) for the printed table."""
    one, two, lat = f["kafka_one_worker"], f["kafka_two_workers"], f["latency"]
    fixed = lat["at_fixed_rate"] or {
        "offered_per_s": 0,
        "p50_s": None,
        "p95_s": None,
        "p99_s": None,
    }
    highest = lat["at_highest_rate"] or {}
    split = f["cost_split"]["share"]
    return [
        ("json.loads ceiling", f"{f['json_ceiling_per_s']:,}/s", "1", ""),
        (
            "bare aiokafka consumer ceiling",
            f"{f['bare_consumer_ceiling_per_s']:,}/s",
            f"{f['bare_consumer_cpu_us_per_event']} us CPU/event",
            "",
        ),
        (
            "Faust agent doing nothing",
            f"{f['faust_agent_ceiling_per_s']:,}/s",
            f"{f['faust_agent_cpu_us_per_event']} us CPU/event",
            "",
        ),
        (
            "batch consumer doing nothing (ceiling)",
            f"{f['batch_consumer_ceiling_per_s']:,}/s",
            f"{f['batch_consumer_cpu_us_per_event']} us CPU/event, "
            f"{f['batch_consumer_cpu_vs_bare_consumer']}x bare",
            "",
        ),
        (
            "replay in-process, real Redis",
            f"{f['replay_in_process_per_s']:,}/s",
            f"{f['replay_vs_json_ceiling']} of json",
            ">= 0.075 of json",
        ),
        (
            "one Faust worker, produced to decided",
            f"{one['events_per_s']:,}/s",
            f"{f['one_worker_vs_replay']} of replay, {one['worker_cpu_us_per_event']} us "
            "CPU/event",
            ">= 0.8 of replay",
        ),
        (
            "two Faust workers",
            f"{two['events_per_s']:,}/s",
            f"{f['two_vs_one_worker']}x one",
            ">= 1.6x",
        ),
        (
            f"latency at {fixed['offered_per_s']:,.0f}/s p50/p95/p99",
            f"{fixed['p50_s']}/{fixed['p95_s']}/{fixed['p99_s']} s",
            "",
            "p99 <= 0.25 s",
        ),
        (
            "highest probed rate with p99 <= 0.25 s",
            f"{lat['highest_rate_p99_within_bound_per_s']}/s (p99 {highest.get('p99_s')} s)",
            "",
            "",
        ),
        (
            "Redis memory per tracked store",
            f"{one['redis_bytes_per_store']:,} B ({one['stores_tracked']} stores)",
            "",
            "<= 4,096 B",
        ),
        (
            "worker RSS at end (1 worker; 2 workers)",
            f"{one['worker_rss_mib']} MiB; {two['worker_rss_mib']} MiB",
            "",
            "",
        ),
    ] + [
        (
            f"cost split: {name}",
            f"{share:.1%}",
            f"{f['cost_split']['us_per_event'][name]} us/event",
            "",
        )
        for name, share in split.items()
    ]


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
    say(
        f"{len(lines):,} events ({plan.stores} stores, {plan.days} days, seed {plan.seed}); "
        f"{os.cpu_count()} cores ({result.hardware['cpu_model']}), load average "
        f"{result.hardware['load_average_at_start'][0]:.2f} at start"
    )
    f["json_ceiling_per_s"] = round(json_ceiling_per_s(lines))
    say(f"json.loads ceiling: {f['json_ceiling_per_s']:,}/s")
    with EmbeddedKafka() as kafka:
        bare_per_s, bare_cpu_us = asyncio.run(
            bare_consumer_ceiling(kafka.bootstrap, lines, plan.partitions)
        )
    f["bare_consumer_ceiling_per_s"] = round(bare_per_s)
    f["bare_consumer_cpu_us_per_event"] = round(bare_cpu_us, 2)
    say(
        f"bare aiokafka consumer ceiling: {f['bare_consumer_ceiling_per_s']:,}/s, "
        f"{f['bare_consumer_cpu_us_per_event']} us CPU/event"
    )
    agent = faust_ceiling(path, len(lines), plan.partitions, "agent")
    f["faust_agent_ceiling_per_s"] = round(agent["events_per_s"])
    f["faust_agent_cpu_us_per_event"] = agent["cpu_us_per_event"]
    say(
        f"Faust agent that does nothing: {f['faust_agent_ceiling_per_s']:,}/s, "
        f"{f['faust_agent_cpu_us_per_event']} us CPU/event"
    )
    batch = faust_ceiling(path, len(lines), plan.partitions, "batch")
    f["batch_consumer_ceiling_per_s"] = round(batch["events_per_s"])
    f["batch_consumer_cpu_us_per_event"] = batch["cpu_us_per_event"]
    f["batch_consumer_cpu_vs_bare_consumer"] = round(
        batch["cpu_us_per_event"] / max(bare_cpu_us, 1e-9), 2
    )
    say(
        f"batch consumer that does nothing: {f['batch_consumer_ceiling_per_s']:,}/s, "
        f"{f['batch_consumer_cpu_us_per_event']} us CPU/event "
        f"({f['batch_consumer_cpu_vs_bare_consumer']}x the bare consumer's)"
    )
    with EmbeddedRedis() as redis:
        reset_command_stats(redis.url)
        meter = CpuMeter({"redis": redis.pid, "bench (replay)": os.getpid()}).start()
        replayed = asyncio.run(replay_in_process(path, Settings(), redis.url))
        cpu = meter.stop()
        f["replay_redis_commands"] = command_time_per_event(redis.url, len(lines))
        f["replay_in_process_per_s"] = round(replayed.events_per_s)
        f["replay_vs_json_ceiling"] = round(replayed.events_per_s / f["json_ceiling_per_s"], 4)
        f["replay_cpu"] = {
            **cpu,
            "redis_cpu_us_per_event": round(1e6 * cpu["cpu_s"]["redis"] / len(lines)),
            "replay_cpu_us_per_event": round(1e6 * cpu["cpu_s"]["bench (replay)"] / len(lines)),
        }
        say(
            f"replay in-process: {f['replay_in_process_per_s']:,}/s "
            f"({f['replay_vs_json_ceiling']} of the JSON ceiling); CPU {cpu['cpu_s']}"
        )
        f["cost_split"] = cost_split(path, redis.url, plan.profile_events)
        say(f"cost split: {f['cost_split']['share']}")
    one = worker_throughput(path, plan, 1, len(lines))
    f["kafka_one_worker"] = one
    say(
        f"one worker through Kafka: {one['events_per_s']:,}/s; "
        f"Redis {one['redis_bytes_per_store']} B/store over {one['stores_tracked']} stores; "
        f"worker RSS {one['worker_rss_mib']} MiB; "
        f"CPU {one['cpu']}"
    )
    two = worker_throughput(path, plan, 2, len(lines))
    f["kafka_two_workers"] = two
    f["two_vs_one_worker"] = round(two["events_per_s"] / one["events_per_s"], 2)
    f["one_worker_vs_bare_consumer"] = round(
        one["events_per_s"] / f["bare_consumer_ceiling_per_s"], 4
    )
    f["one_worker_vs_faust_ceiling"] = round(
        one["events_per_s"] / f["faust_agent_ceiling_per_s"], 4
    )
    f["one_worker_vs_batch_ceiling"] = round(
        one["events_per_s"] / f["batch_consumer_ceiling_per_s"], 4
    )
    f["one_worker_vs_replay"] = round(one["events_per_s"] / f["replay_in_process_per_s"], 4)
    say(f"two workers: {two['events_per_s']:,}/s ({f['two_vs_one_worker']}x one); CPU {two['cpu']}")
    if plan.fixed_rate_per_s is None:  # half of one worker's measured capacity
        plan = replace(plan, fixed_rate_per_s=float(max(1, round(one["events_per_s"] / 2))))
    f["latency_fixed_rate_per_s"] = plan.fixed_rate_per_s
    f["latency"] = latency(path, plan)
    fixed = f["latency"]["at_fixed_rate"] or {
        "offered_per_s": 0,
        "p50_s": None,
        "p95_s": None,
        "p99_s": None,
    }
    say(
        f"latency at {fixed['offered_per_s']:,.0f}/s: p50 {fixed['p50_s']}s p95 {fixed['p95_s']}s "
        f"p99 {fixed['p99_s']}s; highest rate with p99 <= {P99_BOUND_S}s: "
        f"{f['latency']['highest_rate_p99_within_bound_per_s']}/s"
    )
    say("")
    print_table(summary_rows(f), say)
    if out_json:
        Path(out_json).write_text(result.to_json())
    return result


def run_latency(
    plan: BenchPlan, out_json: str | Path | None = None, say: Any = print
) -> BenchResult:
    """Only the latency probes, at ``plan.fixed_rate_per_s`` and the probe rates (a minute or
    two instead of the whole run): to compare two versions of the worker, alternately, on the
    same machine. The fixed rate must be given (the full run takes half of the throughput it
    measured)."""
    if plan.fixed_rate_per_s is None:
        raise ValueError("a latency-only run needs a fixed rate")
    workdir = Path(tempfile.mkdtemp(prefix="storewatch-bench-"))
    path = workdir / "events.jsonl"
    sim = simulate(stores=plan.stores, days=plan.days, seed=plan.seed)
    write_events(path, sim.events)
    result = BenchResult(hardware={**hardware(), "plan": asdict(plan)}, events=len(sim.events))
    f = result.figures
    f["latency_fixed_rate_per_s"] = plan.fixed_rate_per_s
    f["latency"] = latency(path, plan)
    f["load_average_at_end"] = os.getloadavg()
    for row in f["latency"]["probes"]:
        say(
            f"latency at {row['offered_per_s']:,.0f}/s (achieved {row['achieved_offered_per_s']:,}/s"
            f", {row['events']:,} events): p50 {row['p50_s']}s p95 {row['p95_s']}s "
            f"p99 {row['p99_s']}s"
        )
    say(
        f"load average {result.hardware['load_average_at_start'][0]:.2f} at start, "
        f"{f['load_average_at_end'][0]:.2f} at end; CPU {f['latency']['cpu']}"
    )
    if out_json:
        Path(out_json).write_text(result.to_json())
    return result


__all__ = ["P99_BOUND_S", "TARGETS", "BenchPlan", "BenchResult", "run_bench", "run_latency"]
