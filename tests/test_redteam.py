"""The red-team generator keeps the input contract and its own promises (small sizes: seconds).

All four rounds go through the same contract checks; each round must also stay byte for byte
what it was for a seed, since figures measured on it are published.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

import pytest

from stream.core.events import parse_event
from stream.tools.redteam import (
    HABITS2,
    HABITS3,
    HABITS4,
    SCHEMES,
    VARIANTS,
    VARIANTS2,
    VARIANTS3,
    VARIANTS4,
    generate,
    generate2,
    generate3,
    generate4,
    plan,
    write,
)
from stream.tools.redteam.generate import main

Data = tuple[list[dict[str, Any]], dict[str, str]]


@cache
def small() -> Data:
    return generate(stores=60, days=10, seed=11)


@cache
def small2() -> Data:
    """Round 2 with one store per fraud variant and every honest habit, over a whole month."""
    return generate2(stores=80, days=30, seed=11, per_variant=1)


@cache
def small3() -> Data:
    """Round 3 with one store per fraud variant and every honest habit, over a whole month."""
    return generate3(stores=80, days=30, seed=11, per_variant=1)


@cache
def small4() -> Data:
    """Round 4 with one store per fraud variant and every honest habit, over a whole month."""
    return generate4(stores=80, days=30, seed=11, per_variant=1)


ROUNDS = pytest.mark.parametrize(
    "data", [small, small2, small3, small4], ids=["round1", "round2", "round3", "round4"]
)


def test_same_seed_same_data_other_seed_other_data() -> None:
    again = generate(stores=60, days=10, seed=11)
    assert again == small()
    assert generate(stores=60, days=10, seed=12)[0] != small()[0]


@ROUNDS
def test_every_event_passes_the_contract(data: Callable[[], Data]) -> None:
    events, _ = data()
    assert events
    for event in events:
        parsed = parse_event(json.dumps(event))
        assert parsed.type == event["type"]
        for name in ("unit_price", "amount", "deposit", "old_price", "new_price"):
            if name in event:
                assert event[name] > 0 and round(event[name], 2) == event[name]
    assert len({e["event_id"] for e in events}) == len(events)


@ROUNDS
def test_events_are_sorted_by_time_then_id(data: Callable[[], Data]) -> None:
    events, _ = data()
    keys = [(e["ts"], e["event_id"]) for e in events]
    assert keys == sorted(keys)


@ROUNDS
def test_orders_move_through_the_lifecycle_and_refunds_follow_orders(
    data: Callable[[], Data],
) -> None:
    events, _ = data()
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


@ROUNDS
def test_each_price_change_starts_from_the_last_one(data: Callable[[], Data]) -> None:
    """A sale's cut and its restore interleave with routine moves without breaking the chain."""
    events, _ = data()
    last: dict[tuple[str, str], float] = {}
    for e in events:
        if e["type"] == "price":
            key = (e["store_id"], e["sku"])
            assert last.get(key, e["old_price"]) == e["old_price"], e
            last[key] = e["new_price"]


@ROUNDS
def test_no_withdrawal_exceeds_the_balance(data: Callable[[], Data]) -> None:
    events, _ = data()
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


PINNED = {  # sha256 of (events, labels) at --stores 60 --days 10 --seed 11
    # round 1: taken before round 2 was added; round 2: before round 3 was added; round 3:
    # before round 4 was added; round 4: as first generated
    1: (
        "b3a9b8e2ad7b1351fb944bf2fbcfd97c904bcf1739be0159baa969b202675af8",
        "f79a6863cf03305a9a33fe6d0b91f7d84222837e620e8227fd8d58f347344268",
    ),
    2: (
        "be248b24e4689e80f4f4527835841fd931b7cb45dfea20f8e26327e866cdc286",
        "91b9e40aa22d2da2fc93ae9cfb88230cfcdad374d63c32e225a892e25f0c07e0",
    ),
    3: (
        "2d42b346fbf193a38c36fbf2056534ebe7cb6dd55a0914563b9bd8fa26df6545",
        "870d28c642bea7ce88d506b17d49eed7138e59acf448bd19930d04db0e87d70c",
    ),
    4: (
        "67ff4e476213e16f3815c252044c57c77e0fcf0e7263433faa5ca0fed4912721",
        "7fd40b458033a2388b1aca973c86fa639d8a0c6fe06a6c47df44c96110058011",
    ),
}


