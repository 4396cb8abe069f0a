"""charts/vidsage rendered by Helm's engine for several value sets, each object checked."""

from __future__ import annotations

import base64
import json
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.deploy.chart import (
    BUNDLED_S3,
    CHART,
    DEFAULTS,
    EXTERNAL,
    GPU_KEDA,
    KUBE_VERSIONS,
    NAMESPACE,
    RELEASE,
    SERVICES,
    VALUE_SETS,
    Manifest,
    container,
    deployment,
    env,
    find,
    merge,
    notes,
    one,
    render,
)
from vidsage.auth.keys import generate_key
from vidsage.contracts import names
from vidsage.settings import Settings

# custom resources: no schema in kubernetes-validate; their fields are asserted below instead
CRD_KINDS = {"ScaledObject", "ServiceMonitor", "HTTPRoute"}
POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def pod_specs(objects: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (o["metadata"]["name"], o["spec"]["template"]["spec"]) for o in objects if o["kind"] in POD_OWNERS
    ]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_renders_objects_valid_for_pinned_kubernetes(value_set: str) -> None:
    objects = render(VALUE_SETS[value_set])
    checked = 0
    for obj in objects:
        assert obj["metadata"]["name"].startswith(RELEASE), obj["metadata"]["name"]
        if obj["kind"] in CRD_KINDS:
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(
                    f"{obj['kind']} {obj['metadata']['name']} invalid for Kubernetes {version}: {exc}"
                )
        checked += 1
    assert checked >= 20
    for service in SERVICES:  # a Deployment and a Service for each, under DESIGN.md's names
        deployment(objects, service)
        one(objects, "Service", f"{RELEASE}-{service}")


def test_validation_catches_a_misspelt_field() -> None:
    obj = deployment(render(DEFAULTS), "gateway")
    obj["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, KUBE_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_pod_meets_the_restricted_pod_security_profile(value_set: str) -> None:
    specs = pod_specs(render(VALUE_SETS[value_set]))
    assert len(specs) >= 5
    for name, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), (name, key)
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert not any("hostPath" in v for v in volumes.values()), name
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert not sc.get("privileged"), name
            assert sc.get("runAsUser", spec["securityContext"].get("runAsUser", 1)) != 0, name
            # the root filesystem is read-only: /tmp (HOME, caches, spool) is an emptyDir
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp, name
            assert "emptyDir" in volumes[tmp[0]["name"]], name


