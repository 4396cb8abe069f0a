"""Prometheus metrics of one gateway process (served at ``/metrics``)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vidsage_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vidsage_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.chat_connections = Gauge(
            "vidsage_chat_connections", "Open chat WebSockets", registry=self.registry
        )
        self.chat_answers = Counter(
            "vidsage_chat_answers_total",
            "Chat replies by outcome: done, or the error frame's code",
            ["outcome"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "vidsage_auth_failures_total",
            "Requests refused by authentication, tenancy or CSRF checks, by error code",
            ["code"],
            registry=self.registry,
        )
        self.chat_first_token = Histogram(
            "vidsage_chat_first_token_seconds",
            "From a chat message to its first token frame",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )


METRICS = web.AppKey("metrics", Metrics)