@pytest.mark.parametrize("round_no", sorted(PINNED))
def test_each_round_is_byte_for_byte_what_was_published(tmp_path: Any, round_no: int) -> None:
    """A change to shared code (or a later round) must not move an earlier round's output."""
    out, lab = str(tmp_path / "e.jsonl"), str(tmp_path / "l.json")
    size = ["--stores", "60", "--days", "10", "--seed", "11"]
    main(["--round", str(round_no), *size, "--out", out, "--labels", lab])
    digest = tuple(
        hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in ("e.jsonl", "l.json")
    )
    assert digest == PINNED[round_no]


def test_round_2_is_the_same_for_a_seed_and_differs_from_round_1() -> None:
    assert generate2(stores=80, days=30, seed=11, per_variant=1) == small2()
    events, labels = generate2(stores=30, days=5, seed=12)
    assert events != small2()[0][: len(events)]
    assert not set(labels.values()) & set(small()[1].values()) - {"legit/plain"}


@pytest.mark.parametrize(
    ("data", "habits", "variants"),
    [(small2, HABITS2, VARIANTS2), (small3, HABITS3, VARIANTS3), (small4, HABITS4, VARIANTS4)],
    ids=["round 2", "round 3", "round 4"],
)
def test_rounds_2_to_4_have_every_habit_and_variant_and_each_store_trades(
    data: Callable[[], Data], habits: dict[str, float], variants: dict[str, tuple[str, ...]]
) -> None:
    events, labels = data()
    wanted = {f"legit/{h}" for h in habits} | {
        f"{scheme}/{v}" for scheme, vs in variants.items() for v in vs
    }
    assert set(labels.values()) == wanted
    kinds: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for e in events:
        kinds[e["store_id"]][e["type"]] += 1
    for store, label in labels.items():
        assert kinds[store]["order"] > 0, label
        if not label.startswith("legit/"):  # every fraud gets its money out inside the window
            assert kinds[store]["withdrawal"] > 0, label


def test_round_2_honest_habits_show_their_trait() -> None:
    """Each habit's defining trait is in the data (else it would test nothing)."""
    events, labels = small2()
    by_label: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_label[labels[e["store_id"]]].append(e)

    def count(label: str, pred: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for e in by_label[label] if pred(e))

    assert count("legit/bank_change", lambda e: e["type"] == "store") >= 2
    assert count("mule_cashout/bank_change", lambda e: e["type"] == "store") == 2
    shared = Counter(
        e["tracking_no"] for e in by_label["legit/consolidator"] if e.get("status") == "shipped"
    )
    buyers = defaultdict(set)
    for e in by_label["legit/consolidator"]:
        if e.get("status") == "shipped":
            buyers[e["tracking_no"]].add(e["buyer_id"])
    assert max(len(b) for b in buyers.values()) >= 3 and shared
    assert count("legit/micro_payouts", lambda e: e["type"] == "withdrawal") >= 100
    assert count("legit/b2b_wholesale", lambda e: e.get("quantity", 0) >= 50) >= 1
    returns = count("legit/fashion_returns", lambda e: e.get("reason") == "return")
    assert returns >= 0.15 * count("legit/fashion_returns", lambda e: e.get("status") == "placed")
    assert count("legit/sale_day", lambda e: e.get("reason") == "price_protection") >= 1
    assert count("price_protection/ring_shared_card", lambda e: e["type"] == "refund") >= 1


def test_round_2_ring_stores_pay_one_card_none_of_them_registered() -> None:
    events, labels = generate2(stores=400, days=30, seed=3)
    ring = {s for s, lab in labels.items() if lab == "price_protection/ring_shared_card"}
    registered = {e["bank_account"] for e in events if e["type"] == "store"}
    paid = Counter(
        e["bank_account"] for e in events if e["type"] == "withdrawal" and e["store_id"] in ring
    )
    card, _ = paid.most_common(1)[0]
    assert card not in registered
    assert len({e["store_id"] for e in events if e.get("bank_account") == card}) >= 2


