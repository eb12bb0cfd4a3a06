"""What every scheme shares: a gang's identities and accounts, and the cover traffic of a fraud shop."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from stream.tools.redteam.honest import buyer_picker, catalogue, draw_habits, organic
from stream.tools.redteam.world import CATEGORIES, COURIERS, SHOPPER_HOURS, Shop, World, cumulate


@dataclass
class Gang:
    """What a gang's stores share: bought buyer accounts, a drawer of cards, bought tracking
    numbers."""

    buyers: list[str]
    cards: list[str]
    parcels: list[tuple[str, str]] = field(default_factory=list)
    ship_p: float = 0.0


def make_gang(w: World) -> Gang:
    rng = w.rng
    buyers = [w.buyer() for _ in range(rng.randint(8, 60))]
    for buyer in rng.sample(buyers, len(buyers) // 3):  # bought accounts of real people also shop
        w.pool.append(buyer)
        w.pool_cum.append(w.pool_cum[-1] + rng.uniform(0.5, 1.5))
    couriers = rng.sample(sorted(COURIERS), rng.randint(1, 3))
    parcels = [
        (w.tracking(c), c) for c in (rng.choice(couriers) for _ in range(rng.randint(12, 60)))
    ]
    return Gang(buyers, [w.bank() for _ in range(rng.randint(10, 60))], parcels, rng.random())


def spread(rng: random.Random, start: float, dur: float, n: int) -> list[float]:
    return sorted(start + rng.random() * dur for _ in range(n))


def background(shop: Shop, start: float, end: float, per_day: float) -> list[str]:
    """Honest-looking trade a front keeps up; returns its skus."""
    rng = shop.w.rng
    lo, hi = CATEGORIES[shop.category]
    skus = catalogue(shop, rng.randint(3, 15), lo, min(hi, lo * 20))
    cover_trade(shop, skus, start, end, per_day)
    return skus


def cover_trade(shop: Shop, skus: list[str], start: float, end: float, per_day: float) -> None:
    """Honest-looking trade on the given skus."""
    rng = shop.w.rng
    organic(
        shop,
        draw_habits(rng),
        start,
        end,
        lambda _d: per_day,
        cumulate(SHOPPER_HOURS, rng, 0.3),
        buyer_picker(shop.w),
        lambda _t: rng.choice(skus),
        lambda: 1 if rng.random() < 0.85 else 2,
    )
