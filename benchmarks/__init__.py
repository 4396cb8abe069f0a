"""Benchmarks: `make bench` runs them all and prints ratios against the raw libraries.

Run from the repository root (``python -m benchmarks [name ...]``), so that the helpers the tests
use (media and speech generation, the test LLM server, stored videos) import as ``tests.support``.
"""