def test_round_option_chooses_the_round(tmp_path: Any, capsys: Any) -> None:
    out, lab = tmp_path / "e.jsonl", tmp_path / "l.json"
    main(["--round", "2", "--stores", "30", "--days", "3", "--out", str(out), "--labels", str(lab)])
    labels = json.loads(lab.read_text())
    first = json.loads(out.read_text().splitlines()[0])
    assert any(v.split("/")[1] in HABITS2 for v in labels.values())
    assert first["ts"] < "2024-10-22"  # round 2 starts on 21 October unless told
    main(["--round", "3", "--stores", "30", "--days", "3", "--out", str(out), "--labels", str(lab)])
    labels = json.loads(lab.read_text())
    assert any(v.split("/")[1] in HABITS3 for v in labels.values())
    assert json.loads(out.read_text().splitlines()[0])["ts"] < "2025-03-11"  # from 10 March
    main(["--round", "4", "--stores", "30", "--days", "3", "--out", str(out), "--labels", str(lab)])
    labels = json.loads(lab.read_text())
    assert any(v.split("/")[1] in HABITS4 for v in labels.values())
    assert json.loads(out.read_text().splitlines()[0])["ts"] < "2025-10-28"  # from 27 October
    with pytest.raises(SystemExit):
        main(["--round", "5"])
    with pytest.raises(SystemExit):
        main(["--round", "2", "--start", "yesterday"])
    assert "--start must be a date" in capsys.readouterr().err


def test_round_3_is_the_same_for_a_seed_and_shares_no_new_label_with_earlier_rounds() -> None:
    assert generate3(stores=80, days=30, seed=11, per_variant=1) == small3()
    earlier = set(small()[1].values()) | set(small2()[1].values())
    assert set(small3()[1].values()) & earlier == {"legit/plain"}
    assert len(set(HABITS3) - {"plain"}) >= 8
    assert sum(map(len, VARIANTS3.values())) >= 10 and set(VARIANTS3) == set(SCHEMES)


def test_round_3_has_every_label_at_400_stores_four_stores_per_variant() -> None:
    _, labels = generate3(stores=400, days=3, seed=3)
    present = Counter(labels.values())
    for scheme, variants in VARIANTS3.items():
        for variant in variants:
            assert present[f"{scheme}/{variant}"] == 4, variant
    for habit in HABITS3:
        assert present[f"legit/{habit}"] >= 15, habit
    fraud = sum(n for label, n in present.items() if not label.startswith("legit/"))
    assert 0.08 <= fraud / 400 <= 0.15


def test_round_3_honest_habits_show_their_trait() -> None:
    """Each habit's defining trait is in the data (else it would test nothing)."""
    events, labels = small3()
    by_label: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_label[labels[e["store_id"]]].append(e)

    def of(label: str, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [e for e in by_label[label] if pred(e)]

    registered = {e["bank_account"] for e in events if e["type"] == "store"}
    family = of("legit/family_card", lambda e: e["type"] == "withdrawal")
    assert family and all(e["bank_account"] not in registered for e in family)
    reseller = of("legit/bulk_reseller", lambda e: e["type"] == "withdrawal")
    reseller_stores = {e["store_id"] for e in by_label["legit/bulk_reseller"]}
    assert len(reseller) <= 2 * len(reseller_stores)
    digital = of("legit/digital_goods", lambda e: e.get("status") == "delivered")
    assert digital and all(e["courier"] == "e-delivery" for e in digital)
    placed = of("legit/made_to_order", lambda e: e.get("status") == "placed")
    cancelled = of("legit/made_to_order", lambda e: e.get("status") == "cancelled")
    assert len(cancelled) >= 0.12 * len(placed)
    daily = Counter(e["ts"][:10] for e in of("legit/charity_drive", lambda e: "status" in e))
    assert max(daily.values()) >= 100
    gifts = of("legit/corporate_gifts", lambda e: e.get("quantity", 0) >= 20)
    assert gifts and all(e["unit_price"] == int(e["unit_price"]) for e in gifts)
    boxes = Counter(e["buyer_id"] for e in of("legit/subscription_box", lambda e: "status" in e))
    assert boxes.most_common(1)[0][1] >= 4  # a subscriber renews every week
    assert of("legit/live_stream", lambda e: e["type"] == "price")
    rises = of("legit/fake_discount", lambda e: e.get("new_price", 0) > e.get("old_price", 0))
    assert rises
    migrant_opened = [e["ts"] for e in by_label["legit/platform_migrant"] if e["type"] == "store"]
    assert max(migrant_opened) > "2025-03-10"  # opened during the window, busy at once


def test_round_3_family_ring_pays_one_card_none_of_its_stores_registered() -> None:
    events, labels = generate3(stores=120, days=20, seed=3, per_variant=3)
    ring = {s for s, lab in labels.items() if lab == "mule_cashout/family_ring"}
    registered = {e["bank_account"] for e in events if e["type"] == "store"}
    paid = Counter(
        e["bank_account"] for e in events if e["type"] == "withdrawal" and e["store_id"] in ring
    )
    card, _ = paid.most_common(1)[0]
    assert card not in registered
    assert len({e["store_id"] for e in events if e.get("bank_account") == card}) >= 2


@pytest.mark.parametrize("round_no", [1, 2, 3, 4])
def test_the_projects_own_replay_rejects_nothing(tmp_path: Any, round_no: int) -> None:
    """The input contract as the service enforces it: zero dead letters on a small replay."""
    out, lab = tmp_path / "e.jsonl", tmp_path / "l.json"
    n_events, _ = write(out, lab, round_no, stores=40, days=10, seed=5)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "stream.cli", "replay", "--input", str(out)),
            *("--state", "memory", "--alerts-out", str(tmp_path / "a.jsonl")),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["events"] == n_events
    assert report["rejected"] == {}


