"""The local system's secrets: generated on first start, kept in ``<state_dir>/secrets.json``
(mode 0600) and reused on every later start, so nothing in the runner is a fixed credential.

- ``s3``: the access and secret key ``rclone serve s3`` is started with (and the services use);
- ``gateway.signing_secret``: the HMAC key of shared media links;
- ``webhooks.secret_key``: what every webhook's signing secret is derived from (the gateway's and
  the notifier's);
- ``nats``: a password per NATS user (every service, the ``provisioner``, the ``subscriber``, the
  ``observer``), written into the nats-server configuration the runner generates.

A value missing from an existing file (a user added since) is generated and the file rewritten;
what is there is never changed. The file is the only place the values are written: the runner's
output, its logs and ``run.json`` name the file, never a value.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidsage.contracts.permissions import ACCESS

__all__ = ["SECRETS_FILE", "LocalSecrets", "load_or_create"]

SECRETS_FILE = "secrets.json"
FILE_MODE = 0o600


@dataclass(frozen=True)
class LocalSecrets:
    """The secrets of one state folder."""

    path: Path
    s3_access_key: str
    s3_secret_key: str
    signing_secret: str
    nats_passwords: dict[str, str]
    webhook_key: str = ""

    def values(self) -> list[str]:
        """Every secret value (for the tests that check none leaks)."""
        return [
            self.s3_access_key,
            self.s3_secret_key,
            self.signing_secret,
            *self.nats_passwords.values(),
            self.webhook_key,
        ]


def _generators() -> dict[str, dict[str, Any]]:
    """Section → key → a function making a fresh value."""
    return {
        # an access key id looks like AWS's (20 upper-case characters); rclone wants at least 3
        "s3": {
            "access_key": lambda: "VS" + secrets.token_hex(9).upper(),
            "secret_key": lambda: secrets.token_urlsafe(30),
        },
        "gateway": {"signing_secret": lambda: secrets.token_urlsafe(32)},
        "nats": {user: lambda: secrets.token_urlsafe(24) for user in ACCESS},
        "webhooks": {"secret_key": lambda: secrets.token_urlsafe(32)},
    }


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not readable JSON ({exc}); move it away for new secrets") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object; move it away to generate new secrets")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    """Atomically, readable by the owner only from the first byte on."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, path)


def load_or_create(state_dir: Path) -> LocalSecrets:
    """The secrets of ``state_dir``: read ``secrets.json``, generate what it lacks (creating it on
    first start), keep it at mode 0600. Raises ValueError for a file that is not JSON."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / SECRETS_FILE
    data = _read(path)
    changed = False
    for section, keys in _generators().items():
        values = data.get(section)
        if not isinstance(values, dict):
            values = data[section] = {}
            changed = True
        for key, make in keys.items():
            if not isinstance(values.get(key), str) or not values[key]:
                values[key] = make()
                changed = True
    if changed:
        _write(path, data)
    elif stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
        path.chmod(FILE_MODE)
    return LocalSecrets(
        path=path,
        s3_access_key=data["s3"]["access_key"],
        s3_secret_key=data["s3"]["secret_key"],
        signing_secret=data["gateway"]["signing_secret"],
        nats_passwords={user: data["nats"][user] for user in ACCESS},
        webhook_key=data["webhooks"]["secret_key"],
    )
