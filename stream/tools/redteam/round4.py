"""Round 4's marketplace: another marketplace, and fraud that changed one thing.

Rounds 1-3 stay as they were, byte for byte. Round 4 runs from 27 October 2025 so that the
window holds the 11.11 festival (its local midnight opens day 16), with older stores (half a year
to ten years), deposits of 2,000-20,000 CNY, a median of ~5 orders a day, and its own labels
(``round4_honest.HABITS4``, ``round4_fraud.VARIANTS4``). Most stores are ``plain``; six in ten
of them, and of most other habits, sell 1.5-4x their usual on the festival day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stream.tools.redteam.population import plan
from stream.tools.redteam.round2 import crews
from stream.tools.redteam.round4_fraud import (
    VARIANTS4,
    bulk_identity4,
    gambling_front4,
    ghost_supplier4,
    mule_cashout4,
    price_protection4,
)
from stream.tools.redteam.round4_honest import HABITS4, franchises, honest4
from stream.tools.redteam.round4_trade import festival_day
from stream.tools.redteam.world import Shop, World

START4 = datetime(2025, 10, 27, tzinfo=UTC)
MAKERS4 = {
    "price_protection": price_protection4,
    "gambling_front": gambling_front4,
    "ghost_supplier": ghost_supplier4,
    "mule_cashout": mule_cashout4,
    "bulk_identity": bulk_identity4,
}
# when in the window a crew strikes (share of the span): slow variants need weeks ahead of them
STRIKE4 = {
    "weekly_round": (0.0, 0.25),
    "cross_border_ghost": (0.0, 0.3),
    "two_week_spread": (0.0, 0.35),
    "harvest_batch": (0.0, 0.55),
}


def generate4(
    stores: int = 400,
    days: int = 30,
    seed: int = 0,
    start: datetime = START4,
    fraud_share: float = 0.10,
    per_variant: int = 4,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Round 4's events sorted by (ts, event_id) and labels store_id -> label; the same for the
    same seed."""
    w = World(seed, start, days, stores)
    labels = plan(stores, fraud_share, per_variant, HABITS4, VARIANTS4)
    w.rng.shuffle(labels)
    fest = festival_day(w)
    # gangs first: their bought accounts also shop in honest stores
    teams = crews(w, labels, VARIANTS4, STRIKE4, usual_strike=(0.1, 0.6), most_stores=5)
    chains = franchises(w, labels.count("legit/franchise"))
    shops: list[Shop] = []
    for lab in labels:
        if lab.startswith("legit/"):
            habit = lab.split("/", 1)[1]
            shops.append(honest4(w, habit, fest, chains.pop() if habit == "franchise" else None))
    for scheme, variant, gang, t_crew, size in teams:
        owner = w.uid("ow")  # a crew's one operator, used where the variant shows one
        shops += [MAKERS4[scheme](w, variant, gang, t_crew, fest, owner) for _ in range(size)]
    events = sorted(w.events, key=lambda e: (e["ts"], e["event_id"]))
    return events, {s.sid: s.label for s in sorted(shops, key=lambda s: s.sid)}
