"""The analysts' subcommands: `alerts tail`, `alert ID`, `store ID`, `label ALERT_ID VERDICT`.

Their bodies live here so that ``stream.cli.parser`` stays a table of commands; each asks its server
once (``stream.runtime.reach``) before it reads, so nothing running is one line and exit 4,
and an id nothing holds is one line and exit 6.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
from typing import Any

from stream.config import Settings, load_settings
from stream.errors import NotFoundError, UsageError

WHO_DEFAULT = f"{os.environ.get('USER', 'unknown')}@{socket.gethostname()}"


def _kafka_settings(args: argparse.Namespace) -> Settings:
    from stream.runtime.reach import check_kafka

    settings = load_settings(args.config, kafka_bootstrap=args.bootstrap)
    asyncio.run(check_kafka(settings))
    return settings


def cmd_alerts_tail(args: argparse.Namespace) -> int:
    from stream.tools.analyst import format_alert, tail_alerts

    settings = _kafka_settings(args)

    def show(alert: dict[str, Any]) -> None:
        print(
            json.dumps(alert, ensure_ascii=False) if args.json else format_alert(alert) + "\n",
            flush=True,
        )

    if not args.json:
        print(
            f"following {settings.topics.alerts} on {settings.kafka_bootstrap}"
            f"{' from its beginning' if args.from_beginning else ''}; Ctrl-C stops",
            flush=True,
        )
    asyncio.run(tail_alerts(settings, show, args.from_beginning))
    return 0


def cmd_alert(args: argparse.Namespace) -> int:
    from stream.tools.analyst import find_alert, format_alert

    settings = _kafka_settings(args)
    alert = asyncio.run(find_alert(settings, args.alert_id))
    if alert is None:
        raise NotFoundError(
            f"no alert {args.alert_id} on {settings.topics.alerts} at "
            f"{settings.kafka_bootstrap}",
            "copy the id from `storewatch alerts tail`; alerts older than the "
            "topic's retention are gone",
        )
    if args.json:
        print(json.dumps(alert, indent=2, ensure_ascii=False))
        return 0
    print(format_alert(alert))
    features = alert.get("features") or {}
    if features:
        print("  the store at the time (the detector's numbers):")
        for name, value in sorted(features.items()):
            print(f"    {name:34} {value}")
    print(f"  now: storewatch store {alert.get('store_id')}")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    from stream.config import redact_url
    from stream.runtime.reach import check_redis
    from stream.tools.analyst import format_store, store_report

    settings = load_settings(args.config)
    url = args.redis_url or settings.redis_url.get_secret_value()
    options = {} if args.redis_url else settings.redis_options()
    asyncio.run(check_redis(url))
    report = asyncio.run(store_report(settings, url, args.store_id, **options))
    if report is None:
        raise NotFoundError(
            f"Redis at {redact_url(url)} holds no state for store " f"{args.store_id}",
            "is the id right, and is this the workers' Redis? an idle store's " "state expires",
        )
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else format_store(report))
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from stream.tools.analyst import find_alert
    from stream.tools.embedded import create_topics
    from stream.tools.labels import Label, now_iso, publish_label

    if not args.who.strip():
        raise UsageError("--who is empty", "say who decided, e.g. --who alice")
    settings = _kafka_settings(args)
    alert = asyncio.run(find_alert(settings, args.alert_id))
    if alert is None:
        raise NotFoundError(
            f"no alert {args.alert_id} on {settings.topics.alerts}; nothing " "labelled",
            "copy the id from `storewatch alerts tail`",
        )
    create_topics(
        settings.kafka_bootstrap,
        [],
        1,
        compacted=[settings.topics.labels],
        client_options=settings.kafka_security.kafka_python_options(),
    )
    label = Label(
        args.alert_id, str(alert["store_id"]), args.verdict, args.who, now_iso(), args.note or ""
    )
    asyncio.run(publish_label(settings, label))
    print(
        f"{label.who} labelled {label.alert_id} (store {label.store_id}, "
        f"{alert.get('detector')}) {label.verdict} on {settings.topics.labels}"
    )
    return 0


def add_commands(sub: Any, formatter: Any) -> None:
    """Register the analysts' subcommands on the top-level subparsers ``sub``."""
    alerts = sub.add_parser(
        "alerts", help="follow the alerts as the workers raise them", formatter_class=formatter
    )
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    p = alerts_sub.add_parser(
        "tail", help="print every alert, with all its reasons, live", formatter_class=formatter
    )
    p.add_argument("--bootstrap", help="Kafka bootstrap (default: the configured one)")
    p.add_argument(
        "--from-beginning", action="store_true", help="start with the alerts already on the topic"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_alerts_tail)

    p = sub.add_parser(
        "alert", help="find one alert on the alert topic by its id", formatter_class=formatter
    )
    p.add_argument("alert_id", metavar="ALERT_ID")
    p.add_argument("--bootstrap", help="Kafka bootstrap (default: the configured one)")
    p.add_argument("--json", action="store_true", help="the alert as JSON")
    p.set_defaults(func=cmd_alert)

    p = sub.add_parser(
        "store",
        help="one store's current windows, facts, links and alerts",
        formatter_class=formatter,
    )
    p.add_argument("store_id", metavar="STORE_ID")
    p.add_argument("--redis-url", help="the workers' Redis (default: the configured one)")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=cmd_store)

    p = sub.add_parser(
        "label",
        help="record an analyst's verdict on an alert (labels topic)",
        formatter_class=formatter,
    )
    p.add_argument("alert_id", metavar="ALERT_ID")
    p.add_argument("verdict", choices=("fraud", "legit"))
    p.add_argument("--who", default=WHO_DEFAULT, help="who decided (kept with the label)")
    p.add_argument("--note", help="a few words on why")
    p.add_argument("--bootstrap", help="Kafka bootstrap (default: the configured one)")
    p.set_defaults(func=cmd_label)
