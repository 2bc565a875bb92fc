"""End to end: a StatefulSet on ``shoal server`` (every controller, the scheduler) and a ``shoal agent`` of
simulated nodes, driven by the real kubectl: get, rollout status / history / undo, scale, set image.

A watch on the namespace's pods records every change in the server's order, so "in order" is checked on the
events themselves: ``db-1`` is first seen only after ``db-0`` was seen Ready, scale-down deletes ``db-2``
before it starts on ``db-1``, a rollout replaces the highest ordinal first. The claims stay Pending here
(the PV binder and its provisioner are another branch's work); the simulated runtime mounts nothing, so
the pods run regardless.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, simulated_agent, start_server

pytest.importorskip("shoal.agent.main", reason="the node agent has not landed")

NS = "e2e-sts"
MANIFEST = """
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  annotations: {kubernetes.io/change-cause: "image 1"}
spec:
  replicas: 3
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: registry.local/db:1
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("e2e-sts"))
    srv = start_server(root / "server")
    try:
        with simulated_agent(srv, root, 2):
            yield srv
    finally:
        srv.stop()


def kj(srv: RunningServer, *args: str) -> Any:
    return json.loads(srv.kubectl(*args, "-o", "json").stdout)


class PodLog:
    """Every pod event of a namespace, in the server's order: (type, name, uid, ready, terminating).

    ``kubectl get pods -w --output-watch-events -o json`` runs beside the test, writing to a file; the
    events are read back from it when asked for."""

    def __init__(self, srv: RunningServer, namespace: str, path: Path) -> None:
        self.path = path
        self._out = open(path, "wb")  # noqa: SIM115 - handed to the child
        env = {**os.environ, "KUBECONFIG": str(srv.kubeconfig), "HOME": str(srv.data_dir)}
        self._proc = subprocess.Popen(["kubectl", "-n", namespace, "get", "pods", "-w", "--output-watch-events",
                                       "-o", "json"], stdout=self._out, stderr=subprocess.DEVNULL, env=env)

    @property
    def events(self) -> list[tuple[str, str, str, bool, bool]]:
        text = self.path.read_text()
        dec = json.JSONDecoder()
        out: list[tuple[str, str, str, bool, bool]] = []
        i = 0
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                return out
            try:
                ev, i = dec.raw_decode(text, i)
            except ValueError:
                return out  # the last event is still being written
            pod = ev["object"]
            md = pod["metadata"]
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (pod.get("status") or {}).get("conditions") or [])
            out.append((ev["type"], md["name"], md["uid"], ready, bool(md.get("deletionTimestamp"))))

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._out.close()

    def first(self, pred: Callable[[tuple[str, str, str, bool, bool]], bool]) -> int:
        """The index of the first event matching ``pred`` (fails if none)."""
        events = self.events
        for i, e in enumerate(events):
            if pred(e):
                return i
        raise AssertionError(f"no such event in {events}")


def until(check: Callable[[], Any], timeout: float = 45, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}: {last!r}")


def live_pods(srv: RunningServer) -> dict[str, Any]:
    return {p["metadata"]["name"]: p for p in kj(srv, "-n", NS, "get", "pods")["items"]
            if not p["metadata"].get("deletionTimestamp")}


