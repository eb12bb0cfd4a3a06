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
    store_age_s,
    tracking_features,
    tracking_model_input,
    tracking_reuse,
    withdrawal_features,
    withdrawal_model_input,
)
from stream.models import ModelVerdict, OnlineAnomalyModel
from stream.state import StoreView

ScoreObserver = Callable[[str, ModelVerdict], None]
STRONG_SHARE = 0.9
PRICE_PROTECTION_SUSPECT = 0.2
UNSHIPPED_SUSPECT = 0.6
DORMANT_BURST_SHARE = 0.9
NEW_STORE_MIN_ORDERS = 3


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
    model: OnlineAnomalyModel | None  # the population model it learns, if any

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


def model_sentence(kind: str, verdict: ModelVerdict, window_size: int,
                   use_models: bool = True) -> str:
    if not use_models:
        return "The population model was not consulted (rules-only run)."
    if verdict.warm and not verdict.anomalous:
        return (f"The population model scores this {kind} {verdict.score:.2f}, under the "
                f"{verdict.threshold:.2f} of the most unusual {kind}s: the rule's evidence is "
                f"strong enough on its own.")
    if verdict.warm:
        return (f"The population model scores this {kind} {verdict.score:.2f}, above the "
                f"{verdict.threshold:.2f} that only the most unusual share of the {verdict.seen} "
                f"{kind}s seen so far reach.")
    return (f"The population model is still learning ({verdict.seen} of {2 * window_size} {kind}s "
            f"seen), so the rule alone decided.")


def decide_severity(verdict: ModelVerdict, strong: bool, use_models: bool = True) -> str | None:
    """Strong evidence alerts on its own (high when the model agrees, medium when it does not);
    weak evidence needs a warm model that finds the observation rare, and alerts at medium.
    Without models (the ablation) every open gate alerts, strong ones high, weak ones medium.

    >>> warm_rare = ModelVerdict(0.9, 0.8, True, 500)
    >>> warm_common = ModelVerdict(0.5, 0.8, True, 500)
    >>> decide_severity(warm_rare, True), decide_severity(warm_common, True)
    ('high', 'medium')
    >>> decide_severity(warm_rare, False), decide_severity(warm_common, False)
    ('medium', None)
    >>> decide_severity(warm_common, False, use_models=False)
    'medium'
    """
    if not use_models:
        return "high" if strong else "medium"
    if strong:
        return "high" if verdict.anomalous else "medium"
    return "medium" if verdict.anomalous else None


def in_episode(profile: dict[str, str], detectors: tuple[str, ...], ts_s: float,
               episode_s: float) -> bool:
    """Whether the store was alerted by one of ``detectors`` less than ``episode_s`` before.

    >>> in_episode({"alerted:withdrawal": "1000.0"}, ("withdrawal",), 2000.0, 3600.0)
    True
    >>> in_episode({"alerted:withdrawal": "1000.0"}, ("price_cut",), 2000.0, 3600.0)
    False
    """
    for detector in detectors:
        alerted = profile.get(f"alerted:{detector}")
        if alerted is not None and 0 <= ts_s - float(alerted) < episode_s:
            return True
    return False


def known_ring(view: StoreView) -> str | None:
    """The ring the store or one of the facts its event touched was tied to by an alert."""
    for link in view.links.values():
        if link.ring_id:
            return link.ring_id
    return view.profile.get("ring_id")


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
        s = self.settings
        age_s = raw["store_age_s"]
        # strong: a young store cuts a SKU to a few percent of what it sold at; weak (the model
        # must agree): a brand-new store cuts a sold SKU by half or more
        strong = age_s < s.young_store_s and raw["cut_vs_sold_ratio"] >= s.price_cut_strong_ratio
        weak = age_s < s.new_store_s and raw["cut_vs_sold_ratio"] >= s.price_cut_min_ratio
        if not (strong or weak):
            return None
        if in_episode(view.profile, (self.name,), event.ts_s, s.alert_episode_s):
            return None
        severity = decide_severity(verdict, strong, s.use_models)
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
            model_sentence("price cut", verdict, self.model.window_size, self.settings.use_models),
        ]
        features = {**raw, "model_score": round(verdict.score, 4),
                    "model_threshold": round(verdict.threshold, 4)}
        return Verdict(self.name, severity, round(verdict.score, 4), reasons, features,
                       action="suspend_price_protection")


