"""StatefulSets and ControllerRevisions through a real ``shoal server`` (no controllers): upstream's defaults,
a 422 naming the field for each kind of bad input, the immutable spec, the scale subresource, discovery
(``sts``, category ``all``), the tables and ``kubectl explain``."""

from __future__ import annotations

import copy
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer

TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def http(server: RunningServer) -> requests.Session:
    return server.session()


@pytest.fixture
def ns(server: RunningServer, http: requests.Session) -> Iterator[str]:
    name = f"sts-{uuid.uuid4().hex[:8]}"
    assert http.post(server.url + "/api/v1/namespaces",
                     json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).status_code == 201
    yield name


def sts(name: str = "db", **spec: Any) -> Obj:
    s: Obj = {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
              "template": {"metadata": {"labels": {"app": "db"}},
                           "spec": {"containers": [{"name": "db", "image": "db:1",
                                                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
              "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                        "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": "1Gi"}}}}]}
    s.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {k: v for k, v in s.items() if v is not None}}


def url(server: RunningServer, ns: str, name: str = "", sub: str = "") -> str:
    out = f"{server.url}/apis/apps/v1/namespaces/{ns}/statefulsets"
    return out + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def test_defaults_as_upstream(server: RunningServer, http: requests.Session, ns: str) -> None:
    r = http.post(url(server, ns), json=sts(status={"replicas": 9}))
    assert r.status_code == 201, r.text
    body = r.json()
    spec = body["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    claim = spec["volumeClaimTemplates"][0]
    assert (claim["spec"]["volumeMode"], claim["status"]) == ("Filesystem", {"phase": "Pending"})
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert "status" not in body or not body["status"].get("replicas")  # a create may not set status
    assert body["metadata"]["generation"] == 1
    ondelete = http.post(url(server, ns), json=sts("od", updateStrategy={"type": "OnDelete"}))
    assert ondelete.json()["spec"]["updateStrategy"] == {"type": "OnDelete"}


@pytest.mark.parametrize(("change", "field", "text"), [
    ({"template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
     "spec.template.metadata.labels", "`selector` does not match template `labels`"),
    ({"selector": {}}, "spec.selector", "empty selector is invalid for statefulset"),
    ({"selector": None}, "spec.selector", "Required value"),
    ({"serviceName": "Db_1"}, "spec.serviceName", "a lowercase RFC 1123 label"),
    ({"podManagementPolicy": "Sometimes"}, "spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'"),
    ({"updateStrategy": {"type": "Sideways"}}, "spec.updateStrategy", "must be 'RollingUpdate' or 'OnDelete'"),
    ({"updateStrategy": {"type": "OnDelete", "rollingUpdate": {"partition": 1}}}, "spec.updateStrategy.rollingUpdate",
     "only allowed for updateStrategy 'RollingUpdate'"),
    ({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}},
     "spec.updateStrategy.rollingUpdate.partition", "must be greater than or equal to 0"),
    ({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}},
     "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0"),
    ({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%"}}},
     "spec.updateStrategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"),
    ({"replicas": -1}, "spec.replicas", "must be greater than or equal to 0"),
    ({"ordinals": {"start": -2}}, "spec.ordinals.start", "must be greater than or equal to 0"),
    ({"minReadySeconds": -1}, "spec.minReadySeconds", "must be greater than or equal to 0"),
    ({"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Shred"}},
     "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", 'supported values: "Delete", "Retain"'),
    ({"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]},
     "spec.volumeClaimTemplates[0].spec.resources[storage]", "Required value"),
    ({"volumeClaimTemplates": [{"metadata": {"name": "data"},
                                "spec": {"accessModes": ["WriteSometimes"],
                                         "resources": {"requests": {"storage": "1Gi"}}}}]},
     "spec.volumeClaimTemplates[0].spec.accessModes", "WriteSometimes"),
    ({"volumeClaimTemplates": None}, "spec.template.spec.containers[0].volumeMounts[0].name", 'Not found: "data"'),
    ({"volumeClaimTemplates": [{"metadata": {"name": "Data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]},
     "spec.volumeClaimTemplates[0].metadata.name", "a lowercase RFC 1123 label"),
    ({"template": {"metadata": {"labels": {"app": "db"}},
                   "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}},
     "spec.template.spec.restartPolicy", 'supported values: "Always"'),
])
def test_bad_input_is_a_422_naming_the_field(server: RunningServer, http: requests.Session, ns: str,
                                             change: Obj, field: str, text: str) -> None:
    r = http.post(url(server, ns), json=sts(**change))
    assert r.status_code == 422, r.text
    status = r.json()
    assert status["reason"] == "Invalid"
    assert status["message"].startswith('StatefulSet.apps "db" is invalid: ')
    causes = {c["field"]: c["message"] for c in status["details"]["causes"]}
    assert field in causes, causes
    assert text in causes[field] or text in status["message"], status["message"]


def test_only_the_mutable_fields_change(server: RunningServer, http: requests.Session, ns: str) -> None:
    created = http.post(url(server, ns), json=sts()).json()
    changed = copy.deepcopy(created)
    changed["spec"].update(replicas=3, minReadySeconds=5, revisionHistoryLimit=2, ordinals={"start": 1},
                           updateStrategy={"type": "OnDelete"},
                           persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Delete"})
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "db:2"
    r = http.put(url(server, ns, "db"), json=changed)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["generation"] == 2
    for field, value in (("serviceName", "other"), ("podManagementPolicy", "Parallel"),
                         ("selector", {"matchLabels": {"app": "db", "x": "y"}}),
                         ("volumeClaimTemplates", [])):
        bad = copy.deepcopy(r.json())
        bad["spec"][field] = value
        if field == "selector":
            bad["spec"]["template"]["metadata"]["labels"]["x"] = "y"
        refused = http.put(url(server, ns, "db"), json=bad)
        assert refused.status_code == 422, (field, refused.text)
        assert (
            "spec: Forbidden: updates to statefulset spec for fields other than "
            "'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden") in refused.json()["message"]


def test_scale_subresource_and_status(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, ns), json=sts())
    scale = http.get(url(server, ns, "db", "scale")).json()
    assert (scale["kind"], scale["spec"]["replicas"], scale["status"]["selector"]) == ("Scale", 1, "app=db")
    r = http.patch(url(server, ns, "db", "scale"), json={"spec": {"replicas": 4}},
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert http.get(url(server, ns, "db")).json()["spec"]["replicas"] == 4
    current = http.get(url(server, ns, "db")).json()
    current["status"] = {"replicas": 4, "readyReplicas": 2, "currentRevision": "db-1", "updateRevision": "db-1"}
    assert http.put(url(server, ns, "db", "status"), json=current).status_code == 200
    table = http.get(url(server, ns), headers=TABLE).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Ready", "Age", "Containers", "Images"]
    assert table["rows"][0]["cells"][:2] == ["db", "2/4"]


def test_controller_revisions(server: RunningServer, http: requests.Session, ns: str) -> None:
    base = f"{server.url}/apis/apps/v1/namespaces/{ns}/controllerrevisions"
    rev = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "db-abc"},
           "data": {"spec": {"template": {"$patch": "replace"}}}, "revision": 1}
    r = http.post(base, json=rev)
    assert r.status_code == 201, r.text
    moved = r.json()
    moved["revision"] = 2  # a rollback renumbers a revision
    assert http.put(f"{base}/db-abc", json=moved).status_code == 200
    changed = http.get(f"{base}/db-abc").json()
    changed["data"] = {"spec": {}}
    refused = http.put(f"{base}/db-abc", json=changed)
    assert refused.status_code == 422 and "data: Invalid value" in refused.json()["message"], refused.text
    assert "field is immutable" in refused.json()["message"]
    missing = http.post(base, json={**rev, "metadata": {"name": "nodata"}, "data": None})
    assert missing.status_code == 422 and "data: Required value: data is mandatory" in missing.json()["message"]
    table = http.get(base, headers=TABLE).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Controller", "Revision", "Age"]
    assert table["rows"][0]["cells"][:3] == ["db-abc", "<none>", 2]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_knows_sts(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, ns), json=sts())
    out = server.kubectl("-n", ns, "get", "sts", "-o", "wide").stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert out[1].split()[:2] == ["db", "0/1"] and out[1].split()[-2:] == ["db", "db:1"]
    assert "statefulset.apps/db" in server.kubectl("-n", ns, "get", "all").stdout
    explain = server.kubectl("explain", "statefulset.spec.podManagementPolicy").stdout
    assert "OrderedReady" in explain and "Parallel" in explain
    explain = server.kubectl("explain", "sts.spec.persistentVolumeClaimRetentionPolicy").stdout
    assert "whenScaled" in explain
    resources = server.kubectl("api-resources", "--api-group=apps").stdout
    assert any(ln.split()[:2] == ["statefulsets", "sts"] for ln in resources.splitlines()), resources
    assert any(ln.split()[0] == "controllerrevisions" for ln in resources.splitlines()[1:]), resources
