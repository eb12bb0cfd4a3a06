"""The `storewatch` command line: thin shells around the engine, replay, simulator and stack."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Final, NoReturn

from stream import __version__
from stream.config import Settings, load_settings, redact_url
from stream.errors import CommandError, ExitCode, InputError, UnreachableError, UsageError
from stream.inputs import check_output, is_stdin, stdin_as_file


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


def cmd_simulate(args: argparse.Namespace) -> int:
    from stream.tools.simulate import simulate, write_events, write_labels

    for flag, value in (("--stores", args.stores), ("--days", args.days)):
        if value < 1:
            raise UsageError(f"{flag} is {value}; it must be at least 1", f"e.g. {flag} 100")
    check_output(args.out, "events")
    if args.labels:
        check_output(args.labels, "labels")
    sim = simulate(stores=args.stores, days=args.days, seed=args.seed)
    write_events(args.out, sim.events)
    if args.labels:
        write_labels(args.labels, sim.labels)
    kinds = Counter(label.partition("/")[0] for label in sim.labels.values())
    print(
        json.dumps(
            {
                "events": len(sim.events),
                "stores": len(sim.labels),
                "labels": dict(sorted(kinds.items())),
                "variants": dict(sorted(Counter(sim.labels.values()).items())),
                "out": str(args.out),
            },
            indent=2,
        )
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from stream.tools.demo import run_demo

    return run_demo(
        _settings(args), stores=args.stores, days=args.days, seed=args.seed, rate_per_s=args.rate
    )


def cmd_schema(args: argparse.Namespace) -> int:
    from stream.core.alert_schema import alert_json_schema
    from stream.core.events import event_json_schema

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in (("event", event_json_schema()), ("alert", alert_json_schema())):
        (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
        print(out / f"{name}.schema.json")
    return 0


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


def cmd_completion(args: argparse.Namespace) -> int:
    from stream.tools.completion import completion_script

    print(completion_script(build_parser(), args.shell), end="")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from stream.tools.bench import BenchPlan, run_bench

    if args.out:
        check_output(args.out, "the figures")
    plan = BenchPlan(stores=args.stores, days=args.days, seed=args.seed)
    if args.small:
        plan = BenchPlan(
            stores=40,
            days=3,
            seed=args.seed,
            probe_rates_per_s=(500.0, 1000.0),
            fixed_rate_per_s=500.0,
            probe_s=2.0,
            profile_events=2000,
        )
    result = run_bench(plan, args.out)
    print(result.to_json() if args.out is None else f"wrote {args.out}")
    return 0


class _Help(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written, and every option's default after its help (those that have
    one: a None or False default says nothing)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if (
            action.default not in (None, False, argparse.SUPPRESS)
            and "%(default)" not in help_text
            and (action.option_strings or action.nargs in ("?", "*"))
        ):
            help_text += " (default: %(default)s)"
        return help_text


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is a UsageError: one line and exit 2, as every other
    mistake, instead of the usage text followed by the error. Every (sub)command's help
    shows the defaults."""

    def __init__(self, *args: Any, formatter_class: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, formatter_class=formatter_class or _Help, **kwargs)  # type: ignore[misc]

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("storewatch").strip()
        raise UsageError(f"{command}: {message}" if command else message, f"see {self.prog} --help")


