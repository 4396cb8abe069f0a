"""``vidsage-client`` is the public API's client only: installing it brings in neither the service
runtime (nats-py, minio) nor the models' libraries, and it imports and runs without them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

FORBIDDEN = {"nats-py", "minio", "torch", "faster-whisper", "sentence-transformers"}
# the import names of FORBIDDEN, and the service and media extras of vidsage
BLOCKED = [
    "nats",
    "minio",
    "torch",
    "faster_whisper",
    "sentence_transformers",
    "ctranslate2",
    "structlog",
    "pydantic_settings",
    "av",
    "magic",
    "numpy",
    "PIL",
]


def requirement_tree(name: str) -> dict[str, set[str]]:
    """Every distribution that installing ``name`` brings in (canonical name → the extras asked of
    it), from the installed distributions' ``Requires-Dist``, markers evaluated for this Python."""
    tree: dict[str, set[str]] = {}
    todo: list[tuple[str, set[str]]] = [(name, set())]
    while todo:
        dist, extras = todo.pop()
        key = canonicalize_name(dist)
        if key in tree and extras <= tree[key]:
            continue
        tree.setdefault(key, set()).update(extras)
        for text in metadata.requires(dist) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({**default_environment(), "extra": extra}) for extra in (extras or {""})
            ):
                continue
            todo.append((requirement.name, set(requirement.extras)))
    return tree


def test_installing_the_client_brings_no_server_side_dependency() -> None:
    tree = requirement_tree("vidsage-client")
    assert {"vidsage", "aiohttp", "pydantic"} <= set(tree)
    assert tree["vidsage"] == set()  # the contracts, without the service or media extras
    assert FORBIDDEN.isdisjoint(tree), sorted(FORBIDDEN & set(tree))


def test_the_walk_sees_what_an_extra_brings_in() -> None:
    # the same walk over a service finds the runtime: the client test above is not vacuous
    tree = requirement_tree("vidsage-gateway")
    assert tree["vidsage"] == {"service", "media"}
    assert {"nats-py", "minio", "av"} <= set(tree)


def test_the_client_and_its_command_work_with_the_server_side_modules_blocked() -> None:
    code = textwrap.dedent(
        f"""
        import sys

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BLOCKED!r}:
                    raise ImportError(f"blocked: {{name}}")
                return None

        sys.meta_path.insert(0, Blocker())
        import vidsage_client, vidsage_client.cli, vidsage_client.client
        import vidsage_client.commands, vidsage_client.render
        from vidsage_client import Client, Exit

        assert Client is vidsage_client.client.Client
        # nothing listens on port 9: the command runs and reports it (exit 3)
        code = vidsage_client.cli.main(["ls", "--url", "http://127.0.0.1:9"])
        assert code == Exit.CANNOT_CONNECT, code
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "cannot reach the gateway at http://127.0.0.1:9" in done.stderr


def _vidsage_without_the_dev_tools(*argv: str) -> subprocess.CompletedProcess[str]:
    """``vidsage ARGV`` in a Python where ``vidsage_dev`` cannot be imported (not installed)."""
    code = textwrap.dedent(
        f"""
        import sys

        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "vidsage_dev":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, Blocker())
        from vidsage_client.cli import main

        raise SystemExit(main({list(argv)!r}))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_without_vidsage_dev_the_dev_commands_say_what_to_install() -> None:
    for argv, command in (
        (["dev", "--help"], "dev"),
        (["dev", "--services", ""], "dev"),
        (["schemas", "check", "docs"], "schemas"),
    ):
        done = _vidsage_without_the_dev_tools(*argv)
        assert done.returncode == 2, (argv, done.stderr)
        assert done.stdout == ""
        assert done.stderr == (
            f"vidsage {command}: needs the vidsage-dev package (vidsage_dev is missing): "
            "pip install libs/vidsage-dev from a checkout, or make setup\n"
        )
    # the command line still lists them
    done = _vidsage_without_the_dev_tools("--help")
    assert done.returncode == 0, done.stderr
    assert "    dev " in done.stdout
    assert "    schemas " in done.stdout
