"""Detectors: from one event and its store's state to a verdict with reasons, or nothing.

Each detector pairs a rule gate (the shape of the scheme, readable by an analyst) with a River
model that learns the population online (how unusual this store is among all stores). A warm
model must agree before an alert is raised; while the model is still cold only the strongest
form of the rule alerts, at a lower severity, and the reasons say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from stream.config import DetectorSettings
from stream.events import Event
from stream.features import (
    DAY_S,
    price_cut_features,
    price_cut_model_input,
    withdrawal_features,
    withdrawal_model_input,
)
from stream.models import ModelVerdict, OnlineAnomalyModel
from stream.state import StoreView

ScoreObserver = Callable[[str, ModelVerdict], None]
STRONG_RATIO = 0.9
PRICE_PROTECTION_SUSPECT = 0.2
UNSHIPPED_SUSPECT = 0.6


@dataclass(frozen=True, slots=True)
class Verdict:
    """A detector's finding on one event, before it becomes an Alert with id and times."""

    detector: str
    severity: str
    score: float
    reasons: list[str]
    features: dict[str, float]
    action: str
    extra: dict[str, object] = field(default_factory=dict)


class Detector(Protocol):
    name: str
    event_types: frozenset[str]

    def evaluate(self, event: Event, view: StoreView) -> Verdict | None: ...


def describe_duration(seconds: float) -> str:
    """A duration as an analyst would say it.

    >>> describe_duration(5400), describe_duration(3 * 86400 + 7200), describe_duration(42)
    ('90 minutes', '3.1 days', '42 seconds')
    """
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 7200:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 2 * DAY_S:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / DAY_S:.1f} days"


def model_sentence(kind: str, verdict: ModelVerdict, window_size: int) -> str:
    if verdict.warm:
        return (f"The population model scores this {kind} {verdict.score:.2f}, above the "
                f"{verdict.threshold:.2f} that only the most unusual share of the {verdict.seen} "
                f"{kind}s seen so far reach.")
    return (f"The population model is still learning ({verdict.seen} of {2 * window_size} {kind}s "
            f"seen), so the rule alone decided, at reduced severity.")


def decide_severity(verdict: ModelVerdict, strong: bool) -> str | None:
    """high: model agrees and the signal is strong; medium: one of the two; cold and weak: none."""
    if verdict.warm:
        if not verdict.anomalous:
            return None
        return "high" if strong else "medium"
    return "medium" if strong else None


class PriceCutDetector:
    """A sharp cut of a young store's SKU below the price it recently sold at.

    The price-protection scheme: expensive items "sold" to controlled accounts, then the price
    cut to a few percent so the platform refunds the difference.
    """

    name = "price_cut"
    event_types = frozenset({"price"})

    def __init__(self, settings: DetectorSettings, windows_s: list[float],
                 on_score: ScoreObserver | None = None) -> None:
        self.settings = settings
        self.windows_s = windows_s
        self.model = OnlineAnomalyModel(self.name, settings, _bind(on_score, self.name))

    def evaluate(self, event: Event, view: StoreView) -> Verdict | None:
        raw = price_cut_features(event, view, self.windows_s)
        if raw["price_cut_ratio"] <= 0:
            return None
        verdict = self.model.score_and_learn(price_cut_model_input(raw, "deposit" in view.profile))
        young = raw["store_age_s"] < self.settings.young_store_s
        if not (young and raw["cut_vs_sold_ratio"] >= self.settings.price_cut_min_ratio):
            return None
        severity = decide_severity(verdict, raw["cut_vs_sold_ratio"] >= STRONG_RATIO)
        if severity is None:
            return None
        f = event.fields
        reasons = [
            f"SKU {f['sku']} was cut from {f['old_price']:,.2f} to {f['new_price']:,.2f} CNY "
            f"({raw['price_cut_ratio']:.0%} off).",
            f"It sold at up to {raw['sku_sold_price_cny']:,.2f} CNY ({raw['sku_units_sold']:g} units) "
            f"in the last {describe_duration(self.windows_s[-1])}: the new price is "
            f"{raw['cut_vs_sold_ratio']:.0%} below that, and every buyer can claim the difference "
            f"as price protection.",
            f"The store opened {describe_duration(raw['store_age_s'])} before the cut, with a "
            f"deposit of {raw['deposit_cny']:,.0f} CNY.",
            model_sentence("price cut", verdict, self.model.window_size),
        ]
        features = {**raw, "model_score": round(verdict.score, 4),
                    "model_threshold": round(verdict.threshold, 4)}
        return Verdict(self.name, severity, round(verdict.score, 4), reasons, features,
                       action="suspend_price_protection")


