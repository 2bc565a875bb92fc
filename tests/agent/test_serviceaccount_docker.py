"""Service accounts in real Podman containers: the token, ca.crt and namespace files, and what they are.

Run under the host-tests lock. The agent is a real ``shoal agent`` with the join token (group
``system:nodes``), so its TokenRequests go through RBAC as a node's do.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import requests

from tests.agent.conftest import IMAGE, Cluster, ready, status_of, unique
from tests.agent.test_volumes_docker import _unmount_left_behind  # noqa: F401 - autouse: tmpfs left mounted

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def in_pod(pod: dict[str, Any], *cmd: str) -> subprocess.CompletedProcess[str]:
    cid = str(status_of(pod, "main")["containerID"]).split("://")[1]
    return subprocess.run(["podman", "exec", cid, *cmd], capture_output=True, text=True)


def main(**extra: Any) -> dict[str, Any]:
    return {"name": "main", "image": IMAGE, "command": ["sh", "-c", "sleep 100000"], **extra}


def test_pod_gets_its_default_account_token_ca_and_namespace(docker_cluster: Cluster, tmp_path: Path) -> None:
    c = docker_cluster
    name = unique("sa")
    made = c.pod(name, [main()], terminationGracePeriodSeconds=0)
    assert made["spec"]["serviceAccountName"] == "default"
    vol = made["spec"]["volumes"][-1]
    assert vol["name"].startswith("kube-api-access-") and len(vol["name"]) == len("kube-api-access-") + 5
    assert made["spec"]["containers"][0]["volumeMounts"] == [
        {"name": vol["name"], "readOnly": True, "mountPath": SA_DIR}]
    pod = c.wait(name, ready, what="Ready")
    listing = in_pod(pod, "ls", SA_DIR).stdout.split()
    assert listing == ["ca.crt", "namespace", "token"], listing
    assert in_pod(pod, "cat", f"{SA_DIR}/namespace").stdout == "default"
    ca = in_pod(pod, "cat", f"{SA_DIR}/ca.crt").stdout
    assert ca == Path(c.server.ca).read_text()
    token = in_pod(pod, "cat", f"{SA_DIR}/token").stdout
    assert in_pod(pod, "sh", "-c", f"echo x > {SA_DIR}/token").returncode != 0  # read-only
    # the token authenticates as the pod's account, checked with the pod's own ca.crt
    (tmp_path / "ca.crt").write_text(ca)
    r = requests.post(c.url("/apis/authentication.k8s.io/v1/selfsubjectreviews"),
                      json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                      headers={"Authorization": f"Bearer {token}"}, verify=str(tmp_path / "ca.crt"), timeout=10)
    assert r.status_code == 201, r.text
    info = r.json()["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:default"
    assert "system:serviceaccounts:default" in info["groups"]
    # bound to the pod: the extra names it
    assert info.get("extra", {}).get("authentication.kubernetes.io/pod-name") == [name]
    # the kubernetes Service's variables, as an in-cluster client reads them
    env = dict(line.split("=", 1) for line in in_pod(pod, "env").stdout.splitlines() if "=" in line)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1" and env["KUBERNETES_SERVICE_PORT"] == "443"
    c.delete(name, grace=0)


def test_automount_false_mounts_nothing(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name = unique("nosa")
    made = c.pod(name, [main()], automountServiceAccountToken=False, terminationGracePeriodSeconds=0)
    assert "volumes" not in made["spec"] and "volumeMounts" not in made["spec"]["containers"][0]
    pod = c.wait(name, ready, what="Ready")
    assert in_pod(pod, "ls", SA_DIR).returncode != 0
    c.delete(name, grace=0)


def test_a_pod_naming_a_missing_account_is_refused(docker_cluster: Cluster) -> None:
    c = docker_cluster
    r = c.http.post(c.url("/api/v1/namespaces/default/pods"), json={
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ghostly"},
        "spec": {"serviceAccountName": "ghost", "containers": [main()]}})
    assert r.status_code == 403, r.text
    assert r.json()["message"] == ('pods "ghostly" is forbidden: error looking up service account default/ghost: '
                                   'serviceaccount "ghost" not found')
