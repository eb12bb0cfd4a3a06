"""Round 3's marketplace: ten more honest habits and fraud dressed as them.

Rounds 1 and 2 stay as they were, byte for byte. Round 3 runs in spring (from 10 March), with
more orders (median ~8 a day), older stores (one to eight years), larger deposits, and its own
labels (``round3_honest.HABITS3``, ``round3_fraud.VARIANTS3``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stream.tools.redteam.population import plan
from stream.tools.redteam.round2 import crews
from stream.tools.redteam.round3_fraud import (
    VARIANTS3,
    bulk_identity3,
    gambling_front3,
    ghost_supplier3,
    mule_cashout3,
    price_protection3,
)
from stream.tools.redteam.round3_honest import HABITS3, honest3
from stream.tools.redteam.world import Shop, World

START3 = datetime(2025, 3, 10, tzinfo=UTC)
MAKERS3 = {
    "price_protection": price_protection3,
    "gambling_front": gambling_front3,
    "ghost_supplier": ghost_supplier3,
    "mule_cashout": mule_cashout3,
    "bulk_identity": bulk_identity3,
}
# when in the window a crew strikes (share of the span): slow variants need weeks ahead of them
STRIKE3 = {
    "made_to_order_ghost": (0.0, 0.2),
    "patient_reseller": (0.0, 0.2),
    "digital_stakes": (0.0, 0.0),
    "live_blind_box": (0.0, 0.0),
}


def family_cards(w: World, n: int) -> list[str]:
    """One card per family of 2-3 siblings' stores (a lone store if only one is left)."""
    rng, cards = w.rng, []
    while n > 0:
        size = n if n <= 3 else rng.randint(2, min(3, n - 2))
        cards += [w.bank()] * size
        n -= size
    return cards


def generate3(
    stores: int = 400,
    days: int = 30,
    seed: int = 0,
    start: datetime = START3,
    fraud_share: float = 0.10,
    per_variant: int = 4,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Round 3's events sorted by (ts, event_id) and labels store_id -> label; the same for the
    same seed."""
    w = World(seed, start, days, stores)
    labels = plan(stores, fraud_share, per_variant, HABITS3, VARIANTS3)
    w.rng.shuffle(labels)
    # gangs first: their bought accounts also shop in honest stores
    teams = crews(w, labels, VARIANTS3, STRIKE3, usual_strike=(0.1, 0.65), most_stores=5)
    cards = family_cards(w, labels.count("legit/family_card"))
    shops: list[Shop] = []
    for lab in labels:
        if lab.startswith("legit/"):
            habit = lab.split("/", 1)[1]
            shops.append(honest3(w, habit, cards.pop() if habit == "family_card" else None))
    for scheme, variant, gang, t_crew, size in teams:
        shops += [MAKERS3[scheme](w, variant, gang, t_crew) for _ in range(size)]
    events = sorted(w.events, key=lambda e: (e["ts"], e["event_id"]))
    return events, {s.sid: s.label for s in sorted(shops, key=lambda s: s.sid)}
