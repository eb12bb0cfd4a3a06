"""The worker's HTTP endpoint (Prometheus metrics on every path, and ``/healthz``), the health
checks behind it (``stream.runtime.redis_watch`` feeds the ``redis`` check).

``/healthz`` answers 200 while the worker can do its job and 503 while it cannot, naming every
check that fails:

- ``stalled``: work is pending (records fetched or lag on an assigned partition) but no batch
  was decided for ``stall_after_s``;
- ``no_partitions``: the worker holds no input partition: it never got an assignment, or its
  partitions were revoked and none came back, for longer than a rebalance takes. (A worker the
  group left without partitions, because there are more workers than partitions, is idle, not
  unhealthy: the alert StorewatchWorkerIdle covers it);
- ``crashed``: an agent or background task died with an exception;
- ``redis``: Redis did not answer a PING (sent every ``PING_INTERVAL_S``) within its timeout;
- ``halted``: the worker stopped its own progress because an alert or dead letter could not be
  published, or an exception escaped the batch path: nothing past the undecided batch is saved
  or committed, so a restart (once the cause is fixed) takes it up again.

``storewatch_healthy`` and ``storewatch_health_check_failing{check}`` are computed from the same
checks at every scrape, so both turn within a second or two of the condition. Kubernetes routes
readiness on ``/healthz``; liveness stays on ``/metrics``, because a worker waiting for Redis
recovers by itself and restarting it would only lose its models' latest learning.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar
from wsgiref.simple_server import make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

if TYPE_CHECKING:
    from stream.runtime.metrics import Metrics

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
STALL_AFTER_S = 10.0
PING_INTERVAL_S = 0.5
PING_TIMEOUT_S = 1.0

# Every check, with what its failure means (the /healthz body).
CHECKS = {
    "stalled": "work is pending but no batch was decided for a while (consumer stalled)",
    "no_partitions": "the worker holds no input partition (not in the consumer group)",
    "crashed": "an agent or background task crashed (see the worker log; restart the worker)",
    "redis": "the state store (Redis) does not answer",
    "halted": "the worker stopped its progress rather than skip a message (see the worker log; "
    "restart it once the cause is fixed)",
}

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


# -- the checks: pure, fed timestamps --------------------------------------------------------


class StallCheck:
    """Stalled: work has been pending for ``after_s`` and no batch was decided meanwhile.

    The consumer calls ``decided(now)`` per decided batch; a periodic probe calls
    ``pending(now, bool)`` with whether it sees work waiting (fetched records, or lag).

    >>> check = StallCheck(after_s=5)
    >>> check.pending(0, True); check.failing(4.9) is None
    True
    >>> check.failing(5.1)
    'work pending for 5.1s, no batch decided meanwhile'
    >>> check.decided(6); check.failing(10) is None
    True
    >>> check.pending(11, False); check.failing(100) is None
    True
    """

    def __init__(self, after_s: float = STALL_AFTER_S) -> None:
        self.after_s = after_s
        self._pending_since: float | None = None
        self._decided_at: float | None = None

    def pending(self, now: float, pending: bool) -> None:
        if not pending:
            self._pending_since = None
        elif self._pending_since is None:
            self._pending_since = now

    def decided(self, now: float) -> None:
        self._decided_at = now

    def failing(self, now: float) -> str | None:
        if self._pending_since is None:
            return None
        since = max(self._pending_since, self._decided_at or self._pending_since)
        if now - since < self.after_s:
            return None
        return f"work pending for {now - since:.1f}s, no batch decided meanwhile"


class PartitionCheck:
    """No partitions: none assigned since start, or since a revocation, for ``after_s``.

    An assignment, even an empty one, ends the wait: a group with more workers than partitions
    leaves some idle, which is not a fault of the idle worker.

    >>> check = PartitionCheck(after_s=10, now=0)
    >>> check.failing(9) is None, check.failing(11)
    (True, 'no partition assigned for 11.0s')
    >>> check.assigned(12, 3); check.failing(50) is None
    True
    >>> check.revoked(60); check.failing(65) is None, check.failing(71) is not None
    (True, True)
    """

    def __init__(self, after_s: float, now: float) -> None:
        self.after_s = after_s
        self._waiting_since: float | None = now
        self.held = 0

    def assigned(self, now: float, held: int) -> None:
        self._waiting_since = None
        self.held = held

    def revoked(self, now: float) -> None:
        self.held = 0
        if self._waiting_since is None:
            self._waiting_since = now

    def failing(self, now: float) -> str | None:
        if self._waiting_since is None or now - self._waiting_since < self.after_s:
            return None
        return f"no partition assigned for {now - self._waiting_since:.1f}s"


class RedisCheck:
    """Redis answers: its last PING succeeded and none has been waiting past ``timeout_s``.

    >>> check = RedisCheck(timeout_s=1)
    >>> check.failing(0)
    'no answer to PING yet'
    >>> check.sent(0); check.answered(0.01); check.failing(0.5) is None
    True
    >>> check.sent(1); check.failing(1.5) is None, check.failing(2.2)
    (True, 'PING unanswered for 1.2s')
    >>> check.refused(2.3, "Connection refused"); check.failing(2.3)
    'PING failed: Connection refused'
    """

    def __init__(self, timeout_s: float = PING_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._sent_at: float | None = None
        self._error: str | None = "no answer to PING yet"

    def sent(self, now: float) -> None:
        if self._sent_at is None:
            self._sent_at = now

    def answered(self, now: float) -> None:
        self._sent_at = None
        self._error = None

    def refused(self, now: float, why: str) -> None:
        self._sent_at = None
        self._error = f"PING failed: {why}"

    def failing(self, now: float) -> str | None:
        if self._sent_at is not None and now - self._sent_at >= self.timeout_s:
            return f"PING unanswered for {now - self._sent_at:.1f}s"
        return self._error


# -- the worker's health: the checks together, exported --------------------------------------


class WorkerHealth:
    """The worker's health checks, and the hooks that feed them.

    Binding it to a ``Metrics`` makes ``storewatch_healthy`` and
    ``storewatch_health_check_failing{check}`` computed from the checks at every scrape (what
    other code writes into ``storewatch_healthy`` is then ignored).
    """

    def __init__(
        self,
        stall_after_s: float = STALL_AFTER_S,
        partitions_after_s: float = 30.0,
        ping_timeout_s: float = PING_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.stall = StallCheck(stall_after_s)
        self.partitions = PartitionCheck(partitions_after_s, clock())
        self.redis = RedisCheck(ping_timeout_s)
        self._crashed: list[str] = []
        self._halted: str | None = None
        self._lock = threading.Lock()  # the metrics thread reads while the loop writes

    # hooks ----------------------------------------------------------------------------------

    def batch_decided(self) -> None:
        """The consumer decided a batch (call once per batch)."""
        with self._lock:
            self.stall.decided(self.clock())

    def work_pending(self, pending: bool) -> None:
        """Whether records are fetched but undecided, or assigned partitions lag."""
        with self._lock:
            self.stall.pending(self.clock(), pending)

    def assigned(self, held: int) -> None:
        with self._lock:
            self.partitions.assigned(self.clock(), held)

    def revoked(self) -> None:
        with self._lock:
            self.partitions.revoked(self.clock())
            self.stall.pending(self.clock(), False)  # nothing of ours is pending any more

    def crashed(self, what: str, exc: BaseException) -> None:
        log.error("%s crashed: %r; the worker reports itself unhealthy until restarted", what, exc)
        with self._lock:
            self._crashed.append(f"{what}: {exc!r}"[:200])

    def halted(self, why: str) -> None:
        """The batch path stopped for good: unhealthy until the worker is restarted."""
        with self._lock:
            self._halted = why[:300]

    def watched(self, what: str) -> Callable[[F], F]:
        """Decorate an agent or task body: an exception escaping it marks the worker crashed."""

        def decorate(fn: F) -> F:
            @functools.wraps(fn)
            async def run(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except Exception as exc:
                    self.crashed(what, exc)
                    raise

            return run  # type: ignore[return-value]

        return decorate

    # reading --------------------------------------------------------------------------------

    def failing(self) -> dict[str, str]:
        """Each failing check and why."""
        now = self.clock()
        with self._lock:
            found = {
                "stalled": self.stall.failing(now),
                "no_partitions": self.partitions.failing(now),
                "crashed": "; ".join(self._crashed) or None,
                "redis": self.redis.failing(now),
                "halted": self._halted,
            }
        return {check: why for check, why in found.items() if why is not None}

    def status(self) -> tuple[bool, str]:
        failing = self.failing()
        if not failing:
            return True, "ok"
        return False, "unhealthy: " + "; ".join(
            f"{check}: {CHECKS[check]} ({why})" for check, why in failing.items()
        )

    def bind(self, metrics: Metrics) -> WorkerHealth:
        metrics.healthy.set_function(lambda: 0.0 if self.failing() else 1.0)

        def failing_now(check: str) -> Callable[[], float]:
            return lambda: 1.0 if check in self.failing() else 0.0

        for check in CHECKS:
            metrics.health_check_failing.labels(check).set_function(failing_now(check))
        return self


# -- Redis: PING, and the state marker --------------------------------------------------------


# -- HTTP ---------------------------------------------------------------------------------------


def health_of(registry: CollectorRegistry) -> tuple[bool, str]:
    """Healthy, and why, from the worker's own gauges (``storewatch_healthy`` and
    ``storewatch_health_check_failing``)."""
    value = registry.get_sample_value("storewatch_healthy")
    if value is None:
        return False, "starting: the engine is not built yet"
    if value >= 1:
        return True, "ok"
    failing = [
        f"{check}: {why}"
        for check, why in CHECKS.items()
        if registry.get_sample_value("storewatch_health_check_failing", {"check": check})
    ]
    return False, "unhealthy: " + (
        "; ".join(failing) or "the state store (Redis) does not answer; retrying"
    )


def metrics_and_health_app(
    registry: CollectorRegistry, health: Callable[[], tuple[bool, str]]
) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            ok, why = health()
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "text/plain; charset=utf-8")],
            )
            return [why.encode() + b"\n"]
        served: Iterable[bytes] = metrics(environ, start_response)
        return served

    return app


def serve(port: int, addr: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY) -> Any:
    """Serve metrics and /healthz on ``port`` from a daemon thread; returns the server."""
    app = metrics_and_health_app(registry, lambda: health_of(registry))
    server = make_server(addr, port, app, ThreadingWSGIServer, handler_class=_SilentHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
    return server
