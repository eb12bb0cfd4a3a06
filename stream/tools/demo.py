"""`storewatch demo`: the embedded stack, a small simulated marketplace, alerts as they happen.

Everything is real: a Tansu broker and a redis-server on loopback, a `storewatch worker`
process, events published to the five topics at a steady rate, alerts read back from the alert
topic. The simulator's labels are used only to colour the output and score the summary; the
worker never sees them.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from stream.config import Settings, redact_url
from stream.tools.dev import DevStack
from stream.tools.replay import ReplayResult
from stream.tools.replay_kafka import replay_via_kafka
from stream.tools.simulate import LEGIT, label_kind, simulate, write_events

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def run_demo(settings: Settings, stores: int, days: int, seed: int, rate_per_s: float) -> int:
    """The demo; its events file lives in a temporary folder removed on the way out."""
    sim = simulate(stores=stores, days=days, seed=seed)
    with tempfile.TemporaryDirectory(prefix="storewatch-demo-") as folder:
        return _run(settings, sim, Path(folder) / "events.jsonl", days, rate_per_s)


def _run(settings: Settings, sim: Any, events_path: Path, days: int, rate_per_s: float) -> int:
    console = Console()
    write_events(events_path, sim.events)
    fraud = {store for store, label in sim.labels.items() if label_kind(label) != LEGIT}
    console.print(
        f"[bold]Storewatch demo[/]: {len(sim.labels)} stores ({len(fraud)} fraudulent), "
        f"{days} days, {len(sim.events):,} events, published at {rate_per_s:,.0f}/s"
    )
    with console.status("starting the embedded broker, Redis and a worker..."):
        stack = DevStack(settings).start()
    with stack:
        s = stack.settings
        console.print(
            f"kafka {s.kafka_bootstrap} | redis {redact_url(s.redis_url.get_secret_value())} | "
            f"worker metrics http://127.0.0.1:{stack.workers[0].metrics_port}/metrics"
        )

        def show(alert: dict[str, Any]) -> None:
            label = sim.labels.get(str(alert["store_id"]), "?")
            style = SEVERITY_STYLE.get(str(alert["severity"]), "")
            console.print(
                f"[{style}]{alert['severity'].upper():6}[/] {alert['ts'][:16]} "
                f"{alert['store_id']} {alert['detector']:<10} -> {alert.get('action')} "
                f"[dim](truth: {label})[/]"
            )
            console.print(f"       [dim]{alert['reasons'][0]}[/]")

        result = asyncio.run(
            replay_via_kafka(events_path, s, rate_per_s=rate_per_s, timeout_s=600, on_alert=show)
        )
    console.print(summary_table(result, sim.labels))
    return 0


def summary_table(result: ReplayResult, labels: dict[str, str]) -> Table:
    """Per scheme and variant: stores, stores flagged; then the honest stores, all habits in
    one row (their flagged stores were shown as they happened, with their habit)."""
    flagged = result.flagged_stores()
    grouped = {
        store: label if label_kind(label) != LEGIT else LEGIT for store, label in labels.items()
    }
    stores_by_label = Counter(grouped.values())
    flagged_by_label = Counter(grouped.get(store, "?") for store in flagged)
    table = Table(
        title=f"{result.events:,} events, {len(result.alerts)} alerts in "
        f"{result.elapsed_s:.0f}s"
    )
    table.add_column("stores (scheme/variant)")
    table.add_column("count", justify="right")
    table.add_column("flagged", justify="right")
    for label in sorted(stores_by_label, key=lambda name: (name == LEGIT, name)):
        table.add_row(label, str(stores_by_label[label]), str(flagged_by_label[label]))
    return table
