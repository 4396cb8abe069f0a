"""``vidsage dev`` / ``vidsage-dev`` / ``python -m vidsage_dev``: start the local system, print
where everything is, wait for Ctrl-C, stop cleanly.

``vidsage dev`` (the ``vidsage`` command of ``vidsage-client``) hands its arguments to
:func:`main` and answers ``--help`` and bad flags with :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from vidsage.argtypes import port, positive_seconds
from vidsage.contracts.names import SUBSCRIBER_USER
from vidsage_dev.admin_key import sign_in_link
from vidsage_dev.processes import DevRunError
from vidsage_dev.system import SCALABLE, SERVICE_NAME_RE, SERVICES, DevConfig, DevSystem

__all__ = ["build_parser", "main"]


def _parse_services(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.replace(" ", ",").split(",") if n.strip())
    for name in names:
        if not SERVICE_NAME_RE.match(name):
            raise argparse.ArgumentTypeError(f"invalid service name {name!r}")
    return names


def _parse_replicas(text: str) -> dict[str, int]:
    """``transcriber=2,ingest=2`` → ``{"transcriber": 2, "ingest": 2}``."""
    counts: dict[str, int] = {}
    for item in (i.strip() for i in text.replace(" ", ",").split(",")):
        if not item:
            continue
        name, sep, count = item.partition("=")
        if not sep or not count.strip().isdigit():
            raise argparse.ArgumentTypeError(f"expected SERVICE=COUNT, not {item!r}")
        name = name.strip()
        if name not in SCALABLE:
            raise argparse.ArgumentTypeError(
                f"{name!r} cannot run as several processes locally; scalable: {', '.join(SCALABLE)}"
            )
        counts[name] = int(count)
    return counts


def build_parser() -> argparse.ArgumentParser:
    d = DevConfig.__dataclass_fields__
    p = argparse.ArgumentParser(
        prog="python -m vidsage_dev",
        description="Run vidsage locally: nats-server, an S3 server (rclone) and the services. Ctrl-C stops.",
        epilog="The S3 keys, the NATS passwords and the gateway's signing secret are generated on first "
        "start into STATE_DIR/secrets.json (mode 0600) and reused; VIDSAGE_S3__ACCESS_KEY / __SECRET_KEY "
        "set the S3 keys instead. The bucket defaults to VIDSAGE_S3__BUCKET or 'vidsage'.",
    )
    p.add_argument("--host", default=d["host"].default, help="address everything listens on (%(default)s)")
    p.add_argument("--nats-port", type=port, default=d["nats_port"].default, help="NATS port (%(default)s)")
    p.add_argument(
        "--nats-monitor-port",
        type=port,
        default=d["nats_monitor_port"].default,
        help="NATS monitoring port (%(default)s)",
    )
    p.add_argument("--s3-port", type=port, default=d["s3_port"].default, help="S3 port (%(default)s)")
    p.add_argument(
        "--gateway-port", type=port, default=d["gateway_port"].default, help="gateway port (%(default)s)"
    )
    p.add_argument(
        "--state-dir", type=Path, default=d["state_dir"].default, help="local state folder (%(default)s)"
    )
    p.add_argument("--models-dir", type=Path, default=None, help="offline models (default: STATE_DIR/models)")
    p.add_argument(
        "--services",
        type=_parse_services,
        default=SERVICES,
        help="comma-separated services to run; '' for NATS and S3 only (default: all)",
    )
    p.add_argument(
        "--nats-cluster",
        type=int,
        choices=(1, 3, 5),
        default=d["nats_cluster"].default,
        help="nats-servers as one JetStream cluster on loopback, stream and KV buckets at that many "
        "replicas; member i uses NATS_PORT+i, NATS_MONITOR_PORT+i, NATS_CLUSTER_PORT+i (%(default)s)",
    )
    p.add_argument(
        "--nats-cluster-port",
        type=port,
        default=d["nats_cluster_port"].default,
        help="first cluster (route) port of --nats-cluster (%(default)s)",
    )
    p.add_argument(
        "--nats-sync",
        default=None,
        metavar="INTERVAL",
        help="JetStream fsync interval: 'always' (every write on disk before the ack) or e.g. 2m "
        "(default: the server's, 2 min)",
    )
    p.add_argument(
        "--replicas",
        type=_parse_replicas,
        action="append",
        default=[],
        metavar="SERVICE=N[,…]",
        help=f"run N competing processes of a service ({', '.join(SCALABLE)}), e.g. transcriber=2",
    )
    p.add_argument("--bucket", default=None, help="S3 bucket (default: VIDSAGE_S3__BUCKET or 'vidsage')")
    p.add_argument(
        "--no-nats-auth",
        dest="nats_auth",
        action="store_false",
        help="run NATS open, without a user per service (any client may publish and subscribe anything)",
    )
    p.add_argument(
        "--ready-timeout",
        type=positive_seconds,
        default=d["ready_timeout"].default,
        help="seconds to wait for the gateway's /readyz (%(default)s)",
    )
    p.add_argument(
        "--stop-timeout",
        type=positive_seconds,
        default=d["stop_timeout"].default,
        help="seconds between SIGTERM and SIGKILL per process (%(default)s)",
    )
    return p


def _nats_row(system: DevSystem, users: str) -> str:
    if len(system.nats_servers) <= 1:
        return f"{system.nats_url}  (monitoring {system.nats_monitor_url}; {users})"
    members = ", ".join(f"{s.server_name} {s.url}" for s in system.nats_servers)
    size = len(system.nats_servers)
    return f"JetStream cluster of {size}, stream and KV at {size} replicas: {members}  ({users})"


def _banner(system: DevSystem) -> str:
    cfg = system.config
    rows = []
    if "gateway" in system.services:
        rows.append(("gateway", f"{system.gateway_url}  (web page, API, ws://…/ws/chat/<id>)"))
        made = "made just now" if system.admin_key_created else "kept from an earlier start"
        rows.append(("admin key", f"{system.admin_key_file}  ({made}; owner local; mode 0600)"))
    secrets_file = system.secrets.path if system.secrets else "-"
    nats_users = (
        f"a user per service; `{SUBSCRIBER_USER}` for your own consumers"
        if cfg.nats_auth
        else "open: no authorization"
    )
    rows += [
        ("NATS", _nats_row(system, nats_users)),
        ("S3", f"{system.s3_endpoint}  bucket {cfg.bucket}  (region us-east-1, path style)"),
        ("services", ", ".join(system.services) or "(none)"),
        ("secrets", f"{secrets_file}  (S3 keys, NATS passwords, signing secret)"),
        ("state dir", str(system.state_dir)),
        ("logs", str(system.logs_dir)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["", "vidsage is running:"]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def announce(system: DevSystem) -> None:
    """What a started system prints: the banner, the sign-in link (the one line that holds the admin
    key: to the terminal only, never to ``logs/devrun.log``) and how to stop."""
    system.say(_banner(system))
    if "gateway" in system.services and system.admin_key is not None:
        system.say(
            f"Sign in to the web page: {sign_in_link(system.gateway_url, system.admin_key)}", log=False
        )
        system.say(f"Command line: export VIDSAGE_API_KEY=$(cat {system.admin_key_file})")
    system.say("Press Ctrl-C to stop.\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vidsage_dev``: start everything, wait for Ctrl-C, stop cleanly."""
    args = build_parser().parse_args(argv)
    try:
        kwargs: dict[str, object] = {}
        if args.bucket is not None:
            kwargs["bucket"] = args.bucket
        config = DevConfig(
            host=args.host,
            nats_port=args.nats_port,
            nats_monitor_port=args.nats_monitor_port,
            s3_port=args.s3_port,
            gateway_port=args.gateway_port,
            state_dir=args.state_dir,
            models_dir=args.models_dir,
            services=args.services,
            ready_timeout=args.ready_timeout,
            stop_timeout=args.stop_timeout,
            nats_auth=args.nats_auth,
            nats_cluster=args.nats_cluster,
            nats_cluster_port=args.nats_cluster_port,
            nats_sync=args.nats_sync,
            replicas={k: v for counts in args.replicas for k, v in counts.items()},
            **kwargs,  # type: ignore[arg-type]
        )
    except ValueError as exc:
        sys.stderr.write(f"devrun: {exc}\n")
        return 2
    system = DevSystem(config, sink=sys.stdout)
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, system._on_signal) for s in handled}
    try:
        try:
            system.start()
        except (DevRunError, OSError):
            # already reported and everything stopped; an interrupted startup is a clean exit
            return 0 if system._stop_requested.is_set() else 1
        announce(system)
        return system.wait()
    finally:
        system.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