def test_gpu_transcriber_on_the_gpu_pool() -> None:
    objects = render(GPU_KEDA)
    spec = deployment(objects, "transcriber")["spec"]["template"]["spec"]
    c = container(objects, "transcriber")
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert c["resources"]["limits"]["memory"] == "4Gi"
    assert spec["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["runtimeClassName"] == "nvidia"
    assert c["image"] == "vidsage-transcriber:0.1.0"
    assert env(objects, "transcriber")["VIDSAGE_TRANSCRIBER__DEVICE"] == "cuda"
    assert spec["terminationGracePeriodSeconds"] == 900
    # the other services never ask for a GPU
    for service in ("gateway", "ingest", "indexer", "chat"):
        assert "nvidia.com/gpu" not in container(objects, service)["resources"].get("limits", {})


def test_cpu_transcriber_variant() -> None:
    objects = render(EXTERNAL)
    spec = deployment(objects, "transcriber")["spec"]["template"]["spec"]
    c = container(objects, "transcriber")
    assert "nvidia.com/gpu" not in c["resources"].get("limits", {})
    assert c["image"] == "vidsage-transcriber-cpu:0.1.0"
    assert env(objects, "transcriber")["VIDSAGE_TRANSCRIBER__DEVICE"] == "cpu"
    assert "runtimeClassName" not in spec
    assert "tolerations" not in spec


def test_keda_scaledobject_scales_the_transcriber_on_consumer_lag() -> None:
    objects = render(GPU_KEDA)
    so = one(objects, "ScaledObject", f"{RELEASE}-transcriber")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    spec = so["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{RELEASE}-transcriber",
    }
    assert spec["minReplicaCount"] == 0
    assert spec["maxReplicaCount"] == 12
    assert spec["fallback"] == {"failureThreshold": 3, "replicas": 1}
    trigger, jobs = spec["triggers"]
    assert jobs["type"] == "nats-jetstream"
    assert jobs["metadata"] == {
        **trigger["metadata"],
        "stream": names.JOBS_STREAM,
        "consumer": names.TRANSCRIBE_JOBS_CONSUMER,
        "lagThreshold": "2",
    }
    assert trigger["type"] == "nats-jetstream"
    assert trigger["metadata"] == {
        "natsServerMonitoringEndpoint": f"{RELEASE}-nats-headless.{NAMESPACE}.svc.cluster.local:8222",
        "account": "$G",
        "stream": names.STREAM,
        "consumer": names.TRANSCRIBER_CONSUMER,
        "lagThreshold": "3",
        "activationLagThreshold": "0",
        "useHttps": "false",
    }
    # KEDA owns the replica count
    assert "replicas" not in deployment(objects, "transcriber")["spec"]
    assert "minReplicaCount: 0" in yaml.safe_dump(so)


def test_keda_consumer_and_stream_are_the_ones_the_transcriber_uses() -> None:
    from vidsage.bus import CONSUMERS

    so = one(render(GPU_KEDA), "ScaledObject", f"{RELEASE}-transcriber")
    meta = so["spec"]["triggers"][0]["metadata"]
    assert meta["consumer"] == CONSUMERS["transcriber"].durable
    assert meta["stream"] == Settings().nats.stream


def test_keda_external_nats_monitoring_endpoint() -> None:
    so = one(render(EXTERNAL), "ScaledObject", f"{RELEASE}-transcriber")
    assert so["spec"]["triggers"][0]["metadata"]["natsServerMonitoringEndpoint"] == (
        "nats-headless.messaging.svc.cluster.local:8222"
    )


def test_no_scaledobject_without_the_keda_api() -> None:
    # Helm's offline capabilities do not include keda.sh/v1alpha1: the object is left out, the
    # Deployment keeps its replica count and NOTES.txt says why
    objects = render(DEFAULTS)
    assert find(objects, "ScaledObject") == []
    assert deployment(objects, "transcriber")["spec"]["replicas"] == 1
    assert "does not serve keda.sh/v1alpha1" in notes(DEFAULTS)
    assert find(objects, "ServiceMonitor") == []


def test_each_workers_consumer_is_sized_for_the_most_pods_that_share_it() -> None:
    """max_ack_pending = concurrency × processes: the autoscaler's maximum, else the replicas."""
    keda, plain = render(GPU_KEDA), render(DEFAULTS)
    assert env(keda, "transcriber")["VIDSAGE_TRANSCRIBER__PROCESSES"] == "12"  # KEDA's maximum
    assert env(plain, "transcriber")["VIDSAGE_TRANSCRIBER__PROCESSES"] == "1"  # no KEDA: its replicas
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert env(plain, "ingest")["VIDSAGE_INGEST__PROCESSES"] == str(values["ingest"]["replicas"])
    assert env(plain, "indexer")["VIDSAGE_INDEXER__PROCESSES"] == str(
        values["indexer"]["autoscaling"]["maxReplicas"]
    )
    assert env(plain, "notifier")["VIDSAGE_NOTIFIER__PROCESSES"] == str(
        values["notifier"]["autoscaling"]["maxReplicas"]
    )
    for service in ("gateway", "chat"):  # no consumer
        assert not any(k.endswith("__PROCESSES") for k in env(plain, service)), service
    settings = Settings(_env_file=None, transcriber={"processes": 12})  # type: ignore[call-arg]
    assert settings.transcriber.processes == 12


def test_termination_grace_outlasts_a_transcription_job() -> None:
    objects = render(DEFAULTS)
    grace = deployment(objects, "transcriber")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    ack_wait = float(env(objects, "transcriber")["VIDSAGE_TRANSCRIBER__ACK_WAIT_S"])
    assert ack_wait == Settings().transcriber.ack_wait_s
    assert grace >= 600
    assert grace > ack_wait
    for service in ("ingest", "indexer"):
        grace = deployment(objects, service)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > float(env(objects, service)[f"VIDSAGE_{service.upper()}__ACK_WAIT_S"])


def test_probes_cover_startup_and_model_load() -> None:
    objects = render(DEFAULTS)
    gw = container(objects, "gateway")
    assert gw["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gw["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gw["startupProbe"]["httpGet"]["path"] == "/healthz"
    for service in ("ingest", "transcriber", "indexer", "chat"):
        c = container(objects, service)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            command = c[probe]["exec"]["command"]
            assert command[:4] == ["python", "-m", "vidsage.health", "check"], (service, probe)
        startup = c["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        if service in ("transcriber", "indexer"):  # model load before the first heartbeat
            assert budget >= 300, (service, budget)
            assert env(objects, service)["VIDSAGE_MODELS_DIR"] == "/opt/vidsage/models"
            assert env(objects, service)["HF_HUB_OFFLINE"] == "1"


def test_models_from_a_pvc() -> None:
    objects = render(merge(DEFAULTS, {"transcriber": {"models": {"existingClaim": "whisper-large"}}}))
    spec = deployment(objects, "transcriber")["spec"]["template"]["spec"]
    assert {
        "name": "models",
        "persistentVolumeClaim": {"claimName": "whisper-large", "readOnly": True},
    } in spec["volumes"]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in container(objects, "transcriber")[
        "volumeMounts"
    ]
    assert env(objects, "transcriber")["VIDSAGE_MODELS_DIR"] == "/models"


def test_hpa_for_gateway_indexer_chat_notifier_and_pdbs() -> None:
    objects = render(DEFAULTS)
    hpas = {o["spec"]["scaleTargetRef"]["name"] for o in find(objects, "HorizontalPodAutoscaler")}
    assert hpas == {f"{RELEASE}-{s}" for s in ("gateway", "indexer", "chat", "notifier")}
    for name in hpas:  # the HPA owns their replica count
        assert "replicas" not in one(objects, "Deployment", name)["spec"]
    pdbs = {o["metadata"]["name"]: o["spec"] for o in find(objects, "PodDisruptionBudget")}
    assert set(pdbs) == {f"{RELEASE}-{s}" for s in SERVICES}
    assert pdbs[f"{RELEASE}-transcriber"]["maxUnavailable"] == 1
    assert pdbs[f"{RELEASE}-gateway"]["minAvailable"] == 1


def _policy(objects: list[Manifest], name: str) -> dict[str, Any]:
    return one(objects, "NetworkPolicy", name)["spec"]


def test_network_policies_default_deny_then_what_each_needs() -> None:
    objects = render(DEFAULTS)
    deny = _policy(objects, f"{RELEASE}-default-deny")
    assert deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/instance": RELEASE}}
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    # KEDA → NATS monitoring (8222), the vidsage services → NATS clients (4222)
    nats = _policy(objects, f"{RELEASE}-nats")
    keda_rules = [r for r in nats["ingress"] if r["ports"] == [{"port": 8222, "protocol": "TCP"}]]
    assert keda_rules
    assert keda_rules[0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}}
    ]
    clients = [r for r in nats["ingress"] if r["ports"] == [{"port": 4222, "protocol": "TCP"}]]
    assert clients[0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "vidsage"
    # only the indexer reaches Qdrant
    qdrant = _policy(objects, f"{RELEASE}-qdrant")
    assert (
        qdrant["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        == "indexer"
    )
    egress = _policy(objects, f"{RELEASE}-indexer-qdrant")["egress"][0]
    assert egress["ports"] == [{"port": 6333, "protocol": "TCP"}]
    gateway = _policy(objects, f"{RELEASE}-gateway-ingress")
    assert gateway["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_network_policies_for_external_dependencies() -> None:
    objects = render(EXTERNAL)
    assert find(objects, "NetworkPolicy", f"{RELEASE}-nats") == []
    assert find(objects, "NetworkPolicy", f"{RELEASE}-qdrant") == []
    egress = _policy(objects, f"{RELEASE}-services-egress")["egress"]
    assert egress[0]["to"] == EXTERNAL["nats"]["externalPeers"]
    assert egress[1] == {"ports": [{"port": 443, "protocol": "TCP"}], "to": EXTERNAL["s3"]["externalPeers"]}


def test_dependency_endpoints() -> None:
    objects = render(DEFAULTS)
    e = env(objects, "indexer")
    assert e["VIDSAGE_NATS__URL"] == f"nats://{RELEASE}-nats:4222"
    assert e["VIDSAGE_INDEXER__STORE"] == "qdrant"
    assert e["VIDSAGE_INDEXER__QDRANT_URL"] == f"http://{RELEASE}-qdrant:6333"
    # the key the Qdrant chart generates (qdrant.apiKey: true)
    assert e["VIDSAGE_INDEXER__QDRANT_API_KEY"] == {
        "secretKeyRef": {"name": f"{RELEASE}-qdrant-apikey", "key": "api-key"}
    }
    ext = env(render(EXTERNAL), "indexer")
    assert ext["VIDSAGE_NATS__URL"] == "nats://nats.messaging.svc:4222"
    assert ext["VIDSAGE_INDEXER__QDRANT_URL"] == "https://qdrant.vectors.svc:6333"
    assert ext["VIDSAGE_INDEXER__QDRANT_API_KEY"] == {
        "secretKeyRef": {"name": "qdrant-key", "key": "api-key"}
    }
    assert ext["VIDSAGE_S3__ENDPOINT"] == "https://objects.example.net"


def test_secrets_by_existing_secret_and_inline() -> None:
    objects = render(GPU_KEDA)
    assert find(objects, "Secret") == []  # only existing Secrets: nothing created, nothing inline
    assert env(objects, "gateway")["VIDSAGE_S3__ACCESS_KEY"] == {
        "secretKeyRef": {"name": "vidsage-s3", "key": "access-key"}
    }
    assert env(objects, "chat")["VIDSAGE_CHAT__LLM_API_KEY"] == {
        "secretKeyRef": {"name": "llm", "key": "openai"}
    }
    assert "VIDSAGE_CHAT__LLM_API_KEY" not in env(render(DEFAULTS), "chat")  # offline extractive mode
    external = render(EXTERNAL)
    secret, signing, webhook_key = find(external, "Secret")
    assert secret["stringData"] == {"access-key": "AKIAEXAMPLE", "secret-key": "example-secret"}
    assert env(external, "ingest")["VIDSAGE_S3__SECRET_KEY"] == {
        "secretKeyRef": {"name": secret["metadata"]["name"], "key": "secret-key"}
    }
    assert signing["metadata"]["name"] == f"{RELEASE}-signing-secret"
    inline_signing_secret = EXTERNAL["gateway"]["signingSecret"]["value"]
    assert base64.b64decode(signing["data"]["signing-secret"]).decode() == inline_signing_secret
    inline_webhook_key = EXTERNAL["webhooks"]["secretKey"]["value"]
    assert webhook_key["metadata"]["name"] == f"{RELEASE}-webhook-key"
    assert base64.b64decode(webhook_key["data"]["secret-key"]).decode() == inline_webhook_key
    for service in ("gateway", "notifier"):  # the one derives and shows a secret, the other signs
        assert env(external, service)["VIDSAGE_WEBHOOKS__SECRET_KEY"] == {
            "secretKeyRef": {"name": f"{RELEASE}-webhook-key", "key": "secret-key"}
        }
        assert env(objects, service)["VIDSAGE_WEBHOOKS__SECRET_KEY"] == {
            "secretKeyRef": {"name": "vidsage-webhooks", "key": "derive"}
        }
    assert "VIDSAGE_WEBHOOKS__SECRET_KEY" not in env(external, "chat")  # nobody else has it
    # secret values never appear in a Deployment
    for o in find(external, "Deployment"):
        assert "example-secret" not in json.dumps(o)
        assert inline_signing_secret not in json.dumps(o)
        assert inline_webhook_key not in json.dumps(o)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"s3": {"accessKey": "a", "secretKey": "b"}}, "s3.existingSecret or the inline"),
        ({"chat": {"llmApiKey": {"existingSecret": "llm", "value": "sk-1"}}}, "chat.llmApiKey"),
        ({"indexer": {"qdrantApiKey": {"existingSecret": "q", "value": "k"}}}, "indexer.qdrantApiKey"),
        (
            {"gateway": {"signingSecret": {"existingSecret": "s", "value": "v" * 32}}},
            "gateway.signingSecret",
        ),
        ({"webhooks": {"secretKey": {"existingSecret": "w", "value": "v" * 32}}}, "webhooks.secretKey"),
    ],
)
def test_inline_and_existing_secret_together_fail_to_render(override: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match="not both"):
        render(merge(DEFAULTS, override))
    with pytest.raises(helm.HelmError) as info:
        render(merge(DEFAULTS, override))
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "s3.endpoint is required"),
        ({"s3": {"endpoint": "https://s3.example.com"}}, "set s3.existingSecret"),
        ({"s3Bundled": {"enabled": True}, "s3": {"existingSecret": "x"}}, "s3Bundled.image is required"),
        (merge(DEFAULTS, {"nats": {"enabled": False}}), "nats.url is required"),
        (merge(DEFAULTS, {"qdrant": {"enabled": False}}), "qdrant.url is required"),
        (merge(DEFAULTS, {"httpRoute": {"enabled": True}}), "httpRoute.parentRefs is required"),
    ],
)
def test_missing_required_values_fail_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as info:
        render(values)
    assert message in str(info.value)


