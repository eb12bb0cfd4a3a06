"""The evaluation: money held, recall, precision and honest noise, from events, labels, alerts,
per scheme and variant and per honest habit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from stream.core.records import format_ts
from stream.tools.evaluate import Report, evaluate, render_table
from tests.helpers.factories import DAY, HOUR, T0

LABELS = {
    "fraud-1": "ghost_supplier",
    "fraud-2": "ghost_supplier",
    "honest-1": "legit",
    "honest-2": "legit",
}


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


def run_evaluate_cli(
    tmp_path: Path,
    events: list[dict[str, Any]],
    labels: dict[str, str],
    alerts: list[dict[str, Any]],
    *report_options: str,
) -> str:
    """``storewatch evaluate`` on these events, labels and alerts written to ``tmp_path``
    (``e.jsonl``, ``l.json``, ``a.jsonl``); its report options name files there. Returns
    what it printed."""
    for name, lines in (("e.jsonl", events), ("a.jsonl", alerts)):
        (tmp_path / name).write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "l.json").write_text(json.dumps(labels))
    inputs = [
        f"--{kind}={tmp_path / name}"
        for kind, name in (("events", "e.jsonl"), ("labels", "l.json"), ("alerts", "a.jsonl"))
    ]
    options = [
        str(tmp_path / option) if not option.startswith("--") else option
        for option in report_options
    ]
    done = subprocess.run(
        [sys.executable, "-m", "stream.cli", "evaluate", *inputs, *options],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_the_cli_writes_the_report_and_the_plot(tmp_path: Path) -> None:
    stdout = run_evaluate_cli(
        tmp_path, EVENTS, LABELS, [alert("fraud-2", T0)], "--report", "r.json", "--plot", "r.png"
    )
    assert "| ghost_supplier | 2 | 1 |" in stdout
    assert "| ghost_supplier | unspecified | 2 | 1 |" in stdout
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["schemes"]["ghost_supplier"]["money_held"] == 0.6
    assert written["variants"]["ghost_supplier"]["unspecified"]["stores"] == 2
    assert set(written) >= {"habits", "legit_flagged_stores", "overall"}
    assert (tmp_path / "r.png").stat().st_size > 0


def test_the_cli_takes_out_as_the_report_path(tmp_path: Path) -> None:
    run_evaluate_cli(
        tmp_path, CLAIMS, VARIANT_LABELS, [alert("honest-b", T0, "withdrawal")], "--out", "r.json"
    )
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["legit_flagged_stores"] == [
        {
            "store_id": "honest-b",
            "habit": "merged_parcels",
            "detectors": ["withdrawal"],
            "alerts": 1,
        }
    ]


VARIANT_LABELS = {
    "pp-1": "price_protection/shallow_cut",
    "pp-2": "price_protection/stepped_cut",
    "pp-3": "price_protection/shallow_cut",
    "honest-a": "legit/merged_parcels",
    "honest-b": "legit/merged_parcels",
    "honest-c": "legit/daily_sweep",
}
CLAIMS = [
    event("order", "pp-1", T0),
    event("refund", "pp-1", T0 + HOUR, amount=900.0, reason="price_protection"),
    event("refund", "pp-1", T0 + 2 * HOUR, amount=50.0, reason="return"),
    event("withdrawal", "pp-1", T0 + 3 * HOUR, amount=100.0),
    event("order", "pp-2", T0),
    event("refund", "pp-2", T0 + HOUR, amount=500.0, reason="price_protection"),
    event("order", "pp-3", T0),
    event("order", "honest-a", T0),
    event("order", "honest-b", T0),
    event("order", "honest-c", T0),
]


def test_a_claim_after_the_alert_counts_as_held() -> None:
    report = evaluate(CLAIMS, VARIANT_LABELS, [alert("pp-1", T0 + 30 * 60)])
    shallow = report.variants["price_protection"]["shallow_cut"]
    assert (shallow.claimed_cny, shallow.withdrawn_cny, shallow.held_cny) == (900.0, 100.0, 1000.0)
    assert shallow.money_held == 1.0


def test_a_claim_before_the_alert_is_money_lost_and_returns_are_not_money_out() -> None:
    report = evaluate(CLAIMS, VARIANT_LABELS, [alert("pp-1", T0 + 2 * HOUR)])
    shallow = report.variants["price_protection"]["shallow_cut"]
    assert (shallow.held_cny, shallow.claimed_cny + shallow.withdrawn_cny) == (100.0, 1000.0)
    assert shallow.money_held == 0.1


def test_an_alert_at_the_very_moment_of_the_claim_holds_it() -> None:
    report = evaluate(CLAIMS, VARIANT_LABELS, [alert("pp-2", T0 + HOUR)])
    assert report.variants["price_protection"]["stepped_cut"].money_held == 1.0


def test_each_variant_has_its_own_stores_recall_and_money_held() -> None:
    report = evaluate(CLAIMS, VARIANT_LABELS, [alert("pp-1", T0), alert("pp-2", T0 + 5 * HOUR)])
    variants = report.variants["price_protection"]
    assert (variants["shallow_cut"].stores, variants["shallow_cut"].stores_flagged) == (2, 1)
    assert variants["shallow_cut"].store_recall == 0.5
    assert (variants["stepped_cut"].store_recall, variants["stepped_cut"].money_held) == (1.0, 0.0)
    assert report.schemes["price_protection"].stores == 3


def test_honest_stores_are_counted_per_habit_and_the_flagged_ones_listed() -> None:
    alerts = [alert("honest-a", T0, "tracking_reuse"), alert("honest-a", T0 + HOUR, "withdrawal")]
    report = evaluate(CLAIMS, VARIANT_LABELS, alerts)
    merged = report.habits["merged_parcels"]
    assert (merged.stores, merged.stores_flagged, merged.alert_rate) == (2, 1, 0.5)
    assert report.habits["daily_sweep"].alert_rate == 0.0
    [flagged] = report.legit_flagged_stores
    assert (flagged.store_id, flagged.habit, flagged.detectors, flagged.alerts) == (
        "honest-a",
        "merged_parcels",
        ["tracking_reuse", "withdrawal"],
        2,
    )
    assert report.legit_alert_rate == round(1 / 3, 4)


def test_old_plain_labels_read_as_unspecified_variant_and_habit() -> None:
    report = evaluate(EVENTS, LABELS, [alert("honest-1", T0)])
    assert set(report.variants["ghost_supplier"]) == {"unspecified"}
    assert report.habits["unspecified"].stores == 2
    assert report.legit_flagged_stores[0].habit == "unspecified"


def test_the_table_shows_the_robustness_matrix_and_the_honest_stores_flagged() -> None:
    report = evaluate(CLAIMS, VARIANT_LABELS, [alert("pp-1", T0), alert("honest-c", T0, "x")])
    table = render_table(report)
    assert "| price_protection | shallow_cut | 2 | 1 | 0.500 |" in table
    assert "| merged_parcels | 2 | 0 | 0.0000 |" in table
    assert "| honest-c | daily_sweep | x | 1 |" in table


def test_the_report_makes_no_verdict_of_its_own() -> None:
    """Targets belong to the reader (the README), not to a method nobody calls."""
    assert not hasattr(Report, "meets")
