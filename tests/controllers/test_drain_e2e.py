"""End to end: ``kubectl cordon | uncordon | drain`` on ``shoal server`` (every controller, the scheduler) with a
``shoal agent`` of simulated nodes, a Deployment and a PodDisruptionBudget.

kubectl finds ``pods/eviction`` in discovery and evicts (a protobuf policy/v1 Eviction); the budget lets one
pod go at a time, so drain meets the 429 and retries until the replacement is Ready elsewhere. A watch
of the namespace's pods checks the budget was never broken: at no moment were fewer pods Ready than it
keeps available.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, simulated_agent, start_server

pytest.importorskip("shoal.agent.main", reason="the node agent has not landed")

NS = "e2e-drain"
MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: registry.local/web:1
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 3
  selector:
    matchLabels: {app: web}
"""


def kj(srv: RunningServer, *args: str) -> Any:
    return json.loads(srv.kubectl(*args, "-o", "json").stdout)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("e2e-drain"))
    srv = start_server(root / "server")
    try:
        with simulated_agent(srv, root, 3):
            srv.kubectl("create", "namespace", NS)
            yield srv
    finally:
        srv.stop()


def ready_pods(srv: RunningServer) -> dict[str, str]:
    """Ready pods of the Deployment -> their node."""
    out = {}
    for p in kj(srv, "-n", NS, "get", "pods")["items"]:
        conds = {c["type"]: c["status"] for c in (p.get("status") or {}).get("conditions") or []}
        if conds.get("Ready") == "True" and not p["metadata"].get("deletionTimestamp"):
            out[p["metadata"]["name"]] = p["spec"]["nodeName"]
    return out


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (v := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return v


class ReadyWatch:
    """``kubectl get pods -w --output-watch-events -o json`` beside the test, into a file; ``fewest`` replays
    the events in the server's order and gives the fewest pods Ready at any moment once all four were."""

    def __init__(self, srv: RunningServer, path: Path) -> None:
        self.path = path
        self._out = open(path, "wb")  # noqa: SIM115 - handed to the child
        env = {**os.environ, "KUBECONFIG": str(srv.kubeconfig), "HOME": str(srv.data_dir)}
        self._proc = subprocess.Popen(["kubectl", "-n", NS, "get", "pods", "-w", "--output-watch-events",
                                       "-o", "json"], stdout=self._out, stderr=subprocess.DEVNULL, env=env)

    def fewest(self) -> int | None:
        text = self.path.read_text()
        dec = json.JSONDecoder()
        ready: dict[str, bool] = {}
        fewest: int | None = None
        i = 0
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                return fewest
            try:
                ev, i = dec.raw_decode(text, i)
            except ValueError:
                return fewest  # the last event is still being written
            pod = ev["object"]
            md = pod["metadata"]
            conds = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}
            alive = ev["type"] != "DELETED" and not md.get("deletionTimestamp")
            ready[md["name"]] = alive and conds.get("Ready") == "True"
            if sum(ready.values()) >= 4 or fewest is not None:
                fewest = sum(ready.values()) if fewest is None else min(fewest, sum(ready.values()))

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._out.close()


def test_drain_respects_the_budget(cluster: RunningServer, tmp_path: Path) -> None:
    srv = cluster
    srv.kubectl("-n", NS, "apply", "-f", "-", input=MANIFEST)
    placed = wait_for(lambda: (r := ready_pods(srv)) and len(r) == 4 and r)
    wait_for(lambda: kj(srv, "-n", NS, "get", "pdb", "web").get("status", {}).get("disruptionsAllowed") == 1)
    busiest = max(set(placed.values()), key=lambda n: sum(1 for v in placed.values() if v == n))
    on_node = sorted(p for p, n in placed.items() if n == busiest)
    watch = ReadyWatch(srv, tmp_path / "pods.json")
    try:
        time.sleep(1)
        # four pods on three nodes: one node has two or more, and the budget (one disruption at a time)
        # makes drain wait for the first one's replacement before it may evict the second
        assert len(on_node) >= 2, placed
        p = srv.kubectl("drain", busiest, "--ignore-daemonsets", "--timeout=90s", timeout=120, check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        out = p.stdout + p.stderr
        assert f"node/{busiest} cordoned" in out
        for name in on_node:
            assert f"pod/{name} evicted" in out
        assert "Cannot evict pod as it would violate the pod's disruption budget." in out
        assert f"node/{busiest} drained" in out
        after = wait_for(lambda: (r := ready_pods(srv)) and len(r) == 4 and r)
        assert busiest not in after.values()
        time.sleep(1)
        fewest = watch.fewest()
    finally:
        watch.stop()
    assert fewest == 3, fewest  # one pod at a time, never more: minAvailable 3 of 4
    node = kj(srv, "get", "node", busiest)
    assert node["spec"]["unschedulable"] is True
    srv.kubectl("uncordon", busiest)
    assert not kj(srv, "get", "node", busiest)["spec"].get("unschedulable")


def test_drain_stops_at_a_budget_that_allows_nothing(cluster: RunningServer) -> None:
    srv = cluster
    srv.kubectl("-n", NS, "patch", "pdb", "web", "--type=merge", "-p", '{"spec":{"minAvailable":4}}')
    wait_for(lambda: kj(srv, "-n", NS, "get", "pdb", "web").get("status", {}).get("disruptionsAllowed") == 0)
    node = next(iter(ready_pods(srv).values()))
    p = srv.kubectl("drain", node, "--ignore-daemonsets", "--timeout=7s", timeout=60, check=False)
    assert p.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in p.stderr + p.stdout
    assert len(ready_pods(srv)) == 4  # nothing was evicted
    srv.kubectl("uncordon", node)
    # two budgets over the same pods: upstream's 500, which drain reports without retrying
    srv.kubectl("-n", NS, "create", "pdb", "web2", "--selector=app=web", "--max-unavailable=1")
    p = srv.kubectl("drain", node, "--ignore-daemonsets", "--timeout=20s", timeout=60, check=False)
    assert p.returncode != 0
    assert "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support." in \
        p.stderr
    srv.kubectl("uncordon", node)
