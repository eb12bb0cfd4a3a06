"""The records that cross the core's edge: a validated input Event, an output Alert, the error
that refuses a message, and the contract's timestamp form."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stream.core.contract import SCHEMA_VERSION


class InvalidEventError(ValueError):
    """An input message that cannot become an Event: dead-lettered and counted, never retried.

    ``reason`` is a short stable code (a metric label); the message says what was expected and
    what arrived.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"invalid event ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Event:
    """A validated input event. ``ts_s`` is its event time in epoch seconds (UTC)."""

    type: str
    event_id: str
    store_id: str
    ts_s: float
    fields: dict[str, Any]

    def money(self, name: str) -> float:
        return float(self.fields[name])


@dataclass(frozen=True, slots=True)
class Alert:
    """A verdict that a store behaves like a fraud scheme, with the numbers that say why.

    ``alert_id`` depends only on the store, the detector and the triggering event, so a
    re-processed event yields the same id and downstream readers can drop duplicates.
    """

    alert_id: str
    store_id: str
    detector: str
    severity: str
    score: float
    ts: str
    event_id: str
    reasons: list[str]
    features: dict[str, float]
    detected_at: str
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "alert_id": self.alert_id,
            "store_id": self.store_id,
            "detector": self.detector,
            "severity": self.severity,
            "score": self.score,
            "ts": self.ts,
            "event_id": self.event_id,
            "reasons": list(self.reasons),
            "features": dict(self.features),
            "detected_at": self.detected_at,
            "schema_version": self.schema_version,
        }
        data.update(self.extra)
        return data

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()


def format_ts(ts_s: float) -> str:
    """ISO 8601 UTC with milliseconds, the contract's form.

    >>> format_ts(1709294400.0)
    '2024-03-01T12:00:00.000Z'
    """
    return datetime.fromtimestamp(ts_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event_to_dict(event: Event) -> dict[str, Any]:
    """The contract's JSON object for an Event (ts in ISO form)."""
    return {
        "type": event.type,
        "event_id": event.event_id,
        "ts": format_ts(event.ts_s),
        "store_id": event.store_id,
        **event.fields,
    }
