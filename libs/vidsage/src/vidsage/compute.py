"""Blocking work of a service process: the cores it may use and the one pool it runs on.

Each process has one :class:`ComputePool`, sized by ``Settings.compute_threads`` (0: the cores this
process may run on), created by :func:`vidsage.runtime.open_runtime` and closed with it. Every
blocking call of a service (media probing and thumbnails, Whisper, embeddings, the vector store)
goes through :meth:`ComputePool.run`, so the event loop never blocks and a process never runs more
CPU-bound threads than it has cores. Storage is the one exception: the minio SDK is synchronous
I/O, not computation, and :class:`vidsage.storage.Storage` keeps its own pool of
``S3Settings.io_threads`` for it, so a slow S3 never starves the computation nor the other way
round.

Standard library only.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class ModelUnavailable(RuntimeError):
    """A configured model cannot be loaded; the message names the setting to change.

    :func:`vidsage.runtime.service_main` turns it into exit code 2 with the message on stderr.
    """


class ComputePool:
    """The process's thread pool for blocking work, ``threads`` wide (0: :func:`available_cores`)."""

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads or available_cores()
        self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="compute")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the pool, awaited from the event loop, in a copy of the
        caller's context (as :func:`asyncio.to_thread` does), so what it logs carries the service,
        the video and the trace id bound there."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    def close(self) -> None:
        """Take no more calls and drop the queued ones, without blocking the event loop; a call
        still running finishes on its thread (the interpreter waits for it at exit)."""
        self.executor.shutdown(wait=False, cancel_futures=True)
