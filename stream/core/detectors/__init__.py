"""Detectors: from one event and its store's state to a verdict with reasons, or nothing.

Each detector watches one decision point (a withdrawal, a price cut, a price-protection claim,
a shipment) and collects graded evidence (``stream.core.evidence``): signals that grow with how far
the store's behaviour goes, written in the population's terms. Its River population model
(``stream.core.models``) scores the same decision; a score rarer than ``model_evidence_tail`` of the
population adds evidence, and one rarer than ``model_alert_tail`` alerts by itself when enough
money is at stake. An alert needs the evidence, weighed by the money at stake, to reach
``alert_evidence``. Decisions that raise nothing teach the model the population; stores already
alerted never do.
"""

from __future__ import annotations

from stream.config import DetectorSettings
from stream.core.detectors.base import (
    ALL_DETECTORS,
    RING_FACT_KINDS,
    Decision,
    Detector,
    EvidenceDetector,
    ScoreObserver,
    Verdict,
    carried_evidence,
    describe_duration,
    episode_key,
    ever_alerted,
    in_episode,
    known_ring,
    mask_account,
    stake_weight,
)
from stream.core.detectors.claims import ClaimsDetector
from stream.core.detectors.price_cut import PriceCutDetector
from stream.core.detectors.ring_member import RING_ACTS, RingMemberDetector
from stream.core.detectors.tracking_reuse import TrackingReuseDetector
from stream.core.detectors.withdrawal import WithdrawalDetector
from stream.core.features import Watch

__all__ = [
    "ALL_DETECTORS",
    "RING_ACTS",
    "RING_FACT_KINDS",
    "ClaimsDetector",
    "Decision",
    "Detector",
    "EvidenceDetector",
    "PriceCutDetector",
    "RingMemberDetector",
    "ScoreObserver",
    "TrackingReuseDetector",
    "Verdict",
    "WithdrawalDetector",
    "carried_evidence",
    "default_detectors",
    "describe_duration",
    "episode_key",
    "ever_alerted",
    "in_episode",
    "known_ring",
    "mask_account",
    "stake_weight",
]


def default_detectors(
    settings: DetectorSettings,
    windows_s: list[float],
    on_score: ScoreObserver | None = None,
    watch: Watch | None = None,
) -> list[Detector]:
    """The detectors a worker runs; ``on_score`` sees every model score (for metrics)."""
    watch = watch if watch is not None else Watch()
    return [
        PriceCutDetector(settings, windows_s, watch, on_score),
        WithdrawalDetector(settings, windows_s, watch, on_score),
        ClaimsDetector(settings, windows_s, watch, on_score),
        TrackingReuseDetector(settings, windows_s, watch, on_score),
        RingMemberDetector(settings, windows_s, watch, on_score),
    ]
