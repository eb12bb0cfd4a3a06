"""The withdrawal detector: a payout whose timing, size, destination and takings set the store
apart."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from stream.core.detectors.base import (
    EvidenceDetector,
    describe_duration,
    mask_account,
    youth_of,
)
from stream.core.evidence import Evidence, falling, log_ramp, ramp
from stream.core.features import (
    DAY_S,
    withdrawal_features,
    withdrawal_model_input,
)
from stream.core.records import Event
from stream.core.store_view import StoreView


class WithdrawalDetector(EvidenceDetector):
    """A payout whose timing, size, destination and takings set the store apart.

    Every scheme ends here: new stores on bought licences cash out their refunds at once,
    fronts pay out takings that never shipped or never arrived, ghost suppliers spread payouts
    over a drawer of cards, bulk-opened accounts move money straight through, rented dormant
    shops pay out a sudden burst to an account they never used. Honest sellers also cash out
    everything, to two or three accounts of their own: no one of these signals alerts alone.
    """

    WEIGHTS: Mapping[str, float] = MappingProxyType(
        {
            "young_cashout": 0.35,
            "unshipped": 0.8,
            "paid_before_shipping": 0.45,
            "undelivered": 0.35,
            "claimed_back": 0.8,
            "night_round_sales": 1.0,
            "young_with_unreal_takings": 0.5,
            "burst": 0.6,
            "big_ticket_burst": 0.2,
            "few_payers": 0.8,
            "many_accounts": 1.0,
            "shared_account": 1.0,
            "first_payout_within_hours": 0.65,
            "quick_after_sales": 0.05,
            "new_account": 0.3,
            "burst_to_new_account": 0.3,
            "ring_account": 1.2,
            "model": 1.0,
        }
    )

    name = "withdrawal"
    event_types = frozenset({"withdrawal"})
    action = "hold_payout"
    noun = "withdrawal"

    def collect(
        self, event: Event, view: StoreView
    ) -> tuple[dict[str, float], dict[str, float], Evidence, float, list[str]]:
        young_s = self.settings.young_store_s
        raw = withdrawal_features(event, view, self.windows_s, self.watch, young_s)
        inputs = withdrawal_model_input(raw, young_s)
        e = Evidence(self.WEIGHTS)
        window = describe_duration(self.windows_s[-1])
        youth = youth_of(raw, young_s)
        age = describe_duration(raw["store_age_s"])
        age_note = "" if raw["store_event_seen"] else " (first seen then; it has no store event)"
        paid_share = ramp(raw["withdrawn_share"], 0.3, 0.9)
        e.add(
            "young_cashout",
            youth * paid_share,
            f"The store opened {age} ago{age_note} and has paid out "
            f"{raw['withdrawn_share']:.0%} of its {raw['takings_cny']:,.2f} CNY takings of the "
            f"last {window}.",
        )
        if raw["first_withdrawal"]:
            e.add(
                "first_payout_within_hours",
                falling(raw["store_age_s"], 6 * 3600, 36 * 3600) * raw["age_trust"],
                f"This is its first payout, {age} after the store opened{age_note}.",
            )
        since = raw["since_last_sale_s"]
        if since >= 0:
            e.add(
                "quick_after_sales",
                falling(since, 2 * 3600, 2 * DAY_S) * paid_share,
                f"The money leaves {describe_duration(since)} after the last sale.",
            )
        day_burst = log_ramp(raw["burst_ratio"], 4, 40)
        # the window against the store's own long-run pace, as far as days of it were watched
        pace_known = ramp(raw["pace_days"], 1, 7)
        pace_burst = log_ramp(raw["pace_ratio"], 4, 40) * pace_known
        # once the long-run pace is known, a spike of one day in an ordinary week is a lumpy
        # small shop, not a burst: the day counts only as far as the pace is not known
        ticket = max(raw["order_size_ratio"], raw["lifetime_order_size_ratio"])
        # a jump made of one or two orders of the shop's usual size is a lumpy seller (a
        # wholesaler's big client), not a surge: it counts as far as many orders make it, or
        # as far as its orders are far bigger than the shop's own; a shop with no orders before
        # (ticket 0: nothing to compare) has no habit of lumps
        surge_made_of = (
            max(ramp(raw["orders_placed_window"], 2, 8), log_ramp(ticket, 2, 10))
            if ticket > 0
            else 1.0
        )
        sudden = max(day_burst * (1 - ramp(raw["pace_days"], 3, 14)), pace_burst) * (
            0.4 + 0.6 * surge_made_of
        )
        # takings that do not look real: never shipped, never arrived, claimed back, top-ups
        # a shop that ships (a dropshipper, a week late) is not one that never does
        since_ship = raw["since_last_shipment_s"]
        ships = 0.0 if since_ship < 0 else falling(since_ship, 3 * DAY_S, 21 * DAY_S)
        # "never ships" can be said of a store watched since it opened, or for longer than a
        # slow shop takes to ship; of an old shop watched for three days it cannot
        observed = max(youth, ramp(raw["watched_s"], 3 * DAY_S, 12 * DAY_S))
        # an old shop at its own pace that has not shipped for the days watched may sell to
        # order or on preorder; a new shop, or an old one whose takings just jumped, may not
        observed *= 0.5 + 0.5 * max(youth, sudden)
        unshipped = (
            ramp(raw["unshipped_share"], 0.4, 0.9)
            * ramp(raw["unshipped_orders"], 1, 5)
            * (1 - 0.7 * ships)
            * observed
        )
        e.add(
            "unshipped",
            unshipped,
            f"{raw['unshipped_orders']:g} orders ({raw['unshipped_share']:.0%}) placed over a "
            f"day ago in the last {window} were never shipped.",
        )
        before_shipping = (
            ramp(raw["unshipped_all_share"], 0.6, 1.0)
            * ramp(raw["orders_placed_window"], 1, 3)
            * paid_share
            * observed
        )
        e.add(
            "paid_before_shipping",
            before_shipping,
            f"It pays out {raw['withdrawn_share']:.0%} of its takings while "
            f"{raw['unshipped_all_share']:.0%} of its {raw['orders_placed_window']:g} orders of the "
            f"last {window} are unshipped.",
        )
        # a parcel takes days to arrive: a store younger than that has had none of its parcels
        # long enough on the way to call them lost, so "never arrived" grows with its age
        undelivered = (
            ramp(raw["undelivered_share"], 0.7, 1.0)
            * ramp(raw["shipped_before_day"], 3, 8)
            * ramp(raw["store_age_s"], 2 * DAY_S, 5 * DAY_S)
        )
        e.add(
            "undelivered",
            undelivered,
            f"{raw['undelivered_share']:.0%} of the {raw['shipped_before_day']:g} parcels shipped "
            f"over a day ago have not arrived.",
        )
        # claimed back: most of the money, or most of the orders (counted once there are a few)
        claimed = max(
            ramp(raw["claimed_share_of_sales"], 0.15, 0.6),
            ramp(raw["claims_per_order"], 0.15, 0.6) * ramp(raw["claims_window"], 1, 5),
        )
        e.add(
            "claimed_back",
            claimed,
            f"Price-protection claims: {raw['claims_window']:g} on "
            f"{raw['orders_placed_window']:g} orders, {raw['claimed_share_of_sales']:.0%} of "
            f"its sales.",
        )
        top_ups = ramp(raw["night_share"], 0.25, 0.7) * ramp(raw["round_share"], 0.3, 0.8)
        # night-time round sums are a voucher shop's trade too: they weigh fully in a shop that
        # is new, whose takings just left its own pace, or whose payers are the same few accounts
        # topping up again and again (players, not a clientele); half in an old shop selling to
        # many buyers with no burst
        few_payers = ramp(raw["repeat_buyer_share"], 0.3, 0.8)
        changed = max(youth, sudden, few_payers)
        e.add(
            "night_round_sales",
            top_ups * (0.5 + 0.5 * changed),
            f"{raw['night_share']:.0%} of its sales came between midnight and 6 and "
            f"{raw['round_share']:.0%} are round sums: top-ups, not purchases"
            + ("." if changed >= 0.5 else ", though at the shop's own long-run pace."),
        )
        unreal = max(unshipped, undelivered, claimed, top_ups * changed)
        e.add(
            "young_with_unreal_takings",
            youth * unreal,
            f"A store {age} old whose takings do not look real pays them out.",
        )
        burst = sudden * (0.5 + 0.5 * paid_share)
        # how far the store's own watched past explains this payout: known pace, no burst, not new
        raw["own_habit"] = round(pace_known * (1 - sudden) * (1 - youth), 4)
        e.add(
            "burst",
            burst,
            f"Its last day's sales ({raw['sales_day_cny']:,.2f} CNY) are "
            f"{raw['burst_ratio']:,.0f} times its own daily average of the days before."
            if day_burst >= pace_burst
            else f"Its sales of the last {window} ({raw['sales_window_cny']:,.2f} CNY) run at "
            f"{raw['pace_ratio']:,.0f} times its own pace of the {raw['pace_days']:,.0f} days "
            f"watched before.",
        )
        e.add(
            "big_ticket_burst",
            burst * log_ramp(ticket, 2, 10),
            f"Its recent orders average {ticket:,.1f} times the store's usual order: a few big "
            f"sales, not more of its own goods.",
        )
        e.add(
            "few_payers",
            few_payers * max(sudden, youth, top_ups),
            f"{raw['repeat_buyer_share']:.0%} of its sales of the last {window} came from buyers "
            f"who had just bought there: a handful of accounts paying, not a clientele.",
        )
        account = event.fields["bank_account"]
        if self.settings.mask_accounts:
            account = mask_account(account)
        if raw["first_use_account"]:
            e.add(
                "new_account",
                0.5 + 0.5 * paid_share,
                f"The money goes to {account}, an account the store never paid out to before.",
            )
            # an honest seller opens a new account on an ordinary day; a rented or mule shop's
            # burst goes out to one it never used
            e.add(
                "burst_to_new_account",
                burst,
                "The burst's money goes to that new account.",
            )
        elif raw["account_reregistered_s"] >= 0:
            # a change of bank is ordinary; a change of bank just before a burst is a rental's
            # or a mule's way to the money, so it weighs with the burst
            e.add(
                "new_account",
                falling(raw["account_reregistered_s"], 3 * DAY_S, 30 * DAY_S) * sudden,
                f"The money goes to {account}, registered "
                f"{describe_duration(raw['account_reregistered_s'])} ago in place of the "
                f"store's earlier account.",
            )
        # honest sellers keep two or three accounts of their own; a new store rotating them is
        # another matter
        e.add(
            "many_accounts",
            ramp(raw["unregistered_accounts_used"], 1, 3) * (0.5 + 0.5 * youth),
            f"The store has paid out to {raw['unregistered_accounts_used']:g} accounts other "
            f"than its registered one.",
        )
        # other owners' stores on the same card: a drawer of cards when the card is not the
        # store's own; a family's shared account when it is, or when the stores are shops
        # registered a year or more ago trading at their pace (relatives' shops paid to one
        # card); a gang's shops bought a month or two before count fully
        settled = (
            raw["age_trust"] * ramp(raw["store_age_s"], 3 * young_s, 12 * young_s) * (1 - sudden)
        )
        e.add(
            "shared_account",
            log_ramp(raw["shared_account_stores"] + 1, 1, 4)
            * (0.3 if raw["registered_account"] else 1.0)
            * (1 - 0.6 * settled),
            f"{raw['shared_account_stores']:g} store(s) of other owners also paid out to "
            f"{account}.",
        )
        link = view.links.get("bank")
        if (
            link is not None
            and link.ring_id
            and not raw["registered_account"]
            and link.ring_id != view.profile.get("ring_id")
        ):
            e.add(
                "ring_account", 1.0, f"{account} is tied to ring {link.ring_id}, already alerted."
            )
        context = (
            []
            if raw["store_event_seen"]
            else [
                f"The store has no store event: its age is counted from when it was first seen, and "
                f"trusted {raw['age_trust']:.0%} (by how long the stream was watched before that)."
            ]
        )
        context += self.population(
            [
                (
                    "quick_after_sales",
                    inputs["quick_after_sales"],
                    "Paid out this soon after sales",
                ),
                ("withdrawn_share", inputs["withdrawn_share"], "Paid out this share of takings"),
                ("youth", inputs["youth"], "This young at a payout"),
            ]
        )
        stake = max(raw["amount_cny"], raw["withdrawn_window_cny"])
        return raw, inputs, e, stake, context
