"""Runtime tuning: which settings may change on running workers, and validating a change.

Pure: no Kafka here (``control.py`` carries changes over the control topic). A change is a
``section.name=value`` assignment, checked by building the whole Settings with it, so the bounds
and cross-field rules of ``config.py`` (lateness shorter than the shortest window, and so on)
apply to a runtime change exactly as to a configuration file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from stream.config import Settings, format_duration, parse_list

SECTIONS = ("windows", "detectors")

# The population models are built once per worker: changing their shape or their score
# quantile would throw away what they learnt, so these wait for a restart; so does the number
# of tracking-number buckets, which decides where every number is filed.
RESTART_ONLY = frozenset(
    {
        "windows.trk_buckets",
        "detectors.model_half_life_s",
        "detectors.local_utc_offset_h",
        "detectors.model_trees",
        "detectors.model_height",
        "detectors.model_window_size",
        "detectors.model_seed",
        "detectors.model_snapshot_interval_s",
    }
)


class InvalidChangeError(ValueError):
    """A tuning change that is refused; the message says which key and why."""


@dataclass(frozen=True, slots=True)
class Change:
    """One parameter change as published on the control topic (keyed by ``key``)."""

    key: str
    value: str
    who: str
    at: str
    old: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {"key": self.key, "value": self.value, "who": self.who, "at": self.at, "old": self.old},
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Change:
        """Decode a control record; raise InvalidChangeError for anything malformed."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidChangeError(f"control record is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidChangeError("control record must be a JSON object")
        fields = {name: data.get(name) for name in ("key", "value", "who", "at")}
        for name, value in fields.items():
            if not isinstance(value, str) or not value:
                raise InvalidChangeError(f"control record needs a non-empty string {name!r}")
        old = data.get("old")
        return cls(**fields, old=old if isinstance(old, str) else None)  # type: ignore[arg-type]


def tunable_keys(settings: Settings) -> list[str]:
    """Every ``section.name`` that ``tune set`` accepts."""
    return [
        f"{section}.{name}"
        for section in SECTIONS
        for name in type(getattr(settings, section)).model_fields
        if f"{section}.{name}" not in RESTART_ONLY
    ]


def parse_assignment(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` -> (key, value).

    >>> parse_assignment("windows.allowed_lateness_s=45m")
    ('windows.allowed_lateness_s', '45m')
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise InvalidChangeError(f"{text!r}: expected KEY=VALUE, e.g. detectors.young_store_s=14d")
    return key.strip(), value.strip()


def _coerce(value: str, current: Any) -> Any:
    """A command-line value as the settings expect it: a list setting takes commas or a JSON
    list, as the environment does."""
    if isinstance(current, list):
        try:
            return parse_list(value)
        except ValueError as exc:
            raise InvalidChangeError(str(exc)) from None
    return value


def apply_changes(settings: Settings, changes: Mapping[str, str]) -> Settings:
    """Settings with the changes applied, validated as a whole; raises InvalidChangeError."""
    allowed = tunable_keys(settings)
    data = settings.model_dump()
    for key, value in changes.items():
        if key in RESTART_ONLY:
            raise InvalidChangeError(
                f"{key} takes effect only at a worker restart (it shapes "
                f"the online models or where facts are filed): set it in "
                f"the configuration file"
            )
        if key not in allowed:
            raise InvalidChangeError(
                f"{key} is not a tunable parameter; tunable: {', '.join(allowed)}"
            )
        section, name = key.split(".", 1)
        data[section][name] = _coerce(value, data[section][name])
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in exc.errors()
        )
        asked = ", ".join(f"{key}={value}" for key, value in changes.items())
        raise InvalidChangeError(f"{asked}: {problems}") from None


def current_value(settings: Settings, key: str) -> str:
    """A parameter's value as an operator would write it (durations with units)."""
    section, name = key.split(".", 1)
    value = getattr(getattr(settings, section), name)
    if name.endswith("_s"):
        if isinstance(value, list):
            return ",".join(format_duration(item) for item in value)
        return format_duration(value)
    return str(value)


def show(settings: Settings) -> list[tuple[str, str, str]]:
    """(key, value, note) for every parameter of the tunable sections."""
    rows = []
    for section in SECTIONS:
        for name in type(getattr(settings, section)).model_fields:
            key = f"{section}.{name}"
            note = "restart only" if key in RESTART_ONLY else ""
            rows.append((key, current_value(settings, key), note))
    return rows


def dropped_windows(before: Settings, after: Settings) -> list[float]:
    """Window lengths a change removes: every worker forgets their sums at once, and they fill
    again only as long as the window is, so a change that drops one asks to be confirmed.

    >>> dropped_windows(Settings(), apply_changes(Settings(), {"windows.lengths_s": "1h,1d"}))
    [604800.0]
    """
    kept = set(after.windows.lengths_s)
    return [length_s for length_s in before.windows.lengths_s if length_s not in kept]
