"""A StatefulSet pod whose local volume is on a node that went away stays Pending, saying why.

Upstream's promise for node-local volumes: the data is on that node, so the pod is not recreated
anywhere else; it waits for the node (or for someone to delete the claim), and ``kubectl describe``
says ``FailedScheduling ... node(s) had volume node affinity conflict``.

``shoal server`` runs every controller and the scheduler; three ``shoal agent --runtime simulated``
processes register hollow nodes: ``keep`` (two nodes, up all along), ``lossa`` and ``lossb`` (one node
each, killed by the test). A StatefulSet of four spreads one pod per node, each with a claim of the
default class ``local`` (provisioned on that node, node affinity to it). Then:

* ``lossa``'s agent dies: its node goes NotReady with the ``unreachable`` taint; the user force-deletes
  the pod (as upstream, the StatefulSet does not replace a pod that is only Terminating); the new pod,
  same name, same claim, stays Pending: the unreachable node is tainted, the others cannot reach the volume;
* ``lossb``'s agent dies and its Node is deleted: pod GC deletes the pod of the node that is gone, the
  StatefulSet makes it again, and it stays Pending the same way;
* neither claim is rebound or provisioned again; when each agent comes back, its pod goes back to
  its own node.

Simulated runtime: no containers, no host network (no lock needed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, start_server

STS = """
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 4
  serviceName: db
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app: db}}}
      containers:
      - {name: db, image: registry.local/db:1, volumeMounts: [{name: data, mountPath: /data}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""
UNREACHABLE = "node.kubernetes.io/unreachable"


@dataclass
class SimAgent:
    name: str
    nodes: int
    root: Path
    srv: RunningServer
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        token = (self.srv.data_dir / "node-token").read_text().strip()
        log = open(self.root / f"agent-{self.name}.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shoal", "agent", "--server", self.srv.url, "--token", token, "--data-dir",
             str(self.root / f"agent-{self.name}"), "--ca-file", self.srv.ca, "--runtime", "simulated",
             "--simulate-nodes", str(self.nodes), "--node-name", self.name, "--lease-interval", "0.5"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # the machine is gone: nothing is cleaned up
            self.proc.wait(10)


@dataclass
class Cluster:
    srv: RunningServer
    agents: dict[str, SimAgent]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    srv = start_server(tmp_path / "server", args=["--node-monitor-grace-period", "2"])
    agents = {name: SimAgent(name, n, tmp_path, srv) for name, n in (("keep", 2), ("lossa", 1), ("lossb", 1))}
    try:
        for a in agents.values():
            a.start()
        wait(lambda: len(ready_nodes(srv)) == 4, "4 ready nodes", 30)
        yield Cluster(srv, agents)
    finally:
        for a in agents.values():
            if a.proc is not None and a.proc.poll() is None:
                a.proc.terminate()
                try:
                    a.proc.wait(10)
                except subprocess.TimeoutExpired:
                    a.proc.kill()
        srv.stop()


def kj(srv: RunningServer, *args: str) -> Any:
    return json.loads(srv.kubectl(*args, "-o", "json").stdout)


def wait(check: Callable[[], Any], what: str, timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting until {what} (last: {last!r})")


def ready_nodes(srv: RunningServer) -> list[str]:
    return [n["metadata"]["name"] for n in kj(srv, "get", "nodes")["items"]
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or [])]


def pods(srv: RunningServer) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in kj(srv, "get", "pods", "-l", "app=db")["items"]}


def running(p: dict[str, Any]) -> bool:
    return p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")


def unschedulable(srv: RunningServer, name: str, old_uid: str) -> str | None:
    """The PodScheduled=False message of the pod ``name`` made after ``old_uid`` (None until so)."""
    p = pods(srv).get(name)
    if p is None or p["metadata"]["uid"] == old_uid:
        return None
    return next((c.get("message") for c in p["status"].get("conditions") or []
                 if c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable"),
                None)


def test_local_volume_pods_of_a_gone_node_stay_pending_and_come_back_to_it(cluster: Cluster) -> None:
    srv = cluster.srv
    srv.kubectl("apply", "-f", "-", input=STS)
    placed = wait(lambda: (ps := pods(srv)) and len(ps) == 4 and all(running(p) for p in ps.values())
                  and {n: p["spec"]["nodeName"] for n, p in ps.items()}, "4 running db pods", 60)
    assert sorted(placed.values()) == ["keep-0", "keep-1", "lossa-0", "lossb-0"], placed
    on = {node: name for name, node in placed.items()}
    pa, pb = on["lossa-0"], on["lossb-0"]
    claims = {c["metadata"]["name"]: c for c in kj(srv, "get", "pvc")["items"]}
    volumes = {c["metadata"]["name"]: c["spec"]["volumeName"] for c in claims.values()}
    pvs = kj(srv, "get", "pv")["items"]
    assert len(pvs) == 4
    for pv in pvs:  # each volume is pinned to the node of its pod
        claim = pv["spec"]["claimRef"]["name"]
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        assert terms[0]["matchExpressions"][0]["values"] == [placed[claim.removeprefix("data-")]]
    uid = {name: p["metadata"]["uid"] for name, p in pods(srv).items()}

    # lossa's machine stops answering: NotReady, tainted unreachable; the user force-deletes its pod
    cluster.agents["lossa"].kill()
    wait(lambda: any(t["key"] == UNREACHABLE for t in kj(srv, "get", "node", "lossa-0")["spec"].get("taints") or []),
         "lossa-0 tainted unreachable", 30)
    srv.kubectl("delete", "pod", pa, "--force", "--grace-period=0")
    msg = wait(lambda: unschedulable(srv, pa, uid[pa]), f"{pa} made again and unschedulable", 30)
    assert msg.startswith("0/4 nodes are available: ") and "3 node(s) had volume node affinity conflict" in msg \
        and "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }" in msg, msg

    # lossb's machine goes and its Node is deleted: pod GC removes the pod, the StatefulSet makes it again
    cluster.agents["lossb"].kill()
    srv.kubectl("delete", "node", "lossb-0")
    msg = wait(lambda: unschedulable(srv, pb, uid[pb]), f"{pb} made again and unschedulable", 40)
    assert msg.startswith("0/3 nodes are available: ") and "node(s) had volume node affinity conflict" in msg, msg

    # they stay Pending, saying why (kubectl describe shows the event); nothing is rebound or provisioned
    time.sleep(3)
    now = pods(srv)
    for name in (pa, pb):
        assert not now[name]["spec"].get("nodeName") and now[name]["status"]["phase"] == "Pending", now[name]
        events = kj(srv, "get", "events", "--field-selector", f"involvedObject.name={name},reason=FailedScheduling")
        assert any("volume node affinity conflict" in e["message"] for e in events["items"]), events
    assert {c["metadata"]["name"]: c["spec"]["volumeName"] for c in kj(srv, "get", "pvc")["items"]} == volumes
    assert len(kj(srv, "get", "pv")["items"]) == 4
    describe = srv.kubectl("describe", "pod", pa).stdout
    assert "FailedScheduling" in describe and "volume node affinity conflict" in describe, describe

    # the machines come back: each pod returns to its own node, with its own claim
    for name, node, agent in ((pa, "lossa-0", "lossa"), (pb, "lossb-0", "lossb")):
        cluster.agents[agent].start()
        wait(lambda n=name: running(p := pods(srv)[n]) and p["spec"]["nodeName"], f"{name} running again", 60)
        assert pods(srv)[name]["spec"]["nodeName"] == node
    assert {c["metadata"]["name"]: c["spec"]["volumeName"] for c in kj(srv, "get", "pvc")["items"]} == volumes