def test_bundled_evaluation_store_takes_its_image_from_values() -> None:
    objects = render(BUNDLED_S3)
    store = container(objects, "s3")
    assert store["image"] == "rclone/rclone:1.71.0"
    assert env(objects, "gateway")["VIDSAGE_S3__ENDPOINT"] == f"http://{RELEASE}-s3:9000"
    one(objects, "PersistentVolumeClaim", f"{RELEASE}-s3")
    # nothing in the chart names a MinIO image
    for path in CHART.rglob("*"):
        if path.is_file():
            assert "minio/minio" not in path.read_text(), path


def test_ingress_and_httproute_keep_websockets_open() -> None:
    ingress = one(render(GPU_KEDA), "Ingress", f"{RELEASE}-gateway")
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "videos.example.org"
    route = one(render(EXTERNAL), "HTTPRoute", f"{RELEASE}-gateway")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateways"}]
    rule = route["spec"]["rules"][0]
    assert rule["timeouts"] == {"request": "0s"}
    assert rule["backendRefs"] == [{"name": f"{RELEASE}-gateway", "port": 80}]


def test_service_monitor_scrapes_gateway_metrics_with_the_metrics_token() -> None:
    objects = render(GPU_KEDA)
    sm = one(objects, "ServiceMonitor", f"{RELEASE}-gateway")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["spec"]["endpoints"] == [
        {
            "port": "http",
            "path": "/metrics",
            "interval": "30s",
            "authorization": {"type": "Bearer", "credentials": {"name": "vidsage-metrics", "key": "token"}},
        }
    ]
    assert sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    # the gateway reads the same Secret, and no pod invites an unauthenticated scrape
    assert env(objects, "gateway")["VIDSAGE_GATEWAY__METRICS_TOKEN"] == {
        "secretKeyRef": {"name": "vidsage-metrics", "key": "token"}
    }
    assert "prometheus.io/scrape" not in json.dumps(deployment(objects, "gateway"))
    # without a token there is no ServiceMonitor (it would only collect 401s), and NOTES says why
    without = merge(DEFAULTS, {"serviceMonitor": {"skipCapabilityCheck": True}})
    assert find(render(without), "ServiceMonitor") == []
    assert "/metrics needs a token" in notes(without)


