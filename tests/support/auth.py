"""Keys for the tests: the admin key every in-process gateway of the integration tests bootstraps,
the signing secret they share, helpers that create and use tenant keys through the public API, and
one that stalls a key watch (to reach the miss reads of :class:`~vidsage.auth.keystore.KeyCache`).

``ADMIN_KEY`` is drawn once per test session (never a fixed string in the sources), owner
:data:`ADMIN_OWNER`, like ``make run``'s ``.vidsage/admin.key``.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp

from vidsage.auth.keys import generate_key
from vidsage.auth.keystore import KeyCache

ADMIN_OWNER = "local"
ADMIN_KEY = generate_key()[1]
SIGNING_SECRET = secrets.token_urlsafe(32)


def bearer(key: str) -> dict[str, str]:
    """The ``Authorization`` header of ``key``."""
    return {"Authorization": f"Bearer {key}"}


def gateway_auth_settings(**extra: Any) -> dict[str, Any]:
    """The ``gateway`` settings group's authentication part for a test gateway (plus ``extra``)."""
    return {"bootstrap_admin_key": ADMIN_KEY, "signing_secret": SIGNING_SECRET, **extra}


async def create_key(
    session: aiohttp.ClientSession,
    base_url: str,
    owner: str,
    *,
    role: str = "member",
    expires_in_days: float | None = None,
    admin_key: str = ADMIN_KEY,
) -> tuple[str, str]:
    """A new key for ``owner`` through ``POST /api/keys``: ``(key, key_id)``."""
    body: dict[str, Any] = {"owner": owner, "role": role}
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    async with session.post(f"{base_url}/api/keys", json=body, headers=bearer(admin_key)) as resp:
        created = await resp.json()
        assert resp.status == 201, created
    return created["key"], created["id"]


async def create_accepted_key(
    session: aiohttp.ClientSession, base_url: str, owner: str, **options: Any
) -> tuple[str, str]:
    """:func:`create_key`, then wait until the gateway accepts the key (about 5 s at most): its
    copy of the keys follows a KV watch, so a key just made may be unknown there for a moment."""
    key, key_id = await create_key(session, base_url, owner, **options)
    for _ in range(100):
        async with session.get(f"{base_url}/api/webhooks", headers=bearer(key)) as resp:
            if resp.status != 401:
                break
        await asyncio.sleep(0.05)
    return key, key_id


async def revoke_key(
    session: aiohttp.ClientSession, base_url: str, key_id: str, *, admin_key: str = ADMIN_KEY
) -> None:
    async with session.delete(f"{base_url}/api/keys/{key_id}", headers=bearer(admin_key)) as resp:
        assert resp.status == 204, await resp.text()


async def stall_key_watch(cache: KeyCache) -> None:
    """Stop ``cache``'s KV watch where it is, as if its deliveries were late: whatever the ``keys``
    bucket gets from now on reaches that copy only through a miss read. (Its check loop restarts a
    watch left behind for ``bound_s``; give the cache a long bound so that stays out of the test.)"""
    task = cache._watch_task
    assert task is not None, "the cache is not started"
    task.cancel()
    await asyncio.wait([task])
    await cache._stop_watcher()
