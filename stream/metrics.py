"""Every Prometheus metric of Storewatch, built against an injected registry.

Nothing is created at import time: a worker builds one ``Metrics`` on the default registry and
serves it; a test builds one on a fresh ``CollectorRegistry`` and reads values back. No label
ever carries a store id (unbounded cardinality).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class Metrics:
    events_consumed: Counter
    events_rejected: Counter
    alerts: Counter
    processing_seconds: Histogram
    event_time_lag_seconds: Gauge
    newest_event_ts_seconds: Gauge
    assigned_partitions: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        return cls(
            events_consumed=Counter(
                "storewatch_events_consumed_total", "Events read, by input topic (or file).",
                ["topic"], registry=registry),
            events_rejected=Counter(
                "storewatch_events_rejected_total",
                "Events dead-lettered instead of processed, by reason.", ["reason"],
                registry=registry),
            alerts=Counter(
                "storewatch_alerts_total", "Alerts raised, by detector and severity.",
                ["detector", "severity"], registry=registry),
            processing_seconds=Histogram(
                "storewatch_processing_seconds",
                "Wall time from an event's arrival in the worker to its decision.",
                buckets=LATENCY_BUCKETS_S, registry=registry),
            event_time_lag_seconds=Gauge(
                "storewatch_event_time_lag_seconds",
                "Wall clock minus the newest event time processed (large in replays).",
                registry=registry),
            newest_event_ts_seconds=Gauge(
                "storewatch_newest_event_timestamp_seconds",
                "Event time of the newest event processed, epoch seconds.", registry=registry),
            assigned_partitions=Gauge(
                "storewatch_assigned_partitions",
                "Input partitions this worker consumes; 0 while it is not (yet) in the group.",
                registry=registry),
        )