def test_the_first_admin_key_comes_from_a_secret() -> None:
    objects = render(GPU_KEDA)
    assert env(objects, "gateway")["VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_KEY"] == {
        "secretKeyRef": {"name": "vidsage-admin", "key": "admin-key"}
    }
    for service in SERVICES[1:]:  # the workers never see it
        assert "VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_KEY" not in env(objects, service)
    assert "vidsage-admin" in notes(GPU_KEDA)
    assert "VIDSAGE_GATEWAY__BOOTSTRAP_ADMIN_KEY" not in env(render(DEFAULTS), "gateway")
    assert "no admin key is made at" in notes(DEFAULTS)


# --- the chart's environment matches the services' settings ------------------------------------

TOP_LEVEL = {name.upper() for name in Settings.model_fields if name not in {"nats", "s3", "cache"}}
GROUPS = {
    "nats",
    "s3",
    "cache",
    "gateway",
    "ingest",
    "transcriber",
    "indexer",
    "chat",
    "notifier",
    "webhooks",
}


def _setting_exists(name: str) -> bool:
    rest = name.removeprefix("VIDSAGE_")
    if "__" not in rest:
        return rest in TOP_LEVEL
    group, field = rest.split("__", 1)
    group = group.lower()
    if group not in GROUPS:
        return False
    model = type(getattr(Settings(), group))
    return field.lower() in model.model_fields


