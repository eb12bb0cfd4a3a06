"""The benchmark runs end to end on a tiny input (a benchmark is not a test: no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream.tools.bench import BenchPlan, run_bench

pytestmark = pytest.mark.integration


def test_the_benchmark_reports_every_figure_on_a_small_input(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    plan = BenchPlan(
        stores=30,
        days=2,
        seed=3,
        probe_rates_per_s=(300.0,),
        fixed_rate_per_s=300.0,
        probe_s=1.0,
        profile_events=1000,
    )
    run_bench(plan, out, say=lambda _: None)
    figures = json.loads(out.read_text())["figures"]
    for key in (
        "json_ceiling_per_s",
        "bare_consumer_ceiling_per_s",
        "faust_agent_ceiling_per_s",
        "batch_consumer_ceiling_per_s",
        "batch_consumer_cpu_us_per_event",
        "bare_consumer_cpu_us_per_event",
        "one_worker_vs_replay",
        "replay_in_process_per_s",
        "replay_vs_json_ceiling",
        "kafka_one_worker",
        "kafka_two_workers",
        "two_vs_one_worker",
        "latency",
        "cost_split",
        "replay_cpu",
        "targets",
    ):
        assert key in figures
    one, two = figures["kafka_one_worker"], figures["kafka_two_workers"]
    assert one["stores_tracked"] > 0
    assert one["redis_bytes_per_store"] > 0
    assert one["mean_batch_events"] >= 1
    assert len(one["worker_rss_mib"]) == 1 and len(two["worker_rss_mib"]) == 2
    # CPU seconds of every process over the run, to show where the CPU went
    assert {"broker", "redis", "worker0", "worker1"} <= set(two["cpu"]["cpu_s"])
    assert two["cpu"]["cpu_s"]["worker0"] > 0 and two["cpu"]["cpu_s"]["worker1"] > 0
    # the profile is attributed to the engine's parts, not left in "other" (the shares sum to
    # one whatever the attribution, so that alone would prove nothing)
    share = figures["cost_split"]["share"]
    assert all(
        share[part] > 0
        for part in ("parse", "state", "redis client", "models", "features+detectors", "engine")
    )
    # builtins and the standard library are charged to whoever called them; only frames with no
    # caller in the project (the loop's own start) stay "other"
    assert share["other"] < 0.05, share
    # Redis time per event by command: the script's own share is what the README discusses
    commands = figures["replay_redis_commands"]
    assert commands["evalsha"] > 0 and "evalsha_minus_other_commands" in commands
    fixed = figures["latency"]["at_fixed_rate"]
    assert 0 < fixed["p50_s"] <= fixed["p99_s"]
