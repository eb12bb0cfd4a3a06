"""Settings from a TOML file and ``STOREWATCH_*`` variables: merged, checked for unknown keys
(with the nearest known name), validated."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_settings import (
    EnvSettingsSource,
)

from stream.config.settings import Settings
from stream.errors import ConfigError


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, section by section.

    >>> _merge({"a": 1, "w": {"x": 1, "y": 2}}, {"w": {"y": 3}})
    {'a': 1, 'w': {'x': 1, 'y': 3}}
    """
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    """The configuration file's values, or ConfigError saying why there are none."""
    where = "check --config and $STOREWATCH_CONFIG"
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist", where)
    if path.is_dir():
        raise ConfigError(f"configuration file {path} is a directory", where)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"configuration file {path} is not valid TOML: {exc}",
            "see the example in the README's Configuration section",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}", where) from None


ENV_PREFIX = "STOREWATCH_"
# STOREWATCH_* names that are not settings: the file to read them from, and the tests' switch
# that redraws docs/dashboard.png.
OTHER_ENV_NAMES = frozenset({"STOREWATCH_CONFIG", "STOREWATCH_DASHBOARD_PNG"})


def setting_keys(model: type[BaseModel] = Settings) -> list[str]:
    """Every key a configuration may set, sections included, as ``section.name``."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(name)
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            keys += [f"{name}.{key}" for key in setting_keys(section)]
    return keys


def env_name(key: str) -> str:
    """The environment variable of a setting key.

    >>> env_name("windows.lengths_s")
    'STOREWATCH_WINDOWS__LENGTHS_S'
    """
    return ENV_PREFIX + key.replace(".", "__").upper()


def _nearest(name: str, candidates: list[str]) -> str:
    """The hint of an unknown name: the closest known one, or the list to choose from."""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}?"
    return f"known here: {', '.join(candidates)}"


def _unknown_keys(
    values: Mapping[str, Any], model: type[BaseModel], prefix: str = ""
) -> Iterator[tuple[str, list[str]]]:
    """(unknown key, the keys valid beside it) for every key of ``values`` that ``model`` does
    not have, sections searched too."""
    for key, value in values.items():
        field = model.model_fields.get(key)
        if field is None:
            yield prefix + key, [prefix + name for name in model.model_fields]
            continue
        section = field.annotation
        if (
            isinstance(section, type)
            and issubclass(section, BaseModel)
            and isinstance(value, Mapping)
        ):
            yield from _unknown_keys(value, section, f"{prefix}{key}.")


def check_known_keys(values: Mapping[str, Any], source: str) -> None:
    """Raise ConfigError naming the first key of ``values`` that is not a setting: a typo that
    passes silently leaves the default in force, which is worse than stopping."""
    unknown = list(_unknown_keys(values, Settings))
    if unknown:
        key, beside = unknown[0]
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ConfigError(f"unknown setting {key} in {source}{more}", _nearest(key, beside))


def check_env_names(environ: Mapping[str, str]) -> None:
    """Raise ConfigError naming the first ``STOREWATCH_*`` variable that is not a setting."""
    known = {env_name(key) for key in setting_keys()} | OTHER_ENV_NAMES
    for name in sorted(environ):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            raise ConfigError(
                f"unknown environment variable {name}", _nearest(name.upper(), sorted(known))
            )


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Defaults, then a TOML file (``path`` or ``$STOREWATCH_CONFIG``), then ``STOREWATCH_*``
    environment variables, then ``overrides`` (what a command line says explicitly).

    Unknown keys in the file, and unknown ``STOREWATCH_*`` names, are ConfigErrors."""
    check_env_names(os.environ)
    path = path or os.environ.get("STOREWATCH_CONFIG")
    values: dict[str, Any] = {}
    if path:
        values = _read_toml(Path(path))
        check_known_keys(values, str(path))
    from_env = EnvSettingsSource(Settings)()
    check_known_keys(from_env, "the STOREWATCH_* environment")  # keys inside a JSON section
    values = _merge(values, from_env)
    values = _merge(values, {key: value for key, value in overrides.items() if value is not None})
    return Settings(**values)


def tunable_values(settings: Settings) -> dict[str, float]:
    """Every tunable number as ``section.name`` -> value (durations in seconds).

    Window lengths appear as ``windows.lengths_s.0`` and so on, shortest first.
    """
    values: dict[str, float] = {}
    for section in ("windows", "detectors"):
        for name, value in getattr(settings, section).model_dump().items():
            if isinstance(value, list):
                for i, item in enumerate(value):
                    values[f"{section}.{name}.{i}"] = float(item)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                values[f"{section}.{name}"] = float(value)
    return values
