"""What every detector shares: the verdict, the protocol, the episode's evidence, the stake
weight, the population model's say and the alert it makes (``EvidenceDetector``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Protocol

from stream.config import DetectorSettings
from stream.core.evidence import Evidence, falling, log_ramp
from stream.core.features import (
    DAY_S,
    Watch,
)
from stream.core.models import ModelVerdict, PopulationModel
from stream.core.records import Event
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


@dataclass(frozen=True, slots=True)
class Decision:
    """What a detector concluded on one event: the alert it raises, if any, and the profile
    fields its store should remember for the next decisions (the episode's evidence so far),
    which the engine writes to the state whether or not there is an alert."""

    verdict: Verdict | None = None
    note: Mapping[str, str] | None = None


NOTHING: Final = Decision()


class Detector(Protocol):
    name: str
    event_types: frozenset[str]
    model: PopulationModel | None  # the population model it learns, if any

    def evaluate(self, event: Event, view: StoreView) -> Decision: ...


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
        self.model: PopulationModel | None = PopulationModel(
            self.name,
            settings,
            None if on_score is None else (lambda verdict: on_score(self.name, verdict)),
        )

    def collect(
        self, event: Event, view: StoreView
    ) -> tuple[dict[str, float], dict[str, float], Evidence, float, list[str]] | None:
        raise NotImplementedError

    def evaluate(self, event: Event, view: StoreView) -> Decision:
        collected = self.collect(event, view)
        if collected is None:
            return NOTHING
        raw, inputs, evidence, stake_cny, context = collected
        s = self.settings
        assert self.model is not None
        model_verdict = self.model.score(inputs)
        # rare in the population is not suspect in a store that has done the same for as long
        # as it was watched (a wholesaler's few big clients): the model speaks of stores that
        # are new, changed, or not yet known, and a fifth as loud of the store's own habits
        familiar = raw.get("own_habit", 0.0)
        if s.use_models and model_verdict.rarer_than(s.model_evidence_tail):
            strength = log_ramp(
                1 / model_verdict.tail_p, 1 / s.model_evidence_tail, 1 / s.model_alert_tail
            )
            evidence.add(
                "model",
                max(strength * (1 - 0.8 * familiar), 0.05),
                f"The population model scores this {self.noun} {model_verdict.score:.2f}: "
                f"about 1 {self.noun} in {model_verdict.one_in():,} scores as high"
                + (
                    "."
                    if familiar < 0.5
                    else ", though the store has behaved so for as long as it was watched."
                ),
            )
        weight = stake_weight(stake_cny, s.min_stake_cny)
        this_decision = evidence.total * weight
        carried = carried_evidence(view.profile, self.name, event.ts_s, s.episode_half_life_s)
        weighed = this_decision + s.episode_carry * min(this_decision, carried)
        note = (
            {episode_key(self.name): f"{weighed:.4f}@{event.ts_s!r}"}
            if weighed >= 0.05 or carried >= 0.05
            else None
        )
        model_alone = (
            s.use_models
            and model_verdict.rarer_than(s.model_alert_tail)
            and stake_cny >= s.model_min_stake_cny
            and familiar < 0.5
        )
        alerting = (weighed >= s.alert_evidence or model_alone) and not in_episode(
            view.profile, (self.name,), event.ts_s, s.alert_episode_s
        )
        if not alerting:
            if not ever_alerted(view.profile):
                self.model.learn(inputs, model_verdict, event.ts_s)
            return Decision(None, note)
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
        verdict = Verdict(
            self.name,
            severity,
            round(min(1.0, weighed / (2 * s.alert_evidence)), 4),
            reasons,
            features,
            action=self.action,
            extra=extra,
        )
        return Decision(verdict, note)

    def population(self, pairs: list[tuple[str, float, str]]) -> list[str]:
        """Sentences placing the named model inputs in the population (rare ones only)."""
        assert self.model is not None
        found = (rarity_sentence(self.model, name, value, what) for name, value, what in pairs)
        return [sentence for sentence in found if sentence][:2]


def youth_of(raw: dict[str, float], young_store_s: float) -> float:
    """1 for a store just opened, 0 once established, scaled by how far its age is trusted."""
    return falling(raw["store_age_s"], 2 * DAY_S, young_store_s) * raw["age_trust"]


ALL_DETECTORS = ("price_cut", "withdrawal", "claims", "tracking_reuse", "ring_member")
