"""Receiving vidsage webhooks: check a delivery's ``Vidsage-Signature`` before trusting its body.

::

    from vidsage_client.webhooks import verify_signature

    async def receive(request):  # an aiohttp handler, say
        body = await request.read()  # the raw bytes: re-encoded JSON would not match
        if not verify_signature(SECRET, request.headers.get("Vidsage-Signature", ""), body):
            return web.Response(status=400)
        event_id = request.headers["Vidsage-Event-Id"]  # drop it if already handled (retries)
        ...

The header is ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``; a timestamp more
than ``tolerance_s`` (5 minutes) from now is refused, so a captured delivery cannot be replayed
later. The functions are those of :mod:`vidsage.contracts.webhooks` (the notifier signs with
:func:`sign`).
"""

from __future__ import annotations

from vidsage.contracts.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    WEBHOOK_EVENT_TYPES,
    WEBHOOK_ID_HEADER,
    sign,
    verify_signature,
)

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "WEBHOOK_EVENT_TYPES",
    "WEBHOOK_ID_HEADER",
    "sign",
    "verify_signature",
]
