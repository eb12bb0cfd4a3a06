"""Typed settings of Storewatch: one place for topics, windows, thresholds and addresses.

Values come from, in rising priority: the defaults below, a TOML file named by
``STOREWATCH_CONFIG`` (or passed explicitly), and ``STOREWATCH_*`` environment variables
(nested with ``__``, e.g. ``STOREWATCH_TOPICS__ALERTS=fraud-alerts``). Durations accept units
(``90s``, ``30m``, ``6h``, ``7d``) or plain seconds. Library code never reads settings itself:
the CLI builds them once and passes the values in.
"""

from stream.config.loading import (
    ENV_PREFIX,
    OTHER_ENV_NAMES,
    check_env_names,
    check_known_keys,
    env_name,
    load_settings,
    setting_keys,
    tunable_values,
)
from stream.config.settings import (
    DetectorSettings,
    KafkaSecuritySettings,
    Settings,
    TopicSettings,
    WindowSettings,
    redact_url,
)
from stream.config.units import format_duration, parse_duration_s, parse_list

__all__ = [
    "ENV_PREFIX",
    "OTHER_ENV_NAMES",
    "DetectorSettings",
    "KafkaSecuritySettings",
    "Settings",
    "TopicSettings",
    "WindowSettings",
    "check_env_names",
    "check_known_keys",
    "env_name",
    "format_duration",
    "load_settings",
    "parse_duration_s",
    "parse_list",
    "redact_url",
    "setting_keys",
    "tunable_values",
]
