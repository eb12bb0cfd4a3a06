"""Whether Kafka and Redis answer, asked once and briefly by the one-shot commands.

A worker waits patiently for a broker or a Redis that is restarting; a person who typed
``storewatch tune show`` with nothing running wants to hear so in seconds, in one line, not
a traceback after a minute or a retry loop that never ends.
"""

from __future__ import annotations

import asyncio
import logging

from stream.config import Settings, redact_url
from stream.errors import UnreachableError
from stream.state.protocol import StateUnavailableError
from stream.state.redis_client import ping_redis

PROBE_TIMEOUT_S = 5.0
KAFKA_HINT = "is `storewatch dev` running? give its address with --bootstrap HOST:PORT"


async def check_kafka(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise UnreachableError unless a broker of ``settings.kafka_bootstrap`` answers a
    metadata request within ``timeout_s``."""
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(
        bootstrap_servers=settings.kafka_bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        **settings.kafka_security.aiokafka_options(),
    )
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its own error lines would repeat ours
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
    except Exception as exc:  # aiokafka raises several kinds; all mean "not reachable"
        raise UnreachableError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: no broker "
            f"answered within {timeout_s:g}s",
            KAFKA_HINT,
        ) from exc
    finally:
        quiet.setLevel(level)
        await client.close()


async def check_redis(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise UnreachableError unless Redis at ``url`` answers PING within ``timeout_s``."""
    try:
        await ping_redis(url, timeout_s)
    except StateUnavailableError as exc:
        raise UnreachableError(
            f"cannot reach Redis at {redact_url(url)}: {_reason(exc.__cause__ or exc)}",
            "is it running? check --redis-url, or leave it out to use an " "embedded one",
        ) from exc


def _reason(exc: BaseException) -> str:
    """An exception as a short phrase, without the prefixes libraries add."""
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc):
        return "connection refused"
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return "no answer in time"
    return str(exc).removeprefix("Redis unavailable: ") or type(exc).__name__
