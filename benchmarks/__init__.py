"""Benchmarks: `make bench` runs them all and prints ratios against the raw libraries."""
