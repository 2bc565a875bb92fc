"""PersistentVolumes, claims and StorageClasses through a real ``shoal server`` (no controllers):
defaults, admission (the default class, the protection finalizers, resize), tables, and a
422 naming the field for each kind of bad input; then the real kubectl reading them."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer

PVS = "/api/v1/persistentvolumes"
SCS = "/apis/storage.k8s.io/v1/storageclasses"
TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def http(server: RunningServer) -> requests.Session:
    return server.session()


@pytest.fixture
def ns(server: RunningServer, http: requests.Session) -> Iterator[str]:
    name = f"st-{uuid.uuid4().hex[:8]}"
    assert http.post(server.url + "/api/v1/namespaces",
                     json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).status_code == 201
    yield name


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def pvc(name: str, size: str | None = "1Gi", **spec: Any) -> Obj:
    s: Obj = {"accessModes": ["ReadWriteOnce"], **spec}
    if size is not None:
        s.setdefault("resources", {"requests": {"storage": size}})
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": s}


def pv(name: str, **spec: Any) -> Obj:
    s: Obj = {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv"},
              **spec}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {k: v for k, v in s.items() if v is not None}}


def sc(name: str, provisioner: str = "shoal.io/local", **rest: Any) -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": provisioner, **rest}


def claims(server: RunningServer, ns: str) -> str:
    return f"{server.url}/api/v1/namespaces/{ns}/persistentvolumeclaims"


def causes(r: requests.Response) -> list[tuple[str, str]]:
    body = r.json()
    return [(c.get("field", ""), c.get("message", "")) for c in body["details"]["causes"]]


# --- defaults and admission ------------------------------------------------------------------


def test_default_class_exists_at_start(server: RunningServer, http: requests.Session) -> None:
    local = http.get(server.url + SCS + "/local").json()
    assert local["provisioner"] == "shoal.io/local"
    assert local["volumeBindingMode"] == "WaitForFirstConsumer"
    assert local["reclaimPolicy"] == "Delete" and local["allowVolumeExpansion"] is True
    assert local["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"


def test_claim_defaults(server: RunningServer, http: requests.Session, ns: str) -> None:
    r = http.post(claims(server, ns), json=pvc("data", "1024Mi"))
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["spec"]["storageClassName"] == "local"  # the default class
    assert c["spec"]["volumeMode"] == "Filesystem"
    assert c["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert c["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert c["status"] == {"phase": "Pending"}
    # an explicit "" asks for no class and is kept; a status in the body is the server's to set
    r = http.post(claims(server, ns), json={**pvc("none", storageClassName=""), "status": {"phase": "Bound"}})
    assert r.json()["spec"]["storageClassName"] == "" and r.json()["status"] == {"phase": "Pending"}


def test_volume_and_class_defaults(server: RunningServer, http: requests.Session) -> None:
    name = uniq("pv")
    v = http.post(server.url + PVS, json=pv(name)).json()
    assert v["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert v["spec"]["volumeMode"] == "Filesystem"
    assert v["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    assert v["status"]["phase"] == "Pending" and v["status"]["lastPhaseTransitionTime"]
    s = http.post(server.url + SCS, json=sc(uniq("sc"), "kubernetes.io/no-provisioner")).json()
    assert s["reclaimPolicy"] == "Delete" and s["volumeBindingMode"] == "Immediate"


def test_deleting_a_protected_claim_leaves_it_terminating(server: RunningServer, http: requests.Session,
                                                          ns: str) -> None:
    http.post(claims(server, ns), json=pvc("held"))
    assert http.delete(claims(server, ns) + "/held").status_code == 200
    c = http.get(claims(server, ns) + "/held").json()
    assert c["metadata"]["deletionTimestamp"]  # no controller runs here to lift the finalizer
    row = http.get(claims(server, ns) + "/held", headers=TABLE).json()["rows"][0]["cells"]
    assert row[1] == "Terminating"


# --- 422s, each naming the field ---------------------------------------------------------------


@pytest.mark.parametrize(("body", "field", "text"), [
    (pvc("a", None), "spec.resources[storage]", "Required value"),
    (pvc("a", accessModes=["ReadWriteSometimes"]), "spec.accessModes", 'Unsupported value: "ReadWriteSometimes"'),
    (pvc("a", accessModes=[]), "spec.accessModes", "at least 1 access mode is required"),
    (pvc("a", "0"), "spec.resources[storage]", "must be greater than zero"),
    (pvc("a", "lots"), "spec.resources[storage]", "Invalid value"),
    (pvc("a", volumeMode="Tape"), "spec.volumeMode", "Unsupported value"),
    (pvc("a", storageClassName="Not_A_Name"), "spec.storageClassName", "RFC 1123"),
])
def test_bad_claims(server: RunningServer, http: requests.Session, ns: str, body: Obj, field: str,
                    text: str) -> None:
    r = http.post(claims(server, ns), json=body)
    assert r.status_code == 422, r.text
    assert any(f == field and text in m for f, m in causes(r)), causes(r)


@pytest.mark.parametrize(("body", "field", "text"), [
    (pv("a", capacity=None), "spec.capacity", "Required value"),
    (pv("a", capacity={"storage": "-1Gi"}), "spec.capacity[storage]", "must be greater than zero"),
    (pv("a", capacity={"cpu": "1"}), "spec.capacity", 'supported values: "storage"'),
    (pv("a", hostPath=None), "spec", "must specify a volume type"),
    (pv("a", nfs={"server": "10.0.0.1", "path": "/x"}), "spec.nfs", "may not specify more than 1 volume type"),
    (pv("a", persistentVolumeReclaimPolicy="Shred"), "spec.persistentVolumeReclaimPolicy", 'Unsupported value'),
    (pv("a", accessModes=["Sideways"]), "spec.accessModes", "Unsupported value"),
    (pv("a", hostPath=None, local={"path": "/mnt/disk"}), "spec.nodeAffinity", "Local volume requires node affinity"),
    (pv("a", hostPath={"path": "/tmp/../etc"}), "spec.hostPath.path", "must not contain '..'"),
])
def test_bad_volumes(server: RunningServer, http: requests.Session, body: Obj, field: str, text: str) -> None:
    r = http.post(server.url + PVS, json=body)
    assert r.status_code == 422, r.text
    assert any(f == field and text in m for f, m in causes(r)), causes(r)


@pytest.mark.parametrize(("body", "field", "text"), [
    (sc("a", "example.com/fancy"), "provisioner",
     'Unsupported value: "example.com/fancy": supported values: "kubernetes.io/no-provisioner", "shoal.io/local"'),
    (sc("a", ""), "provisioner", "Required value"),
    (sc("a", reclaimPolicy="Recycle"), "reclaimPolicy", "Unsupported value"),
    (sc("a", volumeBindingMode="Whenever"), "volumeBindingMode", "Unsupported value"),
    (sc("a", parameters={"": "x"}), "parameters", "field can not be empty."),
])
def test_bad_classes(server: RunningServer, http: requests.Session, body: Obj, field: str, text: str) -> None:
    r = http.post(server.url + SCS, json=body)
    assert r.status_code == 422, r.text
    assert any(f == field and text in m for f, m in causes(r)), causes(r)


def test_class_fields_are_fixed(server: RunningServer, http: requests.Session) -> None:
    name = uniq("sc")
    s = http.post(server.url + SCS, json=sc(name, parameters={"a": "1"})).json()
    for change, field in (({"provisioner": "kubernetes.io/no-provisioner"}, "provisioner"),
                          ({"parameters": {"a": "2"}}, "parameters"),
                          ({"reclaimPolicy": "Retain"}, "reclaimPolicy"),
                          ({"volumeBindingMode": "WaitForFirstConsumer"}, "volumeBindingMode")):
        r = http.put(f"{server.url}{SCS}/{name}", json={**s, **change})
        assert r.status_code == 422 and field in [f for f, _ in causes(r)], r.text
    ok = http.put(f"{server.url}{SCS}/{name}", json={**s, "allowVolumeExpansion": True})
    assert ok.status_code == 200, ok.text


def _bound(server: RunningServer, http: requests.Session, ns: str, name: str, cls: str) -> Obj:
    """A claim of class ``cls`` with status Bound (as the controller would leave it)."""
    c = http.post(claims(server, ns), json=pvc(name, storageClassName=cls)).json()
    c["status"] = {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}
    r = http.put(f"{claims(server, ns)}/{name}/status", json=c)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _resize(c: Obj, size: str) -> Obj:
    return {**c, "spec": {**c["spec"], "resources": {"requests": {"storage": size}}}}


def test_claim_spec_is_fixed_but_a_bound_claim_may_grow(server: RunningServer, http: requests.Session,
                                                       ns: str) -> None:
    c = http.post(claims(server, ns), json=pvc("fixed")).json()
    r = http.put(claims(server, ns) + "/fixed", json={**c, "spec": {**c["spec"], "accessModes": ["ReadOnlyMany"]}})
    assert r.status_code == 422 and causes(r)[0][0] == "spec", r.text
    assert "immutable after creation" in causes(r)[0][1]
    assert http.put(claims(server, ns) + "/fixed", json=_resize(c, "2Gi")).status_code == 422  # not bound
    ok = http.put(claims(server, ns) + "/fixed", json={**c, "spec": {**c["spec"], "volumeName": "pv-x"}})
    assert ok.status_code == 200, ok.text  # the controller sets volumeName once

    b = _bound(server, http, ns, "grows", "local")
    r = http.put(claims(server, ns) + "/grows", json=_resize(b, "512Mi"))
    assert r.status_code == 422 and causes(r)[0][0] == "spec.resources.requests.storage", r.text
    r = http.put(claims(server, ns) + "/grows", json=_resize(b, "3Gi"))
    assert r.status_code == 200, r.text

    name = uniq("fixed-size")
    http.post(server.url + SCS, json=sc(name, "kubernetes.io/no-provisioner"))
    b = _bound(server, http, ns, "cannot", name)
    r = http.put(claims(server, ns) + "/cannot", json=_resize(b, "3Gi"))
    assert r.status_code == 403, r.text
    assert "the storageclass that provisions the pvc must support resize" in r.json()["message"]


# --- tables ------------------------------------------------------------------------------------------


def columns(t: Obj) -> list[str]:
    return [c["name"] for c in t["columnDefinitions"] if c["priority"] == 0]


def test_tables(server: RunningServer, http: requests.Session, ns: str) -> None:
    name = uniq("pv")
    http.post(server.url + PVS, json=pv(name, accessModes=["ReadWriteOnce", "ReadOnlyMany"], storageClassName="x",
                                        claimRef={"namespace": ns, "name": "data"}))
    t = http.get(f"{server.url}{PVS}/{name}", headers=TABLE).json()
    assert columns(t) == ["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass",
                          "VolumeAttributesClass", "Reason", "Age"]
    assert t["rows"][0]["cells"][:9] == [name, "5Gi", "RWO,ROX", "Retain", "Pending", f"{ns}/data", "x", "<unset>",
                                         ""]
    http.post(claims(server, ns), json=pvc("data"))
    t = http.get(claims(server, ns) + "/data", headers=TABLE).json()
    assert columns(t) == ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass",
                          "VolumeAttributesClass", "Age"]
    assert t["rows"][0]["cells"][:7] == ["data", "Pending", "", "", "", "local", "<unset>"]
    t = http.get(server.url + SCS + "/local", headers=TABLE).json()
    assert columns(t) == ["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"]
    assert t["rows"][0]["cells"][:5] == ["local (default)", "shoal.io/local", "Delete", "WaitForFirstConsumer", True]


# --- kubectl -------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_and_explain(server: RunningServer, ns: str) -> None:
    server.kubectl("apply", "-n", ns, "-f", "-", input="""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: web-data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 2Gi}}