def _secret_placeholder(variable: str) -> str:
    """A value of the shape the setting wants for a variable the chart takes from a Secret."""
    if variable.endswith("BOOTSTRAP_ADMIN_KEY"):
        return generate_key()[1]
    return "from-a-secret-" + "x" * 32  # long enough for any secret's minimum length


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_chart_env_vars_are_real_settings_with_valid_values(
    value_set: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(VALUE_SETS[value_set])
    for service in SERVICES:
        variables = env(objects, service)
        vidsage = {k: v for k, v in variables.items() if k.startswith("VIDSAGE_")}
        unknown = [k for k in vidsage if not _setting_exists(k)]
        assert not unknown, f"{service}: {unknown} are not fields of vidsage.settings.Settings"
        # the values parse: build the service's Settings from exactly this environment
        for key in list(__import__("os").environ):
            if key.startswith("VIDSAGE_"):
                monkeypatch.delenv(key)
        for key, value in vidsage.items():
            monkeypatch.setenv(key, value if isinstance(value, str) else _secret_placeholder(key))
        settings = Settings()
        assert settings.log_format == "json"
        if service == "gateway":
            assert settings.gateway.host == "0.0.0.0"
            assert settings.gateway.port == 8080
            assert settings.gateway.max_upload_bytes == 100 * 1024 * 1024
        if service == "indexer":
            assert settings.indexer.store == "qdrant"


def test_every_setting_group_the_chart_sets_is_documented_in_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for service in SERVICES:
        model = type(getattr(Settings(), service))
        for key in values[service].get("settings", {}):
            assert key in model.model_fields, f"{service}.settings.{key}"


# --- images ----------------------------------------------------------------------------------


def test_images_follow_registry_tag_and_per_service_overrides() -> None:
    objects = render(merge(DEFAULTS, {"image": {"registry": "ghcr.io/acme/", "tag": "1.2.3"}}))
    for service in SERVICES:
        expected = "vidsage-transcriber" if service == "transcriber" else f"vidsage-{service}"
        assert container(objects, service)["image"] == f"ghcr.io/acme/{expected}:1.2.3"
    # what skaffold sets (see test_build.py): repository and tag per service
    objects = render(
        merge(DEFAULTS, {"chat": {"image": {"repository": "localhost:5000/vidsage-chat", "tag": "abc"}}})
    )
    assert container(objects, "chat")["image"] == "localhost:5000/vidsage-chat:abc"


# --- lint, schema, dependencies ----------------------------------------------------------------


@pytest.mark.parametrize("value_set", ["defaults", "gpu-keda", "external"])
def test_helm_lint(value_set: str) -> None:
    report = helm.lint(str(CHART), VALUE_SETS[value_set], strict=False, namespace=NAMESPACE)
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    # the only accepted finding: the optional dependencies are not downloaded (no network here)
    assert [m["error"] for m in problems] == ["chart directory is missing these dependencies: nats,qdrant"]


def test_values_schema_accepts_the_value_sets_and_rejects_bad_types() -> None:
    chart = helm.Chart.load(str(CHART))
    assert chart.schema is not None
    for values in VALUE_SETS.values():
        chart.validate_schema(values)
    for bad in (
        {"transcriber": {"gpu": {"count": "two"}}},
        {"transcriber": {"keda": {"minReplicaCount": -1}}},
        {"gateway": {"port": 70000}},
        {"logLevel": "verbose"},
        {"s3": {"endpoint": "s3.example.com"}},
        {"gateway": {"signingSecret": {"value": "shorter-than-32-characters"}}},  # the gateway refuses it
    ):
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema(merge(DEFAULTS, bad))


def test_dependencies_are_the_official_charts_behind_conditions() -> None:
    deps = {d["name"]: d for d in helm.dependency_list(str(CHART))}
    assert deps["nats"]["repository"] == "https://nats-io.github.io/k8s/helm/charts/"
    assert deps["qdrant"]["repository"] == "https://qdrant.github.io/qdrant-helm"
    # not downloaded here: nothing of theirs is rendered or proven by these tests
    assert {d["status"] for d in deps.values()} == {"missing"}
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    conditions = {d["name"]: d["condition"] for d in meta["dependencies"]}
    assert conditions == {"nats": "nats.enabled", "qdrant": "qdrant.enabled"}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    # the NATS chart's keys (nats-io/k8s): JetStream on, a 3-node cluster
    assert values["nats"]["config"]["jetstream"]["enabled"] is True
    assert values["nats"]["config"]["cluster"] == {"enabled": True, "replicas": 3}
    assert values["nats"]["enabled"] is True
    assert values["qdrant"]["enabled"] is True
    assert values["s3Bundled"]["enabled"] is False
    assert values["s3Bundled"]["image"] == ""


def test_readme_documents_every_top_level_value() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for key in values:
        assert f"`{key}" in readme, key
    for topic in ("helm dependency update", "KEDA", "nvidia.com/gpu", "existingSecret", "SIGTERM"):
        assert topic in readme, topic


def test_the_gateway_serves_its_own_host_names_only() -> None:
    """DNS rebinding: the Host allow-list holds loopback, the Service's names, the ingress host and
    the extras, and the settings accept it."""
    svc = f"{RELEASE}-gateway"
    hosts = json.loads(env(render(GPU_KEDA), "gateway")["VIDSAGE_GATEWAY__ALLOWED_HOSTS"])
    assert hosts[:7] == [
        "localhost",
        "127.0.0.1",
        "::1",
        svc,
        f"{svc}.{NAMESPACE}",
        f"{svc}.{NAMESPACE}.svc",
        f"{svc}.{NAMESPACE}.svc.cluster.local",
    ]
    assert "videos.example.org" in hosts
    extra = render(merge(DEFAULTS, {"gateway": {"allowedHosts": [".cdn.example", "videos.example.org"]}}))
    extra_hosts = json.loads(env(extra, "gateway")["VIDSAGE_GATEWAY__ALLOWED_HOSTS"])
    assert extra_hosts[-2:] == [".cdn.example", "videos.example.org"]
    assert len(extra_hosts) == len(set(extra_hosts))
    assert (
        Settings(_env_file=None, gateway={"allowed_hosts": extra_hosts}).gateway.allowed_hosts == extra_hosts
    )  # type: ignore[call-arg]


def test_stream_and_kv_replicas_follow_the_nats_cluster_and_writes_are_fsynced() -> None:
    assert all(env(render(DEFAULTS), s)["VIDSAGE_NATS__REPLICAS"] == "3" for s in SERVICES)
    assert env(render(merge(DEFAULTS, {"nats": {"replicas": 1}})), "ingest")["VIDSAGE_NATS__REPLICAS"] == "1"
    # more copies than servers cannot be placed: refused at render time, not at the first start
    single = {"nats": {"config": {"cluster": {"enabled": False}}}}
    with pytest.raises(helm.HelmError) as info:
        render(merge(DEFAULTS, single))
    assert "nats.replicas (3) exceeds the NATS servers (1)" in str(info.value)
    one_copy = merge(merge(DEFAULTS, single), {"nats": {"replicas": 1}})
    assert env(render(one_copy), "ingest")["VIDSAGE_NATS__REPLICAS"] == "1"
    # the default passed to the official NATS chart: every JetStream write on disk before its ack
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["nats"]["config"]["jetstream"]["merge"] == {"sync_interval": "always"}
