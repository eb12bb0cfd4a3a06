"""How well alerts did against the truth: money held, recall, precision, honest-store noise.

The question a marketplace asks before it holds payouts on Storewatch's word is not "how many
stores were flagged" but "how much of the fraudsters' money would the hold have stopped, and how
many honest sellers would it have stopped with it". So the headline figure is **money held**:
the share of fraud stores' withdrawal value that an alert on the same store preceded or
accompanied (alert ``ts`` at or before the withdrawal's ``ts``). Everything here is pure and
works on plain dicts (events as in the input contract, alerts as in the alert contract), so the
CLI, the tests and a notebook share it.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stream.events import parse_ts_s

LEGIT = "legit"
DAY_S = 86400.0
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """The figures of one group of stores: all fraud, or one scheme."""

    stores: int
    stores_flagged: int
    store_recall: float
    store_precision: float
    money_held: float
    withdrawn_cny: float
    held_cny: float
    median_time_to_alert_h: float | None


@dataclass(frozen=True, slots=True)
class Report:
    """What ``storewatch evaluate`` writes: overall and per-scheme figures, honest-store noise."""

    overall: GroupFigures
    schemes: dict[str, GroupFigures]
    legit_stores: int
    legit_flagged: int
    legit_alert_rate: float
    legit_alerts: int
    legit_store_days: float
    alerts_per_1000_legit_store_days: float
    alerts: int
    legit_flagged_by_detector: dict[str, int] = field(default_factory=dict)
    missed_stores: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def meets(self, money_held: float = 0.95, recall: float = 0.95,
              legit_rate: float = 0.01) -> dict[str, bool]:
        """Which targets hold, per scheme and for the honest stores."""
        verdicts = {f"{name}: money held >= {money_held}": figures.money_held >= money_held
                    for name, figures in self.schemes.items()}
        verdicts |= {f"{name}: recall >= {recall}": figures.store_recall >= recall
                     for name, figures in self.schemes.items()}
        verdicts[f"legit alert rate <= {legit_rate}"] = self.legit_alert_rate <= legit_rate
        return verdicts


def ratio(part: float, whole: float) -> float:
    """``part / whole``, and 1.0 when there is nothing to measure (no fraud money, no store).

    >>> ratio(1, 4), ratio(0, 0)
    (0.25, 1.0)
    """
    return part / whole if whole else 1.0


def evaluate(events: Iterable[Mapping[str, Any]], labels: Mapping[str, str],
             alerts: Iterable[Mapping[str, Any]]) -> Report:
    """Score alerts against labels over the events they came from.

    A fraud store's withdrawal counts as held when the store's first alert has ``ts`` at or
    before the withdrawal's ``ts``. Store-days of an honest store run from its first event in
    the data (or the data's start, for a store opened before it) to the data's end.
    """
    first_alert_s: dict[str, float] = {}
    alerts_by_store: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    alert_count = 0
    for alert in alerts:
        alert_count += 1
        store = str(alert["store_id"])
        ts_s = parse_ts_s(alert["ts"])
        first_alert_s[store] = min(ts_s, first_alert_s.get(store, ts_s))
        alerts_by_store[store].append(alert)

    first_event_s: dict[str, float] = {}
    withdrawals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    activity_start_s = float("inf")
    end_s = float("-inf")
    for event in events:
        store = str(event["store_id"])
        ts_s = parse_ts_s(event["ts"])
        end_s = max(end_s, ts_s)
        if event["type"] != "store":
            activity_start_s = min(activity_start_s, ts_s)
        first_event_s[store] = min(ts_s, first_event_s.get(store, ts_s))
        if event["type"] == "withdrawal":
            withdrawals[store].append((ts_s, float(event["amount"])))

    by_label: dict[str, list[str]] = defaultdict(list)
    for store, label in labels.items():
        by_label[label].append(store)
    legit = by_label.pop(LEGIT, [])
    legit_flagged_stores = [s for s in legit if s in first_alert_s]
    legit_alerts = sum(len(alerts_by_store[s]) for s in legit)
    legit_days = sum(max(0.0, end_s - max(first_event_s.get(s, end_s), activity_start_s)) / DAY_S
                     for s in legit)

    def figures(stores: list[str]) -> GroupFigures:
        flagged = [s for s in stores if s in first_alert_s]
        withdrawn = held = 0.0
        for store in stores:
            for ts_s, amount_cny in withdrawals.get(store, []):
                withdrawn += amount_cny
                if first_alert_s.get(store, float("inf")) <= ts_s:
                    held += amount_cny
        delays_h = [(first_alert_s[s] - max(first_event_s[s], activity_start_s)) / HOUR_S
                    for s in flagged if s in first_event_s]
        return GroupFigures(
            stores=len(stores),
            stores_flagged=len(flagged),
            store_recall=round(ratio(len(flagged), len(stores)), 4),
            store_precision=round(ratio(len(flagged), len(flagged) + len(legit_flagged_stores)), 4),
            money_held=round(ratio(held, withdrawn), 4),
            withdrawn_cny=round(withdrawn, 2),
            held_cny=round(held, 2),
            median_time_to_alert_h=round(statistics.median(delays_h), 2) if delays_h else None,
        )

    fraud = [s for stores in by_label.values() for s in stores]
    by_detector: dict[str, int] = defaultdict(int)
    for store in legit_flagged_stores:
        for detector in {str(a["detector"]) for a in alerts_by_store[store]}:
            by_detector[detector] += 1
    return Report(
        overall=figures(fraud),
        schemes={name: figures(stores) for name, stores in sorted(by_label.items())},
        legit_stores=len(legit),
        legit_flagged=len(legit_flagged_stores),
        legit_alert_rate=round(ratio(len(legit_flagged_stores), len(legit)) if legit else 0.0, 4),
        legit_alerts=legit_alerts,
        legit_store_days=round(legit_days, 1),
        alerts_per_1000_legit_store_days=round(1000 * legit_alerts / legit_days, 3)
        if legit_days else 0.0,
        alerts=alert_count,
        legit_flagged_by_detector=dict(sorted(by_detector.items())),
        missed_stores={name: sorted(s for s in stores if s not in first_alert_s)
                       for name, stores in sorted(by_label.items())},
    )


def read_jsonl(path: str | Path) -> Iterable[dict[str, Any]]:
    """Objects of a JSON Lines file, one at a time (a month of events does not fit twice)."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def render_table(report: Report) -> str:
    """The report as a Markdown table, one row per scheme plus the overall one."""
    rows = ["| stores | count | flagged | recall | precision | money held | median h to alert |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, g in [*report.schemes.items(), ("all fraud", report.overall)]:
        delay = "-" if g.median_time_to_alert_h is None else f"{g.median_time_to_alert_h:.1f}"
        rows.append(f"| {name} | {g.stores} | {g.stores_flagged} | {g.store_recall:.3f} | "
                    f"{g.store_precision:.3f} | {g.money_held:.3f} | {delay} |")
    rows.append(f"| legit | {report.legit_stores} | {report.legit_flagged} | "
                f"alert rate {report.legit_alert_rate:.4f} | | | "
                f"{report.alerts_per_1000_legit_store_days:.2f} alerts / 1,000 store-days |")
    return "\n".join(rows)


def plot_report(report: Report, path: str | Path, title: str = "Storewatch detection") -> None:
    """Per-scheme money held and recall against the 0.95 target, honest noise beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [*report.schemes, "all fraud"]
    groups = [*report.schemes.values(), report.overall]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2),
                                      gridspec_kw={"width_ratios": [3, 1]})
    x = range(len(names))
    left.bar([i - 0.2 for i in x], [g.money_held for g in groups], 0.4, label="money held")
    left.bar([i + 0.2 for i in x], [g.store_recall for g in groups], 0.4, label="store recall")
    left.axhline(0.95, color="black", linestyle="--", linewidth=1, label="target 0.95")
    left.set_xticks(list(x), names, rotation=15)
    left.set_ylim(0, 1.05)
    left.set_title("fraud: share caught before the money left")
    left.legend(loc="lower left")
    right.bar(["legit alert rate"], [report.legit_alert_rate], color="tab:red")
    right.axhline(0.01, color="black", linestyle="--", linewidth=1)
    right.set_ylim(0, max(0.02, report.legit_alert_rate * 1.3))
    right.set_title(f"honest: {report.legit_flagged} of {report.legit_stores} flagged\n"
                    f"{report.alerts_per_1000_legit_store_days:.2f} alerts / 1,000 store-days")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