""")
    out = server.kubectl("get", "pv,pvc,sc", "-n", ns).stdout
    assert re.search(r"persistentvolumeclaim/web-data\s+Pending\s+local\s+<unset>", out), out
    assert re.search(r"storageclass.storage.k8s.io/local \(default\)\s+shoal.io/local\s+Delete\s+"
                     r"WaitForFirstConsumer\s+true\s", out), out
    header = next(line for line in out.splitlines() if line.startswith("NAME") and "CLAIM" in line)
    assert header.split() == ["NAME", "CAPACITY", "ACCESS", "MODES", "RECLAIM", "POLICY", "STATUS", "CLAIM",
                              "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"]
    assert server.kubectl("get", "pvc", "web-data", "-n", ns, "-o", "jsonpath={.spec.storageClassName}").stdout \
        == "local"
    explain = server.kubectl("explain", "pvc.spec").stdout
    assert "PersistentVolumeClaimSpec" in explain and "storageClassName" in explain and "accessModes" in explain
    explain = server.kubectl("explain", "storageclass.volumeBindingMode").stdout
    assert "WaitForFirstConsumer" in explain
    bad = server.kubectl("create", "-n", ns, "-f", "-", check=False, input="""
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fancy}
provisioner: example.com/fancy
""")
    assert bad.returncode != 0 and 'provisioner: Unsupported value: "example.com/fancy"' in bad.stderr
