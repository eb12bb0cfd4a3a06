"""The worker's HTTP endpoint: /healthz follows storewatch_healthy, metrics everywhere else."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from stream.embedded import free_port
from stream.health import HEALTH_PATH, serve
from stream.metrics import Metrics


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as page:
            return page.status, page.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def served(registry: CollectorRegistry) -> Iterator[int]:
    port = free_port()
    server = serve(port, addr="127.0.0.1", registry=registry)
    yield port
    server.shutdown()


def test_a_worker_not_built_yet_is_not_healthy(served: int) -> None:
    status, body = get(served, HEALTH_PATH)
    assert status == 503 and "starting" in body


def test_a_worker_whose_redis_does_not_answer_is_not_healthy(
        served: int, registry: CollectorRegistry) -> None:
    Metrics.create(registry).healthy.set(0)
    status, body = get(served, HEALTH_PATH)
    assert status == 503 and "Redis" in body


def test_a_worker_whose_redis_answers_is_healthy(served: int, registry: CollectorRegistry) -> None:
    Metrics.create(registry).healthy.set(1)
    assert get(served, HEALTH_PATH) == (200, "ok\n")


def test_every_other_path_serves_the_metrics(served: int, registry: CollectorRegistry) -> None:
    Metrics.create(registry).healthy.set(1)
    status, body = get(served, "/metrics")
    assert status == 200 and "storewatch_healthy 1.0" in body
