"""Security headers on every response the application sends (JSON, files, streams, the WebSocket
upgrade), set by an ``on_response_prepare`` hook, so even a streamed or prepared response has them:

- ``Content-Security-Policy``: everything from the gateway's own origin, no inline script or style
  (the web page has none; a test checks), no plugins, ``frame-ancestors 'none'`` unless
  ``gateway.frame_ancestors`` lists origins;
- ``X-Frame-Options: DENY`` (older browsers) unless framing is configured;
- ``X-Content-Type-Options: nosniff``;
- ``Referrer-Policy: no-referrer``: a signed link in the address bar never leaks through a
  ``Referer`` header;
- ``Cross-Origin-Opener-Policy: same-origin`` and ``Cross-Origin-Resource-Policy: same-origin``:
  another site cannot embed the media with a visitor's session cookie. A response to a signed link
  says ``cross-origin`` instead: a link is meant to be shared, embedded in a page elsewhere too.
"""

from __future__ import annotations

from aiohttp import web

from vidsage.settings import GatewaySettings
from vidsage_gateway.principal import PRINCIPAL


def content_security_policy(frame_ancestors: list[str]) -> str:
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "media-src 'self' blob:",  # blob: lets the upload panel read a chosen file's duration
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def security_headers(cfg: GatewaySettings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(cfg.frame_ancestors),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if not cfg.frame_ancestors:
        headers["X-Frame-Options"] = "DENY"
    return headers


def add_security_headers(app: web.Application, cfg: GatewaySettings) -> None:
    """Register the hook that puts the headers on every response of ``app``."""
    headers = security_headers(cfg)

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        principal = request.get(PRINCIPAL)
        if principal is not None and principal.via == "link":
            response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"

    app.on_response_prepare.append(on_prepare)
