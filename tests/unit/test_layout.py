"""The layout DESIGN.md fixes: one folder per service with the same name everywhere, three libraries
by audience, and the workspace that lists them all declared once."""

import re
import tomllib

import pytest

from tests.support.paths import ROOT

SERVICES = ["gateway", "ingest", "transcriber", "indexer", "chat"]
# folder → (distribution, import package)
LIBS = {
    "vidsage": ("vidsage", "vidsage"),
    "vidsage-client": ("vidsage-client", "vidsage_client"),
    "vidsage-dev": ("vidsage-dev", "vidsage_dev"),
}


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


@pytest.mark.parametrize("folder", LIBS)
def test_library_folder(folder: str) -> None:
    distribution, package = LIBS[folder]
    root = ROOT / "libs" / folder
    for item in ("pyproject.toml", "README.md", f"src/{package}/__init__.py"):
        assert (root / item).is_file(), item
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"] == distribution


def test_the_workspace_lists_every_package_once_and_the_makefile_reads_it() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["vidsage"]["packages"]
    folders = [re.sub(r"\[.*\]$", "", p) for p in packages]
    found = [*ROOT.glob("libs/*/pyproject.toml"), *ROOT.glob("services/*/pyproject.toml")]
    on_disk = sorted(str(f.parent.relative_to(ROOT)) for f in found)
    assert sorted(folders) == on_disk
    assert len(set(folders)) == len(folders)
    makefile = (ROOT / "Makefile").read_text()
    assert '["tool"]["vidsage"]["packages"]' in makefile
    for folder in folders:
        assert folder not in makefile, f"the Makefile names {folder} itself"


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
        "libs/vidsage-client/pyproject.toml",
        "libs/vidsage-dev/pyproject.toml",
        ".ci/run",
        "constraints.txt",
    ):
        assert (ROOT / item).is_file(), item
    readme = (ROOT / "README.md").read_text()
    assert "make setup && make run" in readme
    assert "make test" in readme
