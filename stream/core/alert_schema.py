"""JSON Schema of the alerts Storewatch publishes: every field an alert carries, and no other.

Closed (``additionalProperties: false``) on purpose: a detector that starts writing a new
field into its alerts fails the test that validates the alerts of a replay against this
schema, so consumers never meet a field the published schema does not describe.
"""

from __future__ import annotations

from typing import Any

from stream.core.contract import SCHEMA_VERSION, SEVERITIES

# Linked stores an alert names at most (the ring may be larger; reasons give its size).
LINKED_STORES_SHOWN = 20
ACTIONS = ("hold_payout", "suspend_price_protection", "review")
DECIDERS = ("rules", "model", "rules and model", "ring")


def alert_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one alert on the alert topic or in an alerts file."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://storewatch.example/schemas/alert.schema.json",
        "title": "Storewatch alert",
        "type": "object",
        "required": [
            "alert_id",
            "store_id",
            "detector",
            "severity",
            "score",
            "ts",
            "event_id",
            "reasons",
            "features",
            "detected_at",
            "schema_version",
            "action",
            "linked_stores",
        ],
        "additionalProperties": False,
        "properties": {
            "alert_id": {
                "type": "string",
                "description": "Deterministic from store, detector "
                "and triggering event: a re-processed event yields the same id.",
            },
            "store_id": {"type": "string"},
            "detector": {"type": "string", "description": "Which detector fired, e.g. price_cut."},
            "severity": {"enum": list(SEVERITIES)},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "ts": {"type": "string", "description": "Event time of the triggering event."},
            "event_id": {"type": "string", "description": "The triggering event."},
            "reasons": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "Sentences with the numbers that triggered the alert.",
            },
            "features": {"type": "object", "additionalProperties": {"type": "number"}},
            "detected_at": {"type": "string", "description": "Wall-clock time of the decision."},
            "schema_version": {"const": SCHEMA_VERSION},
            "action": {"enum": list(ACTIONS), "description": "What the platform can do at once."},
            "linked_stores": {
                "type": "array",
                "items": {"type": "string"},
                "uniqueItems": True,
                "maxItems": LINKED_STORES_SHOWN,
                "description": "Other stores of the alert's ring, or sharing a payout account or "
                "tracking number with the triggering event (sorted; at most "
                f"{LINKED_STORES_SHOWN}). Empty when the store stands alone.",
            },
            "ring_id": {
                "type": "string",
                "description": "The ring the store belongs to; "
                "present whenever linked_stores is not empty.",
            },
            "decided_by": {
                "enum": list(DECIDERS),
                "description": "Whether the rules, the population model, both, or "
                "a ring already alerted decided the alert.",
            },
            "stake_cny": {
                "type": "number",
                "minimum": 0,
                "description": "Money at stake in the triggering event, CNY.",
            },
            "model_warm": {
                "type": "boolean",
                "description": "Whether the detector's "
                "population model had learnt enough to speak.",
            },
            "bank_account": {
                "type": "string",
                "description": "Payout account of a withdrawal "
                "alert, in full (reasons show it masked).",
            },
        },
        "if": {"properties": {"linked_stores": {"minItems": 1}}},
        "then": {"required": ["ring_id"]},
    }
