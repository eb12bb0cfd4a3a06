"""The ring-member detector: a store touching an account or tracking number of an alerted ring."""

from __future__ import annotations

from stream.config import DetectorSettings
from stream.core.detectors.base import (
    ALL_DETECTORS,
    NOTHING,
    Decision,
    ScoreObserver,
    Verdict,
    in_episode,
    mask_account,
)
from stream.core.features import (
    Watch,
)
from stream.core.models import PopulationModel
from stream.core.records import Event
from stream.core.store_view import StoreView

RING_ACTS = {
    "bank": ("paid out to {value}, an account of a ring already alerted", "hold_payout"),
    "trk": ("shipped under tracking number {value}, used by a ring already alerted", "hold_payout"),
}


class RingMemberDetector:
    """A store paying out to an account, or shipping under a tracking number, of an alerted ring.

    Fraud comes in rings; once one member is alerted, its payout accounts and tracking numbers
    carry the ring's id, and a store that touches one is flagged at that first act. Claimants
    carry no mark: honest shoppers claim at honest stores too.
    """

    name = "ring_member"
    event_types = frozenset({"order", "withdrawal"})
    model: PopulationModel | None = None

    def __init__(
        self,
        settings: DetectorSettings,
        windows_s: list[float],
        watch: Watch,
        on_score: ScoreObserver | None = None,
    ) -> None:
        self.settings = settings

    def evaluate(self, event: Event, view: StoreView) -> Decision:
        """Flagged at the first act that touches a ring: nothing accumulates, nothing noted."""
        own_ring = view.profile.get("ring_id")
        for kind, link in view.links.items():
            if not link.ring_id or link.ring_id == own_ring or kind not in RING_ACTS:
                continue
            if kind == "bank" and view.profile.get("bank_account") == link.value:
                continue  # its own registered account: the ring link runs the other way
            if in_episode(view.profile, ALL_DETECTORS, event.ts_s, self.settings.alert_episode_s):
                return NOTHING
            act, action = RING_ACTS[kind]
            others = sorted(link.other_stores(event.store_id))
            value = (
                mask_account(link.value)
                if kind == "bank" and self.settings.mask_accounts
                else link.value
            )
            reasons = [
                f"The store {act.format(value=value)} ({link.ring_id}).",
                f"Stores that share it: {', '.join(others[:10]) or 'none recorded'}.",
            ]
            features = {"linked_stores": float(len(others))}
            return Decision(
                Verdict(
                    self.name,
                    "high",
                    1.0,
                    reasons,
                    features,
                    action=action,
                    extra={"ring_id": link.ring_id, "decided_by": "ring"},
                )
            )
        return NOTHING
