"""The `storewatch` argument parser: every command and flag, their help and defaults, and
usage mistakes as one line."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from stream import __version__
from stream.cli.offline import cmd_bench, cmd_completion, cmd_schema, cmd_simulate
from stream.cli.stack import cmd_demo, cmd_dev, cmd_topics, cmd_worker
from stream.errors import UsageError

DESCRIPTION = (
    "The `storewatch` command line: thin shells around the engine, replay, simulator and stack."
)

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

    parser = _Parser(prog="storewatch", description=DESCRIPTION, epilog=EXIT_CODES_HELP)
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
    p.add_argument(
        "--latency-at",
        type=float,
        metavar="RATE",
        help="only the latency probes: RATE events/s (and any --probe rates), nothing else",
    )
    p.add_argument(
        "--probe",
        type=float,
        action="append",
        default=[],
        metavar="RATE",
        help="with --latency-at: probe this rate too (repeatable)",
    )
    p.add_argument(
        "--probe-s", type=float, default=10.0, help="seconds of traffic per latency probe"
    )
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
