"""The commands that run or prepare a live stack: worker, dev, demo, topics."""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from typing import Any

from stream.config import Settings, load_settings, redact_url


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(getattr(args, "config", None), **overrides)


def cmd_worker(args: argparse.Namespace) -> int:
    from stream.runtime.app import run_worker

    run_worker(_settings(args), loglevel=args.loglevel)
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from stream.runtime.reach import check_kafka, check_redis
    from stream.tools.dev import DevStack

    settings = _settings(args, kafka_partitions=args.partitions)
    if args.bootstrap:
        asyncio.run(check_kafka(settings.model_copy(update={"kafka_bootstrap": args.bootstrap})))
    if args.redis_url:
        asyncio.run(check_redis(args.redis_url))
    # its own Redis keeps an append-only file in its data dir: a restart of it keeps the state
    stack = DevStack(
        settings,
        bootstrap=args.bootstrap,
        redis_url=args.redis_url,
        durable_redis=True,
        keep_logs=args.keep_logs,
    )
    stopping = {"now": False}

    def request_stop(signum: int, _frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with stack:
        stack.start(workers=args.workers)
        s = stack.settings
        print(
            f"kafka    {s.kafka_bootstrap}"
            + (f" (embedded, pid {stack.kafka.pid})" if stack.kafka else " (existing cluster)")
        )
        print(
            f"redis    {redact_url(s.redis_url.get_secret_value())}"
            + (f" (embedded, pid {stack.redis.pid})" if stack.redis else " (existing)")
        )
        print(
            f"topics   {', '.join(s.topics.input_topics().values())} -> {s.topics.alerts} "
            f"(dead letters: {s.topics.dead_letter}), {s.kafka_partitions} partitions each"
        )
        for worker in stack.workers:
            print(
                f"worker   pid {worker.process.pid}, metrics http://127.0.0.1:{worker.metrics_port}"
                f"/metrics, log {worker.log_path}"
            )
        print(
            "ready: replay into it with `storewatch replay --via-kafka --bootstrap "
            f"{s.kafka_bootstrap} --input events.jsonl`; Ctrl-C stops everything",
            flush=True,
        )
        while not stopping["now"]:
            for line in stack.supervise():  # a worker that exits is restarted, with backoff
                print(line, flush=True)
            time.sleep(0.2)
        print("stopping", flush=True)
    print(f"stopped; logs kept in {stack.log_dir}" if args.keep_logs else "stopped", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stream.tools.demo import run_demo

    return run_demo(
        _settings(args), stores=args.stores, days=args.days, seed=args.seed, rate_per_s=args.rate
    )


def cmd_topics(args: argparse.Namespace) -> int:
    from stream.runtime.admin import create_topics

    settings = _settings(args, kafka_bootstrap=args.bootstrap, kafka_partitions=args.partitions)
    t = settings.topics
    names = [*t.input_topics().values(), t.alerts, t.dead_letter]
    options = settings.kafka_security.kafka_python_options()
    create_topics(
        settings.kafka_bootstrap, names, settings.kafka_partitions, client_options=options
    )
    create_topics(
        settings.kafka_bootstrap, [], 1, compacted=[t.control, t.labels], client_options=options
    )
    print(
        f"{', '.join(names)}: {settings.kafka_partitions} partitions on {settings.kafka_bootstrap}"
    )
    return 0
