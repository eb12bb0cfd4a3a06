"""The published alert schema describes every alert a replay raises, field by field."""

from __future__ import annotations

import asyncio
from typing import Any

import jsonschema
import pytest

from stream.config import Settings
from stream.core.alert_schema import alert_json_schema
from stream.tools.replay import replay_in_process
from stream.tools.simulate import simulate, write_events


@pytest.fixture(scope="module")
def replayed_alerts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = tmp_path_factory.mktemp("market") / "events.jsonl"
    write_events(path, simulate(stores=120, days=8, seed=11).events)
    result = asyncio.run(replay_in_process(path, Settings(), None, state_backend="memory"))
    return result.alerts


def test_every_alert_of_a_replay_is_valid_against_the_published_schema(
    replayed_alerts: list[dict[str, Any]],
) -> None:
    assert len(replayed_alerts) >= 5, "the marketplace should raise alerts"
    assert any(alert["linked_stores"] for alert in replayed_alerts), "and some of rings"
    validator = jsonschema.Draft202012Validator(alert_json_schema())
    problems = [
        f"{alert['alert_id']}: {error.message}"
        for alert in replayed_alerts
        for error in validator.iter_errors(alert)
    ]
    assert problems == []


def test_the_schema_names_ring_and_linked_stores_and_requires_the_ring_of_a_linked_alert() -> None:
    schema = alert_json_schema()
    assert "linked_stores" in schema["required"] and "ring_id" in schema["properties"]
    validator = jsonschema.Draft202012Validator(schema)
    alert = {
        "alert_id": "a-1",
        "store_id": "s1",
        "detector": "withdrawal",
        "severity": "high",
        "score": 0.9,
        "ts": "2024-03-01T00:00:00.000Z",
        "event_id": "w-1",
        "reasons": ["why"],
        "features": {},
        "detected_at": "2024-03-01T00:00:01.000Z",
        "schema_version": schema["properties"]["schema_version"]["const"],
        "action": "hold_payout",
        "linked_stores": ["s2"],
    }
    assert not validator.is_valid(alert), "a linked alert without its ring"
    assert validator.is_valid({**alert, "ring_id": "r-1"})
    assert not validator.is_valid({**alert, "ring_id": "r-1", "surprise": 1}), "a field unknown"
