"""Decoding an input message into an Event: the usual valid event in one msgspec pass, anything
else through the full checks of ``stream.core.checks``, which alone decide what is refused and why.

Faust's own ``Record`` classes are not used for input: the agents consume raw bytes so that a
bad message can be dead-lettered with its original bytes and reason instead of failing inside
Faust's deserializer, which would ack and lose it.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Union

import msgspec

from stream.core.checks import parse_event_checked, parse_ts_s
from stream.core.contract import (
    COMMON_FIELDS,
    FIELDS_BY_TYPE,
    MAX_AMOUNT_CNY,
    MAX_EVENT_BYTES,
    MAX_ID_CHARS,
    MAX_QUANTITY,
    MAX_TEXT_CHARS,
    FieldSpec,
)
from stream.core.records import Event, InvalidEventError

__all__ = ["parse_event"]


# The usual valid event, decoded and validated in one C pass: one msgspec Struct per event type,
# derived from the field tables like everything else, whose constraints accept a subset of
# what the full checks accept, with the same values (money as float, counts as exact ints,
# an absent nullable field as None). Anything msgspec refuses (bad JSON, a wrong type, a count
# written 2.0, a duplicate type key, a BOM) goes through the full checks, which decode it
# with ``json.loads``, convert what they may and word the refusal: the reasons and their
# wording are those of the full checks alone. A Struct ignores unknown fields, as the contract does.
_COMMON_NAMES: Final = ("event_id", "store_id", "ts")


def _typed_field(spec: FieldSpec) -> tuple[str, Any] | tuple[str, Any, Any]:
    kind: Any
    if spec.kind in ("id", "text"):
        limit = MAX_ID_CHARS if spec.kind == "id" else MAX_TEXT_CHARS
        kind = (
            Literal[spec.choices]
            if spec.choices
            else Annotated[str, msgspec.Meta(min_length=1, max_length=limit)]
        )
    elif spec.kind == "count":
        kind = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
    elif spec.kind == "money":
        kind = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_AMOUNT_CNY)]
    else:  # a kind the fast path does not know fails here, at import, rather than pass unchecked
        raise ValueError(f"field {spec.name!r} has kind {spec.kind!r}, which the decoder lacks")
    return (spec.name, kind | None, None) if spec.nullable else (spec.name, kind)


def _typed_struct(event_type: str, specs: tuple[FieldSpec, ...]) -> type[msgspec.Struct]:
    # the type's own fields first, in contract order, then the common ones: ``asdict`` then
    # gives the Event's fields in the order the full checks give them, after three pops
    own = [_typed_field(spec) for spec in specs]
    common = [_typed_field(spec) for spec in COMMON_FIELDS] + [("ts", str | int | float)]
    return msgspec.defstruct(
        f"Typed{event_type.title()}", own + common, kw_only=True, tag_field="type", tag=event_type
    )


_TYPED_STRUCTS: Final = tuple(_typed_struct(t, specs) for t, specs in FIELDS_BY_TYPE.items())
_TYPED_DECODER: Final = msgspec.json.Decoder(Union[_TYPED_STRUCTS])  # noqa: UP007 (a runtime tuple of types)
_as_dict: Final = msgspec.structs.asdict


def parse_event(raw: bytes | str) -> Event:
    """Decode and validate one message; raise InvalidEventError saying why it is refused.

    The usual valid event costs one msgspec decode; anything else goes through
    ``parse_event_checked``, which decides alone what is refused and why.
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEventError("oversize", f"{len(raw)} bytes, the limit is {MAX_EVENT_BYTES}")
    try:
        typed = _TYPED_DECODER.decode(raw)
    except (msgspec.MsgspecError, ValueError, RecursionError):  # bad UTF-8 is a ValueError
        return parse_event_checked(raw)
    fields = _as_dict(typed)
    ts = fields.pop("ts")
    store_id = fields.pop("store_id")
    event_id = fields.pop("event_id")
    return Event(typed.__struct_config__.tag, event_id, store_id, parse_ts_s(ts), fields)
