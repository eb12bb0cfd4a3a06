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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from stream.config import DetectorSettings
from stream.core.events import Event
from stream.core.evidence import Evidence, falling, log_ramp, ramp
from stream.core.features import (
    DAY_S,
    Watch,
    claim_features,
    claim_model_input,
    price_cut_features,
    price_cut_model_input,
    store_age_s,
    tracking_use,
    withdrawal_features,
    withdrawal_model_input,
)
from stream.core.models import ModelVerdict, PopulationModel
from stream.core.store_view import StoreView

ScoreObserver = Callable[[str, ModelVerdict], None]
# Cross-store facts that carry a ring's mark to the next store that touches them. Claimants
# do not: an honest shopper who claimed at an alerted store must not mark the next store.
RING_FACT_KINDS = frozenset({"bank", "trk"})


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
    model: PopulationModel | None  # the population model it learns, if any

    def evaluate(self, event: Event, view: StoreView) -> Verdict | None: ...

    def take_note(self) -> dict[str, str] | None:
        """Profile fields the last ``evaluate`` wants remembered for its store (the episode's
        evidence so far), handed over once; the engine writes them to the state."""
        ...


def episode_key(detector: str) -> str:
    return f"episode:{detector}"


def carried_evidence(
    profile: Mapping[str, str], detector: str, ts_s: float, half_life_s: float
) -> float:
    """The store's last weighed evidence for ``detector``, faded by the time since.

    >>> carried_evidence({"episode:withdrawal": "0.8@1000.0"}, "withdrawal", 1000.0 + 7200, 7200)
    0.4
    >>> carried_evidence({}, "withdrawal", 0.0, 7200)
    0.0
    """
    saved = profile.get(episode_key(detector))
    if saved is None:
        return 0.0
    value, _, ts = saved.partition("@")
    age_s = max(0.0, ts_s - float(ts))
    return float(float(value) * 0.5 ** (age_s / half_life_s))


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


def in_episode(
    profile: dict[str, str], detectors: tuple[str, ...], ts_s: float, episode_s: float
) -> bool:
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


def ever_alerted(profile: dict[str, str]) -> bool:
    """A store alerted once, or tied to a ring, does not teach the models what is normal."""
    return "ring_id" in profile or any(key.startswith("alerted:") for key in profile)


def known_ring(view: StoreView) -> str | None:
    """The ring the store, or a fact its event touched that carries ring marks, belongs to."""
    for link in view.links.values():
        if link.ring_id and link.kind in RING_FACT_KINDS:
            return link.ring_id
    return view.profile.get("ring_id")


def mask_account(account: str) -> str:
    """An account number as reasons show it: its first and last four characters. Reasons go to
    every downstream reader; the full number stays in the alert's ``extra["bank_account"]``.

    >>> mask_account("6217003924973300414"), mask_account("card-9")
    ('6217...0414', 'card-9')
    """
    return account if len(account) <= 8 else f"{account[:4]}...{account[-4:]}"


def stake_weight(stake_cny: float, min_stake_cny: float) -> float:
    """How much the money at stake lets evidence count: 0.4 at the minimum stake, growing on a
    log scale to 1 at 30 times it; nothing under the minimum.

    >>> stake_weight(100.0, 300.0), stake_weight(300.0, 300.0), stake_weight(9000.0, 300.0)
    (0.0, 0.4, 1.0)
    """
    if stake_cny < min_stake_cny:
        return 0.0
    return 0.4 + 0.6 * log_ramp(stake_cny, min_stake_cny, 30 * min_stake_cny)


def rarity_sentence(model: PopulationModel, feature: str, value: float, what: str) -> str | None:
    """Where one model input sits in the population, or None while it cannot be said."""
    tail = model.feature_tail(feature, value)
    if tail is None or tail > 0.2:
        return None
    return f"{what}: about 1 in {max(1, round(1 / tail)):,} of {model.name} decisions."


