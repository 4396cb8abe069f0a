"""The ``vidsage`` command.

- ``vidsage schemas export DIR``: write ``DIR/asyncapi.json`` and ``DIR/events/<Name>.schema.json``
  from the event models (``make schemas`` runs it on ``docs/``);
- ``vidsage schemas check DIR``: exit 1, listing the files, when DIR is not what the models
  produce (run it in CI so the published contract never goes stale).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vidsage.asyncapi import check_schemas, export_schemas


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidsage", description="Tools of the vidsage shared library.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    schemas = commands.add_parser(
        "schemas",
        help="export or check the event JSON Schemas and the AsyncAPI document",
        description="The public event contract as files, generated from vidsage.events.",
    )
    actions = schemas.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write DIR/asyncapi.json and DIR/events/<Name>.schema.json")
    export.add_argument("dir", type=Path, metavar="DIR")
    check = actions.add_parser("check", help="exit 1 if the files in DIR differ from the models")
    check.add_argument("dir", type=Path, metavar="DIR")
    return parser


def _schemas(action: str, directory: Path) -> int:
    if action == "export":
        written = export_schemas(directory)
        print(f"wrote {len(written)} files to {directory}")
        return 0
    problems = check_schemas(directory)
    if problems:
        print(
            f"vidsage schemas check: {len(problems)} file(s) in {directory} do not match the event models:",
            file=sys.stderr,
        )
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        print(
            f"run `vidsage schemas export {directory}` (or `make schemas`) and commit the result",
            file=sys.stderr,
        )
        return 1
    print(f"{directory}: the event schemas and the AsyncAPI document are up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "schemas":
        return _schemas(args.action, args.dir)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects the others


if __name__ == "__main__":
    raise SystemExit(main())
