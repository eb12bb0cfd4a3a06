"""Alerts: deterministic ids, and the sinks an alert can go to (list, JSONL file, Kafka)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Callable, Protocol

from stream.detectors import Verdict
from stream.events import Alert, Event, format_ts


def alert_id(store_id: str, detector: str, event_id: str) -> str:
    """Same store, detector and triggering event, same id: re-processing never mints a new one.

    >>> alert_id("s1", "price_cut", "p-9")
    'a-2e3d8ab202b01c3f84cd'
    """
    digest = hashlib.sha256(f"{store_id}\x1f{detector}\x1f{event_id}".encode()).hexdigest()
    return f"a-{digest[:20]}"


def wall_clock_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def build_alert(event: Event, verdict: Verdict, clock: Callable[[], str] = wall_clock_iso) -> Alert:
    return Alert(
        alert_id=alert_id(event.store_id, verdict.detector, event.event_id),
        store_id=event.store_id,
        detector=verdict.detector,
        severity=verdict.severity,
        score=verdict.score,
        ts=format_ts(event.ts_s),
        event_id=event.event_id,
        reasons=verdict.reasons,
        features=verdict.features,
        detected_at=clock(),
        extra={"action": verdict.action, **verdict.extra},
    )


class AlertSink(Protocol):
    """Where alerts go. ``send`` returns once the alert is durably written."""

    async def send(self, alert: Alert) -> None: ...


class ListAlertSink:
    """Keeps alerts in memory: for tests and for the replay summary."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


class JsonlAlertSink:
    """Appends one JSON object per line to a file."""

    def __init__(self, path: str | Path) -> None:
        self._handle: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close()

    async def send(self, alert: Alert) -> None:
        self._handle.write(alert.to_json() + b"\n")

    def close(self) -> None:
        self._handle.close()


def read_alerts(path: str | Path) -> list[dict[str, object]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
