"""Pure arithmetic from a store's state to what it is doing, relative to its own past and to
every store: the numbers detectors weigh, models score and analysts read.

Two kinds of numbers: raw features in domain units (``store_age_s``, ``withdrawn_share``) that
go into alerts, and model inputs scaled to [0, 1], because HalfSpaceTrees splits the unit cube
and scores any value outside it like the edge. Model inputs are store-relative (shares, ratios,
ages), so one global model can judge a store it has never seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stream.core.records import Event
from stream.core.store_view import StoreView

DAY_S = 86400.0


def clip01(value: float) -> float:
    """``value`` limited to [0, 1].

    >>> clip01(-0.5), clip01(0.25), clip01(7.0)
    (0.0, 0.25, 1.0)
    """
    return 0.0 if value < 0 else 1.0 if value > 1 else value


def share(part: float, whole: float) -> float:
    """``part / whole``, and 0.0 when there is no whole to share.

    >>> share(50.0, 200.0), share(30.0, 0.0)
    (0.25, 0.0)
    """
    return part / whole if whole > 0 else 0.0


def price_cut_ratio(old_price: float, new_price: float) -> float:
    """Share of the price removed by a change; 0.0 for a rise.

    >>> price_cut_ratio(10_000.0, 300.0)
    0.97
    """
    if old_price <= 0 or new_price >= old_price:
        return 0.0
    return round(1 - new_price / old_price, 4)


def log_scale(value: float, top: float) -> float:
    """``value`` (>= 0) on a log scale where ``top`` maps to 1: counts and ratios that vary by
    orders of magnitude, for the models.

    >>> log_scale(0.0, 100.0), round(log_scale(9.0, 99.0), 2), log_scale(500.0, 100.0)
    (0.0, 0.5, 1.0)
    """
    return clip01(math.log1p(max(0.0, value)) / math.log1p(top))


@dataclass(slots=True)
class Watch:
    """How long this Storewatch has been watching the marketplace (event time). A store first
    seen a month after the watch began is new; one first seen in the first hour may be years
    old and merely quiet, and its age cannot be trusted. Saved with the models."""

    start_ts_s: float = float("inf")

    def see(self, ts_s: float) -> None:
        if ts_s < self.start_ts_s:
            self.start_ts_s = ts_s


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


def age_trust(event: Event, view: StoreView, watch: Watch, young_store_s: float) -> float:
    """How much the store's age can be believed, in [0, 1]: fully with a ``store`` event;
    without one, by how long the watch had been running when the store first appeared (a
    store first seen ``young_store_s`` after the watch began is new, not newly noticed).

    Stores registered before Storewatch started have no ``store`` event: their age is
    learnt from what is seen, and youth counts as evidence only as far as it is trusted.
    """
    if view.profile.get("opened_ts") is not None:
        return 1.0
    first = view.profile_float("first_ts")
    first_seen = event.ts_s if first is None else min(first, event.ts_s)
    return clip01((first_seen - watch.start_ts_s) / young_store_s)


def payout_accounts(event: Event, view: StoreView) -> dict[str, float]:
    """Whose account a payout goes to: the store's registered one (from its ``store`` event, or
    else the first it ever paid out to), one it never used, how many it has used, and how many
    stores of other owners paid out to it."""
    account = event.fields["bank_account"]
    used = {key[5:]: float(ts) for key, ts in view.profile.items() if key.startswith("acct:")}
    registered = view.profile.get("bank_account")
    learnt = registered is None
    if registered is None and used:
        registered = min(used, key=lambda name: used[name])
    unregistered = set(used) - {registered} | ({account} - {registered})
    link = view.links.get("bank")
    owner = view.profile.get("owner_id")
    shared = 0
    if link is not None:
        # a store of the same owner (a family business) is no stranger; '' is an unknown owner
        shared = sum(
            1
            for store, store_owner in link.members.items()
            if store != event.store_id and (not store_owner or store_owner != owner)
        )
    if registered is None:
        registered = account  # the first account a store pays out to is taken as its own
    # an account registered by a later store event (a change of bank) is as new as that event
    opened, registered_at = view.profile_float("opened_ts"), view.profile_float("registered_ts")
    reregistered_s = (
        event.ts_s - registered_at
        if opened is not None and registered_at is not None and registered_at > opened
        else -1.0
    )
    return {
        "registered_account": 1.0 if account == registered else 0.0,
        "registered_learnt": 1.0 if learnt else 0.0,
        "first_use_account": 1.0 if account not in used and account != registered else 0.0,
        # seconds since the payout account was registered in place of an earlier one, -1 if
        # it was registered at opening
        "account_reregistered_s": reregistered_s if account == registered else -1.0,
        "unregistered_accounts_used": float(len(unregistered)),
        "shared_account_stores": float(shared),
    }


def sales_behaviour(
    event: Event, view: StoreView, windows_s: list[float], watch: Watch
) -> dict[str, float]:
    """What the store's sales of the longest window look like: real takings or not.

    Honest sales get shipped, delivered, kept and come in at any hour and price; fronts' sales
    are never shipped or never arrive, are claimed back, or are round night-time top-ups; a
    rented shop's sales arrive in a burst far above its own past.
    """
    day_s = min(windows_s, key=lambda w: abs(w - DAY_S))
    longest_s = windows_s[-1]
    day, longest = view.window(day_s), view.window(longest_s)
    sales = longest["sales_cny"] - longest["cancelled_cny"]
    refunds = (
        longest["refund_price_protection_cny"]
        + longest["refund_not_received_cny"]
        + longest["refund_return_cny"]
        + longest["refund_other_cny"]
    )
    placed_before_day = longest["orders_placed"] - day["orders_placed"]
    shipped_before_day = longest["orders_shipped"] - day["orders_shipped"]
    sales_day = day["sales_cny"] - day["cancelled_cny"]
    # the store's own daily baseline, from the days of the window before the last one, and only
    # when it was open and watched that long (else "no sales before today" means nothing): a
    # store quiet for all of that time has a baseline of nothing, which is what it is
    watched_s = max(0.0, min(event.ts_s - watch.start_ts_s, store_age_s(event, view)))
    baseline_days = max(1.0, (longest_s - day_s) / DAY_S)
    baseline_per_day = max(0.0, sales - sales_day) / baseline_days
    burst = ticket = 0.0
    if watched_s >= longest_s and sales_day > 0:
        burst = sales_day / max(baseline_per_day, 0.02 * sales_day)
        baseline_orders = longest["orders_placed"] - day["orders_placed"]
        if baseline_orders > 0 and day["orders_placed"] > 0 and sales > sales_day:
            # the day's average order against the days before: a surge of the usual goods is
            # near 1; a few big-ticket orders in a shop of small ones is far above
            ticket = (sales_day / day["orders_placed"]) / ((sales - sales_day) / baseline_orders)
    pace = long_run_pace(
        event, view, longest_s, longest["sales_cny"], longest["orders_placed"], watch
    )
    last_shipment = view.profile_float("last_shipment_ts")
    return {
        **pace,
        # a store that ships, late or not (a dropshipper), against one that never does
        "since_last_shipment_s": max(0.0, event.ts_s - last_shipment)
        if last_shipment is not None
        else -1.0,
        "sales_window_cny": sales,
        "sales_day_cny": sales_day,
        "takings_cny": max(0.0, sales - refunds),
        "orders_placed_window": longest["orders_placed"],
        "unshipped_orders": max(0.0, placed_before_day - longest["orders_shipped"]),
        "unshipped_share": round(clip01(1 - share(longest["orders_shipped"], placed_before_day)), 4)
        if placed_before_day > 0
        else 0.0,
        "shipped_before_day": shipped_before_day,
        "undelivered_share": round(
            clip01(1 - share(longest["orders_delivered"], shipped_before_day)), 4
        )
        if shipped_before_day > 0
        else 0.0,
        "claims_window": longest["claims"],
        "claims_per_order": round(share(longest["claims"], longest["orders_placed"]), 4),
        "claimed_share_of_sales": round(share(longest["refund_price_protection_cny"], sales), 4),
        "night_share": round(clip01(share(longest["night_sales_cny"], longest["sales_cny"])), 4),
        "repeat_buyer_share": round(
            clip01(share(longest["repeat_buyer_sales_cny"], longest["sales_cny"])), 4
        ),
        "round_share": round(clip01(share(longest["round_sales_cny"], longest["sales_cny"])), 4),
        "burst_ratio": round(min(burst, 1000.0), 2),
        "order_size_ratio": round(min(ticket, 1000.0), 2),
        "unshipped_all_share": round(
            clip01(1 - share(longest["orders_shipped"], longest["orders_placed"])), 4
        )
        if longest["orders_placed"] > 0
        else 0.0,
        "watched_s": watched_s,
        "withdrawn_window_cny": longest["withdrawn_cny"],
        "withdrawals_window": longest["withdrawals"],
    }


def long_run_pace(
    event: Event,
    view: StoreView,
    longest_s: float,
    window_sales_cny: float,
    window_orders: float,
    watch: Watch,
) -> dict[str, float]:
    """The longest window against everything the store did before it since it was first
    watched: a dormant shop rented for a cash-out spreads its burst over days, and then the
    window is its own baseline; its lifetime is not. ``pace_days`` is how many days of
    watching the long-run figures rest on (0 while there are none before the window).

    The sales ratio is floored at 2% of the window's own daily sales, so a shop that sold
    nothing at all before reads as 50 times its pace, not infinitely more.
    """
    first = view.profile_float("first_ts")
    opened = view.profile_float("opened_ts")
    seen_from = max(
        watch.start_ts_s,
        opened if opened is not None else (event.ts_s if first is None else min(first, event.ts_s)),
    )
    pace_days = max(0.0, (event.ts_s - longest_s - seen_from) / DAY_S)
    window_days = longest_s / DAY_S
    before_cny = max(0.0, view.lifetime("sales_cny") - window_sales_cny)
    before_orders = max(0.0, view.lifetime("orders_placed") - window_orders)
    pace_ratio = ticket_ratio = 0.0
    if pace_days > 0 and window_sales_cny > 0:
        per_day = window_sales_cny / window_days
        pace_ratio = per_day / max(before_cny / max(pace_days, 1.0), 0.02 * per_day)
        if before_orders > 0 and window_orders > 0:
            ticket_ratio = (window_sales_cny / window_orders) / (before_cny / before_orders)
    return {
        "pace_days": round(pace_days, 2),
        "pace_ratio": round(min(pace_ratio, 1000.0), 2),
        "lifetime_order_size_ratio": round(min(ticket_ratio, 1000.0), 2),
    }


def withdrawal_features(
    event: Event, view: StoreView, windows_s: list[float], watch: Watch, young_store_s: float
) -> dict[str, float]:
    """A withdrawal: how soon after the sales, how much of the takings, how young the store,
    to whose account, and whether the takings look real."""
    last_sale = view.profile_float("last_sale_ts")
    last_withdrawal = view.profile_float("last_withdrawal_ts")
    sales = sales_behaviour(event, view, windows_s, watch)
    return {
        "amount_cny": event.money("amount"),
        "store_age_s": store_age_s(event, view),
        "age_trust": age_trust(event, view, watch, young_store_s),
        "store_event_seen": 1.0 if view.profile.get("opened_ts") is not None else 0.0,
        "since_last_sale_s": max(0.0, event.ts_s - last_sale) if last_sale is not None else -1.0,
        "since_last_withdrawal_s": max(0.0, event.ts_s - last_withdrawal)
        if last_withdrawal is not None
        else -1.0,
        "first_withdrawal": 1.0 if last_withdrawal is None else 0.0,
        "withdrawn_share": round(
            share(sales["withdrawn_window_cny"], max(sales["takings_cny"], 1.0)), 4
        ),
        "deposit_cny": view.profile_float("deposit") or 0.0,
        **sales,
        **payout_accounts(event, view),
    }


def withdrawal_model_input(raw: dict[str, float], young_store_s: float) -> dict[str, float]:
    """The withdrawal model's [0, 1] inputs: timing, size, youth, destination, sales quality."""
    since_sale = raw["since_last_sale_s"]
    return {
        "youth": clip01(1 - raw["store_age_s"] / young_store_s) * raw["age_trust"],
        "quick_after_sales": 0.0 if since_sale < 0 else clip01(1 - since_sale / (2 * DAY_S)),
        "withdrawn_share": clip01(raw["withdrawn_share"] / 1.5),
        "unshipped_share": raw["unshipped_share"],
        "undelivered_share": raw["undelivered_share"],
        "claimed_share": clip01(raw["claimed_share_of_sales"] * 2),
        "night_share": raw["night_share"],
        "round_share": raw["round_share"],
        "burst": log_scale(raw["burst_ratio"], 100.0),
        "repeat_buyers": raw["repeat_buyer_share"],
        "order_size": log_scale(raw["order_size_ratio"], 100.0),
        "new_account": raw["first_use_account"],
        "accounts": clip01(raw["unregistered_accounts_used"] / 4),
        "shared_account": clip01(raw["shared_account_stores"] / 3),
    }


