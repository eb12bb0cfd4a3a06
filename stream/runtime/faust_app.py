"""Faust's App as the worker needs it: records handed over in event time, prompt fetches, an
idempotent producer, the batch consumer plugged in, and Faust's options from our settings."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport
from faust.transport.utils import DefaultSchedulingStrategy
from faust.types import TP
from faust.types.auth import CredentialsT

from stream.config import Settings
from stream.core.ordering import EventTimeMerger
from stream.runtime.batch_consumer import BatchConsumer, BatchProcessor

# The Faust-agent path (the bench's ceiling) takes batches of up to BATCH_MAX; a lone message
# waits at most BATCH_WITHIN_S.
BATCH_MAX = 500
BATCH_WITHIN_S = 0.005
FETCH_MAX_WAIT_MS = 50


class EventTimeScheduling(DefaultSchedulingStrategy):
    """Hands over fetched records in record-timestamp order across partitions, holding back
    those another assigned partition may still precede: a watermark over all of them, each
    left out while fetched to the end of its log or idle (``ordering.EventTimeMerger``).

    Producers stamp each record with its event time, so this undoes the skew between the five
    topics, above all while catching up on a backlog, where a fetch of a quiet topic spans
    days and one of a busy topic minutes. (Faust's default is round-robin by topic, which can
    run one topic far ahead.) Held records are dropped when partitions are revoked: Faust
    seeks back to the committed offsets and fetches them again.
    """

    def __init__(self) -> None:
        self.merger: EventTimeMerger[TP] = EventTimeMerger(_record_timestamp)

    def iterate(self, records: Any) -> Any:
        return self.merger.add(records)


def _record_timestamp(record: Any) -> int:
    return int(record.timestamp or 0)


def _fetched_to_the_end(consumer: Any, tp: TP, last_record: Any) -> bool:
    """Whether a partition is fetched to the end of its log, by the high watermark of its
    last fetch response (right on Tansu, unlike its ListOffsets answers): whatever it brings
    next is live, so it holds no other partition back."""
    end = consumer.highwater(tp)
    if end is None or end < 0:
        return False
    if last_record is not None:
        return bool(last_record.offset + 1 >= end)
    committed = consumer._committed_offset.get(tp)
    return bool(end <= (committed or 0))


class _PromptFetchThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # no public knob in Faust 0.15.3
        return consumer


class _PromptFetchConsumer(AIOKafkaConsumer):
    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _PromptFetchThread(self, loop=self.loop, beacon=self.beacon)


class _PromptFetchBatchConsumer(BatchConsumer):
    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _PromptFetchThread(self, loop=self.loop, beacon=self.beacon)


class _IdempotentProducer(AIOKafkaProducer):
    def _settings_extra(self) -> Any:
        # A retry after a lost acknowledgement must not write an alert twice.
        return {"acks": "all", "enable_idempotence": True}


class _PromptFetchTransport(AIOKafkaTransport):
    Consumer = _PromptFetchConsumer


class _IdempotentTransport(_PromptFetchTransport):
    Producer = _IdempotentProducer


class _BatchTransport(_PromptFetchTransport):
    Consumer = _PromptFetchBatchConsumer  # type: ignore[assignment]


class StorewatchApp(faust.App):
    """Faust's App with an idempotent producer (unless ``idempotent_producer`` is turned off:
    Tansu refuses InitProducerId), and fetches held by the broker for at most FETCH_MAX_WAIT_MS.

    Faust asks the broker to hold a fetch for up to 1.5 s (hard-coded). Apache Kafka answers as
    soon as one byte is there, but Tansu holds the fetch for the whole wait, which put half a
    second of latency on every event (measured with a bare aiokafka consumer: p50 0.46 s at
    1,500 ms, 0.013 s at 50 ms). With Kafka the shorter wait changes nothing but idle polling.
    """

    idempotent_producer = True
    # The worker consumes through stream.runtime.batch_consumer; off, Faust's own agents get the
    # messages (the bench's Faust-agent ceiling).
    batch_consumer = True

    batch_processor: BatchProcessor | None = None

    def _new_consumer(self) -> Any:
        consumer = super()._new_consumer()
        if isinstance(consumer, BatchConsumer):
            consumer.processor = self.batch_processor
            if isinstance(consumer.scheduler, EventTimeScheduling):
                consumer.scheduler.merger.caught_up = partial(_fetched_to_the_end, consumer)
        return consumer

    def _new_transport(self) -> Any:
        if self.batch_consumer:
            return _BatchTransport(self.conf.broker_consumer, self)
        return _PromptFetchTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        if self.idempotent_producer:
            return _IdempotentTransport(self.conf.broker_producer, self)
        return _PromptFetchTransport(self.conf.broker_producer, self)


def broker_credentials(settings: Settings) -> CredentialsT | None:
    """Faust's credentials for ``kafka_security`` (None: PLAINTEXT). Faust hands them to every
    consumer and producer it builds; its SASL credentials' repr shows the username only."""
    security = settings.kafka_security
    if security.sasl_password is not None:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password.get_secret_value(),
            ssl_context=security.ssl_context(),
            mechanism=security.sasl_mechanism,
        )
    context = security.ssl_context()
    return faust.SSLCredentials(context) if context is not None else None


def faust_settings(settings: Settings) -> dict[str, Any]:
    """Faust options derived from our settings; the non-obvious ones are explained here."""
    return {
        "broker": f"kafka://{settings.kafka_bootstrap}",
        "broker_credentials": broker_credentials(settings),
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_partitions": settings.kafka_partitions,
        # A worker's first group join waits for the rebalance timeout; 60 s by default.
        "broker_rebalance_timeout": settings.consumer_group_rebalance_timeout_s,
        # Tansu answers a first JoinGroup after half the session timeout; Kafka after the
        # rebalance timeout. Both short, so a worker starts consuming in seconds.
        "broker_session_timeout": settings.consumer_group_session_timeout_s,
        # Events produced before the first worker joined must still be processed.
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "producer_max_request_size": settings.kafka_max_request_bytes,
        "ConsumerScheduler": EventTimeScheduling,
        # No tables: nothing to keep on local disk, and several workers may share a host.
        "datadir": str(Path(tempfile.gettempdir()) / f"storewatch-faust-{settings.app_id}"),
        # Health and metrics are served by prometheus_client on metrics_port instead.
        "web_enabled": False,
    }