def image_of(pod: Any) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def test_statefulset_lifecycle_with_kubectl(cluster: RunningServer, tmp_path: Path) -> None:
    k = cluster.kubectl
    k("create", "namespace", NS)
    pods = PodLog(cluster, NS, tmp_path / "pods.json")
    time.sleep(1)  # let the watch start before anything happens
    try:
        k("-n", NS, "apply", "-f", "-", input=MANIFEST)
        out = k("-n", NS, "rollout", "status", "sts/db", "--timeout=60s").stdout
        assert "roll out complete: 3 new pods have been updated" in out, out

        # created in order: each pod only after the one before it was Ready
        time.sleep(1)  # the watch's last events
        for i in (1, 2):
            ready_before = pods.first(lambda e, i=i: e[1] == f"db-{i - 1}" and e[3])
            created = pods.first(lambda e, i=i: e[0] == "ADDED" and e[1] == f"db-{i}")
            assert ready_before < created, pods.events

        sts_table = k("-n", NS, "get", "sts", "db").stdout.splitlines()
        assert sts_table[0].split() == ["NAME", "READY", "AGE"] and sts_table[1].split()[:2] == ["db", "3/3"]
        running = live_pods(cluster)
        assert sorted(running) == ["db-0", "db-1", "db-2"]
        db1 = running["db-1"]
        assert (db1["spec"]["hostname"], db1["spec"]["subdomain"]) == ("db-1", "db")
        assert db1["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-1"
        assert db1["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in db1["spec"]["volumes"]
        claims = sorted(c["metadata"]["name"] for c in kj(cluster, "-n", NS, "get", "pvc")["items"])
        assert claims == ["data-db-0", "data-db-1", "data-db-2"]

        # a deleted pod comes back with the same name (and so the same claim)
        # not --wait: kubectl would then watch the name, which the StatefulSet gives straight back to a new pod
        k("-n", NS, "delete", "pod", "db-1", "--wait=false")
        back = until(lambda: (p := live_pods(cluster).get("db-1")) and p["metadata"]["uid"] != db1["metadata"]["uid"]
                     and p.get("status", {}).get("phase") == "Running" and p, what="db-1 to return")
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in back["spec"]["volumes"]
        k("-n", NS, "rollout", "status", "sts/db", "--timeout=60s")

        # scale down removes the highest ordinals, one at a time; the claims stay (Retain)
        mark = len(pods.events)
        k("-n", NS, "scale", "sts/db", "--replicas=1")
        until(lambda: sorted(live_pods(cluster)) == ["db-0"], what="scale down to db-0")
        until(lambda: any(e[0] == "DELETED" and e[1] == "db-1" for e in pods.events[mark:]), what="db-1 gone")
        time.sleep(1)
        tail = pods.events[mark:]
        gone2 = next(i for i, e in enumerate(tail) if e[0] == "DELETED" and e[1] == "db-2")
        stop1 = next(i for i, e in enumerate(tail) if e[1] == "db-1" and e[4])
        assert gone2 < stop1, tail
        assert len(kj(cluster, "-n", NS, "get", "pvc")["items"]) == 3
        k("-n", NS, "scale", "sts/db", "--replicas=3")
        k("-n", NS, "rollout", "status", "sts/db", "--timeout=60s")

        # a template change rolls from the highest ordinal down
        mark = len(pods.events)
        k("-n", NS, "annotate", "sts/db", "kubernetes.io/change-cause=image 2", "--overwrite")
        k("-n", NS, "set", "image", "sts/db", "db=registry.local/db:2")
        k("-n", NS, "rollout", "status", "sts/db", "--timeout=60s")
        until(lambda: all(image_of(p) == "registry.local/db:2" for p in live_pods(cluster).values())
              and len(live_pods(cluster)) == 3, what="every pod at image 2")
        time.sleep(1)
        tail = pods.events[mark:]
        order = [e[1] for e in tail if e[4] and e[0] == "MODIFIED"]
        assert list(dict.fromkeys(order)) == ["db-2", "db-1", "db-0"], tail

        # a partition holds the lower ordinals
        k("-n", NS, "patch", "sts/db", "-p",
          json.dumps({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2}}}}))
        k("-n", NS, "set", "image", "sts/db", "db=registry.local/db:3")
        out = k("-n", NS, "rollout", "status", "sts/db", "--timeout=60s").stdout
        assert "partitioned roll out complete: 1 new pods have been updated" in out, out
        imgs = {n: image_of(p) for n, p in live_pods(cluster).items()}
        assert imgs == {"db-0": "registry.local/db:2", "db-1": "registry.local/db:2", "db-2": "registry.local/db:3"}
        k("-n", NS, "patch", "sts/db", "-p",
          json.dumps({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}))
        k("-n", NS, "rollout", "status", "sts/db", "--timeout=60s")

        # history and undo go through the ControllerRevisions
        hist = k("-n", NS, "rollout", "history", "sts/db").stdout
        rows = [ln.split(None, 1) for ln in hist.splitlines()[2:] if ln.strip()]
        assert [r[0] for r in rows] == ["1", "2", "3"], hist
        assert rows[1][1].strip() == "image 2", hist
        detail = k("-n", NS, "rollout", "history", "sts/db", "--revision=2").stdout
        assert "registry.local/db:2" in detail, detail
        out = k("-n", NS, "rollout", "undo", "sts/db").stdout
        assert "rolled back" in out, out
        k("-n", NS, "rollout", "status", "sts/db", "--timeout=60s")
        sts = kj(cluster, "-n", NS, "get", "sts", "db")
        assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/db:2"
        until(lambda: all(image_of(p) == "registry.local/db:2" for p in live_pods(cluster).values())
              and len(live_pods(cluster)) == 3, what="every pod back at image 2")
        hist = k("-n", NS, "rollout", "history", "sts/db").stdout
        assert [ln.split()[0] for ln in hist.splitlines()[2:] if ln.strip()] == ["1", "3", "4"], hist
        revs = kj(cluster, "-n", NS, "get", "controllerrevisions")["items"]
        assert sts["status"]["updateRevision"] in {r["metadata"]["name"] for r in revs}
        assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    finally:
        pods.close()
