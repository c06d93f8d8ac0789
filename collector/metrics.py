"""Prometheus metrics, one registry per app so several apps can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

# The *_created series double every counter's size and nobody alerts on them.
disable_created_metrics()

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    content_type = CONTENT_TYPE_PLAIN_0_0_4

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "testrun_runs",
            "Runs received, by outcome: created, duplicate, conflict.",
            ["outcome"],
            registry=self.registry,
        )
        self.tests_ingested = Counter(
            "testrun_tests_ingested", "Test results stored (duplicates not counted).", registry=self.registry
        )
        self.requests = Counter(
            "testrun_http_requests",
            "HTTP requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "testrun_http_request_duration_seconds",
            "Time from request start to response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "testrun_auth_failures",
            "Requests refused by authentication, by reason (collector.auth.FAILURE_REASONS).",
            ["reason"],
            registry=self.registry,
        )
        self.connections_refused = Counter(
            "testrun_connections_refused",
            "Connections closed as soon as accepted, by reason: connections_per_client (the address held its share).",
            ["reason"],
            registry=self.registry,
        )
        self.connections_refused.labels(reason="connections_per_client")
        self.bcrypt_verifications = Counter(
            "testrun_bcrypt_verifications",
            "bcrypt checks run (a token's first use in this process, or a wrong secret).",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
