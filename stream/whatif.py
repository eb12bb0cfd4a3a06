"""`storewatch tune try`: what a tuning change would do, seen on a replayed file before it goes live.

The file is replayed in-process twice, with the current and with the candidate settings, each
with fresh state, and the stores that gain or lose alerts are listed. With labels, the change in
fraud stores caught, honest stores flagged and money held is shown as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.events import parse_ts_s
from stream.replay import ReplayResult, read_lines, replay_in_process


@dataclass
class Outcome:
    """One replay's alerts, seen store by store."""

    flagged: set[str]
    first_alert_ts_s: dict[str, float]

    @classmethod
    def of(cls, result: ReplayResult) -> Outcome:
        first: dict[str, float] = {}
        for alert in result.alerts:
            store, ts_s = str(alert["store_id"]), parse_ts_s(alert["ts"])
            first[store] = min(first.get(store, ts_s), ts_s)
        return cls(set(first), first)


@dataclass
class WhatIfReport:
    current: Outcome
    candidate: Outcome
    labels: dict[str, str] | None = None
    withdrawals: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def gained(self) -> list[str]:
        return sorted(self.candidate.flagged - self.current.flagged)

    @property
    def lost(self) -> list[str]:
        return sorted(self.current.flagged - self.candidate.flagged)

    def legit_alert_rate(self, outcome: Outcome) -> float:
        assert self.labels is not None
        honest = [s for s, label in self.labels.items() if label == "legit"]
        return sum(1 for s in honest if s in outcome.flagged) / max(1, len(honest))

    def money_held(self, outcome: Outcome) -> float:
        """Share of fraud stores' withdrawn value that an alert on the store preceded."""
        assert self.labels is not None
        total = held = 0.0
        for store, label in self.labels.items():
            if label == "legit":
                continue
            first = outcome.first_alert_ts_s.get(store)
            for ts_s, amount in self.withdrawals.get(store, []):
                total += amount
                if first is not None and first <= ts_s:
                    held += amount
        return held / total if total else 1.0

    def _label(self, store: str) -> str:
        return f" ({self.labels.get(store, '?')})" if self.labels else ""

    def render(self) -> str:
        lines = [f"stores flagged: {len(self.current.flagged)} now, "
                 f"{len(self.candidate.flagged)} with the change"]
        lines += [f"  + {store}{self._label(store)}" for store in self.gained]
        lines += [f"  - {store}{self._label(store)}" for store in self.lost]
        if self.labels is not None:
            lines.append(f"legit alert rate: {self.legit_alert_rate(self.current):.3f} -> "
                         f"{self.legit_alert_rate(self.candidate):.3f}")
            lines.append(f"money held:       {self.money_held(self.current):.3f} -> "
                         f"{self.money_held(self.candidate):.3f}")
        return "\n".join(lines)


def fraud_withdrawals(events_path: str | Path, labels: dict[str, str]) -> dict[str, list[tuple[float, float]]]:
    """(event time, amount) of every withdrawal of a store labelled as fraud."""
    out: dict[str, list[tuple[float, float]]] = {}
    for raw in read_lines(events_path):
        event: Any = json.loads(raw)
        if event.get("type") == "withdrawal" and labels.get(event.get("store_id"), "legit") != "legit":
            out.setdefault(event["store_id"], []).append((parse_ts_s(event["ts"]), float(event["amount"])))
    return out


async def compare_settings(
    events_path: str | Path,
    current: Settings,
    candidate: Settings,
    redis_url: str | None = None,
    labels_path: str | Path | None = None,
) -> WhatIfReport:
    """Replay the file with both settings and report the difference."""
    async def run(settings: Settings, url: str) -> Outcome:
        return Outcome.of(await replay_in_process(events_path, settings, url))

    if redis_url:
        now, then = await run(current, redis_url), await run(candidate, redis_url)
    else:
        from stream.embedded import EmbeddedRedis

        with EmbeddedRedis() as redis:
            now, then = await run(current, redis.url), await run(candidate, redis.url)
    report = WhatIfReport(now, then)
    if labels_path:
        report.labels = json.loads(Path(labels_path).read_text())
        report.withdrawals = fraud_withdrawals(events_path, report.labels)
    return report
