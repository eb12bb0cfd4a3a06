"""River online models that learn the population of stores from the stream itself.

One global model per detector (not one per store): a store opened a minute ago has no history
of its own, but its store-relative features can be compared with every store seen so far.
HalfSpaceTrees scores are not calibrated, so a score is compared with a running quantile of the
scores the model has given, which turns "anomalous" into "rarer than q of the population".
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass

import river
from river import anomaly, stats

from stream.config import DetectorSettings

SNAPSHOT_FORMAT = 1


class SnapshotVersionError(RuntimeError):
    """A model snapshot written by another River version or for another model shape: River
    pickles do not load across minor versions, and trees of another shape would silently
    override the configuration, so the model starts fresh instead."""


@dataclass(frozen=True, slots=True)
class ModelVerdict:
    """A model's opinion of one observation."""

    score: float
    threshold: float
    warm: bool
    seen: int

    @property
    def anomalous(self) -> bool:
        return self.warm and self.score >= self.threshold


class OnlineAnomalyModel:
    """HalfSpaceTrees plus a running score quantile; scores first, then learns (prequential).

    Until it has seen ``window_size`` observations the trees hold no mass and score 0, so the
    model reports itself cold and the detector must not lean on it.
    """

    def __init__(self, name: str, settings: DetectorSettings,
                 on_score: Callable[[ModelVerdict], None] | None = None) -> None:
        self.name = name
        self._on_score = on_score
        self.window_size = settings.model_window_size
        self.quantile = settings.model_quantile
        self._trees = anomaly.HalfSpaceTrees(
            n_trees=settings.model_trees,
            height=settings.model_height,
            window_size=settings.model_window_size,
            seed=settings.model_seed,
        )
        self._scores = stats.Quantile(settings.model_quantile)
        self.seen = 0
        self._shape = (settings.model_trees, settings.model_height, settings.model_window_size,
                       settings.model_seed, settings.model_quantile)

    def score_and_learn(self, features: dict[str, float]) -> ModelVerdict:
        score = float(self._trees.score_one(features))
        warm = self.seen >= 2 * self.window_size
        threshold = self._scores.get() if warm else 1.0
        self._trees.learn_one(features)
        if self.seen >= self.window_size:
            self._scores.update(score)
        self.seen += 1
        verdict = ModelVerdict(score, float(threshold or 1.0), warm, self.seen)
        if self._on_score:
            self._on_score(verdict)
        return verdict

    def snapshot(self) -> bytes:
        """The model's state, tagged with River's version."""
        state = {"format": SNAPSHOT_FORMAT, "river": river.__version__, "name": self.name,
                 "shape": self._shape, "trees": self._trees, "scores": self._scores,
                 "seen": self.seen}
        return pickle.dumps(state)

    def restore(self, data: bytes) -> None:
        """Load a snapshot of this model; refuse one from another River version or shape."""
        state = pickle.loads(data)  # noqa: S301 - our own snapshots, from our own Redis
        if state.get("river") != river.__version__ or state.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotVersionError(
                f"snapshot of {self.name!r} was written by River {state.get('river')}, "
                f"this is River {river.__version__}"
            )
        if tuple(state.get("shape", ())) != self._shape:
            raise SnapshotVersionError(
                f"snapshot of {self.name!r} has shape (trees, height, window, seed, quantile) "
                f"{state.get('shape')}, this model {self._shape}"
            )
        self._trees, self._scores, self.seen = state["trees"], state["scores"], state["seen"]
