"""The ServiceAccount admission plugin's decisions (shoal.apiserver.serviceaccounts), without I/O."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shoal.apiserver import serviceaccounts as sa
from shoal.apiserver.nsdefaults import first_service_ip, kubernetes_objects

MOUNT = {"name": "kube-api-access-abcde", "readOnly": True, "mountPath": sa.MOUNT_PATH}
VOLUME = {"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    {"downwardAPI": {"items": [{"path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}
ACCOUNT: dict[str, Any] = {"metadata": {"name": "default", "namespace": "ns"}}


def pod(spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns", **meta},
            "spec": {"containers": [{"name": "c", "image": "i"}], **(spec or {})}}


@pytest.mark.parametrize(("spec", "account", "want_account", "mounted"), [
    ({}, ACCOUNT, "default", True),
    ({"serviceAccountName": "builder"}, {**ACCOUNT, "metadata": {"name": "builder"}}, "builder", True),
    ({"serviceAccount": "old"}, ACCOUNT, "old", True),  # the deprecated field still names it
    ({"automountServiceAccountToken": False}, ACCOUNT, "default", False),
    ({}, {**ACCOUNT, "automountServiceAccountToken": False}, "default", False),
    # the pod's own answer wins over the account's
    ({"automountServiceAccountToken": True}, {**ACCOUNT, "automountServiceAccountToken": False}, "default", True),
])
def test_account_and_automount(spec: dict[str, Any], account: dict[str, Any], want_account: str,
                               mounted: bool) -> None:
    p = pod(spec)
    sa.admit(p, account, "abcde")
    assert p["spec"]["serviceAccountName"] == want_account == p["spec"]["serviceAccount"]
    if mounted:
        assert p["spec"]["volumes"] == [VOLUME]
        assert p["spec"]["containers"][0]["volumeMounts"] == [MOUNT]
    else:
        assert "volumes" not in p["spec"] and "volumeMounts" not in p["spec"]["containers"][0]


def test_every_container_and_init_container_mounts_it_after_its_own_mounts() -> None:
    own = {"name": "data", "mountPath": "/data"}
    p = pod({"initContainers": [{"name": "init", "image": "i"}],
             "containers": [{"name": "a", "image": "i", "volumeMounts": [own]}, {"name": "b", "image": "i"}],
             "volumes": [{"name": "data", "emptyDir": {}}]})
    sa.admit(p, ACCOUNT, "abcde")
    assert p["spec"]["initContainers"][0]["volumeMounts"] == [MOUNT]
    assert p["spec"]["containers"][0]["volumeMounts"] == [own, MOUNT]
    assert p["spec"]["containers"][1]["volumeMounts"] == [MOUNT]
    assert [v["name"] for v in p["spec"]["volumes"]] == ["data", "kube-api-access-abcde"]


def test_a_container_that_mounts_the_path_itself_is_left_alone() -> None:
    mine = {"name": "token", "mountPath": sa.MOUNT_PATH}
    p = pod({"containers": [{"name": "a", "image": "i", "volumeMounts": [mine]}],
             "volumes": [{"name": "token", "secret": {"secretName": "s"}}]})
    before = copy.deepcopy(p["spec"]["volumes"])
    sa.admit(p, ACCOUNT, "abcde")
    assert p["spec"]["containers"][0]["volumeMounts"] == [mine]
    assert p["spec"]["volumes"] == before  # no container needs the volume: none is added


def test_a_missing_account_is_refused_with_upstreams_reason() -> None:
    p = pod({"serviceAccountName": "ghost"})
    with pytest.raises(sa.MissingAccount) as e:
        sa.admit(p, None, "abcde")
    assert str(e.value) == 'error looking up service account ns/ghost: serviceaccount "ghost" not found'


def test_mirror_pods_are_left_alone() -> None:
    p = pod(annotations={sa.MIRROR_ANNOTATION: "x"})
    before = copy.deepcopy(p)
    sa.admit(p, None, "abcde")
    assert p == before


@pytest.mark.parametrize(("cidr", "want"), [("10.43.0.0/16", "10.43.0.1"), ("10.96.0.0/12", "10.96.0.1"),
                                            ("fd00:10:96::/112", "fd00:10:96::1")])
def test_the_kubernetes_service_takes_the_first_address(cidr: str, want: str) -> None:
    assert first_service_ip(cidr) == want


def test_kubernetes_service_and_endpoints_point_at_the_server() -> None:
    objs = dict(kubernetes_objects("10.43.0.1", [("192.0.2.7", 6443)], 6443))
    assert objs["services"]["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP",
                                                  "targetPort": 6443}]
    assert objs["endpoints"]["subsets"] == [{"addresses": [{"ip": "192.0.2.7"}],
                                             "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
    assert objs["endpointslices"]["endpoints"][0]["addresses"] == ["192.0.2.7"]
    assert objs["endpointslices"]["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
