"""River population models that speak for themselves: a score, and how rare that score is.

One global model per decision point (a withdrawal, a price cut, a claim), not one per store: a
store opened a minute ago has no history of its own, but its store-relative features (shares,
ratios, ages) can be compared with every store seen so far.

HalfSpaceTrees scores are not calibrated (their scale depends on the trees and the data), so
each model keeps a *tail estimator*: a histogram of the scores it gave, decayed in event time
with a half-life of days. ``tail_p`` is the share of recent decisions that scored at least as
high, so "1 in 2,000" means the same on any data. The same estimator, per feature, says where
one value sits in the population ("1 store in 300 pays out this fast"), for the analyst.

The model scores first, then the detector decides, then the model learns, and only from stores
that were not alerted: fraud must not teach the model that fraud is normal.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass

import river
from river import anomaly

from stream.config import DetectorSettings

SNAPSHOT_FORMAT = 2
RIVER_VERSION: str = getattr(river, "__version__", "unknown")  # snapshots name it
SCORE_BINS = 400  # HalfSpaceTrees scores lie in [0, 1]: steps of 0.0025
FEATURE_BINS = 50  # model inputs lie in [0, 1]: steps of 0.02
TIE_MARGIN = 0.02
RESCALE_AT = 2.0**60  # decay weights grow with event time; renormalised before they overflow


class SnapshotVersionError(RuntimeError):
    """A model snapshot written by another River version or for another model shape: River
    pickles do not load across minor versions, and trees of another shape would silently
    override the configuration, so the model starts fresh instead."""


class TailEstimator:
    """A histogram over [0, 1] whose counts halve every ``half_life_s`` of event time.

    Recent traffic counts fully and last month's barely, so the population it describes moves
    with the marketplace. Instead of decaying every bin at every add, each add weighs
    ``2 ** (ts / half_life)``: the ratio of any two weights is their decay, and the histogram is
    renormalised when the weights grow large.

    >>> tail = TailEstimator(bins=10, half_life_s=86400.0)
    >>> for i in range(100):
    ...     tail.add(i / 100, ts_s=0.0)
    >>> round(tail.tail_p(0.95), 3), round(tail.tail_p(0.0), 3)
    (0.109, 1.0)
    """

    __slots__ = ("bins", "half_life_s", "counts", "total", "origin_ts_s", "last_weight")

    def __init__(self, bins: int, half_life_s: float) -> None:
        self.bins = bins
        self.half_life_s = half_life_s
        self.counts = [0.0] * bins
        self.total = 0.0
        self.origin_ts_s: float | None = None
        self.last_weight = 0.0

    def _bin(self, value: float) -> int:
        return min(self.bins - 1, max(0, int(value * self.bins)))

    def _weight(self, ts_s: float) -> float:
        if self.origin_ts_s is None:
            self.origin_ts_s = ts_s
        weight = float(2.0 ** ((ts_s - self.origin_ts_s) / self.half_life_s))
        if weight > RESCALE_AT:
            self.counts = [c / weight for c in self.counts]
            self.total /= weight
            self.origin_ts_s = ts_s
            weight = 1.0
        self.last_weight = weight
        return weight

    def add(self, value: float, ts_s: float) -> None:
        weight = self._weight(ts_s)
        self.counts[self._bin(value)] += weight
        self.total += weight

    def tail_p(self, value: float) -> float:
        """Share of the population at or above ``value``, one pseudo-observation added so an
        unseen extreme reads as "rarer than all N", never as impossible."""
        if self.total <= 0:
            return 1.0
        above = sum(self.counts[self._bin(value) :])
        return min(1.0, (above + self.last_weight) / (self.total + self.last_weight))

    @property
    def effective_n(self) -> float:
        """How many recent observations the histogram stands for (the latest weighs 1)."""
        return self.total / self.last_weight if self.last_weight > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ModelVerdict:
    """A model's opinion of one decision: its raw score, the share of the population that
    scores as high (``tail_p``), and whether it has seen enough to be asked."""

    score: float
    tail_p: float
    warm: bool
    seen: int

    def rarer_than(self, tail_p: float) -> bool:
        return self.warm and self.tail_p <= tail_p

    def one_in(self) -> int:
        """``tail_p`` as an analyst reads it: "1 decision in N scores this high"."""
        return max(1, round(1 / self.tail_p)) if self.tail_p > 0 else 0


class PopulationModel:
    """HalfSpaceTrees over a detector's [0, 1] features, with calibrated tails.

    Until it has seen ``window_size`` observations the trees hold no mass and score 0, and
    until ``min_population`` scores fill its tail the rarity of a score means little: the model
    reports itself cold and the detector must not lean on it.
    """

    def __init__(
        self,
        name: str,
        settings: DetectorSettings,
        on_score: Callable[[ModelVerdict], None] | None = None,
    ) -> None:
        self.name = name
        self._on_score = on_score
        self.window_size = settings.model_window_size
        self.min_population = settings.model_min_population
        self._trees = anomaly.HalfSpaceTrees(
            n_trees=settings.model_trees,
            height=settings.model_height,
            window_size=settings.model_window_size,
            seed=settings.model_seed,
        )
        self.half_life_s = settings.model_half_life_s
        self._scores = TailEstimator(SCORE_BINS, self.half_life_s)
        self._features: dict[str, TailEstimator] = {}
        self.seen = 0
        self.learnt = 0
        self._shape = (
            settings.model_trees,
            settings.model_height,
            settings.model_window_size,
            settings.model_seed,
        )

    def score(self, features: dict[str, float]) -> ModelVerdict:
        """How unusual ``features`` are among the stores learnt so far (nothing is learnt)."""
        score = 0.0
        if self.learnt >= self.window_size:
            score = float(self._trees.score_one(features))  # type: ignore[no-untyped-call]
        warm = (
            self.learnt >= 2 * self.window_size
            and self._scores.total > 0
            and self.learnt >= self.min_population
        )
        # a score within TIE_MARGIN of the population's counts as tied with it: where most
        # decisions score the same (every fresh tracking number), a hair above is not rare
        tail_p = self._scores.tail_p(score - TIE_MARGIN) if warm else 1.0
        verdict = ModelVerdict(score, tail_p, warm, self.seen)
        self.seen += 1
        if self._on_score:
            self._on_score(verdict)
        return verdict

    def learn(self, features: dict[str, float], verdict: ModelVerdict, ts_s: float) -> None:
        """Teach the population one decision that raised no alert."""
        self._trees.learn_one(features)  # type: ignore[no-untyped-call]
        self.learnt += 1
        if self.learnt > self.window_size:
            self._scores.add(verdict.score, ts_s)
        for name, value in features.items():
            tail = self._features.get(name)
            if tail is None:
                tail = self._features[name] = TailEstimator(FEATURE_BINS, self.half_life_s)
            tail.add(value, ts_s)

    def feature_tail(self, name: str, value: float) -> float | None:
        """Share of learnt decisions whose ``name`` was at least ``value``; None while the
        population is too small to say."""
        tail = self._features.get(name)
        if tail is None or self.learnt < self.min_population:
            return None
        return tail.tail_p(value)

    def snapshot(self) -> bytes:
        """The model's state, tagged with River's version."""
        state = {
            "format": SNAPSHOT_FORMAT,
            "river": RIVER_VERSION,
            "name": self.name,
            "shape": self._shape,
            "trees": self._trees,
            "scores": self._scores,
            "features": self._features,
            "seen": self.seen,
            "learnt": self.learnt,
        }
        return pickle.dumps(state)

    def restore(self, data: bytes) -> None:
        """Load a snapshot of this model; refuse one from another River version or shape."""
        state = pickle.loads(data)
        if state.get("river") != RIVER_VERSION or state.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotVersionError(
                f"snapshot of {self.name!r} was written by River {state.get('river')} "
                f"(format {state.get('format')}), this is River {RIVER_VERSION} "
                f"(format {SNAPSHOT_FORMAT})"
            )
        if tuple(state.get("shape", ())) != self._shape:
            raise SnapshotVersionError(
                f"snapshot of {self.name!r} has shape (trees, height, window, seed) "
                f"{state.get('shape')}, this model {self._shape}"
            )
        self._trees, self._scores = state["trees"], state["scores"]
        self._features, self.seen, self.learnt = state["features"], state["seen"], state["learnt"]
