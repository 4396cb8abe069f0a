"""The NATS users of :mod:`vidsage.contracts.permissions` as nats-server configuration.

- :func:`authorization`: the ``authorization`` block (a user per entry of the declaration, its
  password, its subject permissions) that the local runner writes into ``<state_dir>/nats.conf``;
- :func:`permissions_document`: the same permissions without passwords, exported to
  ``charts/vidsage/files/nats-permissions.json``, from which the chart renders the NATS servers'
  authorization (the passwords come from a Secret there). ``python -m vidsage_dev.natsauth
  export|check FILE`` writes it or reports that it is stale (``make schemas`` exports it, a test
  checks it), like the event schemas.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vidsage.contracts import names
from vidsage.contracts.permissions import ACCESS, Wire, access_table
from vidsage.settings import Settings

__all__ = ["CHART_FILE", "authorization", "permissions_document", "wire_of", "write_server_config"]

CHART_FILE = Path("charts/vidsage/files/nats-permissions.json")
"""Where the chart reads the permissions from (relative to the repository root)."""


def wire_of(settings: Settings) -> Wire:
    """The renameable names as ``settings`` has them."""
    return Wire(
        stream=settings.nats.stream,
        videos_bucket=settings.nats.videos_bucket,
        cache_bucket=settings.nats.cache_bucket,
        search_subject=settings.indexer.search_subject,
        similarity_subject=settings.indexer.similarity_subject,
        chat_subject=settings.chat.subject,
    )


def authorization(passwords: Mapping[str, str], wire: Wire | None = None) -> dict[str, Any]:
    """nats-server's ``authorization`` block: every user of the declaration with its password."""
    table = access_table(wire)
    missing = sorted(set(table) - set(passwords))
    if missing:
        raise ValueError(f"no password for the NATS user(s) {', '.join(missing)}")
    return {
        "users": [
            {"user": user, "password": passwords[user], "permissions": perms.as_config()}
            for user, perms in table.items()
        ]
    }


def write_server_config(path: Path, config: Mapping[str, Any]) -> None:
    """``config`` (e.g. ``{"authorization": block}``) as nats-server configuration (JSON is valid
    NATS config; quoted strings are literal, so ``$JS...`` subjects are not variable references).
    Mode 0600: it holds the passwords."""
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(config, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)


def permissions_document(wire: Wire | None = None) -> dict[str, Any]:
    """What the chart renders the NATS authorization from: per user, its inbox prefix and
    permissions, plus the stream they were derived for (the chart refuses another ``nats.stream``)."""
    wire = wire or Wire()
    return {
        "description": (
            "Generated from vidsage.contracts.permissions by `make schemas` "
            "(python -m vidsage_dev.natsauth export); do not edit."
        ),
        "stream": wire.stream,
        "users": {
            user: {"inbox_prefix": perms.inbox_prefix, "permissions": perms.as_config()}
            for user, perms in access_table(wire).items()
        },
        "services": list(names.SERVICE_USERS),
        "provisioner": names.PROVISIONER_USER,
        "subscriber": names.SUBSCRIBER_USER,
    }


def dumps(document: Mapping[str, Any]) -> str:
    """Canonical text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vidsage_dev.natsauth export|check FILE``."""
    parser = argparse.ArgumentParser(
        prog="python -m vidsage_dev.natsauth",
        description="The NATS subject permissions of vidsage's users (vidsage.contracts.permissions).",
    )
    parser.add_argument("action", choices=("export", "check"), help="write the file, or compare it")
    parser.add_argument("file", type=Path, nargs="?", default=CHART_FILE, metavar="FILE")
    args = parser.parse_args(argv)
    text = dumps(permissions_document())
    if args.action == "export":
        args.file.parent.mkdir(parents=True, exist_ok=True)
        args.file.write_text(text, encoding="utf-8")
        print(f"wrote {args.file} ({len(ACCESS)} users)")
        return 0
    if not args.file.is_file() or args.file.read_text(encoding="utf-8") != text:
        print(
            f"{args.file} does not match vidsage.contracts.permissions: run "
            f"`python -m vidsage_dev.natsauth export {args.file}` (or `make schemas`) and commit it",
            file=sys.stderr,
        )
        return 1
    print(f"{args.file}: up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
