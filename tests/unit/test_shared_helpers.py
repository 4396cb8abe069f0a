"""The helpers that exist once for every package: the ``mm:ss`` clock, the argument types of the
command lines, the compute pool (and that nothing runs blocking work beside it)."""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import re
import threading
from pathlib import Path

import pytest

from vidsage.argtypes import port, positive_int, positive_seconds, timeout_seconds
from vidsage.compute import ComputePool, available_cores
from vidsage.contracts.transcript import clock

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("seconds", "short", "padded"),
    [
        (0, "00:00", "00:00"),
        (59.9, "00:59", "00:59"),
        (60, "01:00", "01:00"),
        (3599, "59:59", "59:59"),
        (3600, "1:00:00", "01:00:00"),
        (36000, "10:00:00", "10:00:00"),
        (3725.5, "1:02:05", "01:02:05"),
        (-1, "00:00", "00:00"),
    ],
)
def test_clock(seconds: float, short: str, padded: str) -> None:
    # answers, citations and search hits show h:mm:ss; the txt transcript pads the hours (hh:mm:ss)
    assert clock(seconds) == short
    assert clock(seconds, pad_hours=True) == padded


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_clock_refuses_a_time_that_is_not_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="not a finite time"):
        clock(bad)


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (positive_int, "3", 3),
        (port, "0", 0),
        (port, "65535", 65535),
        (positive_seconds, "0.5", 0.5),
        (timeout_seconds, "2.5", 2.5),
        (timeout_seconds, "0", None),
        (timeout_seconds, "inf", None),
    ],
)
def test_argument_types_accept(parse: object, text: str, value: object) -> None:
    assert parse(text) == value  # type: ignore[operator]


@pytest.mark.parametrize(
    ("parse", "text", "reason"),
    [
        (positive_int, "0", "must be at least 1: 0"),
        (positive_int, "two", "invalid int value: 'two'"),
        (port, "70000", "port 70000 is outside 0-65535"),
        (port, "http", "invalid int value: 'http'"),
        (positive_seconds, "-1", "-1 must be more than 0 seconds"),
        (positive_seconds, "nan", "not a number of seconds: 'nan'"),
        (positive_seconds, "inf", "inf is not a finite number of seconds"),
        (positive_seconds, "soon", "not a number of seconds: 'soon'"),
        (timeout_seconds, "-1", "must not be negative: -1"),
    ],
)
def test_argument_types_refuse_with_the_reason(parse: object, text: str, reason: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)  # type: ignore[operator]
    assert str(refused.value) == reason


async def test_the_compute_pool_runs_blocking_work_off_the_event_loop() -> None:
    pool = ComputePool(0)
    try:
        assert pool.threads == available_cores() >= 1
        assert await pool.run(threading.get_ident) != threading.get_ident()
        assert await pool.run(divmod, 7, 2) == (3, 1)
        assert await pool.run(int, "ff", base=16) == 255
    finally:
        pool.close()


async def test_the_compute_pool_carries_the_callers_context() -> None:
    video_id: contextvars.ContextVar[str] = contextvars.ContextVar("video_id")
    video_id.set("v1")
    pool = ComputePool(1)
    try:
        assert await pool.run(video_id.get) == "v1"
    finally:
        pool.close()


async def test_the_compute_pool_is_as_wide_as_the_setting() -> None:
    pool = ComputePool(2)
    barrier = threading.Barrier(2, timeout=10)  # both calls must run at once to pass it

    def meet() -> str:
        barrier.wait()
        return threading.current_thread().name

    try:
        assert pool.threads == 2
        names = await asyncio.gather(pool.run(meet), pool.run(meet))
        assert len(set(names)) == 2
        assert all(name.startswith("compute") for name in names)
    finally:
        pool.close()


def test_no_blocking_call_bypasses_the_compute_pool() -> None:
    """Every executor call of libs/ and services/ goes through vidsage.compute (the S3 client's
    I/O pool in vidsage.storage is the one other pool)."""
    allowed = {ROOT / "libs/vidsage/src/vidsage/compute.py", ROOT / "libs/vidsage/src/vidsage/storage.py"}
    found = []
    for top in ("libs", "services"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path in allowed or ".egg-info" in str(path):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"run_in_executor\(|to_thread\(|ThreadPoolExecutor\(", line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "run blocking work with Runtime.run_blocking:\n" + "\n".join(found)