def price_cut_features(
    event: Event, view: StoreView, windows_s: list[float], watch: Watch, young_store_s: float
) -> dict[str, float]:
    """A price cut: how deep against what the SKU sold at, how much price protection could pay
    back for the units sold before it, how soon after those sales, how young the store."""
    old, new = event.money("old_price"), event.money("new_price")
    sku = view.sku
    sold_price = sku.highest_unit_price_cny if sku else 0.0
    units = sku.units if sku else 0.0
    sku_sales = sku.sales_cny if sku else 0.0
    longest = view.window(windows_s[-1])
    return {
        "price_cut_ratio": price_cut_ratio(old, new),
        "cut_vs_sold_ratio": price_cut_ratio(sold_price, new) if sold_price else 0.0,
        "sku_sold_price_cny": sold_price,
        "sku_units_sold": units,
        # what every buyer of the window could claim back if all of them did
        "claimable_cny": round(max(0.0, sku_sales - units * new), 2),
        "sku_sales_share": round(clip01(share(sku_sales, longest["sales_cny"])), 4),
        # what the cut lets buyers claim back, against all the store sold in the window
        "claimable_share_of_sales": round(
            clip01(share(max(0.0, sku_sales - units * new), longest["sales_cny"])), 4
        ),
        "since_sku_sale_s": max(0.0, event.ts_s - sku.last_sale_ts_s) if sku else -1.0,
        "store_age_s": store_age_s(event, view),
        "age_trust": age_trust(event, view, watch, young_store_s),
        "price_cuts_window": longest["price_cuts"],
        "deposit_cny": view.profile_float("deposit") or 0.0,
    }


