"""Prometheus metrics for the people who run the service, and never an identifier in them.

Every label comes from a small fixed set: the route *template* (never the raw path, which
can carry an identifier), the method, the status, the outcome and the band. The model's
version and load time are read from the model holder at each scrape.

The registry is the app's own, not prometheus-client's global one, so that several apps
in one process (as in tests) keep separate counts. Counts are per process: scrape each
replica, and run one worker per replica (the default) for complete counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.audit.notes import AuditedClient
from service.model.holder import ModelHolder

#: Methods kept as labels; anything else a client sends is counted as "other".
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: Seconds: a CDS card is due within about 0.5 s, a batch of 1,000 takes seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _ModelCollector(Collector):
    """The served model's version and load time, as the holder has them at scrape time."""

    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder

    def collect(self) -> Iterator[Metric]:
        ready = GaugeMetricFamily(
            "alliance_risk_model_ready", "1 when a model passed its self-check and serves."
        )
        ready.add_metric([], 1.0 if self.holder.ready else 0.0)
        yield ready
        if not self.holder.ready:
            return
        served = self.holder.get()
        info = GaugeMetricFamily(
            "alliance_risk_model_info",
            "The model serving (always 1), by name, registered version and alias.",
            labels=["name", "version", "alias"],
        )
        info.add_metric([served.name, served.version or "", served.alias or ""], 1.0)
        yield info
        yield GaugeMetricFamily(
            "alliance_risk_model_load_duration_seconds",
            "How long loading and self-checking the serving model took.",
            value=served.load_seconds,
        )
        yield GaugeMetricFamily(
            "alliance_risk_model_loaded_timestamp_seconds",
            "When the serving model was loaded (Unix time).",
            value=served.loaded_at,
        )


class ServiceMetrics:
    """The app's counters and histograms; `exposition` renders them for a scrape."""

    def __init__(self, holder: ModelHolder) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "alliance_risk_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "alliance_risk_http_request_duration_seconds",
            "Time from receiving a request to finishing its answer, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "alliance_risk_predictions",
            "Estimates released (audited), by outcome and risk band.",
            ["outcome", "band"],
            registry=self.registry,
        )
        self.audit_write_failures = Counter(
            "alliance_risk_audit_write_failures",
            "Calls whose audit record could not be written (each answered 503).",
            registry=self.registry,
        )
        self.registry.register(_ModelCollector(holder))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def count_predictions(self, clients: Sequence[AuditedClient]) -> None:
        for client in clients:
            for outcome, result in (client.outcomes or {}).items():
                self.predictions.labels(outcome, result["band"]).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
