"""Which errors mean "a dependency is unavailable right now" (retry later) rather than "this job
failed".

The workers retry a job that fails with a transient error in place, with backoff, for a bounded
time (``WorkerSettings.transient_window_s``) without spending a delivery; only real failures count
toward ``max_deliver`` (:class:`vidsage.bus.Worker`). Transient are:

- :class:`DependencyUnavailable` and its subclasses: S3 unreachable or answering 5xx
  (:class:`vidsage.storage.StorageUnavailable`), the vector store unreachable (the indexer's
  ``StoreUnavailable``);
- NATS trouble: the connection closed or reconnecting, a request timing out, JetStream having no
  responders or answering 503, or 500 (a server error: on a cluster, while the stream's or a
  consumer's leader is re-elected, requests find no responder or get "JetStream cluster can not
  handle request" / "not leader": the next leader answers within seconds);
- connection-level ``OSError`` s (refused, reset) and timeouts.

:func:`dependency_of` names the dependency in a few words for a client-facing failure reason
(never an address, a key or a message from the dependency).
"""

from __future__ import annotations

import nats.errors
import nats.js.errors


class DependencyUnavailable(Exception):
    """A dependency cannot be reached or answers with a server error; retrying later may work."""

    dependency = "a dependency"
    """What is unavailable, in a few words (shown in a failure reason)."""


_TRANSIENT: tuple[type[BaseException], ...] = (
    DependencyUnavailable,
    TimeoutError,
    ConnectionError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.NoServersError,
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.FlushTimeoutError,
    nats.errors.TimeoutError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    nats.js.errors.NoStreamResponseError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says a dependency is unavailable right now."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        if isinstance(current, _TRANSIENT):
            return True
        current = current.__cause__
        seen += 1
    return False


def dependency_of(exc: BaseException) -> str:
    """A few words naming the unavailable dependency (for a failure reason)."""
    if isinstance(exc, DependencyUnavailable):
        return exc.dependency
    if isinstance(exc, nats.errors.Error | nats.js.errors.Error):
        return "the message bus"
    return "a dependency"
