"""The ``vidsage`` command.

Client of a running gateway (``--url``, else ``$VIDSAGE_URL``, else the config file's ``url``,
else ``http://127.0.0.1:8080``), with an API key (``--key``, else ``$VIDSAGE_API_KEY``, else the
config file's ``key``; :mod:`vidsage_client.config`):

- ``vidsage upload FILE... [--wait]``: upload with a progress bar; ``--wait`` shows the stages
  until each video is ``ready`` (exit 1 with the reason if one fails);
- ``vidsage ls``, ``vidsage status ID [--wait]``, ``vidsage transcript ID --format txt|srt|vtt|json``,
  ``vidsage search QUERY [--video ID]``, ``vidsage chat [ID]`` (questions from stdin, answers
  streamed, then the citations as ``[mm:ss] text``; no ID: the whole library), ``vidsage rm ID...``;
- ``vidsage keys create --owner NAME [--role admin|member] [--expires-in DAYS] [--label TEXT]``
  (prints the new key, once), ``vidsage keys list [--owner NAME]``, ``vidsage keys revoke ID``: an
  admin key's management of keys; ``vidsage keys generate`` prints a new random key offline (for a
  bootstrap Secret);
- ``--json`` on any of them: one JSON document per line on stdout, errors included.

Local tools, from the ``vidsage-dev`` package (``make setup`` installs it; without it these two
commands exit 2 saying so):

- ``vidsage dev [ARGS]``: the local runner behind ``make run`` (``python -m vidsage_dev``;
  ``vidsage dev --help`` lists its flags);
- ``vidsage schemas export DIR``: write ``DIR/asyncapi.json`` and ``DIR/events/<Name>.schema.json``
  from the event models (``make schemas`` runs it on ``docs/``);
- ``vidsage schemas check DIR``: exit 1, listing the files, when DIR is not what the models
  produce (run it in CI so the published contract never goes stale).

The exit codes are :class:`vidsage_client.Exit` (listed in ``vidsage --help``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from vidsage.argtypes import positive_int, timeout_seconds
from vidsage.contracts.keys import MAX_EXPIRES_IN_DAYS, MAX_LABEL_CHARS, ROLES, is_valid_owner
from vidsage_client import DEFAULT_URL, EXIT_CODES_HELP, TRANSCRIPT_FORMATS, URL_ENV, Exit
from vidsage_client.config import KEY_ENV, ConfigError, config_path, load_config

CLIENT_COMMANDS = ("upload", "ls", "status", "transcript", "search", "chat", "rm", "keys")
DEFAULT_WAIT_TIMEOUT_S = 600.0


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps each line of a description or epilog on its own, so the line breaks of a list stay; an
    indented ``  code  text`` line wraps under its text."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            hanging = re.match(r"^\s+\S+\s+", line)
            more = indent + " " * (hanging.end() if hanging else 0)
            lines.append(textwrap.fill(line, width, initial_indent=indent, subsequent_indent=more))
        return "\n".join(lines)


def _owner(text: str) -> str:
    if not is_valid_owner(text):
        raise argparse.ArgumentTypeError(
            f"an owner name is 1-63 lower-case letters, digits, '_' or '-' (not first): {text!r}"
        )
    return text


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 0 < days <= MAX_EXPIRES_IN_DAYS:
        raise argparse.ArgumentTypeError(f"days must be more than 0 and at most {MAX_EXPIRES_IN_DAYS}")
    return days


def _label(text: str) -> str:
    if len(text) > MAX_LABEL_CHARS:
        raise argparse.ArgumentTypeError(f"a label is at most {MAX_LABEL_CHARS} characters")
    return text


def _video_id(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("a video id must not be empty")
    return text.strip()


def _build_parser() -> argparse.ArgumentParser:
    # --url and --json are accepted before or after the command (SUPPRESS keeps either one's value)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help=f"the gateway (default: ${URL_ENV}, else url in the config file, else {DEFAULT_URL})",
    )
    common.add_argument(
        "--key",
        default=argparse.SUPPRESS,
        help=f"the API key (default: ${KEY_ENV}, else key in {config_path()})",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help='machine-readable output: one JSON document per line on stdout, errors as {"error": {...}}',
    )
    parser = argparse.ArgumentParser(
        prog="vidsage",
        description="Upload, search and chat with videos on a vidsage gateway; run the local system.",
        epilog=f"{EXIT_CODES_HELP}\n\nThe gateway URL comes from --url, else ${URL_ENV}, else url in "
        f"{config_path()}, else {DEFAULT_URL}; the API key from --key, else ${KEY_ENV}, else key in that "
        "file.",
        formatter_class=_HelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def client(name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=description or help_text,
            epilog=EXIT_CODES_HELP,
            formatter_class=_HelpFormatter,
            parents=[common],
        )

    def add_wait(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--wait", action="store_true", help=f"{what}, showing the stages")
        p.add_argument(
            "--timeout",
            type=timeout_seconds,
            default=DEFAULT_WAIT_TIMEOUT_S,
            metavar="SECONDS",
            help="give up waiting after SECONDS, exit 5 (default: %(default)g; 0: never)",
        )

    upload = client(
        "upload",
        "upload video files (MP4, MOV, AVI) with a progress bar",
        "Upload each FILE; print its id. With --wait, follow ingest, transcription and indexing until "
        "each video is ready (exit 1, with the reason, if one fails).",
    )
    upload.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add_wait(upload, "wait until every video is ready or failed")

    ls = client("ls", "list the videos, newest first")
    ls.add_argument("--limit", type=positive_int, default=20, help="videos per page (default: %(default)s)")
    ls.add_argument("--cursor", help="the page after this one (printed when there are more)")
    ls.add_argument("--all", action="store_true", help="every video, following the pages")

    status = client("status", "a video's status and the state of each stage")
    status.add_argument("id", type=_video_id, metavar="ID")
    add_wait(status, "wait until the video is ready or failed (exit 1 if it failed)")

    transcript = client("transcript", "print a video's transcript")
    transcript.add_argument("id", type=_video_id, metavar="ID")
    transcript.add_argument(
        "--format",
        "-f",
        choices=TRANSCRIPT_FORMATS,
        default=None,
        help="txt (default), srt, vtt or json (the default with --json)",
    )

    search = client("search", "search what is said in the videos")
    search.add_argument("query", nargs="+", metavar="QUERY", help="words or a question")
    search.add_argument("--video", type=_video_id, metavar="ID", help="search within this video only")
    search.add_argument("--limit", type=positive_int, default=None, help="at most this many passages")

    chat = client(
        "chat",
        "ask questions about a video; answers stream, then cite their moments",
        "Read questions from stdin, one per line (a terminal or a pipe), or take them from -m. Each "
        "answer streams as it is written, followed by its citations as `[mm:ss] text`. Without ID, "
        "the chat is about the whole library. EOF (Ctrl-D) or Ctrl-C ends the chat.",
    )
    chat.add_argument("id", type=_video_id, metavar="ID", nargs="?", help="the video (default: the library)")
    chat.add_argument(
        "-m", "--message", action="append", default=[], help="ask this instead of reading stdin (repeatable)"
    )
    chat.add_argument("--conversation", metavar="CONVERSATION_ID", help="continue an earlier conversation")

    rm = client("rm", "delete videos (objects, transcript, search index, record)")
    rm.add_argument("ids", nargs="+", type=_video_id, metavar="ID")

    keys = client("keys", "create, list and revoke API keys (needs an admin key)")
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")

    def key_action(name: str, help_text: str) -> argparse.ArgumentParser:
        return key_actions.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES_HELP,
            parents=[common],
            formatter_class=_HelpFormatter,
        )

    create = key_action(
        "create", 'create a key and print it (only this once; --json: one document with "key")'
    )
    create.add_argument("--owner", type=_owner, required=True, help="the tenant the key belongs to")
    create.add_argument("--role", choices=ROLES, default="member", help="member (default) or admin")
    create.add_argument(
        "--expires-in", type=_days, metavar="DAYS", help="days until it stops working (default: never)"
    )
    create.add_argument("--label", type=_label, help="what the key is for (shown by keys list)")
    listing = key_action("list", "list the keys: id, owner, role, state, times (never a key)")
    listing.add_argument("--owner", type=_owner, help="only this tenant's keys")
    key_action(
        "generate",
        "print a new random key without asking a gateway (for the first admin key's Secret; it works "
        "once a gateway bootstraps it)",
    )
    revoke = key_action("revoke", "revoke a key: every gateway refuses it within 2 s")
    revoke.add_argument("key_id", metavar="ID", help="the key id (the part after vsk_, as keys list shows)")

    commands.add_parser(
        "dev",
        help="run the whole system locally (what `make run` calls; `vidsage dev --help` for its flags)",
        add_help=False,  # --help and every flag go to the runner's own parser
    )

    schemas = commands.add_parser(
        "schemas",
        help="export or check the event JSON Schemas and the AsyncAPI document",
        description="The public event contract as files, generated from vidsage.contracts.events.",
    )
    actions = schemas.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write DIR/asyncapi.json and DIR/events/<Name>.schema.json")
    export.add_argument("dir", type=Path, metavar="DIR")
    check = actions.add_parser("check", help="exit 1 if the files in DIR differ from the models")
    check.add_argument("dir", type=Path, metavar="DIR")
    return parser


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse a command line; the second item holds the arguments of ``vidsage dev`` (else empty).

    Resolves the gateway URL (flag, ``$VIDSAGE_URL``, default) and the transcript format; exits 2
    on bad arguments, like argparse.
    """
    parser = _build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "dev":
        return args, rest
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command in CLIENT_COMMANDS:
        args.json = getattr(args, "json", False)
        try:
            config = load_config()
        except ConfigError as exc:
            parser.error(str(exc))
        for warning in config.warnings:
            sys.stderr.write(f"vidsage: warning: {warning}\n")
        args.key = getattr(args, "key", None) or os.environ.get(KEY_ENV) or config.key or None
        url = getattr(args, "url", None) or os.environ.get(URL_ENV) or config.url or DEFAULT_URL
        if not _valid_url(url):
            parser.error(
                f"the gateway URL must start with http:// or https:// and name a host and a valid port, "
                f"got {url!r}"
            )
        args.url = url.rstrip("/")
        if args.command == "transcript" and args.format is None:
            args.format = "json" if args.json else "txt"
    return args, []


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and (port is None or port > 0)


