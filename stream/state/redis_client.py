"""Redis clients for a URL (one server or a Cluster), the PING check and the error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import redis.asyncio as redis_asyncio
import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from stream.state.protocol import StateUnavailableError


@contextmanager
def redis_errors() -> Iterator[None]:
    """Raise a connection or time-out error of redis as StateUnavailableError."""
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise StateUnavailableError(f"Redis unavailable: {exc}") from exc


CLUSTER_SCHEMES: Final = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def redis_client(url: str, **options: Any) -> Any:
    """A redis.asyncio client for ``url``: ``redis://`` or ``rediss://`` (TLS) for one server,
    ``redis+cluster://`` or ``rediss+cluster://`` for a Redis Cluster (any node's address;
    the client discovers the others). ``options`` (password, ssl_ca_certs, ...) go to the
    client; values in the URL win over them, as redis-py does."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in CLUSTER_SCHEMES:
        return RedisCluster.from_url(
            f"{CLUSTER_SCHEMES[scheme]}://{rest}", decode_responses=True, **options
        )
    return redis_asyncio.Redis.from_url(url, decode_responses=True, **options)


async def ping_redis(url: str, timeout_s: float, **options: Any) -> None:
    """Raise StateUnavailableError unless Redis at ``url`` answers PING within ``timeout_s``.

    One-shot commands call this first: the engine retries an unavailable Redis for ever, as a
    worker should, but a replay started against nothing would then wait for ever."""
    try:
        client = redis_client(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, **options
        )
        try:
            await asyncio.wait_for(client.ping(), timeout_s)
        finally:
            await client.aclose()
    except (redis.exceptions.RedisError, OSError) as exc:  # TimeoutError is an OSError
        raise StateUnavailableError(f"Redis unavailable: {exc or type(exc).__name__}") from exc


class ClusterPipeline:
    """A non-transactional RedisCluster pipeline that also runs registered scripts.

    redis-py blocks ``evalsha`` on cluster pipelines (it cannot load a missing script on the
    right node mid-pipeline), so this queues EVALSHA as a raw command, which the cluster
    pipeline routes by its keys like any other: every script call here has all its keys in
    one slot. A node that does not know a script answers NOSCRIPT for that command alone; the
    scripts are then loaded on every primary and the failed commands re-run, in their order
    (they all went to the nodes that lacked the script, so no command of theirs had run).
    """

    def __init__(self, cluster: RedisCluster, scripts: list[Any]) -> None:
        self._cluster = cluster
        self._scripts = scripts
        self._queued: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> ClusterPipeline:
        self._queued.append(("execute_command", ("EVALSHA", sha, numkeys, *keys_and_args), {}))
        return self

    def __getattr__(self, name: str) -> Any:
        def queue(*args: Any, **kwargs: Any) -> ClusterPipeline:
            self._queued.append((name, args, kwargs))
            return self

        return queue

    async def _run(self, commands: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
        pipe = self._cluster.pipeline()
        for name, args, kwargs in commands:
            getattr(pipe, name)(*args, **kwargs)
        return list(await pipe.execute(raise_on_error=False))

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        results = await self._run(self._queued)
        missing = [
            i for i, r in enumerate(results) if isinstance(r, redis.exceptions.NoScriptError)
        ]
        if missing:
            for script in self._scripts:
                await self._cluster.script_load(script.script)  # every primary
            for i, result in zip(
                missing, await self._run([self._queued[i] for i in missing]), strict=True
            ):
                results[i] = result
        self._queued = []
        errors = [r for r in results if isinstance(r, Exception)]
        if raise_on_error and errors:
            raise errors[0]
        return results


def slot_of(key: str) -> int:
    return int(key_slot(key.encode()))


class ClusterClient:
    """A RedisCluster whose ``pipeline()`` runs registered scripts (see ClusterPipeline)."""

    def __init__(self, cluster: RedisCluster) -> None:
        self._cluster = cluster
        self._scripts: list[Any] = []

    def register_script(self, text: str) -> Any:
        script = self._cluster.register_script(text)
        self._scripts.append(script)
        return script

    def pipeline(self, transaction: bool = False) -> ClusterPipeline:
        if transaction:
            raise ValueError("a transaction cannot span the slots of a Redis Cluster")
        return ClusterPipeline(self._cluster, self._scripts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cluster, name)