def build_parser() -> argparse.ArgumentParser:
    from stream.tools.analyst_commands import add_commands
    from stream.tools.evaluate_command import cmd_evaluate
    from stream.tools.replay_command import cmd_replay
    from stream.tools.tune_commands import add_commands as add_tune_commands

    parser = _Parser(prog="storewatch", description=__doc__, epilog=EXIT_CODES_HELP)
    parser.add_argument("--version", action="version", version=f"storewatch {__version__}")
    parser.add_argument("--config", help="TOML settings file (default: $STOREWATCH_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, show the traceback as well as the one-line message",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("worker", help="run one Faust worker (production); config from env and file")
    p.add_argument("--loglevel", default="info", help="log level of the worker")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("dev", help="broker + Redis + worker on loopback until Ctrl-C")
    p.add_argument("--bootstrap", help="use this Kafka cluster instead of starting a broker")
    p.add_argument("--redis-url", help="use this Redis instead of starting one")
    p.add_argument("--workers", type=int, default=1, help="worker processes to run")
    p.add_argument("--partitions", type=int, default=4, help="partitions of each topic")
    p.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the workers' log folder after Ctrl-C (it is removed otherwise)",
    )
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser("replay", help="run a JSONL file of events through the detectors")
    p.add_argument(
        "--input",
        required=True,
        type=Path,
        help="events as JSON Lines, plain or gzip; - reads stdin",
    )
    p.add_argument("--alerts-out", type=Path, help="also write the alerts here (JSONL)")
    p.add_argument("--redis-url", help="Redis to use (default: start an embedded one)")
    p.add_argument(
        "--state",
        choices=("redis", "memory"),
        default="redis",
        help="where the replay keeps its state: Redis (default) or this process's "
        "memory (no Redis; the same alerts)",
    )
    p.add_argument(
        "--via-kafka",
        action="store_true",
        help="publish to the topics of a running worker and collect its alerts",
    )
    p.add_argument("--bootstrap", help="Kafka bootstrap of the running stack (with --via-kafka)")
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="with --via-kafka: publish at most this many events/s (default: no limit)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="with --via-kafka: seconds to wait for the worker to finish",
    )
    p.add_argument(
        "--no-models",
        action="store_true",
        help="rules alone decide (ablation): the models learn but are not asked",
    )
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("simulate", help="write a labelled simulated marketplace as JSONL")
    p.add_argument("--stores", type=int, default=500, help="stores in the marketplace")
    p.add_argument("--days", type=int, default=30, help="days of activity")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same file)")
    p.add_argument("--out", required=True, type=Path, help="the events (JSONL)")
    p.add_argument("--labels", type=Path, help="also write store_id -> label (JSON) here")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("evaluate", help="money held, recall, precision and honest noise of alerts")
    p.add_argument(
        "--events",
        required=True,
        type=Path,
        help="the JSONL events the alerts came from (plain or gzip; - reads stdin)",
    )
    labels = p.add_mutually_exclusive_group(required=True)
    labels.add_argument(
        "--labels", type=Path, help="store_id -> legit[/habit] | scheme[/variant] (JSON)"
    )
    labels.add_argument(
        "--labels-topic",
        nargs="?",
        const="",
        metavar="TOPIC",
        help="the analysts' labels from `storewatch label`, read from this "
        "topic (without a value: the configured labels topic)",
    )
    p.add_argument("--bootstrap", help="with --labels-topic: Kafka bootstrap")
    p.add_argument(
        "--alerts",
        required=True,
        type=Path,
        help="the alerts (JSONL, plain or gzip; - reads stdin)",
    )
    p.add_argument(
        "--report",
        "--out",
        dest="report",
        required=True,
        type=Path,
        help="write the figures as JSON here",
    )
    p.add_argument("--plot", type=Path, help="also draw them as a PNG")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="embedded stack + small simulated marketplace, live alerts")
    p.add_argument("--stores", type=int, default=120, help="stores in the marketplace")
    p.add_argument("--days", type=int, default=10, help="days of activity")
    p.add_argument("--seed", type=int, default=3, help="random seed")
    p.add_argument("--rate", type=float, default=4000.0, help="events/s published")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("schema", help="write the event and alert JSON Schemas")
    p.add_argument("--out-dir", default="stream/schemas", help="folder to write them to")
    p.set_defaults(func=cmd_schema)
    add_tune_commands(sub)

    p = sub.add_parser("bench", help="throughput, latency, memory and cost split, with ceilings")
    p.add_argument("--stores", type=int, default=700, help="stores in the marketplace")
    p.add_argument("--days", type=int, default=30, help="days of activity")
    p.add_argument("--seed", type=int, default=21, help="random seed")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    p.add_argument("--small", action="store_true", help="a tiny run that only proves it works")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "completion", help="a shell completion script: " "source <(storewatch completion bash)"
    )
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(func=cmd_completion)

    p = sub.add_parser("topics", help="create the topics on a Kafka cluster")
    p.add_argument("--bootstrap", help="Kafka bootstrap (default: the configured one)")
    p.add_argument("--partitions", type=int, help="partitions (default: the configured ones)")
    p.set_defaults(func=cmd_topics)
    add_commands(sub, _Help)
    _accept_debug_anywhere(sub)
    return parser


