"""Durations with units (``90s``, ``30m``, ``6h``, ``7d``) and lists as people write them."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_settings import (
    NoDecode,
)

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration_s(value: Any) -> float:
    """Seconds in a duration given as a number or as ``<number><s|m|h|d>``.

    >>> parse_duration_s("6h"), parse_duration_s("30m"), parse_duration_s(90)
    (21600.0, 1800.0, 90.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"duration must be a number or a string like '6h', got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]
    raise ValueError(
        f"duration must be a number of seconds or like '90s', '30m', '6h', '7d'; got {value!r}"
    )


def format_duration(seconds: float) -> str:
    """The shortest exact unit form of a duration, for names and logs.

    >>> format_duration(3600), format_duration(604800), format_duration(90)
    ('1h', '7d', '90s')
    """
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_S[unit] == 0:
            return f"{int(seconds // _UNIT_S[unit])}{unit}"
    return f"{seconds:g}s"


DurationS = Annotated[float, BeforeValidator(parse_duration_s)]


def parse_list(value: Any) -> Any:
    """A list setting as people write it: a list (TOML), a JSON list, or comma-separated text
    (an environment variable, ``tune set``), so one spelling works everywhere.

    >>> parse_list("1h, 24h,7d"), parse_list('["1h", 3600]'), parse_list(["7d"])
    (['1h', '24h', '7d'], ['1h', 3600], ['7d'])
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} starts as a JSON list but is not one ({exc}); "
                f"or write it as 1h,24h,7d"
            ) from None
    return [part.strip() for part in text.split(",") if part.strip()]


# NoDecode: the environment source would otherwise insist on JSON before parse_list saw it.
DurationListS = Annotated[list[DurationS], NoDecode, BeforeValidator(parse_list)]
