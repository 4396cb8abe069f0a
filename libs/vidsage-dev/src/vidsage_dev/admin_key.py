"""The local admin key of ``make run``: ``<state_dir>/admin.key``.

Made on the first start (a new random key, the file created with mode 0600, owner ``local``), read
again on every later start, and handed to the gateway only, as ``VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_KEY``
(the gateway stores its hash). The runner prints where the file is and a sign-in link for the web
page (``http://…/#key=…``: the page signs in with it and drops it from the address bar); neither
the key nor the link goes into ``run.json`` or ``logs/``. Deleting the file gives a new key on the
next start (the old one keeps working until it is revoked: ``vidsage keys revoke``).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from vidsage.auth.keys import MalformedKey, generate_key, parse_key
from vidsage_dev.processes import DevRunError

ADMIN_KEY_FILE = "admin.key"
ADMIN_OWNER = "local"
"""The tenant of the local admin key (records from before tenancy have this owner too)."""


def admin_key_path(state_dir: Path) -> Path:
    return state_dir / ADMIN_KEY_FILE


def ensure_admin_key(state_dir: Path) -> tuple[str, bool]:
    """The local admin key and whether it was made just now."""
    path = admin_key_path(state_dir)
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = None
    except OSError as exc:
        raise DevRunError(f"cannot read {path}: {exc.strerror}") from None
    if key is not None:
        try:
            parse_key(key)
        except MalformedKey as exc:
            raise DevRunError(
                f"{path} does not hold a vidsage key ({exc}); delete it to get a new one"
            ) from None
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            path.chmod(0o600)  # only its owner may read it
        return key, False
    state_dir.mkdir(parents=True, exist_ok=True)
    _, key = generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made by another runner just now
        return ensure_admin_key(state_dir)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(key + "\n")
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return key, True


def sign_in_link(gateway_url: str, key: str) -> str:
    """The web page's sign-in link: the key in the fragment, which no browser sends to a server."""
    return f"{gateway_url}/#key={key}"
