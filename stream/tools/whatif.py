"""`storewatch tune try`: what a tuning change would do, seen on a replayed file before it goes live.

The file is replayed in-process twice, with the current and with the candidate settings, each
with fresh state, and the stores that gain or lose alerts are listed. With labels, the change in
money held and legit alert rate (as `storewatch evaluate` computes them) is shown as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stream.config import Settings
from stream.tools.evaluate import Report, evaluate, read_jsonl
from stream.tools.replay import ReplayResult, replay_in_process


@dataclass
class WhatIfReport:
    current: ReplayResult
    candidate: ReplayResult
    labels: dict[str, str] | None = None
    current_report: Report | None = None
    candidate_report: Report | None = None

    @property
    def gained(self) -> list[str]:
        return sorted(self.candidate.flagged_stores() - self.current.flagged_stores())

    @property
    def lost(self) -> list[str]:
        return sorted(self.current.flagged_stores() - self.candidate.flagged_stores())

    def _label(self, store: str) -> str:
        return f" ({self.labels.get(store, '?')})" if self.labels else ""

    def render(self) -> str:
        lines = [
            f"stores flagged: {len(self.current.flagged_stores())} now, "
            f"{len(self.candidate.flagged_stores())} with the change"
        ]
        lines += [f"  + {store}{self._label(store)}" for store in self.gained]
        lines += [f"  - {store}{self._label(store)}" for store in self.lost]
        if self.current_report and self.candidate_report:
            now, then = self.current_report, self.candidate_report
            lines.append(
                f"legit alert rate: {now.legit_alert_rate:.4f} -> {then.legit_alert_rate:.4f}"
            )
            lines.append(
                f"money held:       {now.overall.money_held:.4f} -> "
                f"{then.overall.money_held:.4f}"
            )
        return "\n".join(lines)


async def compare_settings(
    events_path: str | Path,
    current: Settings,
    candidate: Settings,
    redis_url: str | None = None,
    labels_path: str | Path | None = None,
) -> WhatIfReport:
    """Replay the file with both settings and report the difference."""
    if redis_url:
        now = await replay_in_process(events_path, current, redis_url)
        then = await replay_in_process(events_path, candidate, redis_url)
    else:
        from stream.tools.embedded import EmbeddedRedis

        with EmbeddedRedis() as redis:
            now = await replay_in_process(events_path, current, redis.url)
            then = await replay_in_process(events_path, candidate, redis.url)
    report = WhatIfReport(now, then)
    if labels_path:
        labels: dict[str, str] = json.loads(Path(labels_path).read_text())
        report.labels = labels
        report.current_report = evaluate(read_jsonl(events_path), labels, now.alerts)
        report.candidate_report = evaluate(read_jsonl(events_path), labels, then.alerts)
    return report
