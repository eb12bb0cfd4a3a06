"""Specifications of the labelled marketplace simulator (stream/simulate.py)."""

from __future__ import annotations

import doctest
import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stream import simulate as simulate_module
from stream.events import event_from_dict
from stream.simulate import LEGIT, SCHEMES, Simulation, simulate, write_events, write_labels

Event = dict[str, Any]

# The contract as the brief states it, written out independently of stream/events.py so that a
# drift between the simulator and the contract shows here.
MONEY, COUNT, TEXT, TEXT_OR_NULL = "money", "count", "text", "text or null"
COMMON_FIELDS = {"type": TEXT, "event_id": TEXT, "ts": TEXT, "store_id": TEXT}
FIELDS_BY_TYPE = {
    "store": {"owner_id": TEXT, "bank_account": TEXT, "deposit": MONEY, "category": TEXT},
    "order": {"order_id": TEXT, "buyer_id": TEXT, "sku": TEXT, "unit_price": MONEY,
              "quantity": COUNT, "status": TEXT, "tracking_no": TEXT_OR_NULL,
              "courier": TEXT_OR_NULL},
    "price": {"sku": TEXT, "old_price": MONEY, "new_price": MONEY},
    "refund": {"refund_id": TEXT, "order_id": TEXT, "buyer_id": TEXT, "amount": MONEY,
               "reason": TEXT},
    "withdrawal": {"withdrawal_id": TEXT, "amount": MONEY, "bank_account": TEXT},
}
CHOICES = {
    "status": {"placed", "shipped", "delivered", "cancelled"},
    "reason": {"price_protection", "not_received", "return", "other"},
}
TS_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def contract_violations(event: Event) -> list[str]:
    """What is wrong with one event against the contract; empty when nothing is."""
    expected = {**COMMON_FIELDS, **FIELDS_BY_TYPE.get(event.get("type", ""), {})}
    problems = [f"unexpected field {name}" for name in sorted(set(event) - set(expected))]
    for name, kind in expected.items():
        if name not in event:
            problems.append(f"{name} missing")
            continue
        value = event[name]
        if kind == MONEY and not (type(value) in (int, float) and value > 0
                                    and round(value, 2) == value):
            problems.append(f"{name}={value!r} is not a positive CNY amount with at most 2 decimals")
        elif kind == COUNT and not (type(value) is int and value >= 1):
            problems.append(f"{name}={value!r} is not a positive count")
        elif kind == TEXT and not (type(value) is str and value):
            problems.append(f"{name}={value!r} is not a non-empty string")
        elif kind == TEXT_OR_NULL and not (value is None or type(value) is str and value):
            problems.append(f"{name}={value!r} is neither a string nor null")
        elif name in CHOICES and value not in CHOICES[name]:
            problems.append(f"{name}={value!r} is not one of {sorted(CHOICES[name])}")
    if isinstance(event.get("ts"), str) and not TS_FORM.fullmatch(event["ts"]):
        problems.append(f"ts={event['ts']!r} is not ISO 8601 UTC with milliseconds")
    if event.get("type") == "order":
        in_transit = event.get("status") in ("shipped", "delivered")
        if in_transit != (event.get("tracking_no") is not None) or in_transit != (
                event.get("courier") is not None):
            problems.append(f"tracking_no/courier must be set exactly when shipped: {event}")
    return problems


def cents(amount_cny: float) -> int:
    return round(amount_cny * 100)


def by_type(sim: Simulation, kind: str) -> list[Event]:
    return [event for event in sim.events if event["type"] == kind]


def stores_of(sim: Simulation, label: str) -> list[str]:
    return [store_id for store_id, truth in sim.labels.items() if truth == label]


@pytest.fixture(scope="module", params=[7, 2024])
def sim(request: pytest.FixtureRequest) -> Simulation:
    """A 200-store, 10-day market: every scheme, a sale day, rings and gangs that finish."""
    return simulate(stores=200, days=10, seed=request.param)


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    for run in ("a", "b"):
        result = simulate(stores=60, days=3, seed=5)
        write_events(tmp_path / f"{run}.jsonl", result.events)
        write_labels(tmp_path / f"{run}.json", result.labels)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_different_seeds_give_different_markets() -> None:
    assert simulate(stores=60, days=3, seed=1).events != simulate(stores=60, days=3, seed=2).events


