"""End to end: resource metrics and the HorizontalPodAutoscaler over hollow nodes, driven by the real kubectl.

``shoal server`` (scheduler, controllers, the HPA syncing every second) and a
``shoal agent --runtime simulated`` whose containers report the CPU their
pod's ``sim.shoal.io/cpu-usage`` annotation says, sampled every half second.
CPU goes up: the Deployment grows; it goes down: it shrinks once the
(short) scale-down window has passed. ``kubectl top`` shows the same figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, start_server

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata:
      labels: {app: burn}
      annotations: {sim.shoal.io/cpu-usage: "%s"}
    spec:
      containers:
      - name: main
        image: registry.local/burn:1
        resources: {requests: {cpu: 100m, memory: 64Mi}}
"""

HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 4
      policies: [{type: Percent, value: 100, periodSeconds: 1}]
"""


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("e2e-hpa"))
    os.environ["SHOAL_HPA_SYNC_SECONDS"] = "1"
    try:
        srv = start_server(root / "server")
    finally:
        del os.environ["SHOAL_HPA_SYNC_SECONDS"]
    token = (srv.data_dir / "node-token").read_text().strip()
    log = open(root / "agent.log", "ab")  # noqa: SIM115 - handed to the child
    agent = subprocess.Popen(
        [sys.executable, "-m", "shoal", "agent", "--server", srv.url, "--token", token, "--data-dir",
         str(root / "agent"), "--ca-file", srv.ca, "--runtime", "simulated", "--simulate-nodes", "2",
         "--node-name", "hollow", "--lease-interval", "0.5", "--metrics-interval", "0.5"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for("two ready nodes", lambda: srv.kubectl("get", "nodes", "--no-headers").stdout.count(" Ready") == 2)
        yield srv
    finally:
        agent.terminate()
        agent.wait(15)
        srv.stop()


def replicas(srv: RunningServer) -> int:
    return int(json.loads(srv.kubectl("get", "deploy", "burn", "-o", "json").stdout)["spec"]["replicas"])


def test_top_before_metrics_says_not_available_yet(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "bare", args=["--disable-scheduler"])
    try:
        assert "metrics not available yet" in srv.kubectl("top", "nodes", check=False).stderr
        srv.kubectl("run", "p", "--image=x")
        assert "metrics not available yet" in srv.kubectl("top", "pods", check=False).stderr
    finally:
        srv.stop()


def test_hpa_grows_on_cpu_and_shrinks_after_the_window(cluster: RunningServer) -> None:
    srv = cluster
    srv.kubectl("apply", "-f", "-", input=MANIFEST % "200m")
    srv.kubectl("apply", "-f", "-", input=HPA)
    # kubectl top shows the synthetic usage with upstream's columns
    out = wait_for("pod metrics", lambda: srv.kubectl("top", "pods", "--containers", check=False).stdout)
    assert out.split()[:4] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert "main" in out and "200m" in out, out
    nodes = srv.kubectl("top", "nodes").stdout
    assert nodes.split()[:5] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], nodes
    # 200m of a 100m request is 200% against a 50% target: 4x, capped at maxReplicas
    wait_for("scale up to 4", lambda: replicas(srv) == 4)
    hpa = wait_for("TARGETS measured", lambda: (t := srv.kubectl("get", "hpa", "burn").stdout) and
                   "<unknown>" not in t and t)
    assert "cpu: 200%/50%" in hpa and "Deployment/burn" in hpa, hpa
    events = srv.kubectl("get", "events", "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler",
                         "-o", "json").stdout
    assert "SuccessfulRescale" in events and "New size: 4; reason: cpu resource utilization (percentage of " \
        "request) above target" in events
    obj = json.loads(srv.kubectl("get", "hpa", "burn", "-o", "json").stdout)
    conds = {c["type"]: c for c in obj["status"]["conditions"]}
    assert conds["ScalingActive"]["status"] == "True" and conds["ScalingActive"]["reason"] == "ValidMetricFound"
    assert conds["AbleToScale"]["status"] == "True"
    # load stops: new pods use 10m (5%), far below target; after the 4 s window, back to the minimum
    srv.kubectl("apply", "-f", "-", input=MANIFEST % "10m")
    wait_for("scale down to 1", lambda: replicas(srv) == 1, timeout=90)


def test_hpa_on_pods_without_requests_says_why(cluster: RunningServer) -> None:
    srv = cluster
    srv.kubectl("create", "deployment", "noreq", "--image=x")
    srv.kubectl("autoscale", "deployment", "noreq", "--max=3", "--cpu-percent=50")

    def condition() -> dict[str, Any] | None:
        obj = json.loads(srv.kubectl("get", "hpa", "noreq", "-o", "json").stdout)
        for c in (obj.get("status") or {}).get("conditions") or []:
            if c["type"] == "ScalingActive" and c["status"] == "False" and "missing request" in c["message"]:
                return c  # (until the pod's first metrics arrive, it says there are none)
        return None

    c = wait_for("ScalingActive False", condition)
    assert c["reason"] == "FailedGetResourceMetric"
    assert c["message"].startswith("the HPA was unable to compute the replica count: failed to get cpu "
                                   "utilization: missing request for cpu in container x of Pod noreq-"), c


def test_hpa_on_a_target_without_scale_says_why(cluster: RunningServer) -> None:
    srv = cluster
    srv.kubectl("create", "configmap", "plain")
    srv.kubectl("apply", "-f", "-", input="""
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: noscale}
spec:
  scaleTargetRef: {apiVersion: v1, kind: ConfigMap, name: plain}
  maxReplicas: 3
""")

    def condition() -> dict[str, Any] | None:
        obj = json.loads(srv.kubectl("get", "hpa", "noscale", "-o", "json").stdout)
        for c in (obj.get("status") or {}).get("conditions") or []:
            if c["type"] == "AbleToScale" and c["status"] == "False":
                return c
        return None

    c = wait_for("AbleToScale False", condition)
    assert c["reason"] == "FailedGetScale"
    assert c["message"].startswith("the HPA controller was unable to get the target's current scale: "), c
    events = srv.kubectl("get", "events", "--field-selector", "involvedObject.name=noscale", "-o", "json").stdout
    assert "FailedGetScale" in events


def test_hpa_scales_a_statefulset(cluster: RunningServer) -> None:
    srv = cluster
    srv.kubectl("apply", "-f", "-", input="""
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata:
      labels: {app: db}
      annotations: {sim.shoal.io/memory-usage: 96Mi}
    spec:
      containers:
      - {name: main, image: registry.local/db:1, resources: {requests: {cpu: 10m, memory: 64Mi}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: db}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}
  maxReplicas: 2
  metrics:
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 64Mi}}
""")
    # 96Mi against 64Mi a pod: 1.5x, so 2 (the maximum)
    wait_for("the StatefulSet scaled to 2", lambda: json.loads(srv.kubectl(
        "get", "sts", "db", "-o", "json").stdout)["spec"]["replicas"] == 2)
    # the current average in bytes, as upstream prints a milli-quantity of memory
    out = wait_for("TARGETS", lambda: (t := srv.kubectl("get", "hpa", "db").stdout) and
                   "memory: 100663296/64Mi" in t and t)
    assert "StatefulSet/db" in out
