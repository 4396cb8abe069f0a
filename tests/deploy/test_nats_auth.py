"""Least privilege on the bus in the chart: a NATS user per service, rendered from the same
declaration as the local runner's (``files/nats-permissions.json``, kept current by
tests/unit/test_permissions.py), passwords from a Secret, the provisioner as the gateway's init
container.

The NATS chart itself is not in ``charts/`` here (no network), so what it makes of our values is
checked from the values: the include it is told to add, the mount and the environment it is told
to give its container. (Rendered once with the real nats-io/k8s chart 1.3.16 and run with
nats-server while this was built: see charts/vidsage/README.md, "NATS users".)
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
from typing import Any

import helm_python as helm
import pytest
import yaml

from tests.deploy.chart import (
    CHART,
    DEFAULTS,
    EXTERNAL,
    GPU_KEDA,
    RELEASE,
    SERVICES,
    deployment,
    env,
    find,
    merge,
    one,
    render,
)
from vidsage.contracts import names

PERMISSIONS = json.loads((CHART / "files" / "nats-permissions.json").read_text())
USERS = sorted(PERMISSIONS["users"])
CREDENTIALS = f"{RELEASE}-nats-credentials"
SECRET_NAME_TEMPLATE = (
    '{{ .Values.auth.existingSecret | default (printf "%s-nats-credentials" .Release.Name) }}'
)
# one user line of auth.conf: {user: "name", password: $VAR, permissions: {...json...}}
USER_LINE = re.compile(
    r'^\s*\{user: "(?P<user>[a-z]+)", password: \$(?P<var>\w+), permissions: (?P<perms>\{.*\})\},?$'
)


def auth_conf(objects: list[dict[str, Any]]) -> str:
    text: str = one(objects, "ConfigMap", f"{RELEASE}-nats-auth")["data"]["auth.conf"]
    return text


def users_of(conf: str) -> dict[str, tuple[str, dict[str, Any]]]:
    found = {}
    for line in conf.splitlines():
        if match := USER_LINE.match(line):
            found[match["user"]] = (match["var"], json.loads(match["perms"]))
    return found


def test_the_nats_servers_get_every_user_with_the_declared_permissions() -> None:
    conf = auth_conf(render(DEFAULTS))
    assert conf.count("{user:") == len(USERS)
    users = users_of(conf)
    assert sorted(users) == USERS
    for user, (variable, perms) in users.items():
        assert variable == f"VIDSAGE_NATS_PASSWORD_{user.upper()}"
        assert perms == PERMISSIONS["users"][user]["permissions"]  # exactly, `>` unescaped
    assert "\\u003e" not in conf


def test_each_service_signs_in_as_itself_and_the_gateway_provisions_first() -> None:
    objects = render(DEFAULTS)
    for service in SERVICES:
        variables = env(objects, service)
        assert variables["VIDSAGE_NATS__USER"] == service
        assert variables["VIDSAGE_NATS__PASSWORD"] == {"secretKeyRef": {"name": CREDENTIALS, "key": service}}
    spec = deployment(objects, "gateway")["spec"]["template"]["spec"]
    [init] = spec["initContainers"]
    assert init["command"] == ["python", "-m", "vidsage.provision"]
    assert init["image"] == spec["containers"][0]["image"]
    init_env = {e["name"]: e.get("value", e.get("valueFrom")) for e in init["env"]}
    assert init_env["VIDSAGE_NATS__USER"] == names.PROVISIONER_USER
    assert init_env["VIDSAGE_NATS__PASSWORD"] == {
        "secretKeyRef": {"name": CREDENTIALS, "key": names.PROVISIONER_USER}
    }
    assert not [k for k in init_env if k.startswith("VIDSAGE_S3__")]  # it needs NATS only
    for service in SERVICES[1:]:
        assert "initContainers" not in deployment(objects, service)["spec"]["template"]["spec"]


def test_generated_passwords_are_one_per_user_and_readable_by_nats_server() -> None:
    objects = render(DEFAULTS)
    secret = one(objects, "Secret", CREDENTIALS)
    passwords = {user: base64.b64decode(value).decode() for user, value in secret["data"].items()}
    assert sorted(passwords) == USERS
    for password in passwords.values():
        # nats-server reads it from its environment as a configuration value: a plain word
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{31}", password)
    assert len(set(passwords.values())) == len(USERS)
    for o in objects:
        if o["kind"] != "Secret":
            for password in passwords.values():
                assert password not in json.dumps(o)


def test_an_existing_secret_is_used_instead() -> None:
    objects = render(GPU_KEDA)
    assert find(objects, "Secret") == []
    assert env(objects, "ingest")["VIDSAGE_NATS__PASSWORD"] == {
        "secretKeyRef": {"name": "vidsage-nats", "key": "ingest"}
    }
    assert env(objects, "gateway")["VIDSAGE_GATEWAY__SIGNING_SECRET"] == {
        "secretKeyRef": {"name": "vidsage-links", "key": "hmac"}
    }


def test_without_nats_auth_nobody_signs_in_and_the_services_provision() -> None:
    objects = render(merge(DEFAULTS, {"nats": {"auth": {"enabled": False}}}))
    for service in SERVICES:
        assert "VIDSAGE_NATS__USER" not in env(objects, service)
    assert "initContainers" not in deployment(objects, "gateway")["spec"]["template"]["spec"]
    assert users_of(auth_conf(objects)) == {}  # the bundled NATS still includes the (empty) file
    assert "authorization" not in auth_conf(objects)
    assert not find(objects, "Secret", CREDENTIALS)
    external = render(EXTERNAL)  # an open NATS of one's own: nothing of ours to include
    assert find(external, "ConfigMap") == []


def test_the_bundled_nats_chart_is_told_to_include_mount_and_fill_in_the_users() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["nats"]
    [include] = [v for k, v in values["config"]["merge"].items() if k.endswith("$include")]
    [mount] = [p["value"] for p in values["container"]["patch"] if p["path"] == "/volumeMounts/-"]
    [volume] = [p["value"] for p in values["podTemplate"]["patch"] if p["path"] == "/spec/volumes/-"]
    # the NATS chart resolves includes against /etc/nats-config (and hands them to its reloader)
    assert (
        posixpath.normpath(posixpath.join("/etc/nats-config", include)) == mount["mountPath"] + "/auth.conf"
    )
    assert mount["name"] == volume["name"]
    assert volume["configMap"]["name"] == {"$tplYaml": '{{ printf "%s-nats-auth" .Release.Name }}'}
    # a password variable for every user, from the Secret nats.auth names
    variables = values["container"]["env"]
    assert sorted(variables) == [f"VIDSAGE_NATS_PASSWORD_{u.upper()}" for u in USERS]
    for user in USERS:
        ref = variables[f"VIDSAGE_NATS_PASSWORD_{user.upper()}"]["valueFrom"]["secretKeyRef"]
        assert ref["key"] == user
        assert ref["name"] == {"$tplYaml": SECRET_NAME_TEMPLATE}


def test_a_renamed_stream_needs_regenerated_permissions() -> None:
    with pytest.raises(helm.HelmError, match=r"the NATS permissions .* are for the stream"):
        render(merge(DEFAULTS, {"nats": {"stream": "EVENTS"}}))
    render(merge(DEFAULTS, {"nats": {"stream": "EVENTS", "auth": {"enabled": False}}}))


def test_the_signing_secret_is_generated_when_not_given() -> None:
    objects = render(DEFAULTS)
    secret = one(objects, "Secret", f"{RELEASE}-signing-secret")
    assert len(base64.b64decode(secret["data"]["signing-secret"])) == 48
    assert env(objects, "gateway")["VIDSAGE_GATEWAY__SIGNING_SECRET"] == {
        "secretKeyRef": {"name": f"{RELEASE}-signing-secret", "key": "signing-secret"}
    }
    for service in SERVICES[1:]:
        assert "VIDSAGE_GATEWAY__SIGNING_SECRET" not in env(objects, service)
