"""Prometheus metrics of this process (served at /metrics by the web server)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES_RECEIVED = Counter(
    "ocop_updates_received", "Platform updates stored in the inbox", ["channel"], registry=REGISTRY
)
UPDATES_PROCESSED = Counter(
    "ocop_updates_processed", "Inbox updates processed", ["channel"], registry=REGISTRY
)
PROCESSING_SECONDS = Histogram(
    "ocop_update_processing_seconds",
    "Time to process one inbox batch",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
OUTBOX = Counter(
    "ocop_outbox_messages",
    "Outbox deliveries by outcome",
    ["channel", "outcome"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "ocop_platform_429", "429 answers from a platform", ["channel"], registry=REGISTRY
)
FIRES_COMPUTED = Counter("ocop_fires_computed", "Reminder fires computed", registry=REGISTRY)
INBOX_BACKLOG = Gauge(
    "ocop_inbox_backlog", "Inbox updates not finished yet", ["channel"], registry=REGISTRY
)
ATTEMPTS_REFUSED = Counter(
    "ocop_guess_attempts_refused",
    "Code guesses refused by the attempt limit",
    ["kind"],
    registry=REGISTRY,
)