class EvidenceDetector:
    """What every evidence detector shares: the model, the model's say, the stake, the alert.

    A subclass names its decision point and writes ``collect``: the raw features, the model
    inputs, the evidence, the money at stake and the population comparisons to quote.
    """

    name = ""
    event_types: frozenset[str] = frozenset()
    # how much each signal alone says about fraud: the evidence of a signal at full strength
    WEIGHTS: Mapping[str, float] = MappingProxyType({})
    action = "review"
    noun = "decision"

    def __init__(
        self,
        settings: DetectorSettings,
        windows_s: list[float],
        watch: Watch,
        on_score: ScoreObserver | None = None,
    ) -> None:
        self.settings = settings
        self.windows_s = windows_s
        self.watch = watch
        self._note: dict[str, str] | None = None
        self.model: PopulationModel | None = PopulationModel(
            self.name,
            settings,
            None if on_score is None else (lambda verdict: on_score(self.name, verdict)),
        )

    def collect(
        self, event: Event, view: StoreView
    ) -> tuple[dict[str, float], dict[str, float], Evidence, float, list[str]] | None:
        raise NotImplementedError

    def take_note(self) -> dict[str, str] | None:
        note, self._note = self._note, None
        return note

    def evaluate(self, event: Event, view: StoreView) -> Verdict | None:
        collected = self.collect(event, view)
        if collected is None:
            return None
        raw, inputs, evidence, stake_cny, context = collected
        s = self.settings
        assert self.model is not None
        model_verdict = self.model.score(inputs)
        if s.use_models and model_verdict.rarer_than(s.model_evidence_tail):
            strength = log_ramp(
                1 / model_verdict.tail_p, 1 / s.model_evidence_tail, 1 / s.model_alert_tail
            )
            evidence.add(
                "model",
                max(strength, 0.05),
                f"The population model scores this {self.noun} {model_verdict.score:.2f}: "
                f"about 1 {self.noun} in {model_verdict.one_in():,} scores as high.",
            )
        weight = stake_weight(stake_cny, s.min_stake_cny)
        this_decision = evidence.total * weight
        carried = carried_evidence(view.profile, self.name, event.ts_s, s.episode_half_life_s)
        weighed = this_decision + s.episode_carry * min(this_decision, carried)
        if weighed >= 0.05 or carried >= 0.05:
            self._note = {episode_key(self.name): f"{weighed:.4f}@{event.ts_s!r}"}
        model_alone = (
            s.use_models
            and model_verdict.rarer_than(s.model_alert_tail)
            and stake_cny >= s.model_min_stake_cny
        )
        alerting = (weighed >= s.alert_evidence or model_alone) and not in_episode(
            view.profile, (self.name,), event.ts_s, s.alert_episode_s
        )
        if not alerting:
            if not ever_alerted(view.profile):
                self.model.learn(inputs, model_verdict, event.ts_s)
            return None
        decided_by = (
            "rules and model"
            if weighed >= s.alert_evidence and "model" in {sig.name for sig in evidence.signals}
            else "rules"
            if weighed >= s.alert_evidence
            else "model"
        )
        severity = "high" if weighed >= s.high_evidence or model_alone else "medium"
        reasons = [signal.sentence for signal in evidence.strongest()]
        reasons += context
        if weighed > this_decision:
            reasons.append(
                f"The store's earlier {self.noun}s this episode add "
                f"{weighed - this_decision:.2f} to this one's {this_decision:.2f}: "
                f"it keeps deciding near the line."
            )
        reasons.append(
            f"Money at stake: {stake_cny:,.2f} CNY; evidence {evidence.total:.2f} "
            f"weighed by the stake {weighed:.2f} against an alert line of "
            f"{s.alert_evidence:g} (decided by the {decided_by})."
        )
        if not model_verdict.warm:
            reasons.append(
                f"The population model is still learning ({self.model.learnt} "
                f"{self.noun}s learnt), so the rules decided alone."
            )
        features = {
            **raw,
            **evidence.contributions(),
            "evidence": round(evidence.total, 3),
            "stake_cny": round(stake_cny, 2),
            "model_score": round(model_verdict.score, 4),
            "model_tail_p": round(model_verdict.tail_p, 6),
        }
        extra: dict[str, object] = {
            "decided_by": decided_by,
            "stake_cny": round(stake_cny, 2),
            "model_warm": model_verdict.warm,
        }
        if event.type == "withdrawal":
            extra["bank_account"] = event.fields["bank_account"]  # in full, as reasons are not
        return Verdict(
            self.name,
            severity,
            round(min(1.0, weighed / (2 * s.alert_evidence)), 4),
            reasons,
            features,
            action=self.action,
            extra=extra,
        )

    def population(self, pairs: list[tuple[str, float, str]]) -> list[str]:
        """Sentences placing the named model inputs in the population (rare ones only)."""
        assert self.model is not None
        found = (rarity_sentence(self.model, name, value, what) for name, value, what in pairs)
        return [sentence for sentence in found if sentence][:2]


