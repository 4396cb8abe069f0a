"""The gateway's routes and its OpenAPI document list the same endpoints: the route list exists once,
in the router that ``create_app`` builds, and the document must agree with it."""

from __future__ import annotations

from typing import Any

from vidsage.settings import Settings
from vidsage_gateway.app import create_app
from vidsage_gateway.openapi import openapi_document

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
"""The keys of an OpenAPI path item that are operations (the others are parameters, summary...)."""

SELF = ("GET", "/api/openapi.json")
"""The document is served by the gateway but does not describe itself."""


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
    } | {SELF}


def test_documented_head_requests_are_answered() -> None:
    routes = routed()
    heads = {d for d in documented(openapi_document()) if d[0] == "HEAD"}
    assert heads
    assert heads <= routes
    assert {("GET", path) for method, path in routes if method == "HEAD"} <= routes  # HEAD only beside GET
