"""Publishing what the worker decided (alerts, dead letters) without ever skipping it.

An input offset may be committed only once everything its event caused is durably written.
A sink that fails is therefore retried with backoff for ``give_up_after_s``; past that,
``PublishError`` is raised and the shell halts the worker's progress (nothing more decided,
saved or committed) instead of moving on: losing an alert, or the only trace of a refused
message, is worse than a stopped worker that says so. Transport-free: it wraps any sink.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item", contravariant=True)
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0
GIVE_UP_AFTER_S = 30.0


class PublishError(RuntimeError):
    """A sink kept refusing an item past the retry budget: the worker must stop its progress."""

    def __init__(self, what: str, attempts: int, waited_s: float, cause: BaseException) -> None:
        super().__init__(
            f"{what} not published after {attempts} attempts over {waited_s:.1f}s: " f"{cause!r}"
        )
        self.what = what


class Sink(Protocol[Item]):
    async def send(self, item: Item) -> None: ...


class RetryingSink(Generic[Item]):
    """``sink.send`` retried with exponential backoff; raises PublishError once it has kept
    failing for ``give_up_after_s``. ``on_failure(what)`` counts each failed attempt."""

    def __init__(
        self,
        sink: Sink[Item],
        what: str,
        give_up_after_s: float = GIVE_UP_AFTER_S,
        on_failure: Callable[[str], Any] | None = None,
        first_delay_s: float = RETRY_FIRST_S,
        max_delay_s: float = RETRY_MAX_S,
    ) -> None:
        self.sink = sink
        self.what = what
        self.give_up_after_s = give_up_after_s
        self._on_failure = on_failure
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s

    async def send(self, item: Item) -> None:
        started_s = time.monotonic()
        delay_s = self._first_delay_s
        attempts = 0
        while True:
            attempts += 1
            try:
                await self.sink.send(item)
                return
            except Exception as exc:
                if self._on_failure is not None:
                    self._on_failure(self.what)
                waited_s = time.monotonic() - started_s
                if waited_s + delay_s > self.give_up_after_s:
                    raise PublishError(self.what, attempts, waited_s, exc) from exc
                log.warning(
                    "%s not published (attempt %d), retrying in %.1fs: %r",
                    self.what,
                    attempts,
                    delay_s,
                    exc,
                )
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, self._max_delay_s)
