"""Running a `storewatch` command: stdin as a file, logging, and every failure as one line with
an exit code."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import traceback
from typing import Final

from stream.cli.parser import build_parser
from stream.errors import CommandError, ExitCode, InputError, UnreachableError, UsageError
from stream.inputs import is_stdin, stdin_as_file

# The pipeline allocates a few short-lived objects per event while the heap holds thousands of
# long-lived ones (stores in memory, River's trees): at Python's default (700, 10, 10) the
# collector runs some twenty times per thousand events. Measured on 100,000 events replayed:
# 6,922 -> 7,781 and 8,184 events/s at these thresholds (cycles are still collected, later).
GC_THRESHOLDS: Final = (50_000, 20, 100)


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

    from stream.state.protocol import StateUnavailableError
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
