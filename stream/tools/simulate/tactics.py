"""The choices a fraud store makes, drawn from wide ranges so no constant gives it away.

Every fraud store draws each of its tactics over the whole range the schemes are known to use
(a price cut of 50 to 99%, in one to four steps; a burst over half an hour or three days; a
payout of 20 to 100% of its takings in one to four parts, to the registered, a new or a shared
account; a new shop or an aged, bought one, with or without its store event in the data). Then
one tactic, the store's **variant**, is forced to its evasive end: that is the choice its label
names, so an evaluation can say which evasion a detector misses. A detector tuned on one seed's
constants meets other values on the next.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stream.tools.simulate.behaviour import discounted_fen
from stream.tools.simulate.core import DAY_MS, HOUR_MS, Cut, Payout, Sku, Store
from stream.tools.simulate.world import World, log_uniform

ACCOUNTS = ("registered", "new", "shared")


@dataclass
class Tactics:
    """One fraud store's choices; ``variant`` names the one forced to its evasive end."""

    variant: str
    aged_shop: bool  # a bought shop opened long before the window, not a new one
    store_event: bool  # its store event is in the data (always, for a new shop)
    cut_depth: float  # share of the price the last cut removes, 0.5-0.99
    cut_steps: int  # cuts that reach it, 1-4
    cut_step_gap_h: float
    burst_h: float  # span over which the scheme's sales arrive
    payout_share: float  # of the takings paid out, 0.2-1.0
    payout_parts: int  # 1-4
    payout_gap_h: float  # between parts
    payout_delay_h: float  # from the money coming in to the first part
    account: str  # one of ACCOUNTS
    fresh_tracking: bool  # a new tracking number per parcel, none reused


Evasion = Callable[[Tactics, random.Random], None]


def _force(**changes: Callable[[random.Random], object]) -> Evasion:
    """An evasion that redraws the named tactics from their evasive sub-ranges."""

    def apply(tactics: Tactics, rng: random.Random) -> None:
        for name, draw in changes.items():
            setattr(tactics, name, draw(rng))

    return apply


# What each evasive variant forces; a scheme lists the ones that make sense for it.
EVASIONS: dict[str, Evasion] = {
    "shallow_cut": _force(cut_depth=lambda r: r.uniform(0.5, 0.85)),
    "stepped_cut": _force(
        cut_steps=lambda r: r.randint(3, 4), cut_step_gap_h=lambda r: r.uniform(2, 20)
    ),
    "slow_burst": _force(burst_h=lambda r: r.uniform(24, 96)),
    "partial_payout": _force(payout_share=lambda r: r.uniform(0.2, 0.5)),
    "split_payout": _force(
        payout_parts=lambda r: r.randint(3, 4), payout_gap_h=lambda r: r.uniform(2, 24)
    ),
    "slow_cashout": _force(payout_delay_h=lambda r: r.uniform(24, 96)),
    "own_account": _force(account=lambda r: "registered"),
    "shared_account": _force(account=lambda r: "shared"),
    "aged_shop": _force(aged_shop=lambda r: True, store_event=lambda r: True),
    "no_store_event": _force(aged_shop=lambda r: True, store_event=lambda r: False),
    "fresh_tracking": _force(fresh_tracking=lambda r: True),
}