def test_round_4_is_the_same_for_a_seed_and_shares_no_new_label_with_earlier_rounds() -> None:
    assert generate4(stores=80, days=30, seed=11, per_variant=1) == small4()
    earlier = set(small()[1].values()) | set(small2()[1].values()) | set(small3()[1].values())
    assert set(small4()[1].values()) & earlier == {"legit/plain"}
    assert len(set(HABITS4) - {"plain"}) >= 8
    assert max(HABITS4, key=HABITS4.__getitem__) == "plain"  # most stores are still plain
    assert sum(map(len, VARIANTS4.values())) >= 10 and set(VARIANTS4) == set(SCHEMES)


def test_round_4_has_every_label_at_400_stores_four_stores_per_variant() -> None:
    _, labels = generate4(stores=400, days=3, seed=3)
    present = Counter(labels.values())
    for scheme, variants in VARIANTS4.items():
        for variant in variants:
            assert present[f"{scheme}/{variant}"] == 4, variant
    for habit in HABITS4:
        assert present[f"legit/{habit}"] >= 15, habit
    fraud = sum(n for label, n in present.items() if not label.startswith("legit/"))
    assert 0.08 <= fraud / 400 <= 0.15


def _by_label(data: Data) -> defaultdict[str, list[dict[str, Any]]]:
    events, labels = data
    by_label: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_label[labels[e["store_id"]]].append(e)
    return by_label


def _days_apart(first: str, then: str) -> float:
    return (datetime.fromisoformat(then) - datetime.fromisoformat(first)).total_seconds() / 86400


