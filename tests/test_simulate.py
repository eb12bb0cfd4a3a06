"""Specifications of the labelled marketplace simulator (stream/tools/simulate/)."""

from __future__ import annotations

import doctest
import importlib
import itertools
import json
import pkgutil
import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import stream.tools.simulate as simulate_package
from stream.core.checks import event_from_dict, parse_ts_s
from stream.tools.simulate import (
    FRAUD,
    HABITS,
    LEGIT,
    PLAIN,
    SCHEMES,
    Simulation,
    label_kind,
    simulate,
    write_events,
    write_labels,
)

Event = dict[str, Any]

# The contract as the brief states it, written out independently of stream/core/contract.py so that a
# drift between the simulator and the contract shows here.
MONEY, COUNT, TEXT, TEXT_OR_NULL = "money", "count", "text", "text or null"
COMMON_FIELDS = {"type": TEXT, "event_id": TEXT, "ts": TEXT, "store_id": TEXT}
FIELDS_BY_TYPE = {
    "store": {"owner_id": TEXT, "bank_account": TEXT, "deposit": MONEY, "category": TEXT},
    "order": {
        "order_id": TEXT,
        "buyer_id": TEXT,
        "sku": TEXT,
        "unit_price": MONEY,
        "quantity": COUNT,
        "status": TEXT,
        "tracking_no": TEXT_OR_NULL,
        "courier": TEXT_OR_NULL,
    },
    "price": {"sku": TEXT, "old_price": MONEY, "new_price": MONEY},
    "refund": {
        "refund_id": TEXT,
        "order_id": TEXT,
        "buyer_id": TEXT,
        "amount": MONEY,
        "reason": TEXT,
    },
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
        if kind == MONEY and not (
            type(value) in (int, float) and value > 0 and round(value, 2) == value
        ):
            problems.append(
                f"{name}={value!r} is not a positive CNY amount with at most 2 decimals"
            )
        elif kind == COUNT and not (type(value) is int and value >= 1):
            problems.append(f"{name}={value!r} is not a positive count")
        elif kind == TEXT and not (type(value) is str and value):
            problems.append(f"{name}={value!r} is not a non-empty string")
        elif kind == TEXT_OR_NULL and not (value is None or (type(value) is str and value)):
            problems.append(f"{name}={value!r} is neither a string nor null")
        elif name in CHOICES and value not in CHOICES[name]:
            problems.append(f"{name}={value!r} is not one of {sorted(CHOICES[name])}")
    if isinstance(event.get("ts"), str) and not TS_FORM.fullmatch(event["ts"]):
        problems.append(f"ts={event['ts']!r} is not ISO 8601 UTC with milliseconds")
    if event.get("type") == "order":
        in_transit = event.get("status") in ("shipped", "delivered")
        if in_transit != (event.get("tracking_no") is not None) or in_transit != (
            event.get("courier") is not None
        ):
            problems.append(f"tracking_no/courier must be set exactly when shipped: {event}")
    return problems


def cents(amount_cny: float) -> int:
    return round(amount_cny * 100)


def by_type(sim: Simulation, kind: str) -> list[Event]:
    return [event for event in sim.events if event["type"] == kind]


def stores_of(sim: Simulation, label: str) -> list[str]:
    """Stores whose label is ``label`` exactly, or whose kind (scheme, legit) it is."""
    return [
        store_id for store_id, truth in sim.labels.items() if label in (truth, label_kind(truth))
    ]


def variant_of(sim: Simulation, store_id: str) -> str:
    return sim.labels[store_id].partition("/")[2]


def registered_accounts(sim: Simulation) -> dict[str, str]:
    return {e["store_id"]: e["bank_account"] for e in by_type(sim, "store")}


def events_by_store(sim: Simulation) -> defaultdict[str, list[Event]]:
    grouped: defaultdict[str, list[Event]] = defaultdict(list)
    for event in sim.events:
        grouped[event["store_id"]].append(event)
    return grouped


def hours_between(earlier_ts: str, later_ts: str) -> float:
    return (parse_ts_s(later_ts) - parse_ts_s(earlier_ts)) / 3600


def deepest_cut(events: list[Event]) -> float:
    """The largest share of a SKU's first seen price that its later prices removed."""
    first_price: dict[str, float] = {}
    deepest = 0.0
    for event in events:
        if event["type"] == "price":
            base = first_price.setdefault(event["sku"], event["old_price"])
            deepest = max(deepest, 1 - event["new_price"] / base)
    return deepest


@pytest.fixture(scope="module", params=[7, 2024])
def sim(request: pytest.FixtureRequest) -> Simulation:
    """A 200-store, 10-day market: every scheme, a sale day, rings and gangs that finish."""
    return simulate(stores=200, days=10, seed=request.param)


@pytest.fixture(scope="module")
def fraud_heavy() -> Simulation:
    """Half the stores fraudulent, so each scheme has dozens of stores to show its ranges."""
    return simulate(stores=400, days=14, seed=11, fraud_share=0.5)


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    for run in ("a", "b"):
        result = simulate(stores=60, days=3, seed=5)
        write_events(tmp_path / f"{run}.jsonl", result.events)
        write_labels(tmp_path / f"{run}.json", result.labels)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_different_seeds_give_different_markets() -> None:
    assert simulate(stores=60, days=3, seed=1).events != simulate(stores=60, days=3, seed=2).events


def test_written_events_are_one_compact_json_object_per_line(
    tmp_path: Path, sim: Simulation
) -> None:
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
    problems = {
        event["event_id"]: found for event in sim.events if (found := contract_violations(event))
    }
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
    active: set[str] = set()
    for event in sim.events:
        if event["type"] == "store":
            assert event["store_id"] not in opened and event["store_id"] not in active
            opened.add(event["store_id"])
        else:
            active.add(event["store_id"])
    assert opened | active == set(sim.labels)


def test_stores_without_a_store_event_opened_before_the_window_and_are_honest_and_fraud(
    sim: Simulation,
) -> None:
    """A live marketplace's feed starts long after most stores registered: missing store
    events are common among honest stores too, so their absence marks nothing."""
    unrecorded = set(sim.labels) - set(registered_accounts(sim))
    assert {label_kind(sim.labels[s]) for s in unrecorded} >= {LEGIT}
    assert sum(label_kind(sim.labels[s]) == LEGIT for s in unrecorded) >= 0.1 * len(
        stores_of(sim, LEGIT)
    )
    assert set(stores_of(sim, "legit/no_store_event")) <= unrecorded


def test_fraud_stores_lack_their_store_event_as_often_as_a_variant_draws_it(
    fraud_heavy: Simulation,
) -> None:
    unrecorded = set(fraud_heavy.labels) - set(registered_accounts(fraud_heavy))
    for scheme in SCHEMES:
        labelled = stores_of(fraud_heavy, f"{scheme}/no_store_event")
        assert labelled and set(labelled) <= unrecorded, scheme


def test_every_scheme_is_present_at_200_stores(sim: Simulation) -> None:
    assert {label_kind(label) for label in sim.labels.values()} == {LEGIT, *SCHEMES}
    assert "bulk_identity" in SCHEMES


def test_labels_name_a_scheme_and_variant_or_legit_and_habit(sim: Simulation) -> None:
    for label in sim.labels.values():
        kind, _, detail = label.partition("/")
        if kind == LEGIT:
            assert detail in {*HABITS, PLAIN}, label
        else:
            assert detail in FRAUD[kind].variants, label


def test_every_variant_of_every_scheme_appears_in_a_fraud_heavy_market(
    fraud_heavy: Simulation,
) -> None:
    for scheme in SCHEMES:
        seen = {variant_of(fraud_heavy, s) for s in stores_of(fraud_heavy, scheme)}
        assert seen == set(FRAUD[scheme].variants), scheme


def test_fraud_stores_are_a_small_share(sim: Simulation) -> None:
    fraud = sum(label_kind(truth) != LEGIT for truth in sim.labels.values())
    assert 0.04 * len(sim.labels) <= fraud <= 0.1 * len(sim.labels)


def test_refunds_refer_to_earlier_orders_of_their_store_and_never_exceed_them(
    sim: Simulation,
) -> None:
    placed: dict[str, tuple[str, int]] = {}
    refunded_cents: Counter[str] = Counter()
    for event in sim.events:
        if event["type"] == "order" and event["status"] == "placed":
            placed[event["order_id"]] = (
                event["store_id"],
                cents(event["unit_price"]) * event["quantity"],
            )
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


def test_price_protection_cut_depths_span_50_to_99_percent(fraud_heavy: Simulation) -> None:
    """No single depth to learn: the gang's deepest cut lands anywhere from half to nearly all."""
    grouped = events_by_store(fraud_heavy)
    depths = [deepest_cut(grouped[s]) for s in stores_of(fraud_heavy, "price_protection")]
    depths = [d for d in depths if d > 0]  # a few gangs run out of window before cutting
    assert min(depths) < 0.6 and max(depths) > 0.95
    assert sum(0.6 <= d <= 0.9 for d in depths) >= len(depths) / 3


def test_price_cuts_come_in_one_step_or_several(fraud_heavy: Simulation) -> None:
    grouped = events_by_store(fraud_heavy)
    steps = []
    for store_id in stores_of(fraud_heavy, "price_protection"):
        per_sku = Counter(e["sku"] for e in grouped[store_id] if e["type"] == "price")
        if per_sku:
            steps.append(max(per_sku.values()))
    assert 1 in steps and max(steps) >= 3


def test_mule_bursts_last_hours_for_some_and_days_for_others(fraud_heavy: Simulation) -> None:
    grouped = events_by_store(fraud_heavy)
    spans_h = []
    for store_id in stores_of(fraud_heavy, "mule_cashout"):
        big = [
            e["ts"]
            for e in grouped[store_id]
            if e["type"] == "order" and e["status"] == "placed" and e["unit_price"] >= 2_000
        ]
        if len(big) >= 2:
            spans_h.append(hours_between(min(big), max(big)))
    assert min(spans_h) < 3 and max(spans_h) > 24


def test_payouts_take_20_to_100_percent_of_takings_in_one_to_four_parts(
    fraud_heavy: Simulation,
) -> None:
    grouped = events_by_store(fraud_heavy)
    shares, parts = [], []
    for store_id in stores_of(fraud_heavy, "bulk_identity"):
        takings = sum(
            e["unit_price"] * e["quantity"]
            for e in grouped[store_id]
            if e["type"] == "order" and e["status"] == "placed"
        )
        paid = [e["amount"] for e in grouped[store_id] if e["type"] == "withdrawal"]
        if takings and paid:
            shares.append(sum(paid) / takings)
            parts.append(len(paid))
    assert all(0.15 <= share <= 1.0 for share in shares)
    assert min(shares) < 0.35 and max(shares) > 0.9
    assert set(parts) >= {1, 2, 3, 4} and max(parts) == 4


def test_fraud_pays_out_to_registered_new_and_shared_accounts(fraud_heavy: Simulation) -> None:
    registered = registered_accounts(fraud_heavy)
    fraud = {s for s in fraud_heavy.labels if label_kind(fraud_heavy.labels[s]) != LEGIT}
    stores_by_account: defaultdict[str, set[str]] = defaultdict(set)
    for event in by_type(fraud_heavy, "withdrawal"):
        stores_by_account[event["bank_account"]].add(event["store_id"])
    kinds: Counter[str] = Counter()
    for event in by_type(fraud_heavy, "withdrawal"):
        if event["store_id"] not in fraud:
            continue
        account = event["bank_account"]
        kinds[
            "registered"
            if registered.get(event["store_id"]) == account
            else "shared"
            if len(stores_by_account[account]) > 1
            else "new"
        ] += 1
    assert min(kinds["registered"], kinds["new"], kinds["shared"]) >= 0.1 * sum(kinds.values())


def test_own_account_variants_pay_out_only_to_the_registered_account(
    fraud_heavy: Simulation,
) -> None:
    registered = registered_accounts(fraud_heavy)
    for scheme in ("bulk_identity", "mule_cashout", "price_protection"):
        for store_id in stores_of(fraud_heavy, f"{scheme}/own_account"):
            accounts = {
                e["bank_account"]
                for e in by_type(fraud_heavy, "withdrawal")
                if e["store_id"] == store_id
            }
            if store_id in registered:
                assert accounts <= {registered[store_id]}, store_id


def test_gambling_fronts_reuse_tracking_numbers_unless_they_buy_fresh_ones(
    fraud_heavy: Simulation,
) -> None:
    orders_by_tracking: defaultdict[str, set[str]] = defaultdict(set)
    tracking_by_store: defaultdict[str, set[str]] = defaultdict(set)
    for event in by_type(fraud_heavy, "order"):
        if event["status"] == "shipped":
            orders_by_tracking[event["tracking_no"]].add(event["order_id"])
            tracking_by_store[event["store_id"]].add(event["tracking_no"])
    reuses = {
        store_id: any(len(orders_by_tracking[no]) > 1 for no in tracking_by_store[store_id])
        for store_id in stores_of(fraud_heavy, "gambling_front")
    }
    assert not any(reuses[s] for s in stores_of(fraud_heavy, "gambling_front/fresh_tracking"))
    assert any(reuses.values())


def test_fraud_shops_are_new_or_aged(fraud_heavy: Simulation) -> None:
    opened = {e["store_id"]: e["ts"] for e in by_type(fraud_heavy, "store")}
    for scheme in ("price_protection", "ghost_supplier", "gambling_front", "bulk_identity"):
        ages = [opened[s] < "2024-03-01" for s in stores_of(fraud_heavy, scheme) if s in opened]
        assert any(ages) and not all(ages), scheme


def test_bulk_identity_shops_are_cashed_out_within_hours_of_their_first_sale(
    fraud_heavy: Simulation,
) -> None:
    grouped = events_by_store(fraud_heavy)
    delays_h = []
    for store_id in stores_of(fraud_heavy, "bulk_identity"):
        if variant_of(fraud_heavy, store_id) in ("slow_cashout", "split_payout"):
            continue
        events = grouped[store_id]
        first_sale = min((e["ts"] for e in events if e["type"] == "order"), default=None)
        first_payout = min((e["ts"] for e in events if e["type"] == "withdrawal"), default=None)
        if first_sale and first_payout:
            delays_h.append(hours_between(first_sale, first_payout))
    assert delays_h and statistics.median(delays_h) < 12


def test_honest_habits_appear_at_their_rates(sim: Simulation) -> None:
    honest = stores_of(sim, LEGIT)
    habits = Counter(variant_of(sim, s) for s in honest)
    for habit, share in HABITS.items():
        assert habits[habit] == max(1, round(share * len(honest))), habit
    assert habits[PLAIN] == len(honest) - sum(habits[h] for h in HABITS)


def test_honest_parcels_only_ever_carry_one_buyer_s_orders(sim: Simulation) -> None:
    honest = set(stores_of(sim, LEGIT))
    buyers_by_tracking: defaultdict[str, set[str]] = defaultdict(set)
    for event in by_type(sim, "order"):
        if event["status"] == "shipped" and event["store_id"] in honest:
            buyers_by_tracking[event["tracking_no"]].add(event["buyer_id"])
    assert all(len(buyers) == 1 for buyers in buyers_by_tracking.values())


def test_most_merged_parcel_stores_ship_one_buyer_s_orders_under_one_number(
    sim: Simulation,
) -> None:
    grouped = events_by_store(sim)
    merging = [
        s
        for s in stores_of(sim, "legit/merged_parcels")
        if max(
            Counter(
                e["tracking_no"]
                for e in grouped[s]
                if e["type"] == "order" and e["status"] == "shipped"
            ).values(),
            default=0,
        )
        > 1
    ]
    assert len(merging) >= 0.6 * len(stores_of(sim, "legit/merged_parcels"))


def test_honest_sellers_with_several_accounts_pay_out_to_more_than_one(sim: Simulation) -> None:
    grouped = events_by_store(sim)
    accounts = [
        len({e["bank_account"] for e in grouped[s] if e["type"] == "withdrawal"})
        for s in stores_of(sim, "legit/several_accounts")
    ]
    assert max(accounts) >= 2


def test_launch_promotions_cut_50_to_75_percent_in_a_new_store_s_first_days(
    sim: Simulation,
) -> None:
    grouped = events_by_store(sim)
    for store_id in stores_of(sim, "legit/launch_promotion"):
        opened = grouped[store_id][0]
        assert opened["type"] == "store" and opened["ts"] >= "2024-03-01"
        cuts = [
            1 - e["new_price"] / e["old_price"]
            for e in grouped[store_id]
            if e["type"] == "price" and e["new_price"] < e["old_price"]
        ]
        if cuts:
            assert 0.45 <= max(cuts) <= 0.8, store_id


def test_honest_deep_clearances_cut_70_to_90_percent(sim: Simulation) -> None:
    grouped = events_by_store(sim)
    depths = [deepest_cut(grouped[s]) for s in stores_of(sim, "legit/deep_clearance")]
    assert max(depths) >= 0.7 and all(d <= 0.95 for d in depths)


def test_daily_sweeps_take_the_whole_balance_most_days(sim: Simulation) -> None:
    grouped = events_by_store(sim)
    payout_days = [
        len({e["ts"][:10] for e in grouped[s] if e["type"] == "withdrawal"})
        for s in stores_of(sim, "legit/daily_sweep")
    ]
    assert statistics.median(payout_days) >= 5


def test_dropshippers_ship_after_about_a_week(sim: Simulation) -> None:
    grouped = events_by_store(sim)
    placed: dict[str, str] = {}
    delays_days = []
    for store_id in stores_of(sim, "legit/dropshipper"):
        for event in grouped[store_id]:
            if event["type"] != "order":
                continue
            if event["status"] == "placed":
                placed[event["order_id"]] = event["ts"]
            elif event["status"] == "shipped":
                delays_days.append(hours_between(placed[event["order_id"]], event["ts"]) / 24)
    # the window cuts off the longest waits (orders placed late ship after it), hence 3 days
    assert delays_days and statistics.median(delays_days) >= 3


def test_night_sellers_sell_mostly_in_the_small_hours(sim: Simulation) -> None:
    grouped = events_by_store(sim)
    local_hours = [
        (int(e["ts"][11:13]) + 8) % 24
        for s in stores_of(sim, "legit/night_seller")
        for e in grouped[s]
        if e["type"] == "order" and e["status"] == "placed"
    ]
    assert sum(hour < 6 or hour >= 22 for hour in local_hours) > 0.5 * len(local_hours)


def test_revived_dormant_shops_are_old_and_silent_before_they_come_back(sim: Simulation) -> None:
    grouped = events_by_store(sim)
    for store_id in stores_of(sim, "legit/revived_dormant"):
        activity = [e["ts"] for e in grouped[store_id] if e["type"] != "store"]
        assert not activity or min(activity) >= "2024-03-02", store_id


def test_price_protection_refunds_also_come_from_honest_stores(sim: Simulation) -> None:
    honest = set(stores_of(sim, LEGIT))
    assert any(
        e["reason"] == "price_protection" and e["store_id"] in honest
        for e in by_type(sim, "refund")
    )


def test_event_count_scales_with_stores_and_days() -> None:
    base = len(simulate(stores=200, days=5, seed=3).events)
    assert 1.3 < len(simulate(stores=400, days=5, seed=3).events) / base < 3.0
    assert 1.6 < len(simulate(stores=200, days=10, seed=3).events) / base < 2.4


def test_start_moves_the_whole_market() -> None:
    later = simulate(stores=30, days=2, seed=4, start=datetime(2025, 1, 1, tzinfo=UTC))
    in_window = [e["ts"] for e in later.events if e["type"] != "store"]
    assert in_window and all(ts.startswith(("2025-01-01", "2025-01-02")) for ts in in_window)


def test_no_fraud_when_fraud_share_is_zero() -> None:
    labels = simulate(stores=120, days=2, seed=1, fraud_share=0.0).labels.values()
    assert {label_kind(label) for label in labels} == {LEGIT}


@pytest.mark.parametrize(
    "arguments",
    [
        {"stores": 0, "days": 3},
        {"stores": 10, "days": 0},
        {"stores": 10, "days": 3, "fraud_share": 0.9},
        {"stores": 10, "days": 3, "start": datetime(2024, 3, 1)},
    ],
)
def test_impossible_arguments_are_refused_with_a_value_error(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        simulate(seed=1, **arguments)


def test_docstring_examples_hold() -> None:
    attempted = failed = 0
    for module_info in pkgutil.iter_modules(simulate_package.__path__):
        module = importlib.import_module(f"stream.tools.simulate.{module_info.name}")
        results = doctest.testmod(module)
        attempted, failed = attempted + results.attempted, failed + results.failed
    assert attempted and not failed
