"""End to end: ``shoal server`` with its embedded scheduler and controllers, a ``shoal agent`` of simulated nodes.

Nothing is faked here: the server runs every registered controller and the
scheduler; a separate ``shoal agent --runtime simulated`` process registers two
hollow nodes and runs pods on them (no processes, real status reporting,
real CrashLoopBackOff). The real kubectl drives the Deployment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, simulated_agent, start_server

pytest.importorskip("shoal.agent.main", reason="the node agent has not landed")

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    shoal.io/auto-rollback: "true"
spec:
  replicas: 3
  progressDeadlineSeconds: 30
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.local/web:1
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("e2e-deploy"))
    srv = start_server(root / "server")
    try:
        with simulated_agent(srv, root, 2):
            yield srv
    finally:
        srv.stop()


def kj(srv: RunningServer, *args: str) -> Any:
    return json.loads(srv.kubectl(*args, "-o", "json").stdout)


def image(d: Any) -> str:
    return str(d["spec"]["template"]["spec"]["containers"][0]["image"])


def test_rollout_undo_and_self_healing(cluster: RunningServer) -> None:
    k = cluster.kubectl
    k("create", "namespace", "e2e")
    k("-n", "e2e", "apply", "-f", "-", input=MANIFEST)
    assert "successfully rolled out" in k("-n", "e2e", "rollout", "status", "deploy/web", "--timeout=30s").stdout
    pods = kj(cluster, "-n", "e2e", "get", "pods")["items"]
    assert len(pods) == 3 and all(p["status"]["phase"] == "Running" and p["spec"]["nodeName"].startswith("hollow")
                                  for p in pods)

    k("-n", "e2e", "set", "image", "deploy/web", "web=registry.local/web:2")
    k("-n", "e2e", "rollout", "status", "deploy/web", "--timeout=30s")
    k("-n", "e2e", "rollout", "undo", "deploy/web")
    k("-n", "e2e", "rollout", "status", "deploy/web", "--timeout=30s")
    assert image(kj(cluster, "-n", "e2e", "get", "deploy/web")) == "registry.local/web:1"
    hist = k("-n", "e2e", "rollout", "history", "deploy/web").stdout
    assert [ln.split()[0] for ln in hist.splitlines()[2:] if ln.strip()] == ["2", "3"], hist

    # a pod that disappears is replaced by its ReplicaSet
    victim = kj(cluster, "-n", "e2e", "get", "pods")["items"][0]["metadata"]["name"]
    k("-n", "e2e", "delete", "pod", victim, "--wait=true")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pods = [p for p in kj(cluster, "-n", "e2e", "get", "pods")["items"]
                if not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") == "Running"]
        if len(pods) == 3 and victim not in {p["metadata"]["name"] for p in pods}:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"pod {victim} was not replaced: {[p['metadata']['name'] for p in pods]}")


def test_crash_looping_rollout_rolls_back_by_itself(cluster: RunningServer) -> None:
    k = cluster.kubectl
    k("create", "namespace", "e2e-auto")
    k("-n", "e2e-auto", "apply", "-f", "-", input=MANIFEST)
    k("-n", "e2e-auto", "rollout", "status", "deploy/web", "--timeout=30s")
    # the simulated runtime's containers exit with code 1 at once: a crash loop
    patch = {"spec": {"template": {"metadata": {"annotations": {"sim.shoal.io/complete-after": "0",
                                                                "sim.shoal.io/exit-code": "1"}},
                                   "spec": {"containers": [{"name": "web", "image": "registry.local/web:bad"}]}}}}
    k("-n", "e2e-auto", "patch", "deploy/web", "-p", json.dumps(patch))
    deadline = time.monotonic() + 45
    d: Any = {}
    while time.monotonic() < deadline:
        d = kj(cluster, "-n", "e2e-auto", "get", "deploy/web")
        if image(d) == "registry.local/web:1":
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"no automatic rollback: {d.get('status')}")
    k("-n", "e2e-auto", "rollout", "status", "deploy/web", "--timeout=30s")
    why: list[str] = []
    for _ in range(50):  # events are recorded in the background
        events = kj(cluster, "-n", "e2e-auto", "get", "events")["items"]
        why = [e["message"] for e in events if e["reason"] == "AutoRollback"]
        if why:
            break
        time.sleep(0.2)
    assert why and "revision 1" in why[0] and ("CrashLoopBackOff" in why[0] or "restarted" in why[0]), why
