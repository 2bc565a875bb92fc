"""ResourceQuota, LimitRange and Pod Security through the real kubectl v1.32, against a server running only
the quota controller (no scheduler, no agent: pods stay Pending, which a quota counts)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, start_server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    old = os.environ.get("SHOAL_CONTROLLERS")
    os.environ["SHOAL_CONTROLLERS"] = "resourcequota"
    try:
        s = start_server(Path(tmp_path_factory.mktemp("policy")), args=["--disable-scheduler"])
    finally:
        if old is None:
            os.environ.pop("SHOAL_CONTROLLERS", None)
        else:
            os.environ["SHOAL_CONTROLLERS"] = old
    yield s
    s.stop()


@pytest.fixture
def ns(srv: RunningServer) -> str:
    name = f"pol-{uuid.uuid4().hex[:8]}"
    srv.kubectl("create", "namespace", name)
    return name


def pod(name: str, **container: Any) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"containers": [{"name": "app", "image": "localhost/busybox:test", **container}]}})


def wait_for(fn: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        last = fn()
        if last or time.monotonic() > deadline:
            return last
        time.sleep(0.1)


def quota_used(srv: RunningServer, ns: str, name: str) -> dict[str, str]:
    out = srv.kubectl("-n", ns, "get", "resourcequota", name, "-o", "json").stdout
    return dict((json.loads(out).get("status") or {}).get("used") or {})


def test_pod_count_quota_refuses_the_pod_over_it_and_frees_on_delete(srv: RunningServer, ns: str) -> None:
    srv.kubectl("-n", ns, "create", "quota", "count", "--hard=pods=2,configmaps=3")
    for i in range(2):
        srv.kubectl("-n", ns, "apply", "-f", "-", input=pod(f"p{i}"))
    p = srv.kubectl("-n", ns, "apply", "-f", "-", input=pod("p2"), check=False)
    assert p.returncode != 0
    assert ('pods "p2" is forbidden: exceeded quota: count, requested: pods=1, used: pods=2, limited: pods=2'
            in p.stderr)
    assert srv.kubectl("-n", ns, "get", "pod", "p2", check=False).returncode != 0  # nothing created
    assert wait_for(lambda: quota_used(srv, ns, "count").get("pods") == "2")
    srv.kubectl("-n", ns, "delete", "pod", "p0", "--wait=false")
    assert wait_for(lambda: quota_used(srv, ns, "count").get("pods") == "1")
    srv.kubectl("-n", ns, "apply", "-f", "-", input=pod("p2"))
    desc = srv.kubectl("-n", ns, "describe", "quota", "count").stdout
    assert "pods" in desc and "configmaps" in desc
    # the namespace's kube-root-ca.crt counts as one ConfigMap, as upstream's
    assert wait_for(lambda: quota_used(srv, ns, "count").get("configmaps") == "1")


def test_compute_quota_needs_requests_and_counts_them(srv: RunningServer, ns: str) -> None:
    srv.kubectl("-n", ns, "create", "quota", "compute", "--hard=requests.cpu=1,limits.memory=1Gi")
    p = srv.kubectl("-n", ns, "apply", "-f", "-", input=pod("bare"), check=False)
    assert p.returncode != 0
    assert "failed quota: compute: must specify limits.memory for: app; requests.cpu for: app" in p.stderr
    res = {"resources": {"requests": {"cpu": "600m"}, "limits": {"memory": "512Mi"}}}
    srv.kubectl("-n", ns, "apply", "-f", "-", input=pod("a", **res))
    p = srv.kubectl("-n", ns, "apply", "-f", "-", input=pod("b", **res), check=False)
    assert p.returncode != 0
    assert ("exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, "
            "limited: requests.cpu=1") in p.stderr
    used = quota_used(srv, ns, "compute")
    assert used == {"requests.cpu": "600m", "limits.memory": "512Mi"}


def test_quota_applies_at_once_to_objects_made_before_it(srv: RunningServer, ns: str) -> None:
    for i in range(2):
        srv.kubectl("-n", ns, "create", "secret", "generic", f"s{i}", "--from-literal=k=v")
    srv.kubectl("-n", ns, "create", "quota", "secrets", "--hard=secrets=2")
    p = srv.kubectl("-n", ns, "create", "secret", "generic", "s2", "--from-literal=k=v", check=False)
    assert p.returncode != 0 and "exceeded quota: secrets" in p.stderr


def test_limit_range_defaults_and_bounds(srv: RunningServer, ns: str) -> None:
    lr = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits"},
          "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "defaultRequest": {"cpu": "100m"},
                               "default": {"cpu": "500m", "memory": "128Mi"}}]}}
    srv.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(lr))
    srv.kubectl("-n", ns, "apply", "-f", "-", input=pod("d"))
    got = json.loads(srv.kubectl("-n", ns, "get", "pod", "d", "-o", "json").stdout)
    res = got["spec"]["containers"][0]["resources"]
    assert res == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}
    assert got["metadata"]["annotations"]["kubernetes.io/limit-ranger"].startswith("LimitRanger plugin set:")
    assert got["status"]["qosClass"] == "Burstable"
    p = srv.kubectl("-n", ns, "apply", "-f", "-",
                    input=pod("big", resources={"limits": {"cpu": "2"}}), check=False)
    assert p.returncode != 0
    assert 'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2' in p.stderr
    bad = {**lr, "metadata": {"name": "bad"},
           "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}}
    p = srv.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(bad), check=False)
    assert p.returncode != 0
    assert "spec.limits[0].min[cpu]: Invalid value" in p.stderr and "min value 2 is greater than max value 1" \
        in p.stderr
    assert srv.kubectl("-n", ns, "get", "limitrange", "bad", check=False).returncode != 0


def test_pod_security_enforce_and_warn(srv: RunningServer, ns: str) -> None:
    srv.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline",
                "pod-security.kubernetes.io/warn=restricted")
    p = srv.kubectl("-n", ns, "apply", "-f", "-", input=pod("priv", securityContext={"privileged": True}),
                    check=False)
    assert p.returncode != 0
    assert ('pods "priv" is forbidden: violates PodSecurity "baseline:latest": privileged '
            '(container "app" must not set securityContext.privileged=true)') in p.stderr
    ok = srv.kubectl("-n", ns, "apply", "-f", "-", input=pod("plain"))
    assert 'Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false' in ok.stderr
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"hostNetwork": True,
                                          "containers": [{"name": "c", "image": "localhost/busybox:test"}]}}}}
    out = srv.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(dep))  # a workload is warned, not refused
    assert "would violate PodSecurity" in out.stderr and "host namespaces (hostNetwork=true)" in out.stderr


def test_concurrent_creates_never_overspend_a_quota(srv: RunningServer, ns: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    srv.kubectl("-n", ns, "create", "quota", "three", "--hard=configmaps=4")  # kube-root-ca.crt is one
    assert wait_for(lambda: quota_used(srv, ns, "three").get("configmaps") == "1")

    def create(i: int) -> int:
        s = srv.session()
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}"}}
        return s.post(f"{srv.url}/api/v1/namespaces/{ns}/configmaps", json=body, timeout=30).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(create, range(12)))
    assert sorted(codes) == [201] * 3 + [403] * 9
    names = json.loads(srv.kubectl("-n", ns, "get", "configmaps", "-o", "json").stdout)["items"]
    assert len(names) == 4
    assert wait_for(lambda: quota_used(srv, ns, "three").get("configmaps") == "4")
