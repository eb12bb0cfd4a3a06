"""Alerts: deterministic ids, and the sinks an alert can go to (list, JSONL file, Kafka)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Protocol

from stream.core.alert_schema import LINKED_STORES_SHOWN
from stream.core.detectors import RING_FACT_KINDS, Verdict, known_ring
from stream.core.records import Alert, Event, format_ts
from stream.core.store_view import StoreView
from stream.state.protocol import StateStore


def alert_id(store_id: str, detector: str, event_id: str) -> str:
    """Same store, detector and triggering event, same id: re-processing never mints a new one.

    >>> alert_id("s1", "price_cut", "p-9")
    'a-2e3d8ab202b01c3f84cd'
    """
    digest = hashlib.sha256(f"{store_id}\x1f{detector}\x1f{event_id}".encode()).hexdigest()
    return f"a-{digest[:20]}"


def new_ring_id(store_id: str) -> str:
    """The id of a ring first seen through ``store_id``: deterministic, so a replay or a
    second worker names it the same.

    >>> new_ring_id("s1")
    'r-e8bc163c82'
    """
    return f"r-{hashlib.sha256(store_id.encode()).hexdigest()[:10]}"


async def tie_to_ring(
    state: StateStore, event: Event, view: StoreView, verdict: Verdict
) -> Verdict:
    """Record the alert (episode, ring) and return the verdict with its ring and linked stores.

    The ring is the one a fact of the event or the store itself was tied to by an earlier
    alert, or a new one named after this store; linked stores are the ring's alerted members
    and the stores that share a fact with this event.
    """
    ring_id = str(verdict.extra.get("ring_id") or known_ring(view) or new_ring_id(event.store_id))
    # only facts that carry ring marks are tied: a claimant is an honest shopper as often as not
    ring_facts = [link for link in view.links.values() if link.kind in RING_FACT_KINDS]
    members = await state.mark_alert(
        event.store_id, verdict.detector, event.ts_s, ring_id, ring_facts
    )
    for link in ring_facts:
        members |= link.other_stores(event.store_id)
    linked = sorted(members - {event.store_id})
    # a ring of one is no finding: the alert names a ring only once it links other stores
    extra = {**verdict.extra, "linked_stores": linked[:LINKED_STORES_SHOWN]}
    if linked:
        extra["ring_id"] = ring_id
    reasons = verdict.reasons
    if linked:
        shown = ", ".join(linked[:5]) + (f" and {len(linked) - 5} more" if len(linked) > 5 else "")
        reasons = [*reasons, f"Ring {ring_id} links it to {len(linked)} store(s): {shown}."]
    return replace(verdict, reasons=reasons, extra=extra)


def wall_clock_iso() -> str:
    """Now, in the contract's timestamp form (the one formatter: ``events.format_ts``)."""
    return format_ts(time.time())


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