def price_cut_model_input(raw: dict[str, float], young_store_s: float) -> dict[str, float]:
    """The price-cut model's [0, 1] inputs."""
    since_sale = raw["since_sku_sale_s"]
    return {
        "cut_vs_sold": clip01(raw["cut_vs_sold_ratio"]),
        "youth": clip01(1 - raw["store_age_s"] / young_store_s) * raw["age_trust"],
        "sku_sales_share": raw["sku_sales_share"],
        "soon_after_sales": 0.0 if since_sale < 0 else clip01(1 - since_sale / (3 * DAY_S)),
        "claimable": log_scale(raw["claimable_cny"], 100_000.0),
        "cuts": log_scale(raw["price_cuts_window"], 50.0),
    }


def claim_features(
    event: Event, view: StoreView, windows_s: list[float], watch: Watch, young_store_s: float
) -> dict[str, float]:
    """A price-protection claim: how many of the store's orders are claimed back, how much of
    its sales, and whether the claimant claims at other stores too."""
    link = view.links.get("claim")
    other_stores = len(link.other_stores(event.store_id)) if link is not None else 0
    sales = sales_behaviour(event, view, windows_s, watch)
    return {
        "amount_cny": event.money("amount"),
        "claims_window": sales["claims_window"],
        "claims_per_order": sales["claims_per_order"],
        "claimed_share_of_sales": sales["claimed_share_of_sales"],
        "claimed_window_cny": round(sales["claimed_share_of_sales"] * sales["sales_window_cny"], 2),
        "orders_placed_window": sales["orders_placed_window"],
        "claimant_other_stores": float(other_stores),
        "burst_ratio": sales["burst_ratio"],
        "pace_ratio": sales["pace_ratio"],
        "pace_days": sales["pace_days"],
        "repeat_buyer_share": sales["repeat_buyer_share"],
        "store_age_s": store_age_s(event, view),
        "age_trust": age_trust(event, view, watch, young_store_s),
        "since_price_cut_s": max(0.0, event.ts_s - cut)
        if (cut := view.profile_float("last_price_cut_ts")) is not None
        else -1.0,
    }