class WithdrawalDetector:
    """A withdrawal whose timing, size and destination set the store apart from the population.

    Cash-out schemes empty a young store's takings soon after the sales (or the price-protection
    refunds) land, pay out to accounts shared across a ring or rotated from payout to payout,
    or send a dormant store's sudden takings to an account it never used. An honest seller who
    moves to a new bank account does none of the rest, so a new account alone does not alert.
    """

    name = "withdrawal"
    event_types = frozenset({"withdrawal"})

    def __init__(self, settings: DetectorSettings, windows_s: list[float],
                 on_score: ScoreObserver | None = None) -> None:
        self.settings = settings
        self.windows_s = windows_s
        self.model = OnlineAnomalyModel(self.name, settings, _bind(on_score, self.name))

    def evaluate(self, event: Event, view: StoreView) -> Verdict | None:
        s = self.settings
        raw = withdrawal_features(event, view, self.windows_s)
        verdict = self.model.score_and_learn(withdrawal_model_input(raw, "deposit" in view.profile))
        age_s = raw["store_age_s"]
        share = raw["withdrawn_share_window"]
        unregistered = raw["new_bank_account"] > 0
        first_use = unregistered and raw["first_use_account"] > 0
        # Honest new sellers also cash out all they earn: emptying a young store is suspicious
        # only with a sign that the sales were not real (claimed back, or never shipped).
        unshipped = (raw["unshipped_share"] >= UNSHIPPED_SUSPECT
                     and raw["unshipped_orders"] >= s.unshipped_min_orders)
        unreal_sales = raw["price_protection_share_window"] >= PRICE_PROTECTION_SUSPECT or unshipped
        young_cashout = (age_s < s.young_store_s and share >= s.withdrawal_min_share
                         and unreal_sales)
        ring_account = unregistered and (raw["shared_account_stores"] > 0
                                         or raw["unregistered_accounts_used"] >= 2)
        dormant_burst = (first_use and age_s >= s.dormant_store_s
                         and raw["sales_day_share_of_window"] >= DORMANT_BURST_SHARE
                         and raw["sales_day_cny"] >= s.dormant_burst_min_cny)
        # a brand-new store with several sales paying out to an account it did not register
        new_store_new_account = (first_use and age_s < s.new_store_s
                                 and raw["orders_placed_window"] >= NEW_STORE_MIN_ORDERS)
        ring_id = known_ring(view)
        strong = (ring_account or dormant_burst or (young_cashout and share >= STRONG_SHARE)
                  or (ring_id is not None and (unregistered or young_cashout)))
        if not (strong or young_cashout or new_store_new_account):
            return None
        if in_episode(view.profile, (self.name,), event.ts_s, s.alert_episode_s):
            return None
        severity = decide_severity(verdict, strong, s.use_models)
        if severity is None:
            return None
        window = describe_duration(self.windows_s[-1])
        account = event.fields["bank_account"]
        reasons = [
            f"Withdrawal of {raw['amount_cny']:,.2f} CNY brings the money taken out in the last "
            f"{window} to {share:.0%} of the {raw['sales_window_cny']:,.2f} CNY of sales in it.",
            f"The store opened {describe_duration(age_s)} earlier"
            + (f"; its last sale was {describe_duration(raw['since_last_sale_s'])} before." if
               raw["since_last_sale_s"] >= 0 else "; it has made no sale."),
        ]
        if unregistered:
            reasons.append(f"The money goes to {account}, not to the store's registered account"
                           + (", and the store never paid out to it before." if first_use else "."))
        if raw["shared_account_stores"] > 0:
            reasons.append(f"{raw['shared_account_stores']:g} other store(s) of other owners "
                           f"also paid out to {account}.")
        if raw["unregistered_accounts_used"] >= 2:
            reasons.append(f"The store has now paid out to {raw['unregistered_accounts_used']:g} "
                           f"accounts it did not register.")
        if dormant_burst:
            reasons.append(f"The store is {describe_duration(age_s)} old and was quiet: "
                           f"{raw['sales_day_share_of_window']:.0%} of its sales of the last "
                           f"{window} ({raw['sales_day_cny']:,.2f} CNY) came in the last day.")
        if unshipped:
            reasons.append(f"{raw['unshipped_orders']:g} orders ({raw['unshipped_share']:.0%}) placed "
                           f"more than a day earlier in the last {window} were never shipped.")
        if raw["price_protection_share_window"] > 0:
            reasons.append(f"Price-protection refunds in the last {window} equal "
                           f"{raw['price_protection_share_window']:.0%} of its sales.")
        if ring_id is not None:
            reasons.append(f"The store or this account is tied to ring {ring_id}, already alerted.")
        reasons.append(model_sentence("withdrawal", verdict, self.model.window_size, s.use_models))
        features = {**raw, "model_score": round(verdict.score, 4),
                    "model_threshold": round(verdict.threshold, 4)}
        return Verdict(self.name, severity, round(verdict.score, 4), reasons, features,
                       action="hold_payout")


