"""The input contract: what is accepted, what is refused and why, and the published schemas."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from stream.core.alert_schema import alert_json_schema
from stream.core.checks import (
    _checked_event,
    _checked_ts_s,
    _decode_json,
    _refuse_constant,
    event_from_dict,
    parse_event_checked,
    parse_ts_s,
)
from stream.core.contract import MAX_ID_CHARS, MAX_TEXT_CHARS
from stream.core.event_schema import event_json_schema
from stream.core.events import parse_event
from stream.core.records import Event, InvalidEventError, event_to_dict
from tests.helpers import factories as f
from tests.helpers.factories import T0

GOOD_EVENTS = [
    f.store("s1", T0),
    f.order("s1", T0),
    f.order("s1", T0, status="shipped"),
    f.price("s1", T0, old=10.0, new=5.0),
    f.refund("s1", T0, amount=3.5, reason="return"),
    f.withdrawal("s1", T0, amount=100.0),
]


def mutate(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(event)
    for key, value in changes.items():
        if value is ...:
            out.pop(key)
        else:
            out[key] = value
    return out


BAD_EVENTS: list[tuple[str, bytes]] = [
    ("not_json", b"{not json"),
    ("not_object", b"[1, 2]"),
    ("unknown_type", f.raw(mutate(f.order("s1", T0), type="coupon"))),
    ("missing_field", f.raw(mutate(f.order("s1", T0), sku=...))),
    ("missing_field", f.raw(mutate(f.withdrawal("s1", T0, 1.0), store_id=...))),
    ("wrong_type", f.raw(mutate(f.order("s1", T0), quantity="two"))),
    ("wrong_type", f.raw(mutate(f.withdrawal("s1", T0, 1.0), amount=True))),
    (
        "not_finite",
        b'{"type":"withdrawal","event_id":"w","ts":1709251200,"store_id":"s",'
        b'"withdrawal_id":"w","amount":NaN,"bank_account":"b"}',
    ),
    ("bad_amount", f.raw(mutate(f.withdrawal("s1", T0, 1.0), amount=-5))),
    ("bad_amount", f.raw(mutate(f.order("s1", T0), quantity=0))),
    ("unknown_status", f.raw(mutate(f.order("s1", T0), status="lost"))),
    ("unknown_reason", f.raw(mutate(f.refund("s1", T0, 1.0), reason="fraud"))),
    ("bad_ts", f.raw(mutate(f.order("s1", T0), ts="yesterday"))),
    ("bad_ts", f.raw(mutate(f.order("s1", T0), ts="2024-03-01T12:00:00+08:00"))),
    ("bad_ts", f.raw(mutate(f.order("s1", T0), ts=-1))),
    ("bad_utf8", b'{"type":"order","event_id":"\xff"}'),
    ("oversize", b'{"pad":"' + b"x" * 20_000 + b'"}'),
]


@pytest.mark.parametrize("event", GOOD_EVENTS, ids=lambda e: e["type"])
def test_a_contract_event_is_accepted(event: dict[str, Any]) -> None:
    parsed = parse_event(f.raw(event))
    assert (parsed.type, parsed.event_id, parsed.store_id) == (
        event["type"],
        event["event_id"],
        "s1",
    )


def test_ts_in_epoch_seconds_is_accepted() -> None:
    assert parse_event(f.raw(mutate(f.order("s1", T0), ts=T0))).ts_s == T0


def test_a_parsed_event_round_trips_to_the_same_object() -> None:
    event = f.order("s1", T0 + 0.25)
    assert event_to_dict(parse_event(f.raw(event))) == event


@pytest.mark.parametrize(("reason", "raw"), BAD_EVENTS, ids=[r for r, _ in BAD_EVENTS])
def test_a_bad_message_is_refused_with_its_reason(reason: str, raw: bytes) -> None:
    with pytest.raises(InvalidEventError) as refused:
        parse_event(raw)
    assert refused.value.reason == reason


@pytest.mark.parametrize("event", GOOD_EVENTS, ids=lambda e: e["type"])
def test_the_published_schema_accepts_what_the_validator_accepts(event: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(event_json_schema()).validate(event)


SCHEMA_BAD = [
    (reason, raw)
    for reason, raw in BAD_EVENTS
    if reason not in ("not_json", "bad_utf8", "oversize", "not_finite")
]


@pytest.mark.parametrize(("reason", "raw"), SCHEMA_BAD, ids=[r for r, _ in SCHEMA_BAD])
def test_the_published_schema_refuses_what_the_validator_refuses(reason: str, raw: bytes) -> None:
    validator = jsonschema.Draft202012Validator(event_json_schema())
    assert not validator.is_valid(json.loads(raw))


@pytest.mark.parametrize(
    ("name", "build"), [("event", event_json_schema), ("alert", alert_json_schema)]
)
def test_the_schema_files_shipped_are_the_generated_ones(name: str, build: Any) -> None:
    shipped = resources.files("stream").joinpath(f"schemas/{name}.schema.json").read_text()
    assert json.loads(shipped) == build(), "run `storewatch schema --out-dir stream/schemas`"


def test_the_schemas_are_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(event_json_schema())
    jsonschema.Draft202012Validator.check_schema(alert_json_schema())


# ------------------------------------------------------------- fast paths against the full checks
# parse_ts_s, event_from_dict and the JSON decoding each take a fast path for the usual message
# and fall back to the full checks; on odd input both must give the same value, or the same
# refusal with the same words.


class _Str(str):
    pass


def _outcome(parse: Any, value: Any) -> tuple[Any, ...]:
    """What a parser makes of a value, with the exact types of what it returns."""
    try:
        result = parse(value)
    except InvalidEventError as exc:
        return ("refused", exc.reason, str(exc))
    if isinstance(result, Event):
        fields = [(name, type(v), repr(v)) for name, v in result.fields.items()]
        return ("event", result.type, result.event_id, result.store_id, repr(result.ts_s), fields)
    return ("value", type(result), repr(result))


ODD_TS = [
    "2024-03-01T12:00:00.000Z",
    "2024-03-01T12:00:00Z",
    "2024-03-01T12:00:00.123456Z",
    "2024-03-01T12:00:00.1Z",
    "2024-03-01T12:00:00+00:00",
    "2024-03-01T12:00:00-00:00",
    "2024-03-01T12:00:00+00:00:00.000001",
    "2024-03-01T12:00:00+08:00",
    "2024-03-01T12:00:00",
    "2024-03-01T12:00:00.000z",
    "2024-03-01t12:00:00.000Z",
    "2024-03-01 12:00:00Z",
    "2024-03-01",
    "20240301T120000Z",
    "2024-03-01T12:00Z",
    "2024-02-30T00:00:00Z",
    "2024-03-01T12:00:00UTC",
    "1999-12-31T23:59:59.999Z",
    "2000-01-01T00:00:00Z",
    "1969-07-20T20:17:00.000Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    " 2024-03-01T12:00:00Z",
    "",
    "yesterday",
    _Str("2024-03-01T12:00:00Z"),
    1709294400,
    1709294400.5,
    946684799.9,
    -1,
    True,
    None,
    float("nan"),
    float("inf"),
    [],
]


@pytest.mark.parametrize("value", ODD_TS, ids=repr)
def test_the_fast_ts_parse_agrees_with_the_full_one(value: Any) -> None:
    assert _outcome(parse_ts_s, value) == _outcome(_checked_ts_s, value)


ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    1,
    2,
    100_000,
    100_001,
    0.0,
    -0.0,
    2.0,
    2.5,
    1e8,
    1e15,
    -5,
    float("nan"),
    float("inf"),
    "",
    "x",
    "x" * MAX_ID_CHARS,
    "x" * (MAX_ID_CHARS + 1),
    "x" * (MAX_TEXT_CHARS + 1),
    "placed",
    "lost",
    "return",
    _Str("placed"),
    ["placed"],
    {},
    "...",  # "..." drops the field
]


@pytest.mark.parametrize("event", GOOD_EVENTS, ids=lambda e: e["type"])
def test_the_fast_field_checks_agree_with_the_full_ones(event: dict[str, Any]) -> None:
    for name in sorted(event.keys() - {"type"}):  # the type is checked before either path
        for value in ODD_VALUES:
            changed = mutate(event, **{name: ... if value == "..." else value})
            expected = _outcome(lambda data: _checked_event(data, data["type"]), changed)
            assert _outcome(event_from_dict, changed) == expected, (name, value)


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1}',
        ' {"a":1}',
        '{"a":1} ',
        '{"a":1}\n',
        '{ "a" : 1 }',
        '{"a":1}x',
        '{"a":1} {}',
        '\ufeff{"a":1}',
        '{"a":',
        '{"a":NaN}',
        "NaN",
        " NaN",
        "",
        " ",
        "[]",
        "1",
        '"x"',
        "null",
        '{"a":1e999}',
    ],
    ids=repr,
)
def test_the_fast_json_decoding_agrees_with_json_loads(text: str) -> None:
    def loads(raw: str | bytearray) -> Any:
        return json.loads(raw, parse_constant=_refuse_constant)

    for raw in (text, bytearray(text.encode())):
        try:
            expected: Any = ("value", repr(loads(raw)))
        except (ValueError, InvalidEventError) as exc:
            expected = ("raised", type(exc), str(exc))
        try:
            got: Any = ("value", repr(_decode_json(raw)))  # type: ignore[arg-type]
        except (ValueError, InvalidEventError) as exc:
            got = ("raised", type(exc), str(exc))
        assert got == expected


ODD_MESSAGES = [
    b'{"type":"price","type":"order","event_id":"e","store_id":"s","ts":1e9,"sku":"k",'
    b'"old_price":1,"new_price":2}',
    b'{"type":"price","event_id":"e","store_id":"s","ts":1e9,"sku":"k","old_price":-1,'
    b'"new_price":2,"old_price":1}',
    b'{"type":"price","event_id":"e","store_id":"s","ts":1e9,"sku":"k","old_price":1,'
    b'"new_price":2,"old_price":3}',
    b'{"type":"price","event_id":"e","store_id":"s","ts":1e999,"sku":"k","old_price":1,"new_price":2}',
    b'\xef\xbb\xbf{"type":"price","event_id":"e","store_id":"s","ts":1e9,"sku":"k","old_price":1,'
    b'"new_price":2}',
    b' {"type":"price","event_id":"e","store_id":"s","ts":1e9,"sku":"k","old_price":1,"new_price":2}\n',
    b'{"type":"price","event_id":"\\ud800","store_id":"s","ts":1e9,"sku":"k","old_price":1,'
    b'"new_price":2}',
    b'{"type":"price","event_id":"e","store_id":"s","ts":1e9,"sku":"k","old_price":1,"new_price":2,'
    b'"extra":[[[[{"a":null}]]]]}',
    b'{"type":"price","event_id":"e","store_id":"s","ts":1e9,"sku":"k","old_price":1,"new_price":2,'
    b'"extra":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"type":"order","event_id":"e","store_id":"s","ts":"2024-03-01T12:00:00Z","order_id":"o",'
    b'"buyer_id":"b","sku":"k","unit_price":9007199254740993,"quantity":1,"status":"placed"}',
    b'{"type":"order","event_id":"e","store_id":"s","ts":9007199254740993,"order_id":"o",'
    b'"buyer_id":"b","sku":"k","unit_price":1,"quantity":99999999999999999999,"status":"placed"}',
    '{"type":"store","event_id":"\u00e9","store_id":"\U0001f600","ts":1e9,'
    '"owner_id":"o","bank_account":"b","deposit":0,"category":"c"}',
]


@pytest.mark.parametrize("raw", ODD_MESSAGES, ids=repr)
def test_the_typed_decoding_agrees_with_the_full_checks_on_odd_json(raw: bytes | str) -> None:
    for form in (raw, raw.encode() if isinstance(raw, str) else raw.decode("utf-8", "replace")):
        assert _outcome(parse_event, form) == _outcome(parse_event_checked, form)


@pytest.mark.parametrize("event", GOOD_EVENTS, ids=lambda e: e["type"])
def test_the_typed_decoding_agrees_with_the_full_checks_on_odd_values(
    event: dict[str, Any],
) -> None:
    """Every field (and the type) given every odd value, as the JSON a producer would send."""
    for name in sorted(event.keys()):
        for value in [*ODD_VALUES, *ODD_TS, -1e-300, 10**30, "price", "order"]:
            if value == "..." or isinstance(value, _Str):
                value = ... if value == "..." else str(value)
            raw = json.dumps(mutate(event, **{name: value})).encode()
            assert _outcome(parse_event, raw) == _outcome(parse_event_checked, raw), (name, value)