def _dev_module(command: str, module: str) -> ModuleType | None:
    """The vidsage-dev module behind ``vidsage <command>``; None, after saying so, when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        sys.stderr.write(
            f"vidsage {command}: needs the vidsage-dev package ({exc.name} is missing): "
            "pip install libs/vidsage-dev from a checkout, or make setup\n"
        )
        return None


def _schemas(action: str, directory: Path) -> int:
    schemas = _dev_module("schemas", "vidsage_dev.schemas")
    if schemas is None:
        return Exit.USAGE
    code: int = schemas.run(action, directory)
    return code


def _client(args: argparse.Namespace) -> int:
    from vidsage_client.commands import run
    from vidsage_client.render import Output

    out = Output(json_mode=args.json, has_key=bool(args.key))
    try:
        return asyncio.run(run(args, out, stdin=sys.stdin))
    except KeyboardInterrupt:
        out.note("\nvidsage: interrupted")
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`vidsage ls | head`): stop quietly, as other command-line tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return Exit.FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args, dev_args = parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command == "dev":
        runner = _dev_module("dev", "vidsage_dev.cli")
        if runner is None:
            return Exit.USAGE
        # the runner's own parser, named `vidsage dev`, answers --help and bad flags; its main() runs it
        parser = runner.build_parser()
        parser.prog = "vidsage dev"
        parser.parse_args(dev_args)
        code: int = runner.main(dev_args)
        return code
    if args.command == "schemas":
        return _schemas(args.action, args.dir)
    if args.command in CLIENT_COMMANDS:
        return _client(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse rejects the others


if __name__ == "__main__":
    raise SystemExit(main())
