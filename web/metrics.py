"""GET /metrics: the service's metrics in Prometheus's text format.

Two sources, added up at each scrape: what the workers counted (worker.metrics, in the files of
prometheus_client's multiprocess mode under METRICS_DIR, core.metrics), and the state of the
work as the database holds it (the queue, fields by status, reviews), counted by SQL at scrape
time: the database is the source of truth, so these are always true, whichever process or
container asks. The web counts nothing of its own, so its processes write no files (gunicorn
needs neither PROMETHEUS_MULTIPROC_DIR nor a child_exit hook). With API_TOKEN set, a scrape
needs the Bearer token as /api/ does (web.auth).
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.schema import (
    AUTO,
    DONE,
    FAILED,
    NEEDS_REVIEW,
    PROCESSING,
    QUEUED,
    REVIEWED,
    Document,
    Field,
    Review,
)
from web.extensions import db, settings

bp = Blueprint("metrics", __name__)
DOCUMENT_STATUSES = (QUEUED, PROCESSING, DONE, FAILED)  # each reported, at 0 when none
FIELD_STATUSES = (AUTO, NEEDS_REVIEW, REVIEWED)
REVIEW_ACTIONS = ("correct", "confirm", "unreadable")  # core.review's Review.action


class DatabaseCollector:
    """The state of the work, counted in the database when scraped."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def collect(self) -> Iterator[Metric]:
        documents = self._count(Document.status, DOCUMENT_STATUSES)
        yield GaugeMetricFamily("digits_queue_depth", "Documents waiting for a worker (queued)",
                                value=documents[QUEUED])
        yield self._gauge("digits_documents", "Documents in the database, by status", "status",
                          documents)
        yield self._gauge("digits_fields", "Fields in the database, by status (needs_review: "
                          "the review queue)", "status", self._count(Field.status, FIELD_STATUSES))
        reviews = CounterMetricFamily("digits_reviews", "Changes people made to fields, by action "
                                      "(the review throughput)", labels=["action"])
        for action, count in self._count(Review.action, REVIEW_ACTIONS).items():
            reviews.add_metric([action], count)
        yield reviews

    def _count(self, column: object, known: tuple[str, ...]) -> dict[str, int]:
        """Rows by the value of `column`: every known value, 0 when it has none."""
        counts = dict.fromkeys(known, 0)
        counts.update(self._session.execute(select(column, func.count()).group_by(column)).all())
        return counts

    @staticmethod
    def _gauge(name: str, documentation: str, label: str, counts: dict[str, int]) -> Metric:
        gauge = GaugeMetricFamily(name, documentation, labels=[label])
        for value, count in counts.items():
            gauge.add_metric([value], count)
        return gauge


@bp.get("/metrics")
def metrics() -> Response:
    """Every metric, in the format the scraper asks for (Prometheus text unless OpenMetrics)."""
    registry = CollectorRegistry()  # one per scrape, as prometheus_client's multiprocess mode asks
    directory = settings().metrics_dir
    directory.mkdir(parents=True, exist_ok=True)  # no worker has started yet
    MultiProcessCollector(registry, path=str(directory))
    registry.register(DatabaseCollector(db()))
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), content_type=content_type)
