"""Kafka administration: creating the topics Storewatch reads and writes.

Production (`storewatch topics`) and the embedded dev stack create topics the same way, so this
lives with the other Kafka clients in the runtime, not with the dev servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


class TopicsNotReadyError(TimeoutError):
    """Topics were created but metadata did not show them (with a leader) in time."""


def create_topics(
    bootstrap: str,
    names: Sequence[str],
    partitions: int,
    compacted: Sequence[str] = (),
    timeout: float = 10.0,
    client_options: dict[str, Any] | None = None,
) -> None:
    """Create topics (existing ones are left as they are) and wait until metadata shows them.

    Topics in ``compacted`` get ``cleanup.policy=compact`` and are created even when missing
    from ``names``. Tansu accepts that config (it does not reject it) but does not report it
    back in DescribeConfigs and its memory engine does not compact; real Kafka does both.
    ``client_options`` go to kafka-python's admin client (security: SASL, TLS).
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    wanted = list(dict.fromkeys([*names, *compacted]))
    if not wanted:
        return
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="storewatch-create-topics", **(client_options or {})
    )
    try:
        # One request per topic so that one existing topic cannot hide the others' errors.
        for name in wanted:
            configs = {"cleanup.policy": "compact"} if name in compacted else {}
            topic = NewTopic(name, partitions, 1, topic_configs=configs)
            try:
                admin.create_topics([topic])
            except TopicAlreadyExistsError:
                pass
        _wait_for_topics(admin.describe_topics, wanted, timeout)
    finally:
        admin.close()


def _wait_for_topics(
    describe: Callable[[list[str]], list[dict[str, Any]]], names: list[str], timeout_s: float
) -> None:
    """Poll metadata until every topic is known and each partition has a leader."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            described = {t["name"]: t for t in describe(names)}
        except Exception:  # e.g. a transient UnknownTopicOrPartition on some client versions
            described = {}
        missing = [
            name
            for name in names
            if (t := described.get(name)) is None
            or t.get("error_code", 0) != 0
            or not t.get("partitions")
            or any(p.get("leader", p.get("leader_id", -1)) < 0 for p in t["partitions"])
        ]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TopicsNotReadyError(
                f"topics not visible in metadata after {timeout_s}s: {missing}"
            )
        time.sleep(0.1)
