"""Render charts/vidsage offline with Helm's own engine (``helm-python-sdk`` embeds Helm's Go SDK).

No cluster and no network: ``.Capabilities`` are Helm's defaults (so capability-gated objects
need their ``skipCapabilityCheck`` value) and the dependencies (NATS, Qdrant charts) are not in
``charts/``, so only vidsage's own templates render.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import helm_python as helm
import yaml

from tests.support.paths import ROOT

CHART = ROOT / "charts" / "vidsage"
RELEASE = "vidsage"
NAMESPACE = "media"
SERVICES = ("gateway", "ingest", "transcriber", "indexer", "chat", "notifier")
# Kubernetes versions whose JSON schemas every rendered object must satisfy: the oldest the chart
# supports (Chart.yaml kubeVersion) and the newest Helm's engine here defaults to.
KUBE_VERSIONS = ("1.29.0", "1.36.0")

Values = dict[str, Any]
Manifest = dict[str, Any]

# Only what the chart requires: an S3 endpoint and where its credentials are.
DEFAULTS: Values = {"s3": {"endpoint": "https://s3.eu-west-1.example.com", "existingSecret": "vidsage-s3"}}

# A GPU node pool with KEDA, the Prometheus Operator and an ingress controller.
GPU_KEDA: Values = {
    **DEFAULTS,
    "transcriber": {
        "gpu": {"enabled": True, "count": 1},
        "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "runtimeClassName": "nvidia",
        "keda": {"enabled": True, "skipCapabilityCheck": True, "maxReplicaCount": 12, "lagThreshold": 3},
        "terminationGracePeriodSeconds": 900,
    },
    "chat": {"llmApiKey": {"existingSecret": "llm", "key": "openai"}},
    "gateway": {
        "auth": {
            "bootstrapAdminKey": {"existingSecret": "vidsage-admin"},
            "metricsToken": {"existingSecret": "vidsage-metrics", "key": "token"},
        },
        "signingSecret": {"existingSecret": "vidsage-links", "key": "hmac"},
    },
    "nats": {"auth": {"existingSecret": "vidsage-nats"}},
    "webhooks": {"secretKey": {"existingSecret": "vidsage-webhooks", "key": "derive"}},
    "serviceMonitor": {"skipCapabilityCheck": True},
    "ingress": {"enabled": True, "className": "nginx", "host": "videos.example.org"},
}

# Everything external: NATS (an open one: no users), Qdrant and S3 run elsewhere; CPU
# transcriber; Gateway API route; the links' signing secret inline.
EXTERNAL: Values = {
    "nats": {
        "enabled": False,
        "auth": {"enabled": False},
        "url": "nats://nats.messaging.svc:4222",
        "monitoringEndpoint": "nats-headless.messaging.svc.cluster.local:8222",
        "externalPeers": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "messaging"}}}
        ],
    },
    "qdrant": {"enabled": False, "url": "https://qdrant.vectors.svc:6333"},
    "s3": {
        "endpoint": "https://objects.example.net",
        "accessKey": "AKIAEXAMPLE",
        "secretKey": "example-secret",
        "externalPeers": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
    },
    "indexer": {"qdrantApiKey": {"existingSecret": "qdrant-key"}},
    "gateway": {"signingSecret": {"value": "example-signing-secret-at-least-32-chars"}},
    "webhooks": {"secretKey": {"value": "example-webhook-key-at-least-32-characters"}},
    "transcriber": {"gpu": {"enabled": False}, "tolerations": [], "keda": {"skipCapabilityCheck": True}},
    "httpRoute": {"enabled": True, "parentRefs": [{"name": "public", "namespace": "gateways"}]},
}

# The evaluation store bundled in the chart (its image named in values).
BUNDLED_S3: Values = {
    "s3Bundled": {"enabled": True, "image": "rclone/rclone:1.71.0"},
    "s3": {"accessKey": "vidsage", "secretKey": "vidsage-secret"},
    "transcriber": {"keda": {"enabled": False}},
}

VALUE_SETS: dict[str, Values] = {
    "defaults": DEFAULTS,
    "gpu-keda": GPU_KEDA,
    "external": EXTERNAL,
    "bundled-s3": BUNDLED_S3,
}


def merge(base: Values, override: Values) -> Values:
    """Deep merge (dicts merge, everything else is replaced), like Helm's values coalescing."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@cache
def _chart() -> helm.Chart:
    return helm.Chart.load(str(CHART))


@cache
def _render(values_json: str) -> dict[str, str]:
    return _chart().render(values=json.loads(values_json), name=RELEASE, namespace=NAMESPACE)


def render_files(values: Values) -> dict[str, str]:
    """Template path → rendered text. Raises ``helm.HelmError`` when the chart refuses the values."""
    return _render(json.dumps(values, sort_keys=True))


def render(values: Values) -> list[Manifest]:
    """Every Kubernetes object the chart renders for ``values`` (NOTES.txt excluded)."""
    objects: list[Manifest] = []
    for path, text in sorted(render_files(values).items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def notes(values: Values) -> str:
    return next(text for path, text in render_files(values).items() if path.endswith("NOTES.txt"))


def find(objects: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[Manifest], kind: str, name: str) -> Manifest:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def deployment(objects: list[Manifest], service: str) -> Manifest:
    return one(objects, "Deployment", f"{RELEASE}-{service}")


def container(objects: list[Manifest], service: str) -> dict[str, Any]:
    containers = deployment(objects, service)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env(objects: list[Manifest], service: str) -> dict[str, Any]:
    """name → value (a string) or valueFrom (a dict) of the service container's environment."""
    out: dict[str, Any] = {}
    for item in container(objects, service)["env"]:
        assert item["name"] not in out, f"{service}: {item['name']} set twice"
        out[item["name"]] = item.get("value", item.get("valueFrom"))
    return out
