"""Round 2's marketplace: new honest habits, fraud that has learnt to hide, a sale day.

Round 1 (``generate.generate``) stays as it was, byte for byte: its figures are published.
Round 2 runs over other dates (from 21 October, so that the window holds the November sale),
other rates and amounts, and its own labels (``round2_honest.HABITS2``,
``round2_fraud.VARIANTS2``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stream.tools.redteam.gang import Gang, make_gang
from stream.tools.redteam.population import plan
from stream.tools.redteam.round2_fraud import (
    VARIANTS2,
    bulk_identity2,
    gambling_front2,
    ghost_supplier2,
    mule_cashout2,
    price_protection2,
)
from stream.tools.redteam.round2_honest import HABITS2, honest2, sale_start
from stream.tools.redteam.world import SCHEMES, Shop, World

START2 = datetime(2024, 10, 21, tzinfo=UTC)
# when in the window a crew strikes (share of the span): slow variants need weeks ahead of them
STRIKE = {"slow_ghost": (0.0, 0.25), "preorder_ghost": (0.0, 0.25), "staggered_batch": (0.0, 0.25)}


def crews(
    w: World,
    labels: list[str],
    variants: dict[str, tuple[str, ...]] = VARIANTS2,
    strike: dict[str, tuple[float, float]] = STRIKE,
    usual_strike: tuple[float, float] = (0.1, 0.7),
    most_stores: int = 6,
) -> list[tuple[str, str, Gang, float, int]]:
    """(scheme, variant, gang, strike time, stores): a crew runs one variant on 2 to
    ``most_stores`` stores, striking within ``strike[variant]`` of the span (else
    ``usual_strike``)."""
    rng, out = w.rng, []
    for scheme in SCHEMES:
        for variant in variants[scheme]:
            n = labels.count(f"{scheme}/{variant}")
            while n > 0:
                size = min(n, rng.randint(2, most_stores))
                lo, hi = strike.get(variant, usual_strike)
                out.append(
                    (scheme, variant, make_gang(w), w.t0 + rng.uniform(lo, hi) * w.span, size)
                )
                n -= size
    return out


def generate2(
    stores: int = 400,
    days: int = 30,
    seed: int = 0,
    start: datetime = START2,
    fraud_share: float = 0.10,
    per_variant: int = 4,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Round 2's events sorted by (ts, event_id) and labels store_id -> label; the same for the
    same seed."""
    w = World(seed, start, days, stores)
    rng = w.rng
    labels = plan(stores, fraud_share, per_variant, HABITS2, VARIANTS2)
    rng.shuffle(labels)
    sale_t = sale_start(w)
    teams = crews(w, labels)  # gangs first: their bought accounts also shop in honest stores
    shops: list[Shop] = [
        honest2(w, lab.split("/", 1)[1], sale_t) for lab in labels if lab.startswith("legit/")
    ]
    for scheme, variant, gang, t_crew, size in teams:
        for _ in range(size):
            if scheme == "price_protection":
                shops.append(price_protection2(w, variant, gang, t_crew, sale_t))
            elif scheme == "gambling_front":
                shops.append(gambling_front2(w, variant, gang, t_crew))
            elif scheme == "ghost_supplier":
                shops.append(ghost_supplier2(w, variant, gang, t_crew))
            elif scheme == "mule_cashout":
                shops.append(mule_cashout2(w, variant, gang, t_crew))
            else:
                shops.append(bulk_identity2(w, variant, gang, t_crew))
    events = sorted(w.events, key=lambda e: (e["ts"], e["event_id"]))
    return events, {s.sid: s.label for s in sorted(shops, key=lambda s: s.sid)}
