"""Benchmarks: `make bench` runs them all and prints ratios against the raw libraries.

The helper modules in tests/ (media and speech fixtures, the test LLM server, stored videos) import
by name here as in the tests."""

import sys
from pathlib import Path

_TESTS_DIR = str(Path(__file__).resolve().parents[1] / "tests")
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)
