"""The whole market: fraud groups dealt to the schemes, honest stores, labels, files.

Labels are ``"<scheme>/<variant>"`` for a fraud store (the variant names its main evasive
choice, see ``tactics``) and ``"legit/<habit>"`` for an honest one; the part before the slash
is the old plain label, so ``label_kind`` reads both.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from stream.tools.simulate import (
    bulk_identity,
    gambling_front,
    ghost_supplier,
    mule_cashout,
    price_protection,
)
from stream.tools.simulate.core import DAY_MS, LOCAL_UTC_OFFSET_MS, Event, EventLog
from stream.tools.simulate.honest import honest_sellers, run_honest
from stream.tools.simulate.world import Identities, World

LEGIT = "legit"
DEFAULT_START = datetime(2024, 3, 1, tzinfo=UTC)
DEFAULT_FRAUD_SHARE = 0.07

StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class Simulation:
    """What ``simulate`` returns: contract events sorted by time, and the truth per store."""

    events: list[Event]
    labels: dict[str, str]


class Scheme(NamedTuple):
    run: Callable[[World, Sequence[str]], dict[str, str]]  # store id -> variant
    variants: tuple[str, ...]
    group_sizes: tuple[int, int]  # stores per gang or ring
    share: float  # of the fraud stores beyond each scheme's first group


# In seeding order: when fraud stores are few, the schemes first in line get them.
FRAUD = {
    "price_protection": Scheme(price_protection.run, price_protection.VARIANTS, (3, 8), 0.25),
    "mule_cashout": Scheme(mule_cashout.run, mule_cashout.VARIANTS, (1, 1), 0.12),
    "gambling_front": Scheme(gambling_front.run, gambling_front.VARIANTS, (2, 6), 0.18),
    "ghost_supplier": Scheme(ghost_supplier.run, ghost_supplier.VARIANTS, (3, 12), 0.28),
    "bulk_identity": Scheme(bulk_identity.run, bulk_identity.VARIANTS, (2, 10), 0.17),
}
SCHEMES = tuple(sorted(FRAUD))


def label_kind(label: str) -> str:
    """The scheme (or ``legit``) of a label, old plain or new ``kind/detail`` alike.

    >>> label_kind("ghost_supplier/fake_tracking"), label_kind("legit")
    ('ghost_supplier', 'legit')
    """
    return label.partition("/")[0]


def fraud_groups(rng: random.Random, stores: int, fraud_share: float) -> list[tuple[str, int]]:
    """Fraud stores by scheme and group: every scheme once there are 100 stores and any fraud.

    >>> sorted({scheme for scheme, _ in fraud_groups(random.Random(1), 100, 0.01)})
    ['bulk_identity', 'gambling_front', 'ghost_supplier', 'mule_cashout', 'price_protection']
    """
    budget = round(stores * fraud_share)
    if stores >= 100 and fraud_share > 0:
        budget = max(budget, sum(scheme.group_sizes[0] for scheme in FRAUD.values()))
    counts = dict.fromkeys(FRAUD, 0)
    for name, scheme in FRAUD.items():
        if budget - sum(counts.values()) >= scheme.group_sizes[0]:
            counts[name] = scheme.group_sizes[0]
    seeded = [name for name, count in counts.items() if count]
    while seeded and sum(counts.values()) < budget:
        counts[min(seeded, key=lambda name: counts[name] / budget - FRAUD[name].share)] += 1
    groups = []
    for name in seeded:
        low, high = FRAUD[name].group_sizes
        left = counts[name]
        while left:  # split into groups of allowed size, sometimes even when one would do
            splits = left >= 2 * low and (left > high or rng.random() < 0.5)
            size = rng.randint(low, min(high, left - low)) if splits else left
            groups.append((name, size))
            left -= size
    return groups


def simulate(
    stores: int,
    days: int,
    seed: int,
    start: datetime = DEFAULT_START,
    fraud_share: float = DEFAULT_FRAUD_SHARE,
) -> Simulation:
    """A labelled marketplace of ``stores`` stores over ``days`` days from ``start``.

    About ``fraud_share`` of the stores run a fraud scheme (every scheme is present from 100
    stores on, unless ``fraud_share`` is 0); labels map every store id to ``"legit/<habit>"``
    or ``"<scheme>/<variant>"``. Store ids are shuffled before labels are dealt, so an id says
    nothing of its store.
    """
    _check_arguments(stores, days, start, fraud_share)
    rng = random.Random(seed)
    w = _world(rng, stores, days, start)
    store_ids = [f"s{index:05d}" for index in range(stores)]
    rng.shuffle(store_ids)
    labels: dict[str, str] = {}
    for scheme, size in fraud_groups(rng, stores, fraud_share):
        group, store_ids = store_ids[:size], store_ids[size:]
        variants = FRAUD[scheme].run(w, group)
        labels.update({store_id: f"{scheme}/{variants[store_id]}" for store_id in group})
    for seller in honest_sellers(w, store_ids):
        run_honest(w, seller)
        labels[seller.store_id] = f"{LEGIT}/{seller.habit}"
    return Simulation(events=w.log.sorted_events(), labels=dict(sorted(labels.items())))


def _check_arguments(stores: int, days: int, start: datetime, fraud_share: float) -> None:
    if stores < 1:
        raise ValueError(f"stores is {stores}; it must be at least 1")
    if days < 1:
        raise ValueError(f"days is {days}; it must be at least 1")
    if start.tzinfo is None:
        raise ValueError(f"start {start.isoformat()} has no time zone; give it in UTC")
    if not 0 <= fraud_share <= 0.5:
        raise ValueError(f"fraud_share is {fraud_share}; it must lie between 0 and 0.5")


def _world(rng: random.Random, stores: int, days: int, start: datetime) -> World:
    start_ms = round(start.timestamp() * 1000)
    end_ms = start_ms + days * DAY_MS
    day0_ms = (start_ms + LOCAL_UTC_OFFSET_MS) // DAY_MS * DAY_MS - LOCAL_UTC_OFFSET_MS
    local_days = -(-(end_ms - day0_ms) // DAY_MS)
    ids = Identities(rng)
    return World(
        rng=rng,
        log=EventLog(start_ms, end_ms, rng.getrandbits(64)),
        ids=ids,
        day0_ms=day0_ms,
        local_days=local_days,
        sale_start_ms=day0_ms + local_days // 2 * DAY_MS,
        shoppers=[ids.buyer() for _ in range(max(2_000, stores * 60))],
    )


def write_events(path: StrPath, events: Sequence[Event]) -> None:
    """JSON Lines, one compact object per line, in the order given (the replay order)."""
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        out.writelines(encode(event) + "\n" for event in events)


def write_labels(path: StrPath, labels: dict[str, str]) -> None:
    """The truth as one JSON object, store id to label, sorted by store id."""
    Path(path).write_text(json.dumps(labels, indent=2, sort_keys=True) + "\n", encoding="utf-8")
