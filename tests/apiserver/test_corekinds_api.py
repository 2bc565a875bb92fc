"""The core kinds charts and clients still create, through a real ``shoal server`` (no controllers):
ReplicationController and PodTemplate (v1), APIService, CertificateSigningRequest (create, approval,
status) and events.k8s.io/v1 Events as a view of the stored core Events (REST and watch)."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server_fixture import RunningServer

Obj = dict[str, Any]
TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}


@pytest.fixture(scope="module")
def http(server: RunningServer) -> requests.Session:
    return server.session()


@pytest.fixture
def ns(server: RunningServer, http: requests.Session) -> Iterator[str]:
    name = f"kinds-{uuid.uuid4().hex[:8]}"
    assert http.post(server.url + "/api/v1/namespaces",
                     json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).status_code == 201
    yield name


def rc(name: str = "web", **spec: Any) -> Obj:
    s: Obj = {"replicas": 2, "template": {"metadata": {"labels": {"app": name}},
                                          "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name}, "spec": s}


# --- ReplicationController and PodTemplate ------------------------------------------------------------


def test_rc_defaults_scale_and_table(server: RunningServer, http: requests.Session, ns: str) -> None:
    url = f"{server.url}/api/v1/namespaces/{ns}/replicationcontrollers"
    r = http.post(url, json=rc())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["spec"]["selector"] == {"app": "web"}  # taken from the template's labels, as upstream
    assert body["metadata"]["labels"] == {"app": "web"}
    assert body["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    scale = http.get(f"{url}/web/scale").json()
    assert (scale["spec"]["replicas"], scale["status"]["selector"]) == (2, "app=web")
    r = http.patch(f"{url}/web/scale", data=json.dumps({"spec": {"replicas": 5}}),
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert http.get(f"{url}/web").json()["spec"]["replicas"] == 5
    table = http.get(url, headers=TABLE).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Desired", "Current", "Ready", "Age",
                                                               "Containers", "Images", "Selector"]
    assert table["rows"][0]["cells"][:4] == ["web", 5, 0, 0]
    assert table["rows"][0]["cells"][5:] == ["c", "nginx", "app=web"]


@pytest.mark.parametrize(("change", "field", "text"), [
    ({"selector": {"app": "other"}}, "spec.template.metadata.labels", "`selector` does not match template `labels`"),
    ({"replicas": -1}, "spec.replicas", "must be greater than or equal to 0"),
    ({"template": None, "selector": {"app": "x"}}, "spec.template", "Required value"),
])
def test_rc_validation(server: RunningServer, http: requests.Session, ns: str, change: Obj, field: str,
                       text: str) -> None:
    body = rc()
    body["spec"].update(change)
    body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}
    r = http.post(f"{server.url}/api/v1/namespaces/{ns}/replicationcontrollers", json=body)
    assert r.status_code == 422, r.text
    assert any(c["field"] == field and text in c["message"] for c in r.json()["details"]["causes"])


def test_discovery_of_rc_and_podtemplates(server: RunningServer, http: requests.Session) -> None:
    core = {r["name"]: r for r in http.get(server.url + "/api/v1").json()["resources"]}
    assert core["replicationcontrollers"]["shortNames"] == ["rc"]
    assert "all" in core["replicationcontrollers"]["categories"]
    assert core["replicationcontrollers/scale"]["group"] == "autoscaling"
    assert core["podtemplates"]["kind"] == "PodTemplate"


def test_podtemplate(server: RunningServer, http: requests.Session, ns: str) -> None:
    url = f"{server.url}/api/v1/namespaces/{ns}/podtemplates"
    r = http.post(url, json={"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
                             "template": {"metadata": {"labels": {"app": "t"}},
                                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}})
    assert r.status_code == 201, r.text
    assert r.json()["template"]["spec"]["dnsPolicy"] == "ClusterFirst"  # a pod spec's defaults
    row = http.get(url, headers=TABLE).json()["rows"][0]["cells"]
    assert row == ["t", "c", "busybox", "app=t"]


# --- APIService -----------------------------------------------------------------------------------------


def test_local_api_services_are_registered_and_available(server: RunningServer, http: requests.Session) -> None:
    items = {o["metadata"]["name"]: o for o in
             http.get(server.url + "/apis/apiregistration.k8s.io/v1/apiservices").json()["items"]}
    assert {"v1.", "v1.apps", "v1.policy", "v1.events.k8s.io", "v1.certificates.k8s.io"} <= set(items)
    apps = items["v1.apps"]
    assert apps["spec"] == {"group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15}
    cond = apps["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
        "Available", "True", "Local", "Local APIServices are always available")


def test_an_aggregated_api_service_is_stored_and_reported(server: RunningServer, http: requests.Session) -> None:
    # (metrics.k8s.io is shoal's own: a custom metrics adapter is what registers one of these)
    url = server.url + "/apis/apiregistration.k8s.io/v1/apiservices"
    body = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1beta1.custom.metrics.k8s.io"},
            "spec": {"group": "custom.metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                     "versionPriority": 100, "insecureSkipTLSVerify": True,
                     "service": {"namespace": "kube-system", "name": "metrics-server"}}}
    r = http.post(url, json=body)
    assert r.status_code == 201, r.text
    row = [x for x in http.get(url, headers=TABLE).json()["rows"] if x["cells"][0] == "v1beta1.custom.metrics.k8s.io"][0]
    assert row["cells"][1:3] == ["kube-system/metrics-server", "False (FailedDiscoveryCheck)"]
    bad = {**body, "metadata": {"name": "wrong.custom.metrics.k8s.io"}}
    r = http.post(url, json=bad)
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "metadata.name"


# --- CertificateSigningRequest ----------------------------------------------------------------------------


def csr_pem(cn: str = "jane") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    req = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256())
    return base64.b64encode(req.public_bytes(serialization.Encoding.PEM)).decode()


def csr(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": csr_pem(), "signerName": "kubernetes.io/kube-apiserver-client",
                     "usages": ["client auth"], **spec}}


def test_csr_lifecycle(server: RunningServer, http: requests.Session) -> None:
    url = server.url + "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    name = f"jane-{uuid.uuid4().hex[:6]}"
    body = csr(name, username="mallory", groups=["system:masters"])
    body["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    r = http.post(url, json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["spec"]["username"] == "admin"  # who asked, not who the body claims
    assert "system:masters" in created["spec"]["groups"]
    assert not created.get("status", {}).get("conditions")  # no pre-approved requests
    # the main resource changes neither spec nor status
    created["spec"]["signerName"] = "example.com/other"
    created["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    r = http.put(f"{url}/{name}", json=created)
    assert r.status_code == 200, r.text
    assert r.json()["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client"
    assert not r.json().get("status", {}).get("conditions")
    # approval
    cur = r.json()
    cur["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "KubectlApprove"}]}
    r = http.put(f"{url}/{name}/approval", json=cur)
    assert r.status_code == 200, r.text
    assert http.get(f"{url}/{name}/approval").json()["status"]["conditions"][0]["type"] == "Approved"
    # a signer cannot remove the decision through /status; denying an approved request is refused
    cur = r.json()
    cur["status"]["conditions"].append({"type": "Denied", "status": "True"})
    r = http.put(f"{url}/{name}/approval", json=cur)
    assert r.status_code == 422
    assert "mutually exclusive" in r.text
    row = [x for x in http.get(url, headers=TABLE).json()["rows"] if x["cells"][0] == name][0]
    assert row["cells"][2:] == ["kubernetes.io/kube-apiserver-client", "admin", "<none>", "Approved"]


@pytest.mark.parametrize(("spec", "field", "text"), [
    ({"request": base64.b64encode(b"not pem").decode()}, "spec.request", "PEM block type must be CERTIFICATE REQUEST"),
    ({"signerName": "nodomain"}, "spec.signerName", "fully qualified domain and path"),
    ({"usages": ["flying"]}, "spec.usages[0]", "Unsupported value"),
    ({"expirationSeconds": 60}, "spec.expirationSeconds", "600 seconds"),
])
def test_csr_validation(server: RunningServer, http: requests.Session, spec: Obj, field: str, text: str) -> None:
    r = http.post(server.url + "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                  json=csr(f"bad-{uuid.uuid4().hex[:6]}", **spec))
    assert r.status_code == 422, r.text
    assert any(c["field"] == field and text in c["message"] for c in r.json()["details"]["causes"])


# --- events.k8s.io/v1 ---------------------------------------------------------------------------------------


def core_event(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": ns}, "reason": "Started",
            "message": "Started container", "type": "Normal", "count": 2, "source": {"component": "kubelet"},
            "firstTimestamp": "2026-12-06T10:00:00Z", "lastTimestamp": "2026-12-06T10:01:00Z"}


def test_events_are_one_store_two_views(server: RunningServer, http: requests.Session, ns: str) -> None:
    core = f"{server.url}/api/v1/namespaces/{ns}/events"
    new = f"{server.url}/apis/events.k8s.io/v1/namespaces/{ns}/events"
    assert http.post(core, json=core_event("e1", ns)).status_code == 201
    v = http.get(f"{new}/e1").json()
    assert (v["apiVersion"], v["kind"]) == ("events.k8s.io/v1", "Event")
    assert v["note"] == "Started container"
    assert v["regarding"] == {"kind": "Pod", "namespace": ns, "name": "web-1"}
    assert (v["deprecatedCount"], v["deprecatedSource"]) == (2, {"component": "kubelet"})
    assert v["deprecatedFirstTimestamp"] == "2026-12-06T10:00:00Z"
    assert "message" not in v and "involvedObject" not in v
    # a create through events.k8s.io/v1 is a core Event too
    e2 = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2"},
          "eventTime": "2026-12-06T10:02:00.000000Z", "reportingController": "example.com/ctl",
          "reportingInstance": "ctl-1", "action": "Scaling", "reason": "Scaled", "type": "Normal",
          "regarding": {"kind": "Deployment", "name": "web", "namespace": ns}, "note": "scaled up"}
    r = http.post(new, json=e2)
    assert r.status_code == 201, r.text
    assert r.json()["reportingController"] == "example.com/ctl"
    c = http.get(f"{core}/e2").json()
    assert (c["message"], c["reportingComponent"], c["involvedObject"]["kind"]) == ("scaled up", "example.com/ctl",
                                                                                    "Deployment")
    assert c["metadata"]["uid"] == r.json()["metadata"]["uid"]
    # a patch of the view, read from core
    r = http.patch(f"{new}/e2", data=json.dumps({"note": "scaled up twice"}),
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert http.get(f"{core}/e2").json()["message"] == "scaled up twice"
    # lists with core's field selectors, and the same table as core's
    lst = http.get(new, params={"fieldSelector": "involvedObject.kind=Deployment"}).json()
    assert [o["metadata"]["name"] for o in lst["items"]] == ["e2"]
    assert lst["kind"] == "EventList" and lst["apiVersion"] == "events.k8s.io/v1"
    assert http.get(new, headers=TABLE).json()["columnDefinitions"] == \
        http.get(core, headers=TABLE).json()["columnDefinitions"]
    # deleting through one view deletes from the other
    assert http.delete(f"{new}/e1").status_code == 200
    assert http.get(f"{core}/e1").status_code == 404


def test_a_new_style_event_needs_upstreams_fields(server: RunningServer, http: requests.Session, ns: str) -> None:
    r = http.post(f"{server.url}/apis/events.k8s.io/v1/namespaces/{ns}/events",
                  json={"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "bad"},
                        "note": "x", "deprecatedCount": 3})
    assert r.status_code == 422
    fields = {c["field"] for c in r.json()["details"]["causes"]}
    assert {"eventTime", "reportingController", "reportingInstance", "action", "reason", "type",
            "deprecatedCount"} <= fields


def test_watching_the_view(server: RunningServer, http: requests.Session, ns: str) -> None:
    lines: list[Obj] = []
    started = threading.Event()

    def watch() -> None:
        with server.session().get(f"{server.url}/apis/events.k8s.io/v1/namespaces/{ns}/events",
                                  params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "5"},
                                  stream=True) as r:
            started.set()
            for line in r.iter_lines():
                if line:
                    lines.append(json.loads(line))
                    if len(lines) == 2:
                        return

    rv = http.get(f"{server.url}/api/v1/namespaces/{ns}/events").json()["metadata"]["resourceVersion"]
    t = threading.Thread(target=watch)
    t.start()
    started.wait(5)
    core = f"{server.url}/api/v1/namespaces/{ns}/events"
    assert http.post(core, json=core_event("w1", ns)).status_code == 201
    assert http.delete(f"{core}/w1").status_code == 200
    t.join(10)
    assert [(e["type"], e["object"]["apiVersion"], e["object"]["note"]) for e in lines] == [
        ("ADDED", "events.k8s.io/v1", "Started container"), ("DELETED", "events.k8s.io/v1", "Started container")]
