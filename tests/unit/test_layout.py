"""The layout DESIGN.md fixes: one folder per service with the same name everywhere."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["gateway", "ingest", "transcriber", "indexer", "chat"]


@pytest.mark.parametrize("name", SERVICES)
def test_service_folder(name: str) -> None:
    folder = ROOT / "services" / name
    for item in ("pyproject.toml", "Dockerfile", "README.md", f"src/vidsage_{name}/__main__.py"):
        assert (folder / item).is_file(), item
    assert f'name = "vidsage-{name}"' in (folder / "pyproject.toml").read_text()


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_built_and_deployed(name: str) -> None:
    bake = (ROOT / "docker-bake.hcl").read_text()
    assert f'target "{name}"' in bake
    assert f'dockerfile = "services/{name}/Dockerfile"' in bake
    assert f"image: vidsage-{name}" in (ROOT / "skaffold.yaml").read_text()
    assert f"{name}:" in (ROOT / "charts/vidsage/values.yaml").read_text()


def test_transcriber_has_gpu_and_cpu_images() -> None:
    bake = (ROOT / "docker-bake.hcl").read_text()
    assert 'target "transcriber-cpu"' in bake
    skaffold = (ROOT / "skaffold.yaml").read_text()
    assert "image: vidsage-transcriber-cpu" in skaffold
    assert "value: vidsage-transcriber\n" in skaffold  # the gpu profile


def test_top_level_files() -> None:
    for item in (
        "Makefile",
        "README.md",
        "skaffold.yaml",
        "docker-bake.hcl",
        "charts/vidsage/Chart.yaml",
        "libs/vidsage/pyproject.toml",
        ".ci/run",
        "constraints.txt",
    ):
        assert (ROOT / item).is_file(), item
    readme = (ROOT / "README.md").read_text()
    assert "make setup && make run" in readme
    assert "make test" in readme