def test_written_events_are_one_compact_json_object_per_line(tmp_path: Path, sim: Simulation) -> None:
    write_events(tmp_path / "events.jsonl", sim.events[:500])
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == sim.events[:500]
    assert all(", " not in line and '": ' not in line for line in lines)


def test_written_labels_read_back_as_the_same_mapping(tmp_path: Path, sim: Simulation) -> None:
    write_labels(tmp_path / "labels.json", sim.labels)
    assert json.loads((tmp_path / "labels.json").read_text(encoding="utf-8")) == sim.labels


def test_events_are_sorted_by_time_then_event_id(sim: Simulation) -> None:
    keys = [(event["ts"], event["event_id"]) for event in sim.events]
    assert all(earlier < later for earlier, later in itertools.pairwise(keys))


def test_event_ids_are_unique(sim: Simulation) -> None:
    assert len({event["event_id"] for event in sim.events}) == len(sim.events)


def test_every_event_has_the_contract_fields_with_the_right_types(sim: Simulation) -> None:
    problems = {event["event_id"]: found for event in sim.events
                if (found := contract_violations(event))}
    assert not problems, list(problems.items())[:5]


def test_every_event_passes_the_detectors_input_validation(sim: Simulation) -> None:
    for event in sim.events:
        event_from_dict(event)


def test_only_openings_of_older_stores_precede_the_start(sim: Simulation) -> None:
    early = [event for event in sim.events if event["ts"] < "2024-03-01T00:00:00.000Z"]
    assert early and all(event["type"] == "store" for event in early)


def test_no_event_comes_after_the_window(sim: Simulation) -> None:
    assert sim.events[-1]["ts"] < "2024-03-11T00:00:00.000Z"


def test_each_store_opens_once_before_any_of_its_activity(sim: Simulation) -> None:
    opened: set[str] = set()
    for event in sim.events:
        if event["type"] == "store":
            assert event["store_id"] not in opened
            opened.add(event["store_id"])
        else:
            assert event["store_id"] in opened, event
    assert opened == set(sim.labels)


def test_every_scheme_is_present_at_200_stores(sim: Simulation) -> None:
    assert set(sim.labels.values()) == {LEGIT, *SCHEMES}


def test_fraud_stores_are_a_small_share(sim: Simulation) -> None:
    fraud = sum(truth != LEGIT for truth in sim.labels.values())
    assert 0.04 * len(sim.labels) <= fraud <= 0.1 * len(sim.labels)


def test_refunds_refer_to_earlier_orders_of_their_store_and_never_exceed_them(
        sim: Simulation) -> None:
    placed: dict[str, tuple[str, int]] = {}
    refunded_cents: Counter[str] = Counter()
    for event in sim.events:
        if event["type"] == "order" and event["status"] == "placed":
            placed[event["order_id"]] = (event["store_id"],
                                         cents(event["unit_price"]) * event["quantity"])
        elif event["type"] == "refund":
            store_id, paid_cents = placed[event["order_id"]]
            assert store_id == event["store_id"]
            refunded_cents[event["order_id"]] += cents(event["amount"])
            assert refunded_cents[event["order_id"]] <= paid_cents, event


def test_cancelled_orders_are_never_refunded(sim: Simulation) -> None:
    cancelled = {e["order_id"] for e in by_type(sim, "order") if e["status"] == "cancelled"}
    assert cancelled
    assert not [e for e in by_type(sim, "refund") if e["order_id"] in cancelled]


def test_withdrawals_never_exceed_the_balance(sim: Simulation) -> None:
    """Balance: placed order value - cancelled order value - refunds - earlier withdrawals."""
    balance_cents: Counter[str] = Counter()
    for event in sim.events:
        store_id = event["store_id"]
        if event["type"] == "order" and event["status"] in ("placed", "cancelled"):
            sign = 1 if event["status"] == "placed" else -1
            balance_cents[store_id] += sign * cents(event["unit_price"]) * event["quantity"]
        elif event["type"] == "refund":
            balance_cents[store_id] -= cents(event["amount"])
        elif event["type"] == "withdrawal":
            assert cents(event["amount"]) <= balance_cents[store_id], event
            balance_cents[store_id] -= cents(event["amount"])


