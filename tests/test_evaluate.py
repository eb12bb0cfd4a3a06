"""The evaluation: money held, recall, precision and honest noise, from events, labels, alerts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from stream.evaluate import evaluate
from stream.events import format_ts
from tests.factories import DAY, HOUR, T0

LABELS = {"fraud-1": "ghost_supplier", "fraud-2": "ghost_supplier", "honest-1": "legit",
          "honest-2": "legit"}


def event(kind: str, store_id: str, ts_s: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "store_id": store_id, "ts": format_ts(ts_s), **fields}


def alert(store_id: str, ts_s: float, detector: str = "withdrawal") -> dict[str, Any]:
    return {"store_id": store_id, "ts": format_ts(ts_s), "detector": detector}


EVENTS = [
    event("order", "fraud-1", T0),
    event("withdrawal", "fraud-1", T0 + HOUR, amount=100.0),
    event("withdrawal", "fraud-1", T0 + 2 * HOUR, amount=300.0),
    event("order", "fraud-2", T0),
    event("withdrawal", "fraud-2", T0 + HOUR, amount=600.0),
    event("order", "honest-1", T0),
    event("order", "honest-2", T0 + 10 * DAY),
]


def test_money_held_counts_withdrawals_at_or_after_the_first_alert() -> None:
    report = evaluate(EVENTS, LABELS, [alert("fraud-1", T0 + HOUR)])
    ghost = report.schemes["ghost_supplier"]
    assert (ghost.held_cny, ghost.withdrawn_cny) == (400.0, 1000.0)
    assert ghost.money_held == 0.4


def test_recall_and_precision_count_stores_not_alerts() -> None:
    alerts = [alert("fraud-1", T0), alert("fraud-1", T0 + HOUR), alert("honest-1", T0)]
    report = evaluate(EVENTS, LABELS, alerts)
    assert report.overall.store_recall == 0.5
    assert report.overall.store_precision == 0.5


def test_the_legit_alert_rate_is_the_share_of_honest_stores_with_any_alert() -> None:
    report = evaluate(EVENTS, LABELS, [alert("honest-1", T0), alert("honest-1", T0 + DAY)])
    assert (report.legit_flagged, report.legit_alert_rate, report.legit_alerts) == (1, 0.5, 2)


def test_alerts_per_honest_store_day_use_each_store_from_its_first_event() -> None:
    report = evaluate(EVENTS, LABELS, [alert("honest-1", T0)])
    assert report.legit_store_days == 10.0  # honest-1 over 10 days, honest-2 over none
    assert report.alerts_per_1000_legit_store_days == 100.0


def test_time_to_alert_runs_from_the_store_s_first_event() -> None:
    report = evaluate(EVENTS, LABELS, [alert("fraud-1", T0 + 3 * HOUR)])
    assert report.schemes["ghost_supplier"].median_time_to_alert_h == 3.0


def test_the_cli_writes_the_report_and_the_plot(tmp_path: Path) -> None:
    paths = {name: tmp_path / name for name in ("e.jsonl", "l.json", "a.jsonl", "r.json", "r.png")}
    paths["e.jsonl"].write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    paths["l.json"].write_text(json.dumps(LABELS))
    paths["a.jsonl"].write_text(json.dumps(alert("fraud-2", T0)) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "stream.cli", "evaluate", "--events", str(paths["e.jsonl"]),
         "--labels", str(paths["l.json"]), "--alerts", str(paths["a.jsonl"]),
         "--report", str(paths["r.json"]), "--plot", str(paths["r.png"])],
        capture_output=True, text=True, check=True)
    assert "| ghost_supplier | 2 | 1 |" in done.stdout
    assert json.loads(paths["r.json"].read_text())["schemes"]["ghost_supplier"]["money_held"] == 0.6
    assert paths["r.png"].stat().st_size > 0