class WithdrawalDetector:
    """A withdrawal whose timing, size and destination set the store apart from the population.

    Cash-out schemes empty a young store's takings soon after the sales (or the price-protection
    refunds) land, or send a dormant store's money to an account it never used.
    """

    name = "withdrawal"
    event_types = frozenset({"withdrawal"})

    def __init__(self, settings: DetectorSettings, windows_s: list[float],
                 on_score: ScoreObserver | None = None) -> None:
        self.settings = settings
        self.windows_s = windows_s
        self.model = OnlineAnomalyModel(self.name, settings, _bind(on_score, self.name))

    def evaluate(self, event: Event, view: StoreView) -> Verdict | None:
        raw = withdrawal_features(event, view, self.windows_s)
        verdict = self.model.score_and_learn(withdrawal_model_input(raw, "deposit" in view.profile))
        young = raw["store_age_s"] < self.settings.young_store_s
        share = raw["withdrawn_share_window"]
        # Honest new sellers also cash out all they earn: emptying a young store is suspicious
        # only with a sign that the sales were not real (claimed back, or never shipped).
        unreal_sales = (raw["price_protection_share_window"] >= PRICE_PROTECTION_SUSPECT
                        or raw["unshipped_share"] >= UNSHIPPED_SUSPECT)
        young_cashout = young and share >= self.settings.withdrawal_min_share and unreal_sales
        new_account = raw["new_bank_account"] > 0
        if not (young_cashout or new_account):
            return None
        severity = decide_severity(verdict, new_account or (young_cashout and share >= STRONG_RATIO))
        if severity is None:
            return None
        window = describe_duration(self.windows_s[-1])
        reasons = [
            f"Withdrawal of {raw['amount_cny']:,.2f} CNY brings the money taken out in the last "
            f"{window} to {share:.0%} of the {raw['sales_window_cny']:,.2f} CNY of sales in it.",
            f"The store opened {describe_duration(raw['store_age_s'])} earlier"
            + (f"; its last sale was {describe_duration(raw['since_last_sale_s'])} before." if
               raw["since_last_sale_s"] >= 0 else "; it has made no sale."),
        ]
        if new_account:
            reasons.append(f"The money goes to {event.fields['bank_account']}, not to the store's "
                           f"registered account.")
        if raw["unshipped_share"] >= UNSHIPPED_SUSPECT:
            reasons.append(f"{raw['unshipped_share']:.0%} of the orders placed more than a day "
                           f"earlier in the last {window} were never shipped.")
        if raw["price_protection_share_window"] > 0:
            reasons.append(f"Price-protection refunds in the last {window} equal "
                           f"{raw['price_protection_share_window']:.0%} of its sales.")
        reasons.append(model_sentence("withdrawal", verdict, self.model.window_size))
        features = {**raw, "model_score": round(verdict.score, 4),
                    "model_threshold": round(verdict.threshold, 4)}
        return Verdict(self.name, severity, round(verdict.score, 4), reasons, features,
                       action="hold_payout")


def _bind(on_score: ScoreObserver | None, name: str) -> Callable[[ModelVerdict], None] | None:
    if on_score is None:
        return None
    return lambda verdict: on_score(name, verdict)


def default_detectors(settings: DetectorSettings, windows_s: list[float],
                      on_score: ScoreObserver | None = None) -> list[Detector]:
    """The detectors a worker runs; ``on_score`` sees every model score (for metrics)."""
    return [PriceCutDetector(settings, windows_s, on_score),
            WithdrawalDetector(settings, windows_s, on_score)]
