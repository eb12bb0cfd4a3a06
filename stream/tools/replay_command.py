"""`storewatch replay`: the body of the command (in this process or through Kafka), its
summary, and the verdict on a run whose events were mostly refused."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections import Counter
from typing import Any

from stream.config import Settings, load_settings
from stream.errors import MostlyRefusedError, UnreachableError, UsageError
from stream.inputs import check_input, check_output, read_lines, shown, sniff_jsonl


def cmd_replay(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from stream.runtime.reach import check_kafka, check_redis
    from stream.tools.replay_kafka import replay_via_kafka

    if args.via_kafka and args.state == "memory":
        raise UsageError(
            "--state memory replays in this process; with --via-kafka the running "
            "worker keeps the state",
            "leave out one of the two",
        )
    check_input(args.input, "input")
    if args.alerts_out:
        check_output(args.alerts_out, "alerts")
    settings = load_settings(
        args.config,
        kafka_bootstrap=args.bootstrap,
        detectors={"use_models": False} if args.no_models else None,
    )
    sniff_jsonl(args.input, "input", shown(args, "input"))
    if args.via_kafka:
        asyncio.run(check_kafka(settings))
        if not args.verbose:  # its admin client's event-loop timing warnings are not ours
            logging.getLogger("kafka").setLevel(logging.ERROR)
    elif args.redis_url and args.state == "redis":
        asyncio.run(check_redis(args.redis_url))
    total = sum(1 for _ in read_lines(args.input))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("replaying" if not args.via_kafka else "publishing", total=total)

        def advance(n: int) -> None:
            progress.advance(task, n)

        if args.via_kafka:
            try:
                result = asyncio.run(
                    replay_via_kafka(
                        args.input, settings, args.alerts_out, args.rate, args.timeout, advance
                    )
                )
            except TimeoutError as exc:
                raise UnreachableError(
                    str(exc), "see the worker's log; raise --timeout for a " "long file"
                ) from exc
        else:
            result = asyncio.run(_replay_embedded(args, settings, advance))
    by_detector = Counter(str(a["detector"]) for a in result.alerts)
    summary = {
        "events": result.events,
        "events_per_s": round(result.events_per_s),
        "alerts": len(result.alerts),
        "alerts_by_detector": dict(sorted(by_detector.items())),
        "stores_flagged": len(result.flagged_stores()),
        "rejected": result.rejected,
        "alerts_out": str(args.alerts_out) if args.alerts_out else None,
    }
    print(json.dumps(summary, indent=2), flush=True)
    refused = sum(result.rejected.values())
    if result.events and refused * 2 > result.events:
        where = "the worker" if args.via_kafka else "the replay"
        reasons = ", ".join(
            f"{n} {reason}"
            for reason, n in sorted(result.rejected.items(), key=lambda item: -item[1])
        )
        hint = (
            "already processed? a file replayed again into the same worker is refused as "
            "duplicate or late"
            if args.via_kafka
            else "is this a file of Storewatch events?"
        )
        raise MostlyRefusedError(
            f"{where} refused {refused} of {result.events} events " f"({reasons})", hint
        )
    return 0


async def _replay_embedded(args: argparse.Namespace, settings: Settings, advance: Any) -> Any:
    from stream.tools.replay import replay_in_process

    if args.state == "memory":
        return await replay_in_process(
            args.input, settings, None, args.alerts_out, advance, state_backend="memory"
        )
    if args.redis_url:
        return await replay_in_process(
            args.input, settings, args.redis_url, args.alerts_out, advance
        )
    from stream.tools.embedded import EmbeddedRedis

    with EmbeddedRedis() as redis:
        return await replay_in_process(args.input, settings, redis.url, args.alerts_out, advance)
