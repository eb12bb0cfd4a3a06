"""Pure arithmetic from a store's state to the numbers detectors and models use.

Two kinds of numbers: raw features in domain units (``store_age_s``, ``withdrawn_share_24h``)
that go into alerts so an analyst can read them, and model inputs scaled and clipped to
[0, 1], because HalfSpaceTrees splits the unit cube and scores any value outside it like the
edge. Scaled features are store-relative (shares, ratios, ages), so one global model can judge a
store it has never seen: the population is the reference, not the store's own history.
"""

from __future__ import annotations

import math

from stream.events import Event
from stream.state import StoreView

DAY_S = 86400.0
HOUR_S = 3600.0
AGE_SCALE_S = 90 * DAY_S
SINCE_SALE_SCALE_S = 3 * DAY_S


def clip01(value: float) -> float:
    """``value`` limited to [0, 1].

    >>> clip01(-0.5), clip01(0.25), clip01(7.0)
    (0.0, 0.25, 1.0)
    """
    return 0.0 if value < 0 else 1.0 if value > 1 else value


def price_cut_ratio(old_price: float, new_price: float) -> float:
    """Share of the price removed by a change; 0.0 for a rise.

    >>> price_cut_ratio(10_000.0, 300.0)
    0.97
    """
    if old_price <= 0 or new_price >= old_price:
        return 0.0
    return round(1 - new_price / old_price, 4)


def youth(store_age_s: float) -> float:
    """1.0 for a store opened just now, falling to 0.0 at 90 days.

    >>> youth(0.0), youth(45 * 86400.0), youth(400 * 86400.0)
    (1.0, 0.5, 0.0)
    """
    return clip01(1 - store_age_s / AGE_SCALE_S)


def small_deposit(deposit_cny: float | None) -> float:
    """1.0 for no deposit, 0.0 from 100,000 CNY, logarithmic between.

    >>> small_deposit(1_000.0), small_deposit(None)
    (0.3999, 1.0)
    """
    if deposit_cny is None:
        return 1.0
    return round(clip01(1 - math.log10(deposit_cny + 1) / 5), 4)


def store_age_s(event: Event, view: StoreView) -> float:
    """Seconds since the store opened; since its first event when its opening is unknown.

    A store event can arrive after the store's first order (they come on different topics):
    until it does, the store is as old as the oldest event we have seen of it.
    """
    opened = view.profile_float("opened_ts")
    if opened is None:
        first = view.profile_float("first_ts")
        opened = event.ts_s if first is None else min(first, event.ts_s)
    return max(0.0, event.ts_s - opened)


def share(part: float, whole: float) -> float:
    """``part / whole`` that stays finite: a part of nothing is a share of ``part`` (in units).

    >>> share(50.0, 200.0), share(0.0, 0.0), share(30.0, 0.0)
    (0.25, 0.0, 30.0)
    """
    if whole <= 0:
        return part if part > 0 else 0.0
    return part / whole


def price_cut_features(event: Event, view: StoreView, windows_s: list[float]) -> dict[str, float]:
    """Raw features of a price change: how deep, against what the SKU sold at, how young."""
    old, new = event.money("old_price"), event.money("new_price")
    sold_price = view.sku.highest_unit_price_cny if view.sku else 0.0
    longest = view.window(windows_s[-1])
    sku_sales = view.sku.sales_cny if view.sku else 0.0
    return {
        "price_cut_ratio": price_cut_ratio(old, new),
        "cut_vs_sold_ratio": price_cut_ratio(sold_price, new) if sold_price else 0.0,
        "sku_sold_price_cny": sold_price,
        "sku_units_sold": view.sku.units if view.sku else 0.0,
        "sku_sales_share": round(clip01(share(sku_sales, longest["sales_cny"])), 4),
        "store_age_s": store_age_s(event, view),
        "deposit_cny": view.profile_float("deposit") or 0.0,
        "price_cuts_window": longest["price_cuts"],
    }


def price_cut_model_input(raw: dict[str, float], deposit_known: bool) -> dict[str, float]:
    """Scaled [0, 1] inputs of the price-cut model."""
    return {
        "price_cut_ratio": clip01(raw["price_cut_ratio"]),
        "cut_vs_sold_ratio": clip01(raw["cut_vs_sold_ratio"]),
        "sku_sales_share": raw["sku_sales_share"],
        "youth": youth(raw["store_age_s"]),
        "small_deposit": small_deposit(raw["deposit_cny"] if deposit_known else None),
    }


def withdrawal_features(event: Event, view: StoreView, windows_s: list[float]) -> dict[str, float]:
    """Raw features of a withdrawal: how soon, how much of the takings, to whose account."""
    day = min(windows_s, key=lambda w: abs(w - DAY_S))
    longest = windows_s[-1]
    amount = event.money("amount")
    sales_day = view.window(day)["sales_cny"] - view.window(day)["cancelled_cny"]
    sales_long = view.window(longest)["sales_cny"] - view.window(longest)["cancelled_cny"]
    last_sale = view.profile_float("last_sale_ts")
    last_withdrawal = view.profile_float("last_withdrawal_ts")
    registered = view.profile.get("bank_account")
    placed_before_day = view.window(longest)["orders_placed"] - view.window(day)["orders_placed"]
    shipped = view.window(longest)["orders_shipped"]
    return {
        "amount_cny": amount,
        "store_age_s": store_age_s(event, view),
        # Orders placed more than a day ago that were not shipped (shipments of newer orders
        # only lower it): near 1 for a store that never ships, near 0 for one that does.
        "unshipped_share": round(clip01(1 - share(shipped, placed_before_day)), 4)
        if placed_before_day > 0 else 0.0,
        "orders_placed_window": view.window(longest)["orders_placed"],
        "since_last_sale_s": max(0.0, event.ts_s - last_sale) if last_sale else -1.0,
        "since_last_withdrawal_s": max(0.0, event.ts_s - last_withdrawal) if last_withdrawal else -1.0,
        "withdrawn_share_day": round(share(view.window(day)["withdrawn_cny"], sales_day), 4),
        "withdrawn_share_window": round(share(view.window(longest)["withdrawn_cny"], sales_long), 4),
        "sales_window_cny": sales_long,
        "price_protection_share_window": round(
            share(view.window(longest)["refund_price_protection_cny"], sales_long), 4
        ),
        "new_bank_account": 1.0 if registered is not None and registered != event.fields["bank_account"] else 0.0,
        "deposit_cny": view.profile_float("deposit") or 0.0,
        **payout_account_features(event, view),
        **dormancy_features(event, view, sales_day, sales_long),
        "unshipped_orders": max(0.0, placed_before_day - shipped),
    }


