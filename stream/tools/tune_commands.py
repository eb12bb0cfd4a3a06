"""`storewatch tune show|set|try`: the bodies of the tuning subcommands.

Kept out of ``stream.cli.parser`` so that it stays a table of commands; the logic of a change
(parsing, applying, what it drops) lives in ``stream.core.tuning``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import Any

from stream.config import Settings, load_settings
from stream.errors import UsageError
from stream.inputs import check_input, shown, sniff_jsonl


def _tuned_settings(args: argparse.Namespace) -> tuple[Settings, dict[str, Any]]:
    """The configured settings with the control topic's latest changes applied."""
    from stream.core.tuning import apply_changes
    from stream.runtime.control import latest_changes
    from stream.runtime.reach import check_kafka

    settings = load_settings(args.config, kafka_bootstrap=args.bootstrap)
    asyncio.run(check_kafka(settings))
    latest = asyncio.run(latest_changes(settings))
    if latest:
        settings = apply_changes(settings, {key: change.value for key, change in latest.items()})
    return settings, latest


def cmd_tune_show(args: argparse.Namespace) -> int:
    from stream.core.tuning import show

    settings, latest = _tuned_settings(args)
    for key, value, note in show(settings):
        change = latest.get(key)
        source = f"set by {change.who} at {change.at}" if change else note
        print(f"{key:38} {value:>14}  {source}")
    return 0


def cmd_tune_set(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from stream.core.tuning import (
        Change,
        InvalidChangeError,
        apply_changes,
        current_value,
        dropped_windows,
        parse_assignment,
    )
    from stream.runtime.control import publish_changes

    try:
        requested = dict(parse_assignment(text) for text in args.assignments)
        settings, _ = _tuned_settings(args)
        new = apply_changes(settings, requested)
    except InvalidChangeError as exc:
        raise UsageError(
            f"refused, nothing changed: {exc}",
            "`storewatch tune show` lists the keys and their values",
        ) from None
    dropped = dropped_windows(settings, new)
    if dropped and not args.yes:
        shown = ", ".join(f"{length_s:g}s" for length_s in dropped)
        raise UsageError(
            f"nothing changed: this drops the window(s) of {shown} on every worker, "
            f"whose sums would start again from nothing",
            "add --yes to confirm",
        )
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    changes = [
        Change(key, current_value(new, key), args.who, at, current_value(settings, key))
        for key in requested
    ]
    asyncio.run(publish_changes(settings, changes))
    for change in changes:
        line = f"{change.who} set {change.key}: {change.old} -> {change.value}"
        logging.getLogger("storewatch.tune").warning(line)
        print(line)
    return 0


def cmd_tune_try(args: argparse.Namespace) -> int:
    from stream.core.tuning import InvalidChangeError, apply_changes, parse_assignment
    from stream.tools.whatif import compare_settings

    check_input(args.input, "input")
    if args.labels:
        check_input(args.labels, "labels")
    settings = load_settings(args.config)
    try:
        candidate = apply_changes(settings, dict(parse_assignment(t) for t in args.assignments))
    except InvalidChangeError as exc:
        raise UsageError(
            f"refused: {exc}", "`storewatch tune show` lists the keys and their values"
        ) from None
    sniff_jsonl(args.input, "input", shown(args, "input"))
    if args.redis_url:
        from stream.runtime.reach import check_redis

        asyncio.run(check_redis(args.redis_url))
    report = asyncio.run(
        compare_settings(args.input, settings, candidate, args.redis_url, args.labels)
    )
    print(report.render())
    return 0


def add_commands(sub: Any) -> None:
    """Register `tune` and its subcommands on the top-level subparsers ``sub``."""
    tune = sub.add_parser("tune", help="runtime tuning of windows and thresholds")
    tune_sub = tune.add_subparsers(dest="tune_command", required=True)
    p = tune_sub.add_parser("show", help="current values (configuration + control topic)")
    p.add_argument("--bootstrap", help="Kafka bootstrap (default: the configured one)")
    p.set_defaults(func=cmd_tune_show)
    p = tune_sub.add_parser("set", help="change values on every running worker, no restart")
    p.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    p.add_argument("--bootstrap", help="Kafka bootstrap (default: the configured one)")
    p.add_argument(
        "--who",
        default=f"{os.environ.get('USER', 'unknown')}@{socket.gethostname()}",
        help="who asks for the change (logged with it)",
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="confirm a change that drops a window (its sums are lost)",
    )
    p.set_defaults(func=cmd_tune_set)
    p = tune_sub.add_parser("try", help="replay a file with current and candidate values")
    p.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    p.add_argument(
        "--input",
        required=True,
        type=Path,
        help="events as JSON Lines, plain or gzip; - reads stdin",
    )
    p.add_argument("--labels", type=Path, help="labels, to count what each setting catches")
    p.add_argument("--redis-url", help="Redis to use (default: start an embedded one)")
    p.set_defaults(func=cmd_tune_try)
