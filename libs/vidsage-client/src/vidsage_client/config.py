"""Where the ``vidsage`` command finds the gateway and its API key.

The key: ``--key``, else ``$VIDSAGE_API_KEY``, else ``key = "vsk_…"`` in the config file. The URL:
``--url``, else ``$VIDSAGE_URL``, else ``url = "…"`` in the config file, else http://127.0.0.1:8080.
The config file is TOML at ``$XDG_CONFIG_HOME/vidsage/config.toml`` (``~/.config/vidsage/config.toml``
when ``XDG_CONFIG_HOME`` is unset)::

    url = "https://vidsage.example"
    key = "vsk_…"

A config file that other users may read gets a warning (``chmod 600`` it), as ssh does for its keys.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

KEY_ENV = "VIDSAGE_API_KEY"


class ConfigError(Exception):
    """The config file exists but cannot be used (the message says why, never its key)."""


@dataclass
class Config:
    path: Path
    url: str | None = None
    key: str | None = None
    warnings: list[str] = field(default_factory=list)


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vidsage" / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """The config file's ``url`` and ``key`` (both None when there is no file)."""
    path = path or config_path()
    config = Config(path)
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        return config
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    for name in ("url", "key"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: {name} must be a string")
    config.url, config.key = data.get("url"), data.get("key")
    if config.key and mode & (stat.S_IRWXG | stat.S_IRWXO):
        config.warnings.append(f"{path} holds a key and other users may read it: chmod 600 {path}")
    return config


def missing_key_hint() -> str:
    return (
        f'no API key: pass --key, set {KEY_ENV}, or put key = "vsk_…" in {config_path()} '
        "(`make run` keeps the local admin key in .vidsage/admin.key: "
        f"export {KEY_ENV}=$(cat .vidsage/admin.key))"
    )
