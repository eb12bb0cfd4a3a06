"""The set-up of the Kafka-path tests: a running stack with one worker, and files to replay into it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.tools.dev import DevStack
from tests.helpers import factories as f


def one_worker_stack(partitions: int = 3) -> Iterator[DevStack]:
    """A broker, a Redis and one worker, stopped when the generator is closed: the body of a
    module-scoped ``stack`` fixture (``yield from one_worker_stack()``)."""
    with DevStack(Settings(kafka_partitions=partitions)) as started:
        started.start(workers=1)
        yield started


def write_jsonl(path: Path, lines: Sequence[dict[str, Any] | bytes]) -> Path:
    """Events as JSON lines; a ``bytes`` line is written as it is (a malformed message)."""
    with open(path, "wb") as handle:
        for line in lines:
            handle.write((line if isinstance(line, bytes) else f.raw(line)) + b"\n")
    return path
