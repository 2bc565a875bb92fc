"""The audit log of a real server: kubectl's requests as upstream's Events, with the policy's levels.

One server with a policy that logs Secrets at RequestResponse (capped at
Metadata: their bodies are never logged), ConfigMaps at RequestResponse,
watches with every stage and everything else at Metadata; a token file gives
a user with no roles for the 403s.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, start_server

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/openapi/*", "/version"]
- level: None
  users: ["system:shoal"]
- level: RequestResponse
  resources: [{group: "", resources: [secrets, configmaps]}]
- level: Metadata
  verbs: [watch]
- level: Metadata
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("audit"))
    (root / "policy.yaml").write_text(POLICY)
    (root / "tokens.csv").write_text('dave-token,dave,3001,"nobody"\n')
    s = start_server(root / "data", args=[
        "--disable-scheduler", "--disable-controller-manager", "--token-auth-file", str(root / "tokens.csv"),
        "--audit-policy-file", str(root / "policy.yaml"), "--audit-log-path", str(root / "audit.log")])
    yield s
    s.stop()


def events(srv: RunningServer, want: Any, timeout: float = 10) -> list[dict[str, Any]]:
    """The events in the log for which ``want`` is true, once there is one (the writer is asynchronous)."""
    path = srv.data_dir.parent / "audit.log"
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in (json.loads(x) for x in path.read_text().splitlines()) if want(e)] \
            if path.exists() else []
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_create_is_logged_with_its_bodies_and_audit_id(srv: RunningServer) -> None:
    s = srv.session()
    s.headers["User-Agent"] = "audit-test/1"
    r = s.post(f"{srv.url}/api/v1/namespaces/default/configmaps",
               json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1"}, "data": {"k": "v"}})
    assert r.status_code == 201
    audit_id = r.headers["Audit-ID"]
    (ev,) = events(srv, lambda e: e["auditID"] == audit_id)
    assert ev["stage"] == "ResponseComplete" and ev["level"] == "RequestResponse" and ev["verb"] == "create"
    assert ev["user"] == {"username": "admin", "groups": ["system:masters", "system:authenticated"]}
    assert ev["sourceIPs"] == ["127.0.0.1"] and ev["userAgent"] == "audit-test/1"
    # the name is only in the body: completed from it, as upstream's LogRequestObject does
    assert ev["objectRef"] == {"resource": "configmaps", "namespace": "default", "name": "cm1", "apiVersion": "v1"}
    assert ev["responseStatus"] == {"metadata": {}, "code": 201}
    assert ev["requestObject"]["data"] == {"k": "v"}
    assert ev["responseObject"]["metadata"]["uid"] == r.json()["metadata"]["uid"]
    assert ev["annotations"]["authorization.k8s.io/decision"] == "allow"
    # a client's own Audit-ID is kept
    r = s.get(f"{srv.url}/api/v1/namespaces/default/configmaps/cm1", headers={"Audit-ID": "mine-1"})
    assert r.headers["Audit-ID"] == "mine-1"
    assert events(srv, lambda e: e["auditID"] == "mine-1")[0]["verb"] == "get"


def test_secret_bodies_are_never_logged(srv: RunningServer) -> None:
    srv.kubectl("create", "secret", "generic", "s1", "--from-literal=password=hunter2-audit")
    srv.kubectl("get", "secret", "s1", "-o", "yaml")
    assert events(srv, lambda e: e.get("objectRef", {}).get("resource") == "secrets" and e["verb"] == "get")
    evs = events(srv, lambda e: e.get("objectRef", {}).get("resource") == "secrets")
    assert {e["verb"] for e in evs} >= {"create", "get"}
    assert all(e["level"] == "Metadata" and "requestObject" not in e and "responseObject" not in e for e in evs)
    log = (srv.data_dir.parent / "audit.log").read_text()
    assert "hunter2" not in log and "aHVudGVyMi1hdWRpd" not in log  # nor its base64


def test_denied_and_refused_requests_say_why(srv: RunningServer) -> None:
    env = {"KUBECONFIG": os.devnull}
    base = ["--kubeconfig", os.devnull, "--server", srv.url, "--certificate-authority", srv.ca]
    p = srv.kubectl(*base, "--token", "dave-token", "get", "pods", "-n", "default", check=False, env=env)
    assert "Forbidden" in p.stderr
    (ev,) = events(srv, lambda e: e["user"].get("username") == "dave" and e["verb"] == "list")
    assert ev["responseStatus"]["code"] == 403 and ev["responseStatus"]["reason"] == "Forbidden"
    assert ev["annotations"] == {"authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason":
                                 'User "dave" cannot list resource "pods" in API group "" in the namespace "default"'}
    p = srv.kubectl(*base, "--token", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", "get", "pods", check=False,
                    env=env)
    assert "Unauthorized" in p.stderr or "provide credentials" in p.stderr
    evs = events(srv, lambda e: e["responseStatus"]["code"] == 401 if "responseStatus" in e else False)
    assert evs and evs[0]["user"] == {}
    assert evs[0]["responseStatus"]["message"].startswith("Authentication failed, reason: no authenticator knows")


def test_a_watch_has_its_started_and_complete_stages(srv: RunningServer) -> None:
    s = srv.session()
    with s.get(f"{srv.url}/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1", stream=True) as r:
        assert r.status_code == 200
        audit_id = r.headers["Audit-ID"]
        for _ in r.iter_lines():
            pass
    evs = events(srv, lambda e: e["auditID"] == audit_id and e["stage"] == "ResponseComplete")
    stages = [e["stage"] for e in events(srv, lambda e: e["auditID"] == audit_id)]
    # the policy's omitStages (RequestReceived) apply whatever the rule says, as upstream
    assert evs and stages == ["ResponseStarted", "ResponseComplete"]


def test_discovery_and_the_servers_own_components_are_not_logged(srv: RunningServer) -> None:
    srv.kubectl("get", "namespaces")
    assert not events(srv, lambda e: e["requestURI"].startswith(("/api?", "/apis?", "/openapi")) or
                      e["requestURI"] in ("/api", "/apis"), timeout=0.5)
    assert not events(srv, lambda e: e["user"].get("username") == "system:shoal", timeout=0.1)


def test_a_bad_policy_stops_the_server(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]\n")
    with pytest.raises(RuntimeError, match="--audit-policy-file .*Unsupported value: \"Loud\""):
        start_server(tmp_path / "d", args=["--audit-policy-file", str(tmp_path / "p.yaml"),
                                           "--audit-log-path", str(tmp_path / "a.log")])




def test_pod_security_audit_mode_annotates_the_event(srv: RunningServer) -> None:
    s = srv.session()
    ns = "ps-audit"
    r = s.post(f"{srv.url}/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": ns, "labels": {"pod-security.kubernetes.io/enforce": "baseline",
                               "pod-security.kubernetes.io/audit": "restricted"}}})
    assert r.status_code == 201, r.text

    def pod(name: str, **sc: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": [{"name": "app", "image": "busybox", **sc}]}}

    # baseline allows it, restricted would not: created, and the event says what it would violate
    r = s.post(f"{srv.url}/api/v1/namespaces/{ns}/pods", json=pod("plain"))
    assert r.status_code == 201, r.text
    (ev,) = events(srv, lambda e: e["auditID"] == r.headers["Audit-ID"])
    notes = ev["annotations"]
    assert notes["pod-security.kubernetes.io/enforce-policy"] == "baseline:latest"
    assert notes["pod-security.kubernetes.io/audit-violations"].startswith(
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must '
        'set securityContext.allowPrivilegeEscalation=false)')
    # refused by enforce: the event of the 403 carries them too, as upstream's
    r = s.post(f"{srv.url}/api/v1/namespaces/{ns}/pods", json=pod("priv", securityContext={"privileged": True}))
    assert r.status_code == 403
    (ev,) = events(srv, lambda e: e["auditID"] == r.headers["Audit-ID"])
    assert ev["responseStatus"]["code"] == 403
    assert "privileged (container \"app\" must not set securityContext.privileged=true)" in \
        ev["annotations"]["pod-security.kubernetes.io/audit-violations"]
    # a namespace with no Pod Security label: no annotation
    r = s.post(f"{srv.url}/api/v1/namespaces/default/pods", json=pod("plain-default"))
    assert r.status_code == 201
    (ev,) = events(srv, lambda e: e["auditID"] == r.headers["Audit-ID"])
    assert not any(k.startswith("pod-security.kubernetes.io/") for k in ev["annotations"])
