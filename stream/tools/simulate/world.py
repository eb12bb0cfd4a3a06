"""The world the generators share: categories and couriers, fresh identities, the calendar, and
opening stores with their catalogues."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from stream.tools.simulate.core import DAY_MS, HOUR_MS, EventLog, Parcel, Sku, Store


class Category(NamedTuple):
    low_cny: float
    high_cny: float
    return_rate: float  # share of delivered orders sent back
    honest_weight: float  # how common the category is among honest stores


CATEGORIES = {
    "apparel": Category(39, 599, 0.12, 18),
    "beauty": Category(29, 699, 0.04, 12),
    "electronics": Category(99, 8_999, 0.05, 12),
    "home": Category(19, 999, 0.04, 16),
    "food": Category(9, 299, 0.01, 10),
    "toys": Category(29, 599, 0.04, 7),
    "sports": Category(39, 1_999, 0.06, 8),
    "books": Category(15, 199, 0.02, 6),
    "appliances": Category(199, 12_999, 0.04, 7),
    "luxury": Category(1_500, 30_000, 0.08, 4),
    "gift_cards": Category(50, 1_000, 0.01, 2),
    "digital_goods": Category(5, 300, 0.01, 2),
}
# Courier name and the prefix of its tracking numbers.
COURIERS = {"SF": "SF", "YTO": "YT", "ZTO": "73", "STO": "77", "YUNDA": "43", "JD": "JDV"}
BANK_PREFIXES = ("622202", "621700", "622848", "621483", "622588", "621226")


class Identities:
    """Unique random identifiers: random, not sequential, so no id range gives a label away."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def _fresh(self, prefix: str, digits: int) -> str:
        while True:
            candidate = f"{prefix}{self._rng.randrange(10**digits):0{digits}d}"
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

    def buyer(self) -> str:
        return self._fresh("b", 8)

    def owner(self) -> str:
        return self._fresh("u", 7)

    def sku(self) -> str:
        return self._fresh("k", 8)

    def bank_account(self) -> str:
        return self._fresh(self._rng.choice(BANK_PREFIXES), 13)

    def parcel(self, courier: str) -> Parcel:
        return Parcel(courier, self._fresh(COURIERS[courier], 12))


@dataclass
class World:
    """Everything the store generators share: randomness, the log, the calendar, the crowd."""

    rng: random.Random
    log: EventLog
    ids: Identities
    day0_ms: int  # local midnight on or before the start
    local_days: int  # local days touching the window
    sale_start_ms: int  # local midnight opening the marketplace-wide sale day
    shoppers: list[str]

    @property
    def start_ms(self) -> int:
        return self.log.start_ms

    @property
    def end_ms(self) -> int:
        return self.log.end_ms

    @property
    def span_ms(self) -> int:
        return self.log.end_ms - self.log.start_ms

    def within(self, ts_ms: float, margin_ms: int = 0) -> int:
        """``ts_ms`` moved inside the window, leaving ``margin_ms`` before its end if it can."""
        return int(max(self.start_ms, min(ts_ms, self.end_ms - margin_ms)))

    def delay_ms(self, low_h: float, high_h: float) -> int:
        """A random delay between ``low_h`` and ``high_h`` hours."""
        return int(self.rng.uniform(low_h, high_h) * HOUR_MS)

    def local_day(self, ts_ms: int) -> int:
        return (ts_ms - self.day0_ms) // DAY_MS

    def open_store(
        self,
        store_id: str,
        category: str,
        opened_ms: int,
        deposit_cny: int,
        owner_id: str | None = None,
        bank_account: str | None = None,
        in_data: bool = True,
    ) -> Store:
        """Open a store; ``in_data=False`` leaves its store event out of the data, as for a
        store registered before the marketplace's feed was recorded (only before the window).
        """
        if not in_data and opened_ms >= self.start_ms:
            raise ValueError(
                f"store {store_id} opens inside the window; its store event "
                "cannot be left out of the data"
            )
        store = Store(
            store_id,
            owner_id or self.ids.owner(),
            bank_account or self.ids.bank_account(),
            category,
            opened_ms,
        )
        if in_data:
            self.log.open_store(store, deposit_cny * 100)
        else:
            self.log.leave_out_store(store, deposit_cny * 100)
        return store

    def catalog(self, prices_fen: Sequence[int]) -> list[Sku]:
        return [Sku(self.ids.sku(), price_fen) for price_fen in prices_fen]

    def category_catalog(self, category: str, count: int) -> list[Sku]:
        low_cny, high_cny = CATEGORIES[category][:2]
        return self.catalog(
            [shelf_price_fen(log_uniform(self.rng, low_cny, high_cny)) for _ in range(count)]
        )

    def random_parcel(self) -> Parcel:
        return self.ids.parcel(self.rng.choice(list(COURIERS)))


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    """A draw whose logarithm is uniform: prices and shop sizes spread over orders of magnitude."""
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def shelf_price_fen(price_cny: float) -> int:
    """A shelf price that ends in 9 the way real ones do, so odd cents give nothing away.

    >>> shelf_price_fen(1234.5), shelf_price_fen(39.2)
    (122900, 3990)
    """
    if price_cny >= 100:
        return (int(round(price_cny, -1)) - 1) * 100
    return int(price_cny) * 100 + 90
