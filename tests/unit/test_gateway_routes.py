"""The gateway's routes and its OpenAPI document list the same endpoints: the route list exists once,
in the router that ``create_app`` builds, and the document must agree with it; and the document
declares the same authentication as the middleware applies to each route."""

from __future__ import annotations

from typing import Any

import pytest

from vidsage.settings import Settings
from vidsage_gateway.app import create_app
from vidsage_gateway.auth import Policy, policy_for
from vidsage_gateway.openapi import openapi_document

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
"""The keys of an OpenAPI path item that are operations (the others are parameters, summary...)."""


def routed() -> set[tuple[str, str]]:
    """(method, path) of every route of the app, paths as the router spells them (``{video_id}``)."""
    app = create_app(Settings(_env_file=None))  # nothing connects until the app starts
    return {(route.method, route.resource.canonical) for route in app.router.routes() if route.resource}


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS
    }


def test_every_route_is_documented_and_every_documented_path_is_routed() -> None:
    routes = routed()
    # aiohttp answers HEAD for every GET route (allow_head); the document lists HEAD where it
    # says something of its own (the video stream's headers), so HEAD is compared separately.
    assert {r for r in routes if r[0] != "HEAD"} == {
        d for d in documented(openapi_document()) if d[0] != "HEAD"
    }


def test_documented_head_requests_are_answered() -> None:
    routes = routed()
    heads = {d for d in documented(openapi_document()) if d[0] == "HEAD"}
    assert heads
    assert heads <= routes
    assert {("GET", path) for method, path in routes if method == "HEAD"} <= routes  # HEAD only beside GET


OPEN = {
    ("GET", "/"),
    ("GET", "/static/{path}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/session"),
    ("DELETE", "/api/session"),
}
"""What anyone may call: the page, health, this document, and signing in and out."""


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    doc = openapi_document()
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_only_the_page_health_the_document_and_signing_in_are_open() -> None:
    assert {
        (m, p) for m, p, _ in _operations() if policy_for(m, p) in (Policy.PUBLIC, Policy.SIGN_IN)
    } == OPEN


@pytest.mark.parametrize(("method", "path", "operation"), _operations(), ids=lambda v: str(v)[:40])
def test_every_protected_operation_declares_its_security_and_the_refusals(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    schemes = set(openapi_document()["components"]["securitySchemes"])
    if (method, path) in OPEN:
        assert operation["security"] == []
        return
    declared = {name for requirement in operation["security"] for name in requirement}
    assert declared
    assert declared <= schemes
    if path.startswith(("/api/", "/ws/", "/v1/")):
        assert "apiKey" in declared
        assert "session" in declared
    else:
        assert declared == {"apiKey", "metricsToken"}  # /metrics
    assert ("signedLink" in declared) == (policy_for(method, path) is Policy.MEDIA)
    for status in ("401", "403", "429"):
        assert status in operation["responses"], (method, path, status)
