"""The red-team generator keeps the input contract and its own promises (small sizes: seconds)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from functools import cache
from typing import Any

from stream.core.events import parse_event
from stream.tools.redteam import SCHEMES, VARIANTS, generate, plan, write


@cache
def small() -> tuple[list[dict[str, Any]], dict[str, str]]:
    return generate(stores=60, days=10, seed=11)


def test_same_seed_same_data_other_seed_other_data() -> None:
    again = generate(stores=60, days=10, seed=11)
    assert again == small()
    assert generate(stores=60, days=10, seed=12)[0] != small()[0]


def test_every_event_passes_the_contract() -> None:
    events, _ = small()
    assert events
    for event in events:
        parsed = parse_event(json.dumps(event))
        assert parsed.type == event["type"]
        for name in ("unit_price", "amount", "deposit", "old_price", "new_price"):
            if name in event:
                assert event[name] > 0 and round(event[name], 2) == event[name]
    assert len({e["event_id"] for e in events}) == len(events)


def test_events_are_sorted_by_time_then_id() -> None:
    events, _ = small()
    keys = [(e["ts"], e["event_id"]) for e in events]
    assert keys == sorted(keys)


def test_orders_move_through_the_lifecycle_and_refunds_follow_orders() -> None:
    events, _ = small()
    status: dict[str, tuple[str, str, int]] = {}
    refunded: Counter[str] = Counter()
    allowed = {"shipped": "placed", "delivered": "shipped", "cancelled": "placed"}
    for e in events:
        if e["type"] == "order":
            value = round(e["unit_price"] * 100) * e["quantity"]
            if e["status"] == "placed":
                assert e["order_id"] not in status and e["tracking_no"] is None
            else:
                assert status[e["order_id"]][:2] == (e["store_id"], allowed[e["status"]])
                assert (e["tracking_no"] is not None) == (e["status"] != "cancelled")
            status[e["order_id"]] = (e["store_id"], e["status"], value)
        elif e["type"] == "refund":
            store, state, value = status[e["order_id"]]
            assert store == e["store_id"] and state != "cancelled"
            refunded[e["order_id"]] += round(e["amount"] * 100)
            assert refunded[e["order_id"]] <= value


def test_no_withdrawal_exceeds_the_balance() -> None:
    events, _ = small()
    balance: defaultdict[str, int] = defaultdict(int)
    for e in events:
        store = e["store_id"]
        if e["type"] == "order" and e["status"] in ("placed", "cancelled"):
            value = round(e["unit_price"] * 100) * e["quantity"]
            balance[store] += value if e["status"] == "placed" else -value
        elif e["type"] == "refund":
            balance[store] -= round(e["amount"] * 100)
        elif e["type"] == "withdrawal":
            amount = round(e["amount"] * 100)
            assert amount <= balance[store], (store, amount, balance[store])
            balance[store] -= amount


def test_labels_name_the_five_schemes_or_an_honest_habit() -> None:
    events, labels = small()
    assert set(labels) >= {e["store_id"] for e in events}
    for label in labels.values():
        scheme, variant = label.split("/")
        assert scheme == "legit" or (scheme in SCHEMES and variant in VARIANTS[scheme])


def test_every_variant_has_four_stores_at_400_and_most_stores_are_honest() -> None:
    counts = Counter(plan(400, 0.10, 4))
    assert sum(counts.values()) == 400
    for scheme in SCHEMES:
        for variant in VARIANTS[scheme]:
            assert counts[f"{scheme}/{variant}"] >= 4
    assert sum(n for label, n in counts.items() if label.startswith("legit/")) >= 300


def test_every_variant_is_generated_at_400_stores() -> None:
    _, labels = generate(stores=400, days=2, seed=3)
    present = Counter(labels.values())
    for scheme in SCHEMES:
        for variant in VARIANTS[scheme]:
            assert present[f"{scheme}/{variant}"] >= 4


def test_write_gives_json_lines_and_labels(tmp_path: Any) -> None:
    n_events, n_stores = write(tmp_path / "e.jsonl", tmp_path / "l.json", stores=20, days=3, seed=1)
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    assert len(lines) == n_events and n_stores == len(json.loads((tmp_path / "l.json").read_text()))
