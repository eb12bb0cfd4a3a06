"""Publishing never skips: a refused alert or dead letter is retried, then stops the worker;
a dead letter stays small whatever arrived."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from stream.runtime.dead_letters import DEAD_LETTER_RAW_MAX_BYTES, DeadLetter, Source
from stream.runtime.publishing import PublishError, RetryingSink


class RefusingSink:
    """Refuses the first ``refusals`` sends, as a broker that is away or says no."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.sent: list[str] = []

    async def send(self, item: str) -> None:
        if self.refusals > 0:
            self.refusals -= 1
            raise ConnectionError("broker refused")
        self.sent.append(item)


async def test_a_sink_that_refuses_a_few_times_gets_the_item_once_and_each_failure_counted() -> (
    None
):
    failures: list[str] = []
    sink = RefusingSink(refusals=3)
    retrying = RetryingSink(
        sink, "alert", give_up_after_s=5, on_failure=failures.append, first_delay_s=0.01
    )
    await retrying.send("a-1")
    assert sink.sent == ["a-1"]
    assert failures == ["alert"] * 3


async def test_a_sink_that_keeps_refusing_raises_publish_error_after_the_retry_budget() -> None:
    retrying = RetryingSink(
        RefusingSink(refusals=10**6),
        "dead_letter",
        give_up_after_s=0.2,
        first_delay_s=0.01,
        max_delay_s=0.05,
    )
    with pytest.raises(PublishError, match="dead_letter not published after .* attempts"):
        await retrying.send("letter")


@pytest.mark.parametrize("size", [10, DEAD_LETTER_RAW_MAX_BYTES, 10 * 1024 * 1024])
def test_a_dead_letter_carries_a_bounded_prefix_the_size_and_the_sha256(size: int) -> None:
    raw = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    letter = DeadLetter("oversize", "too big", Source("orders", 0, 7), raw, "now")
    encoded = letter.to_json()
    decoded = json.loads(encoded)
    assert len(encoded) < 3 * DEAD_LETTER_RAW_MAX_BYTES
    assert base64.b64decode(decoded["raw_base64"]) == raw[:DEAD_LETTER_RAW_MAX_BYTES]
    assert decoded["raw_truncated"] is (size > DEAD_LETTER_RAW_MAX_BYTES)
    assert decoded["raw_bytes"] == size
    assert decoded["raw_sha256"] == hashlib.sha256(raw).hexdigest()
