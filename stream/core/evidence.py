"""Graded evidence: signals that grow with how far a behaviour goes, summed into one weight.

A rule written as ``share >= 0.9`` is a cliff: fraud that pays out 85% walks under it, and an
honest store at 0.91 falls off it. Here every rule is a *signal* whose strength ramps from 0 at
a value honest stores commonly reach to 1 at a value they rarely do, so a behaviour 5% short of
the top of the ramp still counts almost fully. A detector adds its signals, each times a weight
saying how much it alone says about fraud; an alert needs the sum to cross a line, so one
middling oddity never alerts, and several together do. Pure arithmetic, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


def ramp(value: float, low: float, high: float) -> float:
    """0 at or below ``low``, 1 at or above ``high``, linear between.

    >>> ramp(0.5, 0.5, 1.0), ramp(0.75, 0.5, 1.0), ramp(2.0, 0.5, 1.0)
    (0.0, 0.5, 1.0)
    """
    if value <= low:
        return 0.0
    if value >= high:
        return 1.0
    return (value - low) / (high - low)


def log_ramp(value: float, low: float, high: float) -> float:
    """``ramp`` on a log scale, for quantities that vary by orders of magnitude (money, counts,
    ratios of a rate to its baseline): each doubling adds about the same strength.

    >>> log_ramp(10.0, 1.0, 100.0), log_ramp(0.0, 1.0, 100.0)
    (0.5, 0.0)
    """
    if value <= low or low <= 0:
        return 0.0 if value <= max(low, 0.0) else ramp(value, low, high)
    return ramp(math.log(value), math.log(low), math.log(high))


def falling(value: float, near: float, far: float) -> float:
    """1 at or below ``near``, 0 at or beyond ``far``: how *soon* (or how *young*) something is.

    >>> falling(600.0, 3600.0, 86400.0), falling(86400.0, 3600.0, 86400.0)
    (1.0, 0.0)
    """
    return 1.0 - ramp(value, near, far)


@dataclass(frozen=True, slots=True)
class Signal:
    """One piece of evidence: its strength in [0, 1], how much it weighs, and the sentence an
    analyst reads (with the numbers behind it)."""

    name: str
    strength: float
    weight: float
    sentence: str

    @property
    def contribution(self) -> float:
        return self.strength * self.weight


@dataclass(slots=True)
class Evidence:
    """The signals one decision collected, weighed by ``weights`` (signal name -> weight, the
    detector's table); ``total`` is what the alert line is compared with."""

    weights: Mapping[str, float]
    signals: list[Signal] = field(default_factory=list)

    def add(self, name: str, strength: float, sentence: str) -> None:
        """Keep a signal that has any strength (a zero one explains nothing)."""
        if strength > 0:
            self.signals.append(Signal(name, min(1.0, strength), self.weights[name], sentence))

    @property
    def total(self) -> float:
        return sum(signal.contribution for signal in self.signals)

    def strongest(self, count: int = 4) -> list[Signal]:
        """The signals that contributed most, strongest first: what an analyst reads first."""
        return sorted(self.signals, key=lambda s: s.contribution, reverse=True)[:count]

    def contributions(self) -> dict[str, float]:
        """Each signal's share of the total, rounded, for the alert's features."""
        return {f"evidence_{s.name}": round(s.contribution, 3) for s in self.signals}
