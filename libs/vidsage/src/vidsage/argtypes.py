"""Command-line argument types shared by the ``vidsage`` command, ``vidsage dev`` and the health
probe (``python -m vidsage.health``): each turns one argument into a value or raises
:class:`argparse.ArgumentTypeError` with a one-line reason, which argparse prints as
``argument --flag: <reason>`` and exits 2.

Standard library only (the probe runs every few seconds in every pod, and the client installs
without the service runtime).
"""

from __future__ import annotations

import argparse
import math


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if math.isnan(value):
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (a page size, a limit)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def port(text: str) -> int:
    """A TCP port, 0-65535 (0: any free port)."""
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0-65535")
    return value


def positive_seconds(text: str) -> float:
    """A finite duration in seconds, more than 0."""
    value = _seconds(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number of seconds")
    return value


def timeout_seconds(text: str) -> float | None:
    """A timeout in seconds ≥ 0, where 0 (or ``inf``) means none: None."""
    value = _seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value:g}")
    return value if 0 < value < math.inf else None
