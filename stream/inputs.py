"""Input and output files of the one-shot commands, checked before any work starts.

A month of events takes minutes to replay: finding out at the end that the alerts cannot be
written, or at the start that the input was a directory, through a traceback, wastes both. The
checks here run first and raise ``InputError`` saying which file, what is wrong and what to do.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from stream.errors import InputError, UsageError

T = TypeVar("T")
STDIN = "-"
# Formats matplotlib writes without extra packages; anything else fails only after the work.
PLOT_SUFFIXES = (".png", ".pdf", ".svg")
# How far into a file to look for its first non-blank byte before calling it blank.
_SNIFF_BYTES = 1 << 16


def is_stdin(path: str | Path) -> bool:
    return str(path) == STDIN


def check_input(path: str | Path, what: str) -> None:
    """Raise InputError unless ``path`` is a readable regular file (or ``-``, stdin)."""
    if is_stdin(path):
        return
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} {p} does not exist", "check the path")
    if p.is_dir():
        raise InputError(f"{what} {p} is a directory", "give the file inside it")
    if not os.access(p, os.R_OK):
        raise InputError(f"cannot read {what} {p}: permission denied", "check its permissions")


def check_output(path: str | Path, what: str) -> None:
    """Raise InputError unless a file can be created at ``path``: its folder exists and is
    writable, and ``path`` is not itself a folder."""
    p = Path(path)
    if p.is_dir():
        raise InputError(
            f"cannot write {what} to {p}: it is a directory", "give a file name inside it"
        )
    parent = p.parent
    if not parent.exists():
        raise InputError(
            f"cannot write {what} to {p}: folder {parent} does not exist",
            f"create it first: mkdir -p {parent}",
        )
    if not parent.is_dir():
        raise InputError(f"cannot write {what} to {p}: {parent} is not a folder", "check the path")
    if not os.access(parent, os.W_OK):
        raise InputError(
            f"cannot write {what} to {p}: permission denied on {parent}",
            "choose a folder you can write to",
        )


def check_plot(path: str | Path) -> None:
    """Raise UsageError unless the plot's file name says a format the plotter writes."""
    suffix = Path(path).suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise UsageError(
            f"--plot {path}: cannot draw a {suffix or 'suffix-less'} file",
            f"name it {' or '.join(PLOT_SUFFIXES)}, e.g. {Path(path).stem}.png",
        )


def check_jsonl(head: bytes, name: str, what: str) -> None:
    """Raise InputError when the first bytes of a file show it cannot be JSON Lines: nothing
    at all, or one JSON array (a common export) rather than one object per line.

    >>> check_jsonl(b'{"type": "order"}\\n', "e.jsonl", "events")
    >>> check_jsonl(b' [{"type": "order"}]', "e.json", "events")
    Traceback (most recent call last):
    ...
    stream.errors.InputError: events e.json is a JSON array, not JSON Lines
    """
    stripped = head.lstrip()
    if not stripped:
        raise InputError(f"{what} {name} is empty", "nothing to read: was it written completely?")
    if stripped.startswith(b"["):
        raise InputError(
            f"{what} {name} is a JSON array, not JSON Lines",
            f"one object per line; convert it: jq -c '.[]' {name} > events.jsonl",
        )


def sniff_jsonl(path: str | Path, what: str, name: str | None = None) -> None:
    """``check_jsonl`` on the start of a file (decompressed, if it is gzip); ``name`` is how
    the message calls it (default: its path)."""
    with open_binary(path) as handle:
        head = _reading(path, lambda: handle.read(_SNIFF_BYTES))
    check_jsonl(head, name or str(path), what)


GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: str | Path) -> BinaryIO:
    """A file for reading bytes, decompressed on the fly when it is gzip.

    Told by its first two bytes rather than by its name: exports are named ``events.gz``,
    ``events.jsonl.gz`` or, after a rename, plain ``events.jsonl``."""
    handle = open(path, "rb")  # noqa: SIM115 - returned open, closed by the caller
    if handle.read(2) == GZIP_MAGIC:
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


def read_lines(path: str | Path) -> Iterator[bytes]:
    """Non-empty lines of a JSON Lines file (plain or gzip), as the raw bytes a Kafka message
    would carry; a damaged gzip stream is an InputError naming the file."""
    with open_binary(path) as handle:
        lines = iter(handle)
        while True:
            line = _reading(path, lambda: next(lines, None))
            if line is None:
                return
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line


def _reading(path: str | Path, read: Callable[[], T]) -> T:
    """``read()``, with a damaged or truncated gzip stream said as what it is."""
    try:
        return read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InputError(
            f"{path} is a damaged or truncated gzip file: {exc or 'it ends early'}",
            "compress it again, or give the uncompressed file",
        ) from None


@contextmanager
def stdin_as_file(path: Path, what: str) -> Iterator[Path]:
    """``path`` itself, or for ``-`` a temporary copy of stdin (removed afterwards).

    The commands read their input more than once (to count it, then to replay it; to list its
    stores, then to score them), which a pipe does not allow; a copy on disk does."""
    if not is_stdin(path):
        yield path
        return
    if sys.stdin.isatty():
        raise UsageError(
            f"{what} '-' means stdin, but stdin is a terminal",
            "pipe the file in, e.g. zcat events.jsonl.gz | storewatch ... -",
        )
    with tempfile.NamedTemporaryFile(
        prefix="storewatch-stdin-", suffix=".jsonl", delete=False
    ) as copy:
        shutil.copyfileobj(sys.stdin.buffer, copy)
    try:
        yield Path(copy.name)
    finally:
        os.unlink(copy.name)


def shown(args: Any, name: str) -> str:
    """How messages call the input argument ``name``: its path, or ``stdin`` for one read
    from `-` (the command line copies it to a file and lists it in ``args.from_stdin``)."""
    return "stdin" if name in getattr(args, "from_stdin", ()) else str(getattr(args, name))