def _accept_debug_anywhere(sub: Any) -> None:
    """Let --debug follow the subcommand too (`storewatch replay ... --debug`), where people
    add it after a failure; SUPPRESS keeps a subcommand from resetting the top-level flag."""
    for command in sub.choices.values():
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_debug_anywhere(action)


# The pipeline allocates a few short-lived objects per event while the heap holds thousands of
# long-lived ones (stores in memory, River's trees): at Python's default (700, 10, 10) the
# collector runs some twenty times per thousand events. Measured on 100,000 events replayed:
# 6,922 -> 7,781 and 8,184 events/s at these thresholds (cycles are still collected, later).
GC_THRESHOLDS: Final = (50_000, 20, 100)


EXIT_CODES_HELP = """exit codes:
  0    done
  1    unexpected error (a bug: run again with --debug and report the traceback)
  2    usage or configuration error
  3    input or output file problem (missing, a directory, empty, not JSON Lines)
  4    Kafka or Redis unreachable
  5    replay: most events were refused (the summary is still printed)
  6    alert, store or label: no such id
  130  interrupted (Ctrl-C)
  141  the output pipe closed early (as `| head` does); nothing printed"""


# Arguments that may be `-`, read from stdin (one per command: there is one stdin).
STDIN_ARGUMENTS: Final = ("input", "events", "alerts")


def _run(args: argparse.Namespace) -> int:
    """The command, with an input given as `-` copied from stdin to a file it can reread."""
    from_stdin = [
        name
        for name in STDIN_ARGUMENTS
        if getattr(args, name, None) is not None and is_stdin(getattr(args, name))
    ]
    if len(from_stdin) > 1:
        raise UsageError(
            f"{' and '.join('--' + n for n in from_stdin)} both read stdin",
            "only one input can come from '-'; give the other as a file",
        )
    args.from_stdin = from_stdin
    if not from_stdin:
        return int(args.func(args))
    name = from_stdin[0]
    with stdin_as_file(getattr(args, name), f"--{name}") as copy:
        setattr(args, name, copy)
        return int(args.func(args))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        gc.set_threshold(*GC_THRESHOLDS)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return _run(args)
    except KeyboardInterrupt as exc:
        failure: BaseException = exc
        error: CommandError = CommandError(
            "interrupted", "Ctrl-C; files written so far may be " "incomplete"
        )
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`storewatch evaluate ... | head`): nothing to say, and no one
        # to say it to on stdout; stop as a shell tool killed by SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.PIPE_CLOSED)
    except CommandError as exc:
        failure, error, code = exc, exc, exc.exit_code
    except Exception as exc:
        failure, error = exc, _classify(exc)
        code = error.exit_code
    if debug:
        traceback.print_exception(failure)
    print(error.line(), file=sys.stderr, flush=True)
    return int(code)


def _classify(exc: Exception) -> CommandError:
    """The CommandError an unexpected exception amounts to, so that even a failure nobody
    foresaw ends in one line with an exit code that says whose it is."""
    from pydantic import ValidationError

    from stream.state.state import StateUnavailableError
    from stream.tools.dev import DevStackError
    from stream.tools.embedded import EmbeddedServerError

    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        return UsageError(
            f"invalid configuration: {problems}",
            "check the configuration file and the STOREWATCH_* variables",
        )
    if isinstance(exc, StateUnavailableError):
        return UnreachableError(f"lost Redis: {first_line}", "is it running?")
    if type(exc).__module__.split(".")[0] in ("aiokafka", "kafka"):
        return UnreachableError(
            f"Kafka failed: {first_line}", "is the broker running? " "check --bootstrap"
        )
    if isinstance(exc, DevStackError | EmbeddedServerError):
        return UnreachableError(
            f"the stack did not start: {first_line}", "run again with --debug for its log"
        )
    if isinstance(exc, OSError) and exc.filename is not None:
        return InputError(f"{exc.strerror or first_line}: {exc.filename}", "check the path")
    error = CommandError(
        f"unexpected {type(exc).__name__}: {first_line}",
        "a bug: run again with --debug and report the traceback",
    )
    return error


if __name__ == "__main__":
    sys.exit(main())
