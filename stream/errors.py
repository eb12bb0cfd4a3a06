"""The command line's error policy: a mistake a person can fix is one line and an exit code.

A traceback tells its reader where the program was, not what to do; the person who typed the
command needs what went wrong and the next step. Every failure a user can cause or repair
(a path, a flag, a setting, a server that is not running) is raised as a ``CommandError``
carrying both, and ``stream.cli.main`` prints it as ``storewatch: error: <what> (<hint>)`` and
exits with the code of its kind, so scripts can tell a typo from an outage. ``--debug`` adds
the traceback for whoever has to look deeper.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a non-zero exit means; the README's command section lists the same table."""

    OK = 0
    BUG = 1  # not the user's doing: a traceback with --debug belongs in an issue
    USAGE = 2  # the command line or the configuration (argparse uses 2 as well)
    INPUT = 3  # an input or output file: missing, unreadable, empty, wrong format
    UNREACHABLE = 4  # Kafka or Redis did not answer
    REFUSED = 5  # the run finished, but most of its events were refused (summary printed)
    NOT_FOUND = 6  # an alert or store id that nothing holds
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)
    PIPE_CLOSED = 141  # stdout's reader went away (128 + SIGPIPE), e.g. `| head`


class CommandError(Exception):
    """A failure the person running the command can act on: what happened and what to try."""

    exit_code: ExitCode = ExitCode.BUG

    def __init__(self, what: str, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint

    def line(self) -> str:
        """The single line printed on stderr.

        >>> InputError("events.jsonl does not exist", "check the path").line()
        'storewatch: error: events.jsonl does not exist (check the path)'
        """
        hint = f" ({self.hint})" if self.hint else ""
        return f"storewatch: error: {self.what}{hint}"


class UsageError(CommandError):
    """A flag, an argument or a setting that cannot be used as given."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError, ValueError):
    """A configuration file or ``STOREWATCH_*`` variable that is unknown or invalid.

    Also a ValueError, so library callers of ``load_settings`` can treat it as bad input."""


class InputError(CommandError):
    """An input or output file that cannot be used: missing, a directory, empty, not JSONL."""

    exit_code = ExitCode.INPUT


class UnreachableError(CommandError):
    """Kafka or Redis did not answer in time; a one-shot command stops rather than wait."""

    exit_code = ExitCode.UNREACHABLE


class MostlyRefusedError(CommandError):
    """A replay whose events were mostly refused (malformed, late, duplicate): it ran, its
    summary is printed, but a script must not read it as a success."""

    exit_code = ExitCode.REFUSED


class NotFoundError(CommandError):
    """An alert id or store id that the topic or Redis asked does not hold."""

    exit_code = ExitCode.NOT_FOUND
