"""JSON Schema (2020-12) of the input events, derived from the contract's field tables."""

from __future__ import annotations

from typing import Any

from stream.core.contract import (
    COMMON_FIELDS,
    FIELDS_BY_TYPE,
    MAX_AMOUNT_CNY,
    MAX_ID_CHARS,
    MAX_QUANTITY,
    MAX_TEXT_CHARS,
    MIN_TS_S,
    FieldSpec,
)


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.kind in ("id", "text"):
        limit = MAX_ID_CHARS if spec.kind == "id" else MAX_TEXT_CHARS
        schema = {"type": "string", "minLength": 1, "maxLength": limit}
        if spec.choices:
            schema["enum"] = list(spec.choices)
    elif spec.kind == "count":
        schema = {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY}
    else:
        schema = {"type": "number", "minimum": 0, "maximum": MAX_AMOUNT_CNY}
    if spec.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if spec.description:
        schema["description"] = spec.description
    return schema


def event_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the input contract, derived from the field tables."""
    ts_schema = {
        "description": "Event time: ISO 8601 UTC with Z (2024-03-01T12:00:00.000Z) or epoch seconds.",
        "anyOf": [
            {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$"},
            {"type": "number", "minimum": MIN_TS_S},
        ],
    }
    variants = []
    for event_type, specs in FIELDS_BY_TYPE.items():
        all_specs = COMMON_FIELDS + specs
        properties: dict[str, Any] = {"type": {"const": event_type}, "ts": ts_schema}
        properties.update({spec.name: _field_schema(spec) for spec in all_specs})
        required = ["type", "ts"] + [spec.name for spec in all_specs if not spec.nullable]
        variants.append(
            {
                "title": event_type,
                "type": "object",
                "properties": properties,
                "required": required,
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://storewatch.example/schemas/event.schema.json",
        "title": "Storewatch input event",
        "description": "One JSON object per Kafka message (and per line of a .jsonl file). "
        "Unknown extra fields are allowed and ignored.",
        "oneOf": variants,
    }