def youth_of(raw: dict[str, float], young_store_s: float) -> float:
    """1 for a store just opened, 0 once established, scaled by how far its age is trusted."""
    return falling(raw["store_age_s"], 2 * DAY_S, young_store_s) * raw["age_trust"]


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
            "paid_before_shipping": 0.25,
            "undelivered": 0.35,
            "claimed_back": 0.8,
            "night_round_sales": 1.0,
            "young_with_unreal_takings": 0.5,
            "burst": 0.6,
            "big_ticket_burst": 0.2,
            "few_payers": 0.8,
            "many_accounts": 1.0,
            "shared_account": 1.0,
            "first_payout_within_hours": 0.45,
            "quick_after_sales": 0.05,
            "new_account": 0.3,
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
        # takings that do not look real: never shipped, never arrived, claimed back, top-ups
        # a shop that ships (a dropshipper, a week late) is not one that never does
        since_ship = raw["since_last_shipment_s"]
        ships = 0.0 if since_ship < 0 else falling(since_ship, 3 * DAY_S, 21 * DAY_S)
        # "never ships" can be said of a store watched since it opened, or for longer than a
        # slow shop takes to ship; of an old shop watched for three days it cannot
        observed = max(youth, ramp(raw["watched_s"], 3 * DAY_S, 12 * DAY_S))
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
        undelivered = ramp(raw["undelivered_share"], 0.7, 1.0) * ramp(
            raw["shipped_before_day"], 3, 8
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
        e.add(
            "night_round_sales",
            top_ups,
            f"{raw['night_share']:.0%} of its sales came between midnight and 6 and "
            f"{raw['round_share']:.0%} are round sums: top-ups, not purchases.",
        )
        unreal = max(unshipped, undelivered, claimed, top_ups)
        e.add(
            "young_with_unreal_takings",
            youth * unreal,
            f"A store {age} old whose takings do not look real pays them out.",
        )
        day_burst = log_ramp(raw["burst_ratio"], 4, 40)
        # the window against the store's own long-run pace, as far as days of it were watched
        pace_known = ramp(raw["pace_days"], 1, 7)
        pace_burst = log_ramp(raw["pace_ratio"], 4, 40) * pace_known
        # once the long-run pace is known, a spike of one day in an ordinary week is a lumpy
        # small shop, not a burst: the day counts only as far as the pace is not known
        sudden = max(day_burst * (1 - ramp(raw["pace_days"], 3, 14)), pace_burst)
        burst = sudden * (0.5 + 0.5 * paid_share)
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
        ticket = max(raw["order_size_ratio"], raw["lifetime_order_size_ratio"])
        e.add(
            "big_ticket_burst",
            burst * log_ramp(ticket, 2, 10),
            f"Its recent orders average {ticket:,.1f} times the store's usual order: a few big "
            f"sales, not more of its own goods.",
        )
        few_payers = ramp(raw["repeat_buyer_share"], 0.3, 0.8)
        e.add(
            "few_payers",
            few_payers * max(sudden, youth),
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
        # honest sellers keep two or three accounts of their own; a new store rotating them is
        # another matter
        e.add(
            "many_accounts",
            ramp(raw["unregistered_accounts_used"], 1, 3) * (0.5 + 0.5 * youth),
            f"The store has paid out to {raw['unregistered_accounts_used']:g} accounts other "
            f"than its registered one.",
        )
        # other owners' stores on the same card: a drawer of cards when the card is not the
        # store's own; a family's shared account when it is
        e.add(
            "shared_account",
            log_ramp(raw["shared_account_stores"] + 1, 1, 4)
            * (0.3 if raw["registered_account"] else 1.0),
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
        # two buyers of one household may share a parcel; three cannot, nor can two stores
        e.add(
            "number_reused",
            log_ramp(other_buyers + 1, 1.5, 4),
            f"Order {event.fields['order_id']} was shipped under tracking number {number}, "
            f"already used for {other_buyers:g} other buyer(s).",
        )
        e.add(
            "number_of_other_stores",
            log_ramp(other_stores + 1, 1, 3),
            f"{other_stores:g} other store(s) shipped under the same number.",
        )
        e.add(
            "young_store",
            falling(age_s, 2 * DAY_S, self.settings.young_store_s),
            f"The store opened {describe_duration(age_s)} before this shipment.",
        )
        return raw, inputs, e, longest["sales_cny"], []


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

    def take_note(self) -> dict[str, str] | None:
        return None  # a ring member is flagged at its first act: nothing accumulates

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
            return Verdict(
                self.name,
                "high",
                1.0,
                reasons,
                features,
                action=action,
                extra={"ring_id": link.ring_id, "decided_by": "ring"},
            )
        return None


ALL_DETECTORS = ("price_cut", "withdrawal", "claims", "tracking_reuse", "ring_member")


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
