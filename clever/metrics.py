"""Prometheus metrics at ``/metrics`` for whoever is on call (``METRICS_TOKEN`` as a bearer token;
without it, or without the right one, the endpoint is a 404).

Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory per start): every worker
writes its samples there and a scrape sums them (prometheus_client's multiprocess mode). Labels
are bounded: entry points, failure reasons, templated Clever paths, status codes; never ids.
The sync queue's depth is read from Redis at each scrape, so every process reports the same number.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from redis import RedisError

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

LOGINS = Counter(
    "roster_room_logins_total", "Clever logins by entry point and result", ["entry", "result"]
)
CLEVER_REQUESTS = Histogram(
    "roster_room_clever_request_seconds",
    "Clever API requests by templated endpoint and status",
    ["endpoint", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SYNCS = Histogram(
    "roster_room_sync_seconds",
    "Roster syncs by trigger and result",
    ["trigger", "result"],
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RATE_LIMITED = Counter(
    "roster_room_rate_limited_total", "Requests answered 429, by route", ["route"]
)


def endpoint_label(path: str) -> str:
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "v3.0":
        # /v3.0/<collection>/<id>/<collection>/<id>...: every second segment is an id.
        parts = [("{id}" if i >= 3 and i % 2 == 1 else part) for i, part in enumerate(parts)]
    return "/".join(parts)


def observe_clever_request(path: str, status: str, seconds: float) -> None:
    CLEVER_REQUESTS.labels(endpoint_label(path), status).observe(seconds)


def count_login(entry: str, result: str) -> None:
    LOGINS.labels(entry, result).inc()


def observe_sync(trigger: str, result: str, seconds: float) -> None:
    SYNCS.labels(trigger, result).observe(seconds)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.after_request
    def count_rate_limited(response):
        if response.status_code == 429:
            RATE_LIMITED.labels(request.endpoint or "-").inc()
        return response


class SyncQueueCollector:
    """``roster_room_sync_queue_jobs``: manual syncs waiting for a worker, read at scrape time.

    Registered on each scrape's own registry (not the default one), so it needs no
    multiprocess bookkeeping and no app context outside a scrape.
    """

    def collect(self) -> Iterator[Metric]:
        from clever import jobs  # clever.jobs imports the sync, which imports this module

        try:
            depth = jobs.sync_queue().count
        except RedisError:
            log.warning("could not read the sync queue's depth")  # no sample beats a wrong one
            return
        yield GaugeMetricFamily(
            "roster_room_sync_queue_jobs", "Manual syncs waiting for a worker", value=depth
        )


class _ProcessMetrics:
    """This process's own counters and histograms (without gunicorn's multiprocess mode)."""

    def collect(self) -> Iterator[Metric]:
        yield from DEFAULT_REGISTRY.collect()


def registry() -> CollectorRegistry:
    """A registry per scrape: the counters and histograms (every gunicorn worker's when
    ``PROMETHEUS_MULTIPROC_DIR`` is set) and what is read at scrape time."""
    combined = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(combined)
    else:
        combined.register(_ProcessMetrics())
    combined.register(SyncQueueCollector())
    return combined


@bp.get("/metrics")
def metrics():
    token = current_app.config["METRICS_TOKEN"]
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        abort(404)  # not 401: nobody learns that there is something here
    return Response(generate_latest(registry()), mimetype=CONTENT_TYPE_LATEST)
