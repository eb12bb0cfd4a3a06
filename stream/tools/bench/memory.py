"""Redis memory per tracked store, and by kind of key."""

from __future__ import annotations

from typing import Any

from stream.tools.dev import DevStack


def state_footprint(stack: DevStack, redis_before_bytes: int) -> dict[str, Any]:
    """Redis memory per tracked store at the end of a run: used memory above what the same
    server used before the first event (workers connected, scripts not yet loaded), divided by
    the stores with saved state. Cross-store facts are included: they exist because of stores."""
    import redis

    client = redis.Redis.from_url(str(stack.redis_url))
    try:
        stores = sum(1 for _ in client.scan_iter(match="sw:v1:*:state", count=1000))
        keys = client.dbsize()
        used = int(client.info("memory")["used_memory"])
    finally:
        client.close()
    return {
        "stores_tracked": stores,
        "redis_keys": keys,
        "redis_bytes_by_kind": redis_bytes_by_kind(str(stack.redis_url)),
        "redis_used_memory_before_bytes": redis_before_bytes,
        "redis_used_memory_bytes": used,
        "redis_bytes_per_store": round(max(0, used - redis_before_bytes) / max(1, stores)),
    }


def key_kind(key: str) -> str:
    """What a Storewatch key holds, for the memory breakdown.

    >>> key_kind("sw:v1:{s42}:state"), key_kind("sw:v1:fact:trk:{YT123}")
    ('state', 'fact:trk')
    """
    if "}:" in key:
        return key.rsplit("}:", 1)[1]
    if ":fact:" in key:
        return "fact:" + key.split(":fact:", 1)[1].split(":", 1)[0]
    return "other"


def redis_bytes_by_kind(redis_url: str) -> dict[str, dict[str, int]]:
    """Keys and bytes (MEMORY USAGE, which counts a key's own overhead) per kind of key."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    kinds: dict[str, dict[str, int]] = {}
    try:
        keys = list(client.scan_iter(count=1000))
        for first in range(0, len(keys), 1000):
            pipe = client.pipeline(transaction=False)
            chunk = keys[first : first + 1000]
            for key in chunk:
                pipe.memory_usage(key, samples=0)
            for key, used in zip(chunk, pipe.execute(), strict=True):
                kind = kinds.setdefault(key_kind(key), {"keys": 0, "bytes": 0})
                kind["keys"] += 1
                kind["bytes"] += int(used or 0)
    finally:
        client.close()
    return kinds