def test_gambling_fronts_reuse_tracking_numbers_across_orders(sim: Simulation) -> None:
    orders_by_tracking: defaultdict[str, set[str]] = defaultdict(set)
    tracking_by_store: defaultdict[str, set[str]] = defaultdict(set)
    for event in by_type(sim, "order"):
        if event["status"] == "shipped":
            orders_by_tracking[event["tracking_no"]].add(event["order_id"])
            tracking_by_store[event["store_id"]].add(event["tracking_no"])
    for store_id in stores_of(sim, "gambling_front"):
        reused = [no for no in tracking_by_store[store_id] if len(orders_by_tracking[no]) > 1]
        assert reused, f"gambling front {store_id} never reuses a tracking number"


def test_honest_stores_never_reuse_tracking_numbers(sim: Simulation) -> None:
    honest = set(stores_of(sim, LEGIT))
    shipped = [e["tracking_no"] for e in by_type(sim, "order")
               if e["status"] == "shipped" and e["store_id"] in honest]
    assert len(set(shipped)) == len(shipped)


def test_mule_stores_withdraw_to_an_account_other_than_the_registered_one(
        sim: Simulation) -> None:
    registered = {e["store_id"]: e["bank_account"] for e in by_type(sim, "store")}
    for store_id in stores_of(sim, "mule_cashout"):
        accounts = {e["bank_account"] for e in by_type(sim, "withdrawal")
                    if e["store_id"] == store_id}
        assert accounts and registered[store_id] not in accounts, store_id


def test_price_protection_stores_cut_their_best_selling_sku_by_at_least_90_percent(
        sim: Simulation) -> None:
    for store_id in stores_of(sim, "price_protection"):
        sales_cents: Counter[str] = Counter()
        sold_price: dict[str, float] = {}
        lowest_later_price: dict[str, float] = {}
        for event in sim.events:
            if event["store_id"] != store_id:
                continue
            if event["type"] == "order" and event["status"] == "placed":
                sales_cents[event["sku"]] += cents(event["unit_price"]) * event["quantity"]
                sold_price[event["sku"]] = max(sold_price.get(event["sku"], 0), event["unit_price"])
            elif event["type"] == "price" and event["sku"] in sold_price:
                lowest_later_price[event["sku"]] = min(
                    lowest_later_price.get(event["sku"], event["new_price"]), event["new_price"])
        best_seller = sales_cents.most_common(1)[0][0]
        assert lowest_later_price[best_seller] <= 0.1 * sold_price[best_seller], store_id


def test_price_protection_refunds_also_come_from_honest_stores(sim: Simulation) -> None:
    honest = set(stores_of(sim, LEGIT))
    assert any(e["reason"] == "price_protection" and e["store_id"] in honest
               for e in by_type(sim, "refund"))


def test_event_count_scales_with_stores_and_days() -> None:
    base = len(simulate(stores=200, days=5, seed=3).events)
    assert 1.3 < len(simulate(stores=400, days=5, seed=3).events) / base < 3.0
    assert 1.6 < len(simulate(stores=200, days=10, seed=3).events) / base < 2.4


def test_start_moves_the_whole_market() -> None:
    later = simulate(stores=30, days=2, seed=4, start=datetime(2025, 1, 1, tzinfo=UTC))
    in_window = [e["ts"] for e in later.events if e["type"] != "store"]
    assert in_window and all(ts.startswith(("2025-01-01", "2025-01-02")) for ts in in_window)


def test_no_fraud_when_fraud_share_is_zero() -> None:
    assert set(simulate(stores=120, days=2, seed=1, fraud_share=0.0).labels.values()) == {LEGIT}


@pytest.mark.parametrize("arguments", [
    {"stores": 0, "days": 3},
    {"stores": 10, "days": 0},
    {"stores": 10, "days": 3, "fraud_share": 0.9},
    {"stores": 10, "days": 3, "start": datetime(2024, 3, 1)},
])
def test_impossible_arguments_are_refused_with_a_value_error(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        simulate(seed=1, **arguments)


def test_docstring_examples_hold() -> None:
    results = doctest.testmod(simulate_module)
    assert results.attempted and not results.failed