class TrackingReuseDetector:
    """A parcel's tracking number already used on other orders, of this store or another.

    Fronts that sell nothing real (gambling top-ups) buy a batch of tracking numbers and reuse
    them so orders look shipped and delivered; an honest parcel has a number of its own.
    """

    name = "tracking_reuse"
    event_types = frozenset({"order"})

    def __init__(self, settings: DetectorSettings, windows_s: list[float],
                 on_score: ScoreObserver | None = None) -> None:
        self.settings = settings
        self.windows_s = windows_s
        self.model = OnlineAnomalyModel(self.name, settings, _bind(on_score, self.name))

    def evaluate(self, event: Event, view: StoreView) -> Verdict | None:
        link = view.links.get("trk")
        if link is None or event.fields["status"] != "shipped":
            return None
        # every shipment teaches the model, but only a reused number needs the raw features
        other_orders, other_stores = tracking_reuse(link.members, event.fields["order_id"],
                                                    event.store_id)
        verdict = self.model.score_and_learn(tracking_model_input(
            other_orders, other_stores, store_age_s(event, view), view.profile_float("deposit")))
        if other_orders < 1:
            return None
        if in_episode(view.profile, (self.name,), event.ts_s, self.settings.alert_episode_s):
            return None
        strong = other_orders >= 2 or other_stores >= 1
        severity = decide_severity(verdict, strong, self.settings.use_models)
        if severity is None:
            return None
        raw = tracking_features(event, view)
        number = event.fields["tracking_no"]
        reasons = [f"Order {event.fields['order_id']} was shipped with tracking number {number} "
                   f"({event.fields.get('courier') or 'unknown courier'}), already used on "
                   f"{raw['tracking_other_orders']:g} other order(s)"
                   + (f", of {raw['tracking_other_stores']:g} other store(s)."
                      if raw["tracking_other_stores"] else " of this store."),
                   "A real parcel has a tracking number of its own: reused numbers make orders "
                   "look shipped and delivered that never were.",
                   f"The store opened {describe_duration(raw['store_age_s'])} earlier.",
                   model_sentence("shipment", verdict, self.model.window_size,
                                  self.settings.use_models)]
        features = {**raw, "model_score": round(verdict.score, 4),
                    "model_threshold": round(verdict.threshold, 4)}
        return Verdict(self.name, severity, round(verdict.score, 4), reasons, features,
                       action="hold_payout")


RING_ACTS = {
    "bank": ("paid out to {value}, an account of a ring already alerted", "hold_payout"),
    "trk": ("shipped with tracking number {value}, used by a ring already alerted", "hold_payout"),
    "claim": ("received a price-protection claim from {value}, who claimed at a store of a ring "
              "already alerted", "suspend_price_protection"),
}


class RingMemberDetector:
    """A store touching a fact (account, tracking number, claimant) of an alerted ring.

    Fraud comes in rings; once one member is alerted, the facts it touched carry the ring's
    id, and a store that touches one of them is flagged at that first act, before its own
    pattern is complete. No model: the link to an alerted ring is the evidence.
    """

    name = "ring_member"
    event_types = frozenset({"order", "refund", "withdrawal"})
    model = None

    def __init__(self, settings: DetectorSettings, windows_s: list[float],
                 on_score: ScoreObserver | None = None) -> None:
        self.settings = settings

    def evaluate(self, event: Event, view: StoreView) -> Verdict | None:
        own_ring = view.profile.get("ring_id")
        for kind, link in view.links.items():
            if not link.ring_id or link.ring_id == own_ring or kind not in RING_ACTS:
                continue
            if kind == "bank" and view.profile.get("bank_account") == link.value:
                continue  # its own registered account: the ring link runs the other way
            if in_episode(view.profile, ALL_DETECTORS, event.ts_s, self.settings.alert_episode_s):
                return None
            act, action = RING_ACTS[kind]
            others = sorted(link.other_stores(event.store_id))
            reasons = [f"The store {act.format(value=link.value)} ({link.ring_id}).",
                       f"Stores that share it: {', '.join(others[:10]) or 'none recorded'}."]
            features = {"linked_stores": float(len(others))}
            return Verdict(self.name, "high", 1.0, reasons, features, action=action,
                           extra={"ring_id": link.ring_id})
        return None


ALL_DETECTORS = ("price_cut", "withdrawal", "tracking_reuse", "ring_member")


def _bind(on_score: ScoreObserver | None, name: str) -> Callable[[ModelVerdict], None] | None:
    if on_score is None:
        return None
    return lambda verdict: on_score(name, verdict)


def default_detectors(settings: DetectorSettings, windows_s: list[float],
                      on_score: ScoreObserver | None = None) -> list[Detector]:
    """The detectors a worker runs; ``on_score`` sees every model score (for metrics)."""
    return [PriceCutDetector(settings, windows_s, on_score),
            WithdrawalDetector(settings, windows_s, on_score),
            TrackingReuseDetector(settings, windows_s, on_score),
            RingMemberDetector(settings, windows_s, on_score)]
