"""The dashboards and alert rules against a real Prometheus scraping a real worker.

A DevStack (Tansu broker, redis-server, two `storewatch worker` processes) processes a simulated
marketplace plus a few malformed messages and a malformed tuning record; then its Redis goes
away for a while and comes back. A Prometheus (Debian's binary) scrapes the workers every second
and evaluates deploy/prometheus/rules/. Through its HTTP API, every expression of the Grafana
dashboard and of every alert rule (its threshold removed) must return data, and every rule must
evaluate without error. The static checks at the top need no server.

``STOREWATCH_DASHBOARD_PNG=docs/dashboard.png pytest tests/test_prometheus.py`` also redraws the
picture of the README from this run (deploy/grafana/render_dashboard.py).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from stream.config import Settings
from stream.runtime.metrics import Metrics
from stream.tools.dev import DevStack
from stream.tools.embedded import EmbeddedRedis
from stream.tools.publish import publish_file
from stream.tools.replay_kafka import replay_via_kafka, wait_until_processed
from stream.tools.simulate import simulate, write_events
from tests.helpers.prometheus_server import (
    PROMETHEUS_ABSENT,
    PrometheusServer,
    alert_rules,
    concrete,
    dashboard_expressions,
    finite_points,
    rule_probes,
)

REPO = Path(__file__).resolve().parents[1]
RULE_FILES = sorted((REPO / "deploy/prometheus/rules").glob("*.yml"))
DASHBOARDS = sorted((REPO / "deploy/grafana/dashboards").glob("*.json"))
DATASOURCES = REPO / "deploy/grafana/provisioning/datasources/prometheus.yml"
RUNBOOK = REPO / "docs/runbook.md"
RENDERER = REPO / "deploy/grafana/render_dashboard.py"

# Malformed messages appended to the simulated stream: each must be dead-lettered.
BAD_LINES = [b"this is not json", b'{"type": "order", "store_id": "s00001"}', b"[1, 2, 3]"]
BAD_LINE_EVERY = 400
REPLAY_RATE_PER_S = 300.0


def load_dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


ALL_DASHBOARD_EXPRESSIONS = {
    f"{path.stem}: {where}": expr
    for path in DASHBOARDS
    for where, expr in dashboard_expressions(load_dashboard(path)).items()
}
ALL_RULE_PROBES = {
    f"{rule['alert']} [{i}]": probe
    for rule in alert_rules(RULE_FILES)
    for i, probe in enumerate(rule_probes(rule["expr"]))
}


# -- static checks -----------------------------------------------------------------------------


def test_there_are_rules_and_dashboards() -> None:
    assert RULE_FILES and DASHBOARDS
    assert len(ALL_DASHBOARD_EXPRESSIONS) >= 20


def test_prometheus_config_loads_the_rule_files() -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    base = REPO / "deploy/prometheus"
    loaded = {path for pattern in config["rule_files"] for path in base.glob(pattern)}
    assert loaded == set(RULE_FILES)


def test_every_alert_has_severity_summary_and_a_runbook_section() -> None:
    headings = {
        re.sub(r"[^a-z0-9 _-]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    problems = []
    for rule in alert_rules(RULE_FILES):
        name = rule["alert"]
        if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            problems.append(f"{name}: severity")
        if not rule.get("annotations", {}).get("summary"):
            problems.append(f"{name}: summary")
        anchor = rule.get("annotations", {}).get("runbook", "").partition("#")[2]
        if anchor != name.lower() or anchor not in headings:
            problems.append(f"{name}: runbook anchor {anchor!r} (want a '## {name}' section)")
    assert not problems, problems


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_panels_use_the_provisioned_datasource_and_fit_the_grid(path: Path) -> None:
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    dashboard = load_dashboard(path)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]


def test_every_metric_the_worker_exports_is_on_a_dashboard() -> None:
    registry = CollectorRegistry()
    Metrics.create(registry)
    exported = {metric.name for metric in registry.collect()}
    used = " ".join(ALL_DASHBOARD_EXPRESSIONS.values())
    missing = sorted(
        name for name in exported if not re.search(rf"\b{name}(_total|_bucket)?\b", used)
    )
    assert not missing, f"metrics of stream/runtime/metrics.py no dashboard shows: {missing}"


def test_every_key_panel_of_the_readme_picture_is_on_the_dashboard() -> None:
    dashboard = load_dashboard(REPO / "deploy/grafana/dashboards/storewatch.json")
    titles = {panel["title"] for panel in dashboard["panels"]}
    missing = [title for title in load_renderer().KEY_PANELS if title not in titles]
    assert not missing, f"render_dashboard.KEY_PANELS names panels the dashboard lacks: {missing}"


def test_no_dashboard_expression_hides_missing_data_behind_a_constant() -> None:
    hiding = [k for k, e in ALL_DASHBOARD_EXPRESSIONS.items() if "vector(" in e]
    assert not hiding, f"`or vector(0)` would make these return data with no metric: {hiding}"


# -- against a real Prometheus -----------------------------------------------------------------


@dataclass
class Observed:
    prometheus: PrometheusServer
    start_s: float
    end_s: float
    events: int


async def publish_bad_tuning_record(settings: Settings) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topics.control, b"not a tuning change", key=b"detectors.model_alert_tail"
        )
    finally:
        await producer.stop()


def wait_for(prometheus: PrometheusServer, expr: str, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not prometheus.query(expr):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: `{expr}` returned nothing for {timeout_s:.0f}s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    if shutil.which("prometheus") is None:
        pytest.skip(PROMETHEUS_ABSENT)
    workdir = tmp_path_factory.mktemp("prometheus-run")
    events_path = workdir / "events.jsonl"
    write_events(events_path, simulate(stores=60, days=5, seed=2).events)
    lines = events_path.read_bytes().splitlines(keepends=True)
    # A bad line every BAD_LINE_EVERY events: a counter's series is born at its first
    # increment, so rate() sees only the later ones.
    for i in range(len(lines) // BAD_LINE_EVERY, 0, -1):
        lines.insert(i * BAD_LINE_EVERY, BAD_LINES[i % len(BAD_LINES)] + b"\n")
    events_path.write_bytes(b"".join(lines))
    outage_path = workdir / "outage.jsonl"
    write_events(outage_path, simulate(stores=4, days=1, seed=5).events[:200])

    redis = EmbeddedRedis().start()
    stack = DevStack(Settings(kafka_partitions=2), redis_url=redis.url)
    prometheus: PrometheusServer | None = None
    try:
        stack.start(workers=2)
        prometheus = PrometheusServer(
            [f"127.0.0.1:{w.metrics_port}" for w in stack.workers], RULE_FILES
        ).start()
        start_s = time.time()
        asyncio.run(publish_bad_tuning_record(stack.settings))
        result = asyncio.run(
            replay_via_kafka(
                events_path, stack.settings, rate_per_s=REPLAY_RATE_PER_S, timeout_s=90
            )
        )
        # Redis goes away while events arrive: the workers retry, count errors, turn unhealthy.
        port = redis.port
        redis.stop()
        _, ends, _ = asyncio.run(publish_file(outage_path, stack.settings))
        wait_for(prometheus, "sum(storewatch_redis_errors_total) > 0", 60, "Redis errors")
        wait_for(prometheus, "storewatch_healthy == 0", 30, "an unhealthy worker")
        time.sleep(3)  # a few evaluations of the rules while it lasts
        redis = EmbeddedRedis(port=port).start()
        asyncio.run(wait_until_processed(stack.settings, ends, 60))
        wait_for(prometheus, "min(storewatch_healthy) == 1", 30, "every worker healthy again")
        time.sleep(3)
        yield Observed(prometheus, start_s, time.time(), result.events)
    finally:
        if prometheus is not None:
            prometheus.stop()
        stack.stop()
        redis.stop()


@pytest.mark.integration
@pytest.mark.parametrize("where", sorted(ALL_DASHBOARD_EXPRESSIONS))
def test_dashboard_expression_returns_data(observed: Observed, where: str) -> None:
    expr = concrete(ALL_DASHBOARD_EXPRESSIONS[where])
    series = observed.prometheus.query_range(expr, observed.start_s, observed.end_s)
    assert finite_points(series), f"`{expr}` returned no number over the run"


@pytest.mark.integration
@pytest.mark.parametrize("where", sorted(ALL_RULE_PROBES))
def test_alert_expression_without_its_threshold_returns_data(
    observed: Observed, where: str
) -> None:
    expr = ALL_RULE_PROBES[where]
    series = observed.prometheus.query_range(expr, observed.start_s, observed.end_s)
    assert finite_points(series), f"`{expr}` returned no number over the run"


@pytest.mark.integration
def test_every_rule_is_loaded_and_evaluates_without_error(observed: Observed) -> None:
    groups = observed.prometheus.api("rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    expected = {rule["alert"] for rule in alert_rules(RULE_FILES)}
    assert expected <= set(loaded), f"not loaded: {expected - set(loaded)}"
    failing = {
        name: rule.get("lastError") for name, rule in loaded.items() if rule["health"] != "ok"
    }
    assert not failing, failing


@pytest.mark.integration
@pytest.mark.parametrize(
    "alert",
    [
        "StorewatchRedisErrors",
        "StorewatchWorkerUnhealthy",
        "StorewatchTuningRefused",
        "StorewatchEventTimeLagHigh",
        "StorewatchRedisStateLost",
    ],
)
def test_the_incidents_of_the_run_trigger_their_alerts(observed: Observed, alert: str) -> None:
    """Pending (or firing, for a rule without `for`) while the incident lasted: the outage of
    Redis (which comes back empty: its data lost), the malformed tuning record, and event
    times years behind the wall clock."""
    expr = f'ALERTS{{alertname="{alert}"}}'
    series = observed.prometheus.query_range(expr, observed.start_s, observed.end_s)
    assert finite_points(series), f"{alert} was never pending nor firing"


@pytest.mark.integration
def test_the_run_processed_the_stream_and_dead_lettered_the_bad_lines(observed: Observed) -> None:
    consumed = observed.prometheus.query("sum(storewatch_events_consumed_total)")
    rejected = observed.prometheus.query("sum(storewatch_events_rejected_total)")
    assert float(consumed[0]["value"][1]) >= observed.events
    assert float(rejected[0]["value"][1]) >= len(BAD_LINES)


def load_renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_dashboard", RENDERER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_the_dashboard_renders_from_prometheus(observed: Observed, tmp_path: Path) -> None:
    out = Path(os.environ.get("STOREWATCH_DASHBOARD_PNG") or tmp_path / "dashboard.png")
    if not out.is_absolute():
        out = REPO / out
    renderer = load_renderer()
    renderer.render(
        observed.prometheus.url, out, observed.start_s, observed.end_s, rate_interval="10s"
    )
    assert out.stat().st_size > 20_000
