"""The pure rules of authentication: the key format, signed links and session digests, owner names,
the settings that refuse to start unsafely (and never echo a secret while refusing), where the
command line finds its key, and the web page's lack of inline script."""

from __future__ import annotations

import re
import stat
import time
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from tests.support.paths import ROOT
from vidsage.auth.keys import (
    KEY_CHARS,
    MalformedKey,
    generate_key,
    hash_key,
    is_key_id,
    key_matches,
    parse_key,
)
from vidsage.auth.signing import (
    LinkClaims,
    LinkExpired,
    LinkInvalid,
    new_session_id,
    session_digest,
    sign_link,
    verify_link,
)
from vidsage.contracts.keys import KeyCreate, is_valid_owner
from vidsage.settings import GatewaySettings, Settings
from vidsage_client.config import ConfigError, load_config
from vidsage_gateway.security_headers import content_security_policy, security_headers

WEB = ROOT / "services/gateway/src/vidsage_gateway/web"


def test_keys_are_random_prefixed_and_parse_to_their_id() -> None:
    keys = [generate_key() for _ in range(200)]
    assert len({k for _, k in keys}) == 200
    for key_id, key in keys:
        assert re.fullmatch(r"vsk_[0-9A-Za-z]{12}_[0-9A-Za-z]{43}", key)
        assert len(key) == KEY_CHARS == 60
        assert parse_key(key) == key_id
        assert is_key_id(key_id)
        assert key_matches(key, hash_key(key))
        assert not key_matches(key, hash_key(key[:-1] + ("x" if key[-1] != "x" else "y")))
        assert hash_key(key) != key and key not in hash_key(key)  # noqa: PT018 - one property


@pytest.mark.parametrize(
    "text",
    [
        "",
        "vsk_",
        "sk_live_" + "a" * 52,
        "VSK_" + "a" * 12 + "_" + "b" * 43,
        "vsk_" + "a" * 12 + "-" + "b" * 43,
        "vsk_" + "a" * 12 + "_" + "b" * 42 + "!",
        "vsk_" + "a" * 10240,
        "vsk_" + "é" * 12 + "_" + "b" * 43,
    ],
    ids=lambda t: t[:12] or "empty",
)
def test_a_malformed_key_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(MalformedKey) as refused:
        parse_key(text)
    message = str(refused.value)
    assert text[4:] not in message or not text[4:]
    assert "vsk_" in message  # it says what a key looks like instead


def test_signed_links_verify_and_refuse_every_change() -> None:
    secret = b"s" * 32
    vid, other = "0190a5d0-0000-7000-8000-000000000001", "0190a5d0-0000-7000-8000-000000000002"
    now = time.time()
    token = sign_link(secret, LinkClaims("acme", vid, "AAAAAAAAAAAA", int(now) + 60))
    assert verify_link(secret, token, video_id=vid, now=now).owner == "acme"
    claims, mac = token.split(".")
    for bad in (
        f"{claims[:-1]}{'A' if claims[-1] != 'A' else 'B'}.{mac}",
        f"{claims}.{mac[:-1]}",
        f"{claims}",
        f"{claims}.{mac}.x",
        "",
        "x" * 5000,
        sign_link(b"t" * 32, LinkClaims("acme", vid, "AAAAAAAAAAAA", int(now) + 60)),
    ):
        with pytest.raises(LinkInvalid):
            verify_link(secret, bad, video_id=vid, now=now)
    with pytest.raises(LinkInvalid):
        verify_link(secret, token, video_id=other, now=now)
    with pytest.raises(LinkExpired):
        verify_link(secret, token, video_id=vid, now=now + 61)
    with pytest.raises(LinkInvalid):  # another grant than media
        verify_link(
            secret,
            sign_link(secret, LinkClaims("acme", vid, "A" * 12, int(now) + 60, "delete")),
            video_id=vid,
            now=now,
        )


def test_session_ids_are_random_and_stored_as_a_keyed_digest() -> None:
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    sid = ids.pop()
    assert len(sid) >= 43
    assert session_digest(b"a" * 32, sid) != session_digest(b"b" * 32, sid)
    assert sid not in session_digest(b"a" * 32, sid)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("local", True),
        ("acme-corp_2", True),
        ("0", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("", False),
        ("Acme", False),
        ("-acme", False),
        ("_acme", False),
        ("acme.corp", False),
        ("*", False),
        (">", False),
        ("a b", False),
        ("ünïcode", False),
    ],
)
def test_owner_names(name: str, valid: bool) -> None:
    assert is_valid_owner(name) is valid
    if valid:
        assert KeyCreate(owner=name).owner == name
    else:
        with pytest.raises(ValidationError):
            KeyCreate(owner=name)


def test_settings_refuse_unsafe_starts_without_echoing_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    secretive = "vsk_this-is-a-secret-that-must-not-be-echoed"
    monkeypatch.setenv("VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_KEY", secretive)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    assert secretive not in str(refused.value)
    assert "60 characters" in str(refused.value)
    monkeypatch.delenv("VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_KEY")

    monkeypatch.setenv("VIDSAGE_GATEWAY__SIGNING_SECRET", "short-but-secret")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    assert "short-but-secret" not in str(refused.value)
    monkeypatch.delenv("VIDSAGE_GATEWAY__SIGNING_SECRET")

    for host, allowed in (
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ):
        if allowed:
            assert GatewaySettings(auth_disabled=True, host=host).auth_disabled
        else:
            with pytest.raises(ValidationError, match="loopback"):
                GatewaySettings(auth_disabled=True, host=host)
    with pytest.raises(ValidationError):
        GatewaySettings(trusted_proxies=["not-an-address"])
    with pytest.raises(ValidationError, match="not owner names"):
        GatewaySettings(tenant_limits={"Bad Name": {}})
    assert GatewaySettings(bootstrap_admin_key=SecretStr(generate_key()[1])).bootstrap_admin_key is not None


def test_the_command_line_reads_its_config_file(tmp_path: Path) -> None:
    missing = load_config(tmp_path / "none.toml")
    assert (missing.url, missing.key, missing.warnings) == (None, None, [])
    path = tmp_path / "config.toml"
    key = generate_key()[1]
    path.write_text(f'url = "https://vidsage.example"\nkey = "{key}"\n')
    path.chmod(0o600)
    loaded = load_config(path)
    assert (loaded.url, loaded.key, loaded.warnings) == ("https://vidsage.example", key, [])
    path.chmod(0o644)
    assert "chmod 600" in load_config(path).warnings[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # a warning, not a silent change
    path.write_text("key = 12\n")
    with pytest.raises(ConfigError, match="key must be a string"):
        load_config(path)
    path.write_text(f'key = "{key}" = oops\n')
    with pytest.raises(ConfigError, match="not valid TOML") as refused:
        load_config(path)
    assert key not in str(refused.value)


def test_the_page_has_no_inline_script_and_the_policy_allows_none() -> None:
    html = (WEB / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
    assert scripts
    assert all(not body.strip() for body in scripts)  # every script comes from a file
    assert all(re.search(r"\bsrc=", tag) for tag in re.findall(r"<script\b[^>]*>", html))
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handler
    assert not re.search(r"\sstyle\s*=", html)  # no inline style either
    assert "javascript:" not in html
    for js in WEB.glob("*.js"):
        text = js.read_text()
        assert "innerHTML" not in text, js.name  # server text reaches the page as text only
        assert "eval(" not in text, js.name
    policy = content_security_policy([])
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    headers = security_headers(GatewaySettings())
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "X-Frame-Options" not in security_headers(
        GatewaySettings(frame_ancestors=["https://intranet.example"])
    )
