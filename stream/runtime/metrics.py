"""Every Prometheus metric of Storewatch, built against an injected registry.

Nothing is created at import time: a worker builds one ``Metrics`` on the default registry and
serves it; a test builds one on a fresh ``CollectorRegistry`` and reads values back. No label
ever carries a store id (unbounded cardinality).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
KAFKA_LATENCY_BUCKETS_S = (
    0.005,
    0.01,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.0,
    5.0,
    10.0,
    30.0,
)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
SCORE_BUCKETS = tuple(round(i / 20, 2) for i in range(1, 21))

if TYPE_CHECKING:
    from stream.core.models import ModelVerdict


@dataclass(frozen=True)
class Metrics:
    events_consumed: Counter
    events_rejected: Counter
    alerts: Counter
    processing_seconds: Histogram
    event_time_lag_seconds: Gauge
    newest_event_ts_seconds: Gauge
    assigned_partitions: Gauge
    model_score: Histogram
    model_warm: Gauge
    redis_seconds: Histogram
    batch_events: Histogram
    redis_errors: Counter
    stores_tracked: Gauge
    consumer_lag: Gauge
    parameter: Gauge
    healthy: Gauge
    control_changes: Counter
    kafka_to_decision_seconds: Histogram
    health_check_failing: Gauge
    redis_state_lost: Counter
    redis_state_lost_at: Gauge
    publish_errors: Counter
    events_redelivered: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        return cls(
            events_consumed=Counter(
                "storewatch_events_consumed_total",
                "Events read, by input topic (or file).",
                ["topic"],
                registry=registry,
            ),
            events_rejected=Counter(
                "storewatch_events_rejected_total",
                "Events dead-lettered instead of processed, by reason and by the topic (or file) "
                "they came on.",
                ["reason", "topic"],
                registry=registry,
            ),
            alerts=Counter(
                "storewatch_alerts_total",
                "Alerts raised, by detector and severity.",
                ["detector", "severity"],
                registry=registry,
            ),
            processing_seconds=Histogram(
                "storewatch_processing_seconds",
                "Wall time from an event's arrival in the worker to its decision.",
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            event_time_lag_seconds=Gauge(
                "storewatch_event_time_lag_seconds",
                "Wall clock minus the newest event time processed (large in replays).",
                registry=registry,
            ),
            newest_event_ts_seconds=Gauge(
                "storewatch_newest_event_timestamp_seconds",
                "Event time of the newest event processed, epoch seconds.",
                registry=registry,
            ),
            assigned_partitions=Gauge(
                "storewatch_assigned_partitions",
                "Input partitions this worker consumes; 0 while it is not (yet) in the group.",
                registry=registry,
            ),
            model_score=Histogram(
                "storewatch_model_score",
                "Scores the online models gave, by detector (0 to 1).",
                ["detector"],
                buckets=SCORE_BUCKETS,
                registry=registry,
            ),
            model_warm=Gauge(
                "storewatch_model_warm",
                "1 once a detector's model has seen enough of the population to be trusted.",
                ["detector"],
                registry=registry,
            ),
            batch_events=Histogram(
                "storewatch_batch_events",
                "Messages per batch the engine decides at once (large under load, 1 when idle).",
                buckets=BATCH_SIZE_BUCKETS,
                registry=registry,
            ),
            redis_seconds=Histogram(
                "storewatch_redis_call_seconds",
                "Wall time of a batch's Redis work: reading its stores and linking facts, then saving.",
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            redis_errors=Counter(
                "storewatch_redis_errors_total",
                "Redis round trips that failed, by kind.",
                ["kind"],
                registry=registry,
            ),
            stores_tracked=Gauge(
                "storewatch_stores_tracked",
                "Stores with state in Redis (counted every minute by a scan).",
                registry=registry,
            ),
            consumer_lag=Gauge(
                "storewatch_consumer_lag_messages",
                "Messages between this worker's position and the partition's end, per input "
                "partition it holds.",
                ["topic", "partition"],
                registry=registry,
            ),
            parameter=Gauge(
                "storewatch_parameter",
                "Current value of every tunable parameter (durations in seconds).",
                ["name"],
                registry=registry,
            ),
            healthy=Gauge(
                "storewatch_healthy",
                "1 while every health check passes (see storewatch_health_check_failing); 0 "
                "while one fails, e.g. while the worker retries its state store.",
                registry=registry,
            ),
            control_changes=Counter(
                "storewatch_control_changes_total",
                "Runtime tuning changes read from the control topic, by outcome "
                "(applied, refused).",
                ["outcome"],
                registry=registry,
            ),
            kafka_to_decision_seconds=Histogram(
                "storewatch_kafka_to_decision_seconds",
                "Wall time from a record's Kafka timestamp to its decision; a latency only "
                "when producers stamp records with their send time (CreateTime).",
                buckets=KAFKA_LATENCY_BUCKETS_S,
                registry=registry,
            ),
            health_check_failing=Gauge(
                "storewatch_health_check_failing",
                "1 while a health check fails, by check: stalled (work pending, no batch "
                "decided), no_partitions (out of the consumer group), crashed (an agent or task "
                "died), redis (no answer to PING), halted (progress stopped rather than skip a "
                "message).",
                ["check"],
                registry=registry,
            ),
            redis_state_lost=Counter(
                "storewatch_redis_state_lost_total",
                "Times this worker found Redis had lost its data (restarted empty or flushed: "
                "its state marker key gone or replaced).",
                registry=registry,
            ),
            redis_state_lost_at=Gauge(
                "storewatch_redis_state_lost_timestamp_seconds",
                "When this worker last found Redis had lost its data, epoch seconds; 0 never.",
                registry=registry,
            ),
            publish_errors=Counter(
                "storewatch_publish_errors_total",
                "Failed attempts to publish an alert or a dead letter, by sink (alert, "
                "dead_letter); each is retried, and the worker halts if one never succeeds.",
                ["sink"],
                registry=registry,
            ),
            events_redelivered=Counter(
                "storewatch_events_redelivered_total",
                "Events delivered again after a crash or rebalance whose effect the saved state "
                "already holds: skipped, neither applied twice nor dead-lettered.",
                ["topic"],
                registry=registry,
            ),
        )

    def start_at_zero(
        self,
        reject_reasons: list[str],
        topics: list[str],
        detectors: list[str],
        severities: list[str],
    ) -> None:
        """Create every known labelled series at 0, so a rate or increase sees the first event
        (a series born at its first increment hides that increment from ``increase``)."""
        for reason in reject_reasons:
            for topic in topics:
                self.events_rejected.labels(reason, topic)
        for detector in detectors:
            for severity in severities:
                self.alerts.labels(detector, severity)
        self.redis_errors.labels("unavailable")
        for sink in ("alert", "dead_letter"):
            self.publish_errors.labels(sink)
        for topic in topics:
            self.events_redelivered.labels(topic)
        for outcome in ("applied", "refused"):
            self.control_changes.labels(outcome)

    def record_parameters(self, values: dict[str, float]) -> None:
        """Expose the current tunable values, so a dashboard shows what the worker runs with."""
        for name, value in values.items():
            self.parameter.labels(name).set(value)


class ModelScoreRecorder:
    """Records every model verdict: its score in ``model_score``, its warmth in ``model_warm``.

    It runs once per scored event, so each detector's labelled series are looked up once, and
    the warm gauge is written only when a model's warmth changes: a scrape reads the same value
    as if every verdict wrote it.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._scores: dict[str, Histogram] = {}
        self._warm: dict[str, bool] = {}

    def __call__(self, detector: str, verdict: ModelVerdict) -> None:
        scores = self._scores.get(detector)
        if scores is None:
            scores = self._scores[detector] = self._metrics.model_score.labels(detector)
        scores.observe(verdict.score)
        if self._warm.get(detector) != verdict.warm:
            self._metrics.model_warm.labels(detector).set(1 if verdict.warm else 0)
            self._warm[detector] = verdict.warm


def read_metrics_page(port: int, host: str = "127.0.0.1", timeout_s: float = 3.0) -> str:
    """The text of a worker's ``/metrics`` page (what Prometheus and the probes read)."""
    import urllib.request

    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout_s) as page:
        text: str = page.read().decode()
        return text


def metric_samples(text: str) -> list[Sample]:
    """Every sample of a ``/metrics`` page, parsed by prometheus_client's own parser."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def sample_sum(text: str, name: str, /, **labels: str) -> float | None:
    """The sum of the samples called ``name`` whose labels include ``labels``; None when the
    page has no such sample (a metric not created yet is not a zero).

    >>> sample_sum('a_total{topic="x"} 2.0\\na_total{topic="y"} 3.0\\n', "a_total")
    5.0
    >>> sample_sum('a_total{topic="x"} 2.0\\n', "a_total", topic="y") is None
    True
    """
    values = [
        sample.value
        for sample in metric_samples(text)
        if sample.name == name
        and all(sample.labels.get(key) == value for key, value in labels.items())
    ]
    return sum(values) if values else None
