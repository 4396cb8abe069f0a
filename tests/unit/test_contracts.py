"""``vidsage.contracts`` imports only the standard library and pydantic, so clients of the public API
and event subscribers can use the models without the service runtime (NATS, S3, logging)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import textwrap

import vidsage.contracts

CONTRACT_MODULES = sorted(
    f"vidsage.contracts.{info.name}" for info in pkgutil.iter_modules(vidsage.contracts.__path__)
)

# pydantic and what it imports; nothing else outside the standard library
ALLOWED = {
    "vidsage",
    "pydantic",
    "pydantic_core",
    "typing_extensions",
    "annotated_types",
    "typing_inspection",
}
BLOCKED = ["nats", "minio", "structlog", "pydantic_settings", "aiohttp", "av", "PIL", "numpy", "magic"]

PROBE = textwrap.dedent(
    """
    import importlib, json, sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked: {name}")
            return None

    sys.meta_path.insert(0, Blocker())
    before = set(sys.modules)
    for module in MODULES:
        importlib.import_module(module)
    new = {name.split(".")[0] for name in set(sys.modules) - before}
    stdlib = set(sys.stdlib_module_names)
    print(json.dumps(sorted(n for n in new if n not in stdlib and not n.startswith("_sysconfigdata"))))
    """
)


def test_the_contracts_package_has_the_expected_modules() -> None:
    assert [
        f"vidsage.contracts.{name}"
        for name in (
            "chat",
            "events",
            "ids",
            "keys",
            "live_events",
            "names",
            "permissions",
            "reasons",
            "record",
            "search",
            "transcript",
            "transcription",
            "usage",
            "webhooks",
        )
    ] == CONTRACT_MODULES


def test_contracts_import_only_the_standard_library_and_pydantic() -> None:
    code = f"BLOCKED = {BLOCKED!r}\nMODULES = {CONTRACT_MODULES!r}\n{PROBE}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) <= ALLOWED
