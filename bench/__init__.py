"""Benchmarks and the load test (`make bench`, `make load`): they print their figures."""
