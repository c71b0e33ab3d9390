"""Celery workers: the document task and what it needs."""

# Each pool process logs this once its recogniser is loaded; operators and the benchmarks read
# it to know the worker can take documents at full speed.
POOL_READY = "pool process ready"
