"""The worker's HTTP endpoint: Prometheus metrics on every path, and ``/healthz``.

``/healthz`` answers 200 while the worker can do its job and 503 while it cannot (its state
store unreachable, or not started yet), with the reason in the body. Kubernetes routes traffic
and readiness on it; liveness stays on ``/metrics``, because a worker waiting for Redis
recovers by itself and restarting it would only lose its models' latest learning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

HEALTH_PATH = "/healthz"


def health_of(registry: CollectorRegistry) -> tuple[bool, str]:
    """Healthy, and why, from the worker's own ``storewatch_healthy`` gauge."""
    value = registry.get_sample_value("storewatch_healthy")
    if value is None:
        return False, "starting: the engine is not built yet"
    if value < 1:
        return False, "unhealthy: the state store (Redis) does not answer; retrying"
    return True, "ok"


def metrics_and_health_app(registry: CollectorRegistry,
                           health: Callable[[], tuple[bool, str]]) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            ok, why = health()
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "text/plain; charset=utf-8")])
            return [why.encode() + b"\n"]
        return metrics(environ, start_response)

    return app


def serve(port: int, addr: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY) -> Any:
    """Serve metrics and /healthz on ``port`` from a daemon thread; returns the server."""
    app = metrics_and_health_app(registry, lambda: health_of(registry))
    server = make_server(addr, port, app, ThreadingWSGIServer, handler_class=_SilentHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="metrics").start()
    return server
