"""The claims detector: price-protection claims on a large share of a store's orders."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from stream.core.detectors.base import (
    EvidenceDetector,
    describe_duration,
    youth_of,
)
from stream.core.evidence import Evidence, log_ramp, ramp
from stream.core.features import (
    claim_features,
    claim_model_input,
)
from stream.core.records import Event
from stream.core.store_view import StoreView


class ClaimsDetector(EvidenceDetector):
    """Price-protection claims on a large share of a store's orders.

    Whatever the cut looked like (one step or several, 50% or 99%), the scheme's money comes as
    claims, and controlled buyers claim on nearly every order; honest buyers claim on few.
    """

    WEIGHTS: Mapping[str, float] = MappingProxyType(
        {
            "claims_per_order": 0.7,
            "claimed_share": 0.8,
            "young_store": 0.5,
            "claimant_elsewhere": 0.3,
            "bought_for_the_cut": 0.2,
            "model": 1.0,
        }
    )

    name = "claims"
    event_types = frozenset({"refund"})
    action = "suspend_price_protection"
    noun = "claim"

    def collect(
        self, event: Event, view: StoreView
    ) -> tuple[dict[str, float], dict[str, float], Evidence, float, list[str]] | None:
        if event.fields["reason"] != "price_protection":
            return None
        young_s = self.settings.young_store_s
        raw = claim_features(event, view, self.windows_s, self.watch, young_s)
        inputs = claim_model_input(raw, young_s)
        e = Evidence(self.WEIGHTS)
        window = describe_duration(self.windows_s[-1])
        youth = youth_of(raw, young_s)
        elsewhere = log_ramp(raw["claimant_other_stores"] + 1, 2, 6)
        # sales bought for the cut: far above the store's pace, or from a handful of payers.
        # An honest clearance is claimed on too, but on sales that came at the shop's own
        # (known) pace from its own clientele, so its claims count half.
        pace_known = ramp(raw["pace_days"], 1, 7)
        bought = max(
            log_ramp(raw["burst_ratio"], 4, 40),
            log_ramp(raw["pace_ratio"], 4, 40) * pace_known,
            ramp(raw["repeat_buyer_share"], 0.3, 0.8),
        )
        clientele = 0.5 + 0.5 * max(youth, elsewhere, bought, 1 - pace_known)
        e.add(
            "claims_per_order",
            ramp(raw["claims_per_order"], 0.3, 0.8) * ramp(raw["claims_window"], 2, 6) * clientele,
            f"{raw['claims_window']:g} price-protection claims on {raw['orders_placed_window']:g} "
            f"orders in the last {window} ({raw['claims_per_order']:.0%}).",
        )
        e.add(
            "claimed_share",
            ramp(raw["claimed_share_of_sales"], 0.1, 0.5) * clientele,
            f"Claims paid back {raw['claimed_share_of_sales']:.0%} of its sales "
            f"({raw['claimed_window_cny']:,.2f} CNY).",
        )
        e.add(
            "young_store",
            youth,
            f"The store opened {describe_duration(raw['store_age_s'])} before the claim.",
        )
        e.add(
            "claimant_elsewhere",
            elsewhere,
            f"The claimant, {event.fields['buyer_id']}, also claimed at "
            f"{raw['claimant_other_stores']:g} other store(s).",
        )
        e.add(
            "bought_for_the_cut",
            bought,
            f"The claimed sales came in a burst ({max(raw['burst_ratio'], raw['pace_ratio']):,.0f} "
            f"times the store's own pace) or from a handful of payers "
            f"({raw['repeat_buyer_share']:.0%} of sales to buyers who had just bought there).",
        )
        context = self.population(
            [("claims_per_order", inputs["claims_per_order"], "This share of orders claimed back")]
        )
        return raw, inputs, e, raw["claimed_window_cny"], context
