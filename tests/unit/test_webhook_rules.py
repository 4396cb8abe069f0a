"""Webhook rules without servers: which addresses may be called under which settings, the URL
checks, the signature (and its verifier in the client package), the retry schedule."""

from __future__ import annotations

import asyncio
import ipaddress
import time

import pytest
from vidsage_notifier.deliveries import retry_delay

from vidsage.contracts.webhooks import derive_secret, sign
from vidsage.settings import NotifierSettings
from vidsage.webhook_targets import (
    TargetPolicy,
    TargetRefused,
    address_refusal,
    parse_target,
    resolve_checked,
)
from vidsage_client.webhooks import verify_signature

STRICT, LOOPBACK, PRIVATE = (
    TargetPolicy(),
    TargetPolicy(allow_loopback=True),
    TargetPolicy(allow_private=True),
)


@pytest.mark.parametrize(
    ("address", "strict", "loopback", "private"),
    [
        ("93.184.216.34", None, None, None),  # public
        ("2606:2800:220:1:248:1893:25c8:1946", None, None, None),
        ("127.0.0.1", "a loopback address", None, "a loopback address"),
        ("::1", "a loopback address", None, "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address", None, "a loopback address"),  # IPv4-mapped
        ("10.0.0.5", "a private address", "a private address", None),
        ("172.16.1.1", "a private address", "a private address", None),
        ("192.168.1.1", "a private address", "a private address", None),
        ("100.64.0.1", "a private address", "a private address", None),  # CGNAT
        ("fd00::1", "a private address", "a private address", None),
        ("169.254.169.254", "a link-local address", "a link-local address", "a link-local address"),
        ("fe80::1", "a link-local address", "a link-local address", "a link-local address"),
        ("224.0.0.1", "a multicast address", "a multicast address", "a multicast address"),
        ("0.0.0.0", "an unspecified address", "an unspecified address", "an unspecified address"),
        ("::", "an unspecified address", "an unspecified address", "an unspecified address"),
        ("240.0.0.1", "a private address", "a private address", "a private address"),  # reserved
    ],
)
def test_which_addresses_each_setting_allows(
    address: str, strict: str | None, loopback: str | None, private: str | None
) -> None:
    ip = ipaddress.ip_address(address)
    assert address_refusal(ip, STRICT) == strict
    assert address_refusal(ip, LOOPBACK) == loopback
    assert address_refusal(ip, PRIVATE) == private


@pytest.mark.parametrize(
    "url",
    ["ftp://h/x", "http:///x", "http://u:p@h/x", "//h/x", "http://h:99999/x", "http://h/a b", "https://h/\n"],
)
def test_urls_that_are_not_webhook_urls(url: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        parse_target(url)
    assert caught.value.code == "invalid_url"


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0177.0.0.1", "8.8.8", "134744072"])
def test_a_numeric_host_is_a_dotted_quad_or_refused(host: str) -> None:
    """The resolver would map these legacy forms to an address, but the notifier's HTTP client
    never connects to them: registration refuses them rather than accept a URL no delivery reaches."""
    with pytest.raises(TargetRefused) as caught:
        parse_target(f"http://{host}/x")
    assert caught.value.code == "invalid_url"
    assert parse_target("http://8.8.8.8/x").host == "8.8.8.8"


def test_a_url_names_its_port() -> None:
    assert parse_target("https://example.com/h").port == 443
    assert parse_target("http://example.com/h").port == 80
    assert parse_target("http://[::1]:8081/h").host == "::1"


def test_a_host_name_is_judged_by_what_it_resolves_to() -> None:
    async def check(policy: TargetPolicy) -> list[tuple[int, str]]:
        return await resolve_checked("localhost", 80, policy)

    with pytest.raises(TargetRefused) as caught:
        asyncio.run(check(STRICT))
    assert caught.value.code == "url_not_allowed"
    assert all(ipaddress.ip_address(a).is_loopback for _, a in asyncio.run(check(LOOPBACK)))


def test_the_signature_verifies_only_the_same_body_secret_and_recent_time() -> None:
    body, now = b'{"event_id": "e1"}', int(time.time())
    header = sign("whsec_a", now, body)
    assert header.startswith(f"t={now},v1=")
    assert verify_signature("whsec_a", header, body)
    assert not verify_signature("whsec_b", header, body)
    assert not verify_signature("whsec_a", header, body + b" ")
    assert not verify_signature("whsec_a", sign("whsec_a", now - 301, body), body)  # a replay
    assert verify_signature("whsec_a", sign("whsec_a", now - 301, body), body, tolerance_s=600)
    for broken in ("", "t=x,v1=00", f"t={now}", "v1=00", f"t={now},v1="):
        assert not verify_signature("whsec_a", broken, body)


def test_each_webhook_secret_is_derived_from_the_key_the_owner_and_the_id() -> None:
    key, webhook_id = "k" * 32, "0193a8b0-0000-7000-8000-000000000001"
    secret = derive_secret(key, "acme", webhook_id)
    assert secret.startswith("whsec_")
    assert len(secret) == len("whsec_") + 43  # 256 bits, URL-safe base64 without padding
    assert derive_secret(key, "acme", webhook_id) == secret  # what the notifier signs with
    others = {
        derive_secret("j" * 32, "acme", webhook_id),
        derive_secret(key, "bravo", webhook_id),
        derive_secret(key, "acme", "0193a8b0-0000-7000-8000-000000000002"),
    }
    assert secret not in others
    assert len(others) == 3


def test_retries_back_off_exponentially_up_to_the_cap() -> None:
    settings = NotifierSettings(backoff_s=2, backoff_max_s=20)
    assert [retry_delay(settings, n) for n in range(1, 7)] == [2, 4, 8, 16, 20, 20]
