"""The tracking-reuse detector: a parcel's tracking number already used for other buyers."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from stream.core.detectors.base import (
    EvidenceDetector,
    describe_duration,
)
from stream.core.evidence import Evidence, falling, log_ramp
from stream.core.features import (
    DAY_S,
    store_age_s,
    tracking_use,
)
from stream.core.records import Event
from stream.core.store_view import StoreView


class TrackingReuseDetector(EvidenceDetector):
    """A parcel's tracking number already used for other buyers, of this store or another.

    Fronts that sell nothing real (gambling top-ups) buy tracking numbers and reuse them so
    orders look shipped; one buyer's orders merged into one parcel share a number honestly, so
    only other buyers and other stores count, more the more there are.
    """

    WEIGHTS: Mapping[str, float] = MappingProxyType(
        {
            "number_reused": 1.5,
            "number_of_other_stores": 1.2,
            "young_store": 0.3,
            "model": 0.6,
        }
    )

    name = "tracking_reuse"
    event_types = frozenset({"order"})
    action = "hold_payout"
    noun = "shipment"

    def collect(
        self, event: Event, view: StoreView
    ) -> tuple[dict[str, float], dict[str, float], Evidence, float, list[str]] | None:
        link = view.links.get("trk")
        if link is None or event.fields["status"] != "shipped":
            return None
        other_buyers, other_stores = tracking_use(
            link.members, event.fields["buyer_id"], event.store_id
        )
        if not (other_buyers or other_stores):
            return None  # a number of its own (or one buyer's merged parcel): nothing to decide
        age_s = store_age_s(event, view)
        longest = view.window(self.windows_s[-1])
        raw = {
            "tracking_other_buyers": other_buyers,
            "tracking_other_stores": other_stores,
            "store_age_s": age_s,
            "sales_window_cny": longest["sales_cny"],
        }
        inputs = {
            "other_buyers": min(1.0, other_buyers / 5),
            "other_stores": min(1.0, other_stores / 3),
        }
        e = Evidence(self.WEIGHTS)
        number = event.fields["tracking_no"]
        youth = falling(age_s, 2 * DAY_S, self.settings.young_store_s)
        # two buyers of one household may share a parcel; more may not, unless an established
        # shop ships through a consolidator (one number, many buyers' parcels): a number shared
        # within one old shop weighs less than one in a new shop or across stores
        across = log_ramp(other_stores + 1, 1, 3)
        e.add(
            "number_reused",
            log_ramp(other_buyers + 1, 1.5, 4) * (0.4 + 0.6 * max(youth, across)),
            f"Order {event.fields['order_id']} was shipped under tracking number {number}, "
            f"already used for {other_buyers:g} other buyer(s)"
            + ("." if max(youth, across) >= 0.5 else ", all of this established shop."),
        )
        e.add(
            "number_of_other_stores",
            across,
            f"{other_stores:g} other store(s) shipped under the same number.",
        )
        e.add(
            "young_store",
            youth,
            f"The store opened {describe_duration(age_s)} before this shipment.",
        )
        return raw, inputs, e, longest["sales_cny"], []
