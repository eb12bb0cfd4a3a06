"""How well alerts did against the truth: money held, recall, precision, honest-store noise.

The question a marketplace asks before it holds payouts on Storewatch's word is not "how many
stores were flagged" but "how much of the fraudsters' money would the hold have stopped, and how
many honest sellers would it have stopped with it". So the headline figure is **money held**:
the share of the money that left fraud stores (withdrawals, and price-protection claims the
platform advanced to buyers) whose event came at or after the store's first alert (alert ``ts``
at or before the money event's ``ts``). Figures are given per scheme and per variant (the
evasion a fraud store used), and the honest stores' alert rate per habit, so a weakness shows
as a cell of a robustness matrix rather than vanishing in an average.

Labels are ``"<scheme>/<variant>"`` and ``"legit/<habit>"``, or the older plain ``"<scheme>"``
and ``"legit"``; both read alike (a plain label has variant or habit ``unspecified``). Everything
here is pure and works on plain dicts (events as in the input contract, alerts as in the alert
contract), so the CLI, the tests and a notebook share it.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stream.core.checks import parse_ts_s
from stream.errors import InputError
from stream.inputs import read_lines

LEGIT = "legit"
UNSPECIFIED = "unspecified"
PRICE_PROTECTION_REASON = "price_protection"
DAY_S = 86400.0
HOUR_S = 3600.0


def split_label(label: str) -> tuple[str, str]:
    """A label's kind (scheme or ``legit``) and its variant or habit.

    >>> split_label("ghost_supplier/fake_tracking"), split_label("legit")
    (('ghost_supplier', 'fake_tracking'), ('legit', 'unspecified'))
    """
    kind, _, detail = label.partition("/")
    return kind, detail or UNSPECIFIED


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """The figures of one group of fraud stores: all fraud, one scheme, or one variant.

    ``withdrawn_cny`` and ``claimed_cny`` are the money that left (payouts, price-protection
    claims); ``held_cny`` is the part of both that came at or after the store's first alert.
    """

    stores: int
    stores_flagged: int
    store_recall: float
    store_precision: float
    money_held: float
    withdrawn_cny: float
    claimed_cny: float
    held_cny: float
    median_time_to_alert_h: float | None


@dataclass(frozen=True, slots=True)
class HabitFigures:
    """Honest stores of one habit: how many, how many were flagged, and the share."""

    stores: int
    stores_flagged: int
    alert_rate: float


@dataclass(frozen=True, slots=True)
class FlaggedHonestStore:
    """An honest store that was flagged, for an analyst to look at: why it looked wrong."""

    store_id: str
    habit: str
    detectors: list[str]
    alerts: int


@dataclass(frozen=True, slots=True)
class Report:
    """What ``storewatch evaluate`` writes: overall, per-scheme and per-variant figures, and
    honest-store noise overall, per habit and store by store."""

    overall: GroupFigures
    schemes: dict[str, GroupFigures]
    variants: dict[str, dict[str, GroupFigures]]
    legit_stores: int
    legit_flagged: int
    legit_alert_rate: float
    legit_alerts: int
    legit_store_days: float
    alerts_per_1000_legit_store_days: float
    alerts: int
    habits: dict[str, HabitFigures] = field(default_factory=dict)
    legit_flagged_stores: list[FlaggedHonestStore] = field(default_factory=list)
    legit_flagged_by_detector: dict[str, int] = field(default_factory=dict)
    missed_stores: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio(part: float, whole: float) -> float:
    """``part / whole``, and 1.0 when there is nothing to measure (no fraud money, no store).

    >>> ratio(1, 4), ratio(0, 0)
    (0.25, 1.0)
    """
    return part / whole if whole else 1.0


def evaluate(
    events: Iterable[Mapping[str, Any]],
    labels: Mapping[str, str],
    alerts: Iterable[Mapping[str, Any]],
) -> Report:
    """Score alerts against labels over the events they came from.

    A fraud store's withdrawal or price-protection claim counts as held when the store's first
    alert has ``ts`` at or before the money event's ``ts``. Store-days of an honest store run
    from its first event in the data (or the data's start, for a store opened before it) to the
    data's end.
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
    # per store: (ts_s, amount_cny, is_claim) of every payout and price-protection claim
    money_out: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
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
            money_out[store].append((ts_s, float(event["amount"]), False))
        elif event["type"] == "refund" and event.get("reason") == PRICE_PROTECTION_REASON:
            money_out[store].append((ts_s, float(event["amount"]), True))

    by_scheme: dict[str, list[str]] = defaultdict(list)
    by_variant: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    by_habit: dict[str, list[str]] = defaultdict(list)
    for store, label in labels.items():
        kind, detail = split_label(label)
        if kind == LEGIT:
            by_habit[detail].append(store)
        else:
            by_scheme[kind].append(store)
            by_variant[kind][detail].append(store)
    legit = [s for stores in by_habit.values() for s in stores]
    legit_flagged_stores = [s for s in legit if s in first_alert_s]
    legit_alerts = sum(len(alerts_by_store[s]) for s in legit)
    legit_days = sum(
        max(0.0, end_s - max(first_event_s.get(s, end_s), activity_start_s)) / DAY_S for s in legit
    )

    def figures(stores: list[str]) -> GroupFigures:
        flagged = [s for s in stores if s in first_alert_s]
        withdrawn = claimed = held = 0.0
        for store in stores:
            for ts_s, amount_cny, is_claim in money_out.get(store, []):
                if is_claim:
                    claimed += amount_cny
                else:
                    withdrawn += amount_cny
                if first_alert_s.get(store, float("inf")) <= ts_s:
                    held += amount_cny
        delays_h = [
            (first_alert_s[s] - max(first_event_s[s], activity_start_s)) / HOUR_S
            for s in flagged
            if s in first_event_s
        ]
        return GroupFigures(
            stores=len(stores),
            stores_flagged=len(flagged),
            store_recall=round(ratio(len(flagged), len(stores)), 4),
            store_precision=round(ratio(len(flagged), len(flagged) + len(legit_flagged_stores)), 4),
            money_held=round(ratio(held, withdrawn + claimed), 4),
            withdrawn_cny=round(withdrawn, 2),
            claimed_cny=round(claimed, 2),
            held_cny=round(held, 2),
            median_time_to_alert_h=round(statistics.median(delays_h), 2) if delays_h else None,
        )

    def habit_figures(stores: list[str]) -> HabitFigures:
        flagged = sum(s in first_alert_s for s in stores)
        return HabitFigures(len(stores), flagged, round(ratio(flagged, len(stores)), 4))

    def detectors_of(store: str) -> list[str]:
        return sorted({str(a["detector"]) for a in alerts_by_store[store]})

    fraud = [s for stores in by_scheme.values() for s in stores]
    by_detector: dict[str, int] = defaultdict(int)
    for store in legit_flagged_stores:
        for detector in detectors_of(store):
            by_detector[detector] += 1
    return Report(
        overall=figures(fraud),
        schemes={name: figures(stores) for name, stores in sorted(by_scheme.items())},
        variants={
            name: {variant: figures(stores) for variant, stores in sorted(groups.items())}
            for name, groups in sorted(by_variant.items())
        },
        legit_stores=len(legit),
        legit_flagged=len(legit_flagged_stores),
        legit_alert_rate=round(ratio(len(legit_flagged_stores), len(legit)) if legit else 0.0, 4),
        legit_alerts=legit_alerts,
        legit_store_days=round(legit_days, 1),
        alerts_per_1000_legit_store_days=round(1000 * legit_alerts / legit_days, 3)
        if legit_days
        else 0.0,
        alerts=alert_count,
        habits={habit: habit_figures(stores) for habit, stores in sorted(by_habit.items())},
        legit_flagged_stores=[
            FlaggedHonestStore(
                store,
                split_label(labels[store])[1],
                detectors_of(store),
                len(alerts_by_store[store]),
            )
            for store in sorted(legit_flagged_stores)
        ],
        legit_flagged_by_detector=dict(sorted(by_detector.items())),
        missed_stores={
            name: sorted(s for s in stores if s not in first_alert_s)
            for name, stores in sorted(by_scheme.items())
        },
    )


def read_jsonl(path: str | Path) -> Iterable[dict[str, Any]]:
    """Objects of a JSON Lines file (plain or gzip), one at a time (a month of events does not
    fit twice); a line that is not a JSON object is an InputError naming the file and line."""
    for line_no, line in enumerate(read_lines(path), start=1):
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise InputError(
                f"{path} line {line_no} is not JSON: {exc}", "every line must be one JSON object"
            ) from None
        if not isinstance(value, dict):
            raise InputError(
                f"{path} line {line_no} is not a JSON object", "every line must be one JSON object"
            ) from None
        yield value


def render_table(report: Report) -> str:
    """The report as Markdown: one row per scheme plus the overall one, then the robustness
    matrix (scheme x variant; honest habit x false-alert rate) and the honest stores flagged."""
    rows = [
        "| stores | count | flagged | recall | precision | money held | median h to alert |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, g in [*report.schemes.items(), ("all fraud", report.overall)]:
        delay = "-" if g.median_time_to_alert_h is None else f"{g.median_time_to_alert_h:.1f}"
        rows.append(
            f"| {name} | {g.stores} | {g.stores_flagged} | {g.store_recall:.3f} | "
            f"{g.store_precision:.3f} | {g.money_held:.3f} | {delay} |"
        )
    rows.append(
        f"| legit | {report.legit_stores} | {report.legit_flagged} | "
        f"alert rate {report.legit_alert_rate:.4f} | | | "
        f"{report.alerts_per_1000_legit_store_days:.2f} alerts / 1,000 store-days |"
    )
    rows += [
        "",
        "Fraud by scheme and variant (the evasion used):",
        "",
        "| scheme | variant | stores | flagged | recall | money held | money out CNY |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for scheme, variants in report.variants.items():
        for variant, g in variants.items():
            rows.append(
                f"| {scheme} | {variant} | {g.stores} | {g.stores_flagged} | "
                f"{g.store_recall:.3f} | {g.money_held:.3f} | "
                f"{g.withdrawn_cny + g.claimed_cny:,.2f} |"
            )
    rows += [
        "",
        "Honest stores by habit:",
        "",
        "| habit | stores | flagged | false-alert rate |",
        "|---|---:|---:|---:|",
    ]
    for habit, h in report.habits.items():
        rows.append(f"| {habit} | {h.stores} | {h.stores_flagged} | {h.alert_rate:.4f} |")
    if report.legit_flagged_stores:
        rows += [
            "",
            "Honest stores flagged:",
            "",
            "| store | habit | detectors | alerts |",
            "|---|---|---|---:|",
        ]
        rows += [
            f"| {s.store_id} | {s.habit} | {', '.join(s.detectors)} | {s.alerts} |"
            for s in report.legit_flagged_stores
        ]
    return "\n".join(rows)


def plot_report(report: Report, path: str | Path, title: str = "Storewatch detection") -> None:
    """Per-scheme money held and recall against the 0.95 target, honest noise beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [*report.schemes, "all fraud"]
    groups = [*report.schemes.values(), report.overall]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 1]})
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
    right.set_title(
        f"honest: {report.legit_flagged} of {report.legit_stores} flagged\n"
        f"{report.alerts_per_1000_legit_store_days:.2f} alerts / 1,000 store-days"
    )
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
