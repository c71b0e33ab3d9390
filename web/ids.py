"""Whole numbers from URLs: ids in paths and numbers in query strings, bounded.

A number past what the database can hold (PostgreSQL's integer, 2^31 - 1; SQLite's 2^63 - 1)
made the query itself fail with a 500. Path ids beyond MAX_ID are no such row (404); query
numbers beyond their bounds are a 400.
"""

from __future__ import annotations

from flask import abort, request

MAX_ID = 2**31 - 1  # the largest id a PostgreSQL integer column holds


def check_ids(endpoint: str | None, values: dict | None) -> None:
    """Before any view: a whole-number path value (`<int:...>`) past MAX_ID is no such row."""
    for name, value in (values or {}).items():
        if isinstance(value, int) and value > MAX_ID:
            abort(404, f"no {name.replace('_', ' ')} {value}")


def query_int(name: str, default: int, low: int = 0, high: int = MAX_ID) -> int:
    """The query parameter `name` as a whole number within low..high (ValueError otherwise)."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    if len(raw) > 12 or not raw.lstrip("-").isdigit():
        raise ValueError(f"{name} must be a whole number, got {raw[:20]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{name} must be within {low}..{high}, got {value}")
    return value