def _status(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("status") == status


def _type(etype: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == etype


def _of(
    by_label: dict[str, list[dict[str, Any]]], label: str, pred: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    return [e for e in by_label[label] if pred(e)]


def test_round_4_honest_habits_show_their_trait() -> None:
    """Each habit's defining trait is in the data (else it would test nothing)."""
    by_label = _by_label(small4())

    def of(label: str, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return _of(by_label, label, pred)

    shipped = {e["order_id"]: e["ts"] for e in of("legit/cross_border", _status("shipped"))}
    transit = [
        _days_apart(shipped[e["order_id"]], e["ts"])
        for e in of("legit/cross_border", _status("delivered"))
    ]
    assert transit and min(transit) >= 10
    festival = of("legit/festival_rush", lambda e: "2025-11-10T16" <= e["ts"] < "2025-11-11T16")
    placed = Counter(e["ts"][:10] for e in of("legit/festival_rush", _status("placed")))
    assert (
        sum(e.get("status") == "placed" for e in festival)
        >= 3 * sorted(placed.values())[len(placed) // 2]
    )
    assert of(
        "legit/festival_rush", lambda e: e["type"] == "withdrawal" and e["ts"][:10] == "2025-11-12"
    )
    chain = [e for e in by_label["legit/franchise"] if e["type"] == "store"]
    banks = Counter((e["owner_id"], e["bank_account"]) for e in chain)
    assert banks.most_common(1)[0][1] >= 3  # several stores: one operator, one corporate account
    registered = {e["bank_account"] for e in chain}
    assert all(e["bank_account"] in registered for e in of("legit/franchise", _type("withdrawal")))
    hourly = Counter((e["sku"], e["ts"][:13]) for e in of("legit/group_buy", _status("placed")))
    assert max(hourly.values()) >= 10
    rounds = of("legit/round_weekly", _type("withdrawal"))
    assert rounds and all(e["amount"] % 1000 == 0 for e in rounds)
    grocery = Counter(e["buyer_id"] for e in of("legit/neighbourhood_grocery", _status("placed")))
    assert sum(n for n in grocery.values() if n >= 3) >= 0.7 * sum(grocery.values())
    harvests: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for e in of("legit/harvest_week", _status("placed")):
        harvests[e["store_id"]][e["ts"][:10]] += 1
    for daily in harvests.values():  # one crop week (and the day either side) holds most sales
        assert sum(sorted(daily.values())[-11:]) >= 0.7 * sum(daily.values())
    used = Counter(e["sku"] for e in of("legit/secondhand", _status("placed")))
    assert used and max(used.values()) == 1  # one item per listing, sold once
    robot = of("legit/algo_repricer", _type("price"))
    moves = sorted(abs(e["new_price"] / e["old_price"] - 1) for e in robot)
    assert len(robot) >= 300 and moves[len(moves) // 2] < 0.05
    sent = {e["order_id"]: e["ts"] for e in of("legit/refurbisher", _status("shipped"))}
    waits = sorted(
        _days_apart(e["ts"], sent[e["order_id"]])
        for e in of("legit/refurbisher", _status("placed"))
        if e["order_id"] in sent
    )
    assert waits[len(waits) // 2] >= 4


def test_round_4_fraud_keeps_its_money_flow_with_the_one_thing_changed() -> None:
    """Every variant still gets money out (to the account it registered), and the trait it
    changed is in the data."""
    by_label = _by_label(small4())
    registered = {
        e["store_id"]: e["bank_account"]
        for es in by_label.values()
        for e in es
        if e["type"] == "store"
    }
    for label, events in by_label.items():
        if label.startswith("legit/"):
            continue
        out = [e for e in events if e["type"] == "withdrawal"]
        assert out, label  # the money leaves the store inside the window
        assert all(e["bank_account"] == registered[e["store_id"]] for e in out), label
    steps = Counter(
        e["sku"]
        for e in by_label["price_protection/three_step_partial"]
        if e["type"] == "price" and e["new_price"] < e["old_price"]
    )
    assert max(steps.values()) >= 3
    claims = _of(
        by_label,
        "price_protection/three_step_partial",
        lambda e: e.get("reason") == "price_protection",
    )
    cut = {sku for sku, n in steps.items() if n >= 3}
    bought = _of(
        by_label,
        "price_protection/three_step_partial",
        lambda e: e.get("status") == "placed" and e["sku"] in cut,
    )
    assert 0 < len(claims) < 0.7 * len(bought)
    assert len({e["buyer_id"] for e in bought}) >= 0.8 * len(bought)  # one order per account
    scanned = by_label["ghost_supplier/scanned_tracking"]
    assert any(e.get("status") == "delivered" for e in scanned)
    assert any(e.get("reason") == "not_received" for e in scanned)
    mule = by_label["mule_cashout/weekly_round"]
    opened = next(e["ts"] for e in mule if e["type"] == "store")
    paid = [e for e in mule if e["type"] == "withdrawal"]
    assert min(_days_apart(opened, e["ts"]) for e in paid) >= 7
    assert all(e["amount"] % 1000 == 0 for e in paid)


def test_round_4_bulk_batches_open_over_two_weeks_and_franchise_rings_share_one_operator() -> None:
    events, labels = generate4(stores=120, days=30, seed=3, per_variant=3)
    opened: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["type"] == "store":
            opened[labels[e["store_id"]]].append(e)
    spread = sorted(e["ts"] for e in opened["bulk_identity/two_week_spread"])
    assert _days_apart(spread[0], spread[-1]) >= 2
    ring = Counter(
        (e["owner_id"], e["bank_account"]) for e in opened["mule_cashout/franchise_ring"]
    )
    assert ring.most_common(1)[0][1] >= 2
