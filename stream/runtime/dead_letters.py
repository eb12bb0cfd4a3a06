"""Dead letters: a refused message's letter and its ``Source``, the sinks, the log budget."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from stream.core.contract import MAX_EVENT_BYTES

log = logging.getLogger(__name__)
# A stream of bad messages logs this many dead letters a minute per reason, then one line that
# counts the rest: the counter storewatch_events_rejected_total and the dead-letter topic have
# them all, the log needs examples (a re-replay once wrote 6.6 MB of identical lines).
DEAD_LETTER_LINES_PER_MINUTE = 10


class LogBudget:
    """At most ``per_minute`` log lines per key each wall-clock minute; the first call of a new
    minute reports how many lines the last one held back."""

    def __init__(self, per_minute: int, wall_s: Callable[[], float] = time.time) -> None:
        self.per_minute = per_minute
        self._wall_s = wall_s
        self._minute = -1
        self._used: Counter[str] = Counter()

    def allow(self, key: str) -> bool:
        minute = int(self._wall_s() // 60)
        if minute != self._minute:
            held = {k: n - self.per_minute for k, n in self._used.items() if n > self.per_minute}
            if held:
                log.warning(
                    "dead-lettered %s more without a log line (see "
                    "storewatch_events_rejected_total and the dead-letter topic)",
                    ", ".join(f"{n} {k}" for k, n in sorted(held.items())),
                )
            self._minute, self._used = minute, Counter()
        self._used[key] += 1
        return self._used[key] <= self.per_minute


# A dead letter carries the original bytes up to this many, so it stays far below any broker's
# message limit whatever arrived (a 10 MiB message makes a 22 KB letter). The largest event the
# worker accepts fits whole, so every refused event that could be valid can be re-published
# from its letter; a longer one is cut, and its size and sha256 identify the original.
DEAD_LETTER_RAW_MAX_BYTES = MAX_EVENT_BYTES


class Source(NamedTuple):
    """Where a message came from: a Kafka topic/partition/offset, or a file and its line.
    A tuple: one is made per message, and a tuple costs a third of a frozen dataclass."""

    topic: str
    partition: int = -1
    offset: int = -1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused message with everything needed to inspect or re-drive it.

    The JSON form is bounded: ``raw_base64`` holds at most DEAD_LETTER_RAW_MAX_BYTES of the
    original (``raw_truncated`` says when it was cut), ``raw_bytes`` and ``raw_sha256`` its
    full size and hash.
    """

    reason: str
    error: str
    source: Source
    raw: bytes
    refused_at: str

    def to_json(self) -> bytes:
        kept = self.raw[:DEAD_LETTER_RAW_MAX_BYTES]
        return json.dumps(
            {
                "reason": self.reason,
                "error": self.error,
                "topic": self.source.topic,
                "partition": self.source.partition,
                "offset": self.source.offset,
                "raw_base64": base64.b64encode(kept).decode(),
                "raw_truncated": len(kept) < len(self.raw),
                "raw_bytes": len(self.raw),
                "raw_sha256": hashlib.sha256(self.raw).hexdigest(),
                "raw_text": self.raw[:2048].decode("utf-8", errors="replace"),
                "refused_at": self.refused_at,
            },
            separators=(",", ":"),
        ).encode()


class DeadLetterSink(Protocol):
    async def send(self, letter: DeadLetter) -> None: ...


class ListDeadLetterSink:
    """Keeps dead letters in memory: for tests and replay summaries."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.letters.append(letter)
