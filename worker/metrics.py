"""What the workers count for GET /metrics: pages, fields and documents read, failures by kind.

Counted in each pool process, in the files of prometheus_client's multiprocess mode
(core.metrics; worker.app sets it up before any metric exists), only once a document's results
are committed: a reading handed back or thrown away is not counted. A document read again
(reprocessed, or redelivered after its worker died) counts again: these count the work done,
the database holds the results (web.metrics reports those).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from core.processing import PageOutcome
from core.schema import AUTO, NEEDS_REVIEW

# Why a document failed, as documents_failed_total's `kind` label.
UNREADABLE_FILE = "unreadable_file"  # the file as a whole cannot be read (damaged, too big, ...)
NO_READABLE_PAGE = "no_readable_page"  # it opened, but not one of its pages could be read
TEMPLATE = "template"  # its batch's form template cannot be loaded
TIME_LIMIT = "time_limit"  # still being read after DOCUMENT_TIME_LIMIT_S
GIVEN_UP = "given_up"  # its worker stopped (crashed, was killed) on every attempt
INTERNAL_ERROR = "internal_error"  # a bug stopped the reading
FAILURE_KINDS = (UNREADABLE_FILE, NO_READABLE_PAGE, TEMPLATE, TIME_LIMIT, GIVEN_UP, INTERNAL_ERROR)
FIELD_STATUSES = (AUTO, NEEDS_REVIEW)  # a field's status when it is read (reviewed comes later)
# Seconds to decode and read one page: ~0.3-0.6 s on an idle core, seconds on a loaded one, up
# to PAGE_TIMEOUT_S (60 s) for a PDF page that will not draw.
PAGE_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class _Metrics:
    documents_read: Counter
    documents_failed: Counter
    pages_read: Counter
    pages_failed: Counter
    fields_read: Counter
    page_seconds: Histogram


@functools.cache
def _metrics() -> _Metrics:
    """The metrics, made on first use: after worker.app has chosen where they are counted."""
    metrics = _Metrics(
        Counter("digits_documents_read_total", "Documents read by the workers, with results"),
        Counter("digits_documents_failed_total", "Documents the workers could not read, by why",
                ["kind"]),
        Counter("digits_pages_read_total", "Pages read by the workers"),
        Counter("digits_pages_failed_total", "Pages that could not be read (the rest of their "
                "document was read)"),
        Counter("digits_fields_read_total", "Fields read by the workers, by the status they were "
                "given", ["status"]),
        Histogram("digits_page_read_seconds", "Seconds to decode and read one page",
                  buckets=PAGE_SECONDS_BUCKETS),
    )
    for kind in FAILURE_KINDS:  # every series there from the start, at 0
        metrics.documents_failed.labels(kind=kind)
    for status in FIELD_STATUSES:
        metrics.fields_read.labels(status=status)
    return metrics


def prepare() -> None:
    """Make the metrics now (a pool process starting), so that a scrape shows them at 0."""
    _metrics()


def document_read(outcomes: Iterable[PageOutcome], fields: Mapping[str, int]) -> None:
    """A document's results are saved: its pages (`outcomes`) and its fields by status."""
    metrics = _metrics()
    metrics.documents_read.inc()
    _count_pages(metrics, outcomes)
    for status, count in fields.items():
        metrics.fields_read.labels(status=status).inc(count)


def document_failed(kind: str, outcomes: Iterable[PageOutcome] = ()) -> None:
    """A document failed for reason `kind` (one of FAILURE_KINDS), after reading `outcomes`."""
    metrics = _metrics()
    metrics.documents_failed.labels(kind=kind).inc()
    _count_pages(metrics, outcomes)


def _count_pages(metrics: _Metrics, outcomes: Iterable[PageOutcome]) -> None:
    for outcome in outcomes:
        if outcome.result is None:
            metrics.pages_failed.inc()
        else:
            metrics.pages_read.inc()
            metrics.page_seconds.observe(outcome.decode_s + outcome.read_s)
