"""End to end: claims of the default class ``local`` get volumes on the node their pod went to.

``shoal server`` runs every controller and the scheduler; a ``shoal agent --runtime simulated``
process registers two hollow nodes and runs pods on them. The scheduler's VolumeBinding plugin
writes ``volume.kubernetes.io/selected-node`` on the claim for the node it chose, and binds the
pod once the claim is bound to the volume made there, as upstream's scheduler does. The test plays
the node agent's part at the end (removing ``shoal.io/local-volume`` once the data would be
wiped), which the agent's volume support will take over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, simulated_agent, start_server

pytest.importorskip("shoal.agent.main", reason="the node agent has not landed")

CLAIM_AND_POD = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: db}
spec:
  containers: [{name: db, image: registry.local/db:1}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("e2e-storage"))
    srv = start_server(root / "server")
    try:
        with simulated_agent(srv, root, 2):
            wait(lambda: len(kj(srv, "get", "nodes")["items"]) >= 2, "agent nodes registered")
            yield srv
    finally:
        srv.stop()


def kj(srv: RunningServer, *args: str) -> Any:
    return json.loads(srv.kubectl(*args, "-o", "json").stdout)


def wait(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting until {what} (last: {last!r})")


def exists(srv: RunningServer, *args: str) -> bool:
    return srv.kubectl("get", *args, "-o", "name", check=False).returncode == 0


def test_local_claim_provisioned_on_the_pods_node_bound_expanded_and_deleted(cluster: RunningServer) -> None:
    k = cluster.kubectl
    k("create", "namespace", "e2e-st")
    k("-n", "e2e-st", "apply", "-f", "-", input=CLAIM_AND_POD)
    # WaitForFirstConsumer: the scheduler chooses the node, writes it on the claim, and binds the pod
    # once the volume made there is bound to the claim
    pod = wait(lambda: (p := kj(cluster, "-n", "e2e-st", "get", "pod/db"))["spec"].get("nodeName") and p,
               "the pod is scheduled")
    node = pod["spec"]["nodeName"]
    selected = kj(cluster, "-n", "e2e-st", "get", "pvc/data")["metadata"]["annotations"]
    assert selected["volume.kubernetes.io/selected-node"] == node

    claim = wait(lambda: (c := kj(cluster, "-n", "e2e-st", "get", "pvc/data"))["status"]["phase"] == "Bound" and c,
                 "the claim is bound")
    pv_name = f"pvc-{claim['metadata']['uid']}"
    assert claim["spec"]["volumeName"] == pv_name
    assert claim["status"]["capacity"] == {"storage": "1Gi"} and claim["status"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
    pv = wait(lambda: (v := kj(cluster, "get", f"pv/{pv_name}"))["status"]["phase"] == "Bound" and v, "PV Bound")
    assert pv["spec"]["local"]["path"] == f"/var/lib/shoal/volumes/{pv_name}"
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [node]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "shoal.io/local"
    assert sorted(pv["metadata"]["finalizers"]) == ["kubernetes.io/pv-protection", "shoal.io/local-volume"]
    table = k("get", "pv", pv_name).stdout
    assert "e2e-st/data" in table and "Bound" in table and "local" in table

    # expansion: the class allows it; the PV grows, the node is asked to grow the filesystem
    k("-n", "e2e-st", "patch", "pvc/data", "-p", '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}')
    wait(lambda: kj(cluster, "get", f"pv/{pv_name}")["spec"]["capacity"]["storage"] == "2Gi", "the PV grew")
    st = wait(lambda: (c := kj(cluster, "-n", "e2e-st", "get", "pvc/data")["status"]).get("conditions") and c,
              "the claim says a filesystem resize is pending")
    assert st["conditions"][0]["type"] == "FileSystemResizePending"
    assert st["allocatedResources"] == {"storage": "2Gi"} and st["capacity"] == {"storage": "1Gi"}

    # deleting the claim while the pod uses it leaves it Terminating
    k("-n", "e2e-st", "delete", "pvc/data", "--wait=false")
    time.sleep(0.5)
    assert "Terminating" in k("-n", "e2e-st", "get", "pvc/data").stdout
    assert kj(cluster, "get", f"pv/{pv_name}")["status"]["phase"] == "Bound"
    k("-n", "e2e-st", "delete", "pod/db", "--wait=true", "--timeout=20s")
    wait(lambda: not exists(cluster, "-n", "e2e-st", "pvc/data"), "the claim is gone once its pod is")

    # reclaim policy Delete: the PV is deleted; only the node agent's finalizer holds it now
    pv = wait(lambda: (v := kj(cluster, "get", f"pv/{pv_name}"))["metadata"].get("finalizers") ==
              ["shoal.io/local-volume"] and v, "the PV is deleted, waiting for its node to wipe it")
    assert pv["metadata"]["deletionTimestamp"] and pv["status"]["phase"] == "Released"
    k("patch", f"pv/{pv_name}", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    wait(lambda: not exists(cluster, f"pv/{pv_name}"), "the PV is gone")


def test_static_volume_retained(cluster: RunningServer) -> None:
    k = cluster.kubectl
    k("create", "namespace", "e2e-static")
    k("apply", "-f", "-", input="""
apiVersion: v1
kind: PersistentVolume
metadata: {name: static-1, labels: {disk: ssd}}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  hostPath: {path: /tmp/static-1}
""")
    wait(lambda: kj(cluster, "get", "pv/static-1")["status"]["phase"] == "Available", "the PV is Available")
    k("-n", "e2e-static", "apply", "-f", "-", input="""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: logs}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  selector: {matchLabels: {disk: ssd}}
  resources: {requests: {storage: 2Gi}}
""")
    claim = wait(lambda: (c := kj(cluster, "-n", "e2e-static", "get", "pvc/logs"))["status"]["phase"] == "Bound"
                 and c, "the claim binds the static volume")
    assert claim["spec"]["volumeName"] == "static-1" and claim["status"]["capacity"] == {"storage": "5Gi"}
    k("-n", "e2e-static", "delete", "pvc/logs", "--wait=true", "--timeout=20s")
    pv = wait(lambda: (v := kj(cluster, "get", "pv/static-1"))["status"]["phase"] == "Released" and v,
              "the volume is Released and kept")
    assert pv["spec"]["claimRef"]["name"] == "logs" and not pv["metadata"].get("deletionTimestamp")
    k("delete", "pv/static-1", "--wait=true", "--timeout=20s")  # not Bound: pv-protection lets it go