def payout_account_features(event: Event, view: StoreView) -> dict[str, float]:
    """Whose account the money goes to: first use by this store, how many unregistered
    accounts the store has paid out to, and how many other owners' stores paid to it."""
    account = event.fields["bank_account"]
    registered = view.profile.get("bank_account")
    used = {key[5:] for key in view.profile if key.startswith("acct:")}
    first_use = account not in used and account != registered
    unregistered = used - {registered} | ({account} if account != registered else set())
    link = view.links.get("bank")
    owner = view.profile.get("owner_id")
    shared = 0
    if link is not None:
        # a store of the same owner (a family business) is no stranger; '' is an unknown owner
        shared = sum(1 for store, store_owner in link.members.items()
                     if store != event.store_id and (not store_owner or store_owner != owner))
    return {
        "first_use_account": 1.0 if first_use else 0.0,
        "unregistered_accounts_used": float(len(unregistered)),
        "shared_account_stores": float(shared),
    }


def dormancy_features(event: Event, view: StoreView, sales_day_cny: float,
                      sales_week_cny: float) -> dict[str, float]:
    """How much of the longest window's sales came in the last day, and how long the stream
    has watched the store (a share of 1 means nothing before today, if we watched long enough)."""
    first_activity = view.profile_float("first_activity_ts")
    return {
        "sales_day_cny": sales_day_cny,
        "sales_day_share_of_window": round(clip01(share(sales_day_cny, sales_week_cny)), 4)
        if sales_week_cny > 0 else 0.0,
        "watched_s": max(0.0, event.ts_s - first_activity) if first_activity else 0.0,
    }


def tracking_reuse(members: dict[str, str], order_id: str, store_id: str) -> tuple[float, float]:
    """How many other orders used a tracking number, and how many other stores they belong to.

    ``members`` maps every order that used the number to its store (the event's own included).

    >>> tracking_reuse({"o1": "s1"}, "o1", "s1")
    (0.0, 0.0)
    >>> tracking_reuse({"o1": "s1", "o2": "s1", "o3": "s2"}, "o1", "s1")
    (2.0, 1.0)
    """
    other_stores = {store for order, store in members.items()
                    if order != order_id and store != store_id}
    return float(len(members) - (order_id in members)), float(len(other_stores))


def tracking_features(event: Event, view: StoreView) -> dict[str, float]:
    """How often a shipment's tracking number was used: other orders, other stores."""
    link = view.links.get("trk")
    other_orders, other_stores = (
        tracking_reuse(link.members, event.fields["order_id"], event.store_id) if link
        else (0.0, 0.0))
    return {
        "tracking_other_orders": other_orders,
        "tracking_other_stores": other_stores,
        "store_age_s": store_age_s(event, view),
        "deposit_cny": view.profile_float("deposit") or 0.0,
        "orders_delivered_day": view.window(
            min(view.window_lengths_s, key=lambda w: abs(w - DAY_S)))["orders_delivered"]
        if view.window_sums else 0.0,
    }


def tracking_model_input(other_orders: float, other_stores: float, store_age_s: float,
                         deposit_cny: float | None) -> dict[str, float]:
    """Scaled [0, 1] inputs of the tracking-reuse model (``deposit_cny`` None: unknown).

    Built from the few numbers it needs, not from ``tracking_features``: it runs for every
    shipment, the raw features only for an alert.
    """
    return {
        "tracking_other_orders": clip01(other_orders / 5),
        "tracking_other_stores": clip01(other_stores / 3),
        "youth": youth(store_age_s),
        "small_deposit": small_deposit(deposit_cny),
    }


def withdrawal_model_input(raw: dict[str, float], deposit_known: bool) -> dict[str, float]:
    """Scaled [0, 1] inputs of the withdrawal model."""
    since_sale = raw["since_last_sale_s"]
    return {
        "youth": youth(raw["store_age_s"]),
        "quick_after_sales": 0.0 if since_sale < 0 else clip01(1 - since_sale / SINCE_SALE_SCALE_S),
        "withdrawn_share_day": clip01(raw["withdrawn_share_day"] / 2),
        "withdrawn_share_window": clip01(raw["withdrawn_share_window"] / 2),
        "price_protection_share": clip01(raw["price_protection_share_window"]),
        "unshipped_share": raw["unshipped_share"],
        "new_bank_account": raw["new_bank_account"],
        "small_deposit": small_deposit(raw["deposit_cny"] if deposit_known else None),
        "first_use_account": raw["first_use_account"],
        "account_rotation": clip01(raw["unregistered_accounts_used"] / 3),
        "shared_account": clip01(raw["shared_account_stores"] / 3),
        "sales_day_share": raw["sales_day_share_of_window"],
    }
