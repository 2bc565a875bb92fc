"""``pods/ephemeralcontainers`` through the real ``kubectl debug``: the subresource adds an ephemeral container
to a pod (and only that: a write of the pod itself leaves them alone), never changes or removes one, and
refuses what an ephemeral container may not have."""

from __future__ import annotations

import json
import uuid

from tests.server_fixture import RunningServer


def make_pod(server: RunningServer) -> str:
    name = f"dbg-{uuid.uuid4().hex[:8]}"
    r = server.session().post(f"{server.url}/api/v1/namespaces/default/pods", json={
        "metadata": {"name": name}, "spec": {"containers": [{"name": "main", "image": "nginx"}]}})
    assert r.status_code == 201, r.text
    return name


def test_kubectl_debug_adds_an_ephemeral_container(server: RunningServer) -> None:
    pod = make_pod(server)
    p = server.kubectl("debug", pod, "--image=busybox", "--target=main", "-c", "debugger")
    assert 'Targeting container "main"' in p.stdout + p.stderr
    got = json.loads(server.kubectl("get", "pod", pod, "-o", "json").stdout)
    eph = got["spec"]["ephemeralContainers"]
    assert [(c["name"], c["image"], c.get("targetContainerName")) for c in eph] == [("debugger", "busybox", "main")]
    # a second one is added beside it
    server.kubectl("debug", pod, "--image=busybox", "-c", "second")
    got = json.loads(server.kubectl("get", "pod", pod, "-o", "json").stdout)
    assert [c["name"] for c in got["spec"]["ephemeralContainers"]] == ["debugger", "second"]
    # the subresource reads as the pod
    s = server.session()
    r = s.get(f"{server.url}/api/v1/namespaces/default/pods/{pod}/ephemeralcontainers")
    assert r.status_code == 200 and r.json()["kind"] == "Pod"


def test_ephemeral_containers_are_only_added(server: RunningServer) -> None:
    pod = make_pod(server)
    server.kubectl("debug", pod, "--image=busybox", "-c", "debugger")
    s = server.session()
    url = f"{server.url}/api/v1/namespaces/default/pods/{pod}"
    body = s.get(url).json()
    body["spec"]["ephemeralContainers"][0]["image"] = "alpine"
    r = s.put(url + "/ephemeralcontainers", json=body)
    assert r.status_code == 422, r.text
    assert 'existing ephemeral containers "debugger" may not be changed' in r.json()["message"]
    body["spec"]["ephemeralContainers"] = []
    r = s.put(url + "/ephemeralcontainers", json=body)
    assert r.status_code == 422 and "may not be removed" in r.json()["message"]
    # a write of the pod itself does not touch them
    body = s.get(url).json()
    body["spec"].pop("ephemeralContainers")
    body["metadata"]["labels"] = {"x": "y"}
    r = s.put(url, json=body)
    assert r.status_code == 200, r.text
    assert [c["name"] for c in r.json()["spec"]["ephemeralContainers"]] == ["debugger"]
    # what an ephemeral container may not have
    body = s.get(url).json()
    body["spec"]["ephemeralContainers"].append({"name": "bad", "image": "busybox",
                                                "ports": [{"containerPort": 80}]})
    r = s.put(url + "/ephemeralcontainers", json=body)
    assert r.status_code == 422
    assert "spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container" in \
        r.json()["message"]
