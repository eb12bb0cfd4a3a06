"""The price-cut detector: a deep cut of a SKU just sold at its full price."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from stream.core.detectors.base import (
    EvidenceDetector,
    describe_duration,
    youth_of,
)
from stream.core.evidence import Evidence, falling, ramp
from stream.core.features import (
    DAY_S,
    price_cut_features,
    price_cut_model_input,
)
from stream.core.records import Event
from stream.core.store_view import StoreView


class PriceCutDetector(EvidenceDetector):
    """A deep cut of a SKU just sold at its full price: every buyer can now claim the difference.

    The price-protection scheme: a new store "sells" expensive items to controlled accounts,
    then cuts the price so the platform refunds the difference. Honest clearances cut as deep,
    but in shops with a past and on stock sold slowly; launch promotions cut before anything
    sold, so nothing can be claimed: the money at stake is what the cut makes claimable.
    """

    WEIGHTS: Mapping[str, float] = MappingProxyType(
        {
            "deep_cut": 0.6,
            "young_store": 0.4,
            "cut_after_sales": 0.35,
            "model": 0.6,
            "exposes_takings": 0.25,
        }
    )

    name = "price_cut"
    event_types = frozenset({"price"})
    action = "suspend_price_protection"
    noun = "price cut"

    def collect(
        self, event: Event, view: StoreView
    ) -> tuple[dict[str, float], dict[str, float], Evidence, float, list[str]] | None:
        if event.fields["new_price"] >= event.fields["old_price"]:
            return None
        young_s = self.settings.young_store_s
        raw = price_cut_features(event, view, self.windows_s, self.watch, young_s)
        inputs = price_cut_model_input(raw, young_s)
        e = Evidence(self.WEIGHTS)
        f = event.fields
        e.add(
            "deep_cut",
            ramp(raw["cut_vs_sold_ratio"], 0.4, 0.95),
            f"SKU {f['sku']} was cut to {f['new_price']:,.2f} CNY, {raw['cut_vs_sold_ratio']:.0%} "
            f"below the {raw['sku_sold_price_cny']:,.2f} CNY it sold at ({raw['sku_units_sold']:g} "
            f"units), so its buyers can claim back {raw['claimable_cny']:,.2f} CNY.",
        )
        e.add(
            "young_store",
            youth_of(raw, young_s),
            f"The store opened {describe_duration(raw['store_age_s'])} before the cut"
            + ("." if raw["age_trust"] >= 1 else " (first seen then; it has no store event)."),
        )
        since = raw["since_sku_sale_s"]
        if since >= 0:
            e.add(
                "cut_after_sales",
                falling(since, 6 * 3600, 3 * DAY_S) * ramp(raw["sku_sales_share"], 0.2, 0.7),
                f"The SKU made {raw['sku_sales_share']:.0%} of the store's sales and last sold "
                f"{describe_duration(since)} before the cut.",
            )
        e.add(
            "exposes_takings",
            ramp(raw["claimable_share_of_sales"], 0.2, 0.7),
            f"Claims on the cut could take back {raw['claimable_share_of_sales']:.0%} of all the "
            f"store sold in the last {describe_duration(self.windows_s[-1])}.",
        )
        context = self.population(
            [
                ("cut_vs_sold", inputs["cut_vs_sold"], "A cut this deep"),
                ("youth", inputs["youth"], "This young at a price cut"),
            ]
        )
        return raw, inputs, e, raw["claimable_cny"], context
