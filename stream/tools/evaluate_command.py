"""`storewatch evaluate`: the body of the command, and reading labels from a file or from the
analysts' labels topic."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from stream.config import load_settings
from stream.errors import InputError
from stream.inputs import check_input, check_output, check_plot, shown, sniff_jsonl


def cmd_evaluate(args: argparse.Namespace) -> int:
    from stream.tools.evaluate import evaluate, plot_report, read_jsonl, render_table

    for path, what in ((args.events, "events"), (args.labels, "labels"), (args.alerts, "alerts")):
        if path is not None:
            check_input(path, what)
    check_output(args.report, "the report")
    if args.plot:
        check_plot(args.plot)
        check_output(args.plot, "the plot")
    sniff_jsonl(args.events, "events", shown(args, "events"))
    labels = _read_labels(args.labels) if args.labels else _topic_labels(args)
    labels_name = args.labels or "the labels topic"
    event_stores = {str(event.get("store_id")) for event in read_jsonl(args.events)}
    known = event_stores & labels.keys()
    if not known:
        raise InputError(
            f"none of the {len(labels)} labelled stores in {labels_name} appears "
            f"among the {len(event_stores)} stores of {shown(args, 'events')}",
            "are these the labels written with this events file?",
        )
    if len(known) < len(labels):
        print(
            f"storewatch: warning: {len(labels) - len(known)} of {len(labels)} labelled stores "
            f"do not appear in {shown(args, 'events')}; they count as never alerted",
            file=sys.stderr,
        )
    report = evaluate(read_jsonl(args.events), labels, read_jsonl(args.alerts))
    Path(args.report).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot_report(report, args.plot, title=f"Storewatch on {Path(shown(args, 'events')).name}")
    print(render_table(report))
    return 0


def _topic_labels(args: argparse.Namespace) -> dict[str, str]:
    """Store labels from the analysts' verdicts on the labels topic."""
    from stream.runtime.reach import check_kafka
    from stream.tools.labels import latest_labels, store_labels

    settings = load_settings(args.config, kafka_bootstrap=args.bootstrap)
    if args.labels_topic:
        settings = settings.model_copy(
            update={"topics": settings.topics.model_copy(update={"labels": args.labels_topic})}
        )
    asyncio.run(check_kafka(settings))
    labels = store_labels(asyncio.run(latest_labels(settings)))
    if not labels:
        raise InputError(
            f"the labels topic {settings.topics.labels} on "
            f"{settings.kafka_bootstrap} holds no label",
            "label alerts first: storewatch label ALERT_ID fraud|legit",
        )
    return labels


def _read_labels(path: Path) -> dict[str, str]:
    """The labels file as store_id -> label, or InputError saying how it is not one."""
    try:
        labels = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(
            f"labels {path} is not JSON: {exc}", "write it with `storewatch simulate --labels`"
        ) from None
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise InputError(
            f"labels {path} is not a JSON object of store_id -> label",
            'e.g. {"s00001": "legit/steady", "s00002": "ghost_supplier/plain"}',
        )
    if not labels:
        raise InputError(f"labels {path} holds no store", "nothing to evaluate against")
    return labels