def claim_model_input(raw: dict[str, float], young_store_s: float) -> dict[str, float]:
    """The claims model's [0, 1] inputs."""
    return {
        "claims_per_order": clip01(raw["claims_per_order"]),
        "claimed_share": clip01(raw["claimed_share_of_sales"] * 2),
        "claims": log_scale(raw["claims_window"], 100.0),
        "youth": clip01(1 - raw["store_age_s"] / young_store_s) * raw["age_trust"],
        "claimant_elsewhere": clip01(raw["claimant_other_stores"] / 5),
    }


def tracking_use(members: dict[str, str], buyer_id: str, store_id: str) -> tuple[float, float]:
    """How many other buyers shipped to under a tracking number, and how many other stores.

    ``members`` maps every buyer shipped to under the number to the store that shipped
    (the event's own included). One buyer's orders merged into one parcel are one member.

    >>> tracking_use({"b1": "s1"}, "b1", "s1")
    (0.0, 0.0)
    >>> tracking_use({"b1": "s1", "b2": "s1", "b3": "s2"}, "b1", "s1")
    (2.0, 1.0)
    """
    other_stores = {
        store
        for buyer, store in members.items()
        if buyer != buyer_id and store and store != store_id
    }
    return float(len(members) - (buyer_id in members)), float(len(other_stores))