def draw_tactics(rng: random.Random, variants: Sequence[str]) -> Tactics:
    """Every tactic over its whole range, then one variant (of ``variants``) forced evasive.

    Variants not in ``EVASIONS`` are the scheme's own; the scheme applies them itself.
    """
    aged = rng.random() < 0.35
    tactics = Tactics(
        variant=rng.choice(list(variants)),
        aged_shop=aged,
        store_event=not aged or rng.random() < 0.6,
        cut_depth=rng.uniform(0.5, 0.99),
        cut_steps=rng.choices((1, 2, 3, 4), weights=(4, 3, 2, 1))[0],
        cut_step_gap_h=log_uniform(rng, 0.05, 24),
        burst_h=log_uniform(rng, 0.5, 72),
        payout_share=rng.uniform(0.2, 1.0),
        payout_parts=rng.choices((1, 2, 3, 4), weights=(4, 3, 2, 1))[0],
        payout_gap_h=log_uniform(rng, 0.1, 24),
        payout_delay_h=log_uniform(rng, 0.1, 24),
        account=rng.choice(ACCOUNTS),
        fresh_tracking=rng.random() < 0.5,
    )
    if tactics.variant in EVASIONS:
        EVASIONS[tactics.variant](tactics, rng)
    return tactics


def open_fraud_store(
    w: World, store_id: str, category: str, new_opened_ms: int, tactics: Tactics, deposit_cny: int
) -> Store:
    """A new shop opened at ``new_opened_ms``, or an aged one bought from its first owner:
    opened 20 to 600 days before the window, its store event in the data or not."""
    if tactics.aged_shop:
        opened_ms = w.start_ms - int(log_uniform(w.rng, 20, 600) * DAY_MS)
        return w.open_store(store_id, category, opened_ms, deposit_cny, in_data=tactics.store_event)
    return w.open_store(store_id, category, new_opened_ms, deposit_cny)


def spread(w: World, start_ms: int, count: int, span_h: float) -> list[int]:
    """``count`` moments over ``span_h`` hours from ``start_ms``, sorted."""
    return sorted(start_ms + int(w.rng.uniform(0, span_h) * HOUR_MS) for _ in range(count))


def cut_prices(
    w: World, store: Store, skus: Sequence[Sku], cut_ms: int, tactics: Tactics
) -> list[Cut]:
    """Cut every SKU by ``tactics.cut_depth`` of its price, at once or in steps, each step a
    random gap after the one before; returns the cuts made."""
    rng = w.rng
    final = 1 - tactics.cut_depth
    steps = sorted((rng.uniform(final, 1) for _ in range(tactics.cut_steps - 1)), reverse=True)
    cuts = []
    for factor in [*steps, final]:
        for sku in skus:
            new_fen = discounted_fen(sku.base_fen, factor)
            if new_fen < sku.price_fen[-1] and w.log.reprice(store.store_id, sku, cut_ms, new_fen):
                cuts.append(Cut(cut_ms, sku.sku, new_fen))
        cut_ms += int(tactics.cut_step_gap_h * rng.uniform(0.7, 1.3) * HOUR_MS)
    return cuts


def cash_out(
    w: World, store: Store, start_ms: int, tactics: Tactics, shared_accounts: Sequence[str]
) -> list[Payout]:
    """The store's payouts: ``payout_share`` of its balance in ``payout_parts`` parts from
    ``payout_delay_h`` after ``start_ms``, to the account ``tactics.account`` names.

    Each part takes an equal slice of the balance it finds: part ``i`` of ``n`` takes
    ``s/n / (1 - i*s/n)`` of what is left, so the parts add up to ``s`` of the first balance.
    """
    rng = w.rng
    if tactics.account == "registered":
        accounts = [store.bank_account]
    elif tactics.account == "shared" and shared_accounts:
        accounts = [rng.choice(list(shared_accounts))]
    else:
        accounts = [w.ids.bank_account() for _ in range(rng.choice((1, 1, 2)))]
    slice_share = tactics.payout_share / tactics.payout_parts
    ts_ms = start_ms + int(tactics.payout_delay_h * HOUR_MS)
    payouts = []
    for part in range(tactics.payout_parts):
        share = min(1.0, slice_share / max(1e-9, 1 - part * slice_share))
        payouts.append(Payout(ts_ms, share, accounts[part % len(accounts)]))
        ts_ms += int(tactics.payout_gap_h * rng.uniform(0.7, 1.3) * HOUR_MS) + 60_000
    return payouts
