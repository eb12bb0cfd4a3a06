"""Analysts' verdicts on alerts: one record per alert on a compacted topic, the latest wins.

Keyed by alert id, so a verdict changed later ("legit after all") replaces the earlier one
once the topic is compacted, and a reader keeps the last record of each key meanwhile.
``storewatch evaluate --labels-topic`` reads them as store labels: a store is ``fraud`` when
its latest verdict says so, ``legit`` otherwise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final

from stream.config import Settings

VERDICTS: Final = ("fraud", "legit")
ANALYST_DETAIL: Final = "analyst"  # the variant or habit of a label that came from an analyst


@dataclass(frozen=True, slots=True)
class Label:
    """Who said what of which alert, and when (UTC, ISO 8601)."""

    alert_id: str
    store_id: str
    verdict: str
    who: str
    at: str
    note: str = ""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Label:
        """A label record, or ValueError saying why it is not one."""
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("verdict") not in VERDICTS:
            raise ValueError(f"not a label record: {raw[:120]!r}")
        return cls(
            str(data["alert_id"]),
            str(data["store_id"]),
            str(data["verdict"]),
            str(data.get("who", "")),
            str(data.get("at", "")),
            str(data.get("note", "")),
        )


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def publish_label(settings: Settings, label: Label) -> None:
    """Write a label keyed by its alert id and wait for the broker's acknowledgement."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        **settings.kafka_security.aiokafka_options(),
    )
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    try:
        await producer.send_and_wait(
            settings.topics.labels, label.to_json(), key=label.alert_id.encode()
        )
    finally:
        await producer.stop()


async def latest_labels(settings: Settings) -> dict[str, Label]:
    """The latest label of every alert on the labels topic; records that are not labels are
    skipped."""
    from stream.runtime.topic_reader import read_records

    latest: dict[str, Label] = {}
    async for record in read_records(settings, settings.topics.labels):
        try:
            label = Label.from_json(record.value)
        except (ValueError, KeyError, TypeError):
            continue
        latest[label.alert_id] = label
    return latest


def store_labels(labels: dict[str, Label]) -> dict[str, str]:
    """Store id -> ``fraud/analyst`` or ``legit/analyst``, from each store's latest verdict,
    in the form ``storewatch evaluate`` reads.

    >>> a = Label("a-1", "s1", "fraud", "ana", "2026-01-01T00:00:00.000Z")
    >>> b = Label("a-2", "s1", "legit", "bo", "2026-01-02T00:00:00.000Z")
    >>> store_labels({"a-1": a, "a-2": b})
    {'s1': 'legit/analyst'}
    """
    latest: dict[str, Label] = {}
    for label in sorted(labels.values(), key=lambda label: label.at):
        latest[label.store_id] = label
    return {store: f"{label.verdict}/{ANALYST_DETAIL}" for store, label in sorted(latest.items())}


def label_summary(label: Label) -> dict[str, Any]:
    return asdict(label)
