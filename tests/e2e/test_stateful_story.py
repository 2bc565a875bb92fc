"""Issue 17's user story end to end: a StatefulSet on real containers with sized local volumes.

``shoal server`` with its embedded agent runs Podman containers; a StatefulSet ``db`` of three
replicas claims a 16Mi volume each from the default class ``local`` (the agent makes a loop-device
ext4 image of that size on the node), a headless Service ``db`` gives each pod its DNS name through
the cluster DNS at 10.43.0.10, and a ConfigMap is mounted as a file. Everything is done with the
real kubectl, in the issue's order: apply, get pvc,pv, write, delete the pod, read the write back
from the re-created pod, find ``db-0.db`` from ``db-1``. Host-wide (containers, nftables, the
DNS address, loop devices): run under the host-tests lock.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.controllers.test_statefulset_e2e import PodLog
from tests.podman_fixture import remove_own_sandboxes
from tests.server_fixture import RunningServer, start_server

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("podman", "nft", "mkfs.ext4")) or not Path("/dev/loop-control").exists(),
    reason="needs podman, nft, mkfs.ext4 and loop devices (make setup)")

IMAGE = "localhost/busybox:test"
NS = "e2e-story"
MANIFEST = f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: db-config}}
data:
  db.conf: "max_connections=7\\n"
---
apiVersion: v1
kind: Service
metadata: {{name: db}}
spec:
  clusterIP: None
  selector: {{app: db}}
  ports: [{{name: pg, port: 5432}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  replicas: 3
  serviceName: db
  selector:
    matchLabels: {{app: db}}
  template:
    metadata:
      labels: {{app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: db
        image: {IMAGE}
        command: ["sh", "-c", "exec httpd -f -p 5432 -h /data"]
        ports: [{{name: pg, containerPort: 5432}}]
        readinessProbe: {{exec: {{command: [sh, -c, "test -d /data/lost+found"]}}, periodSeconds: 1}}
        volumeMounts:
        - {{name: data, mountPath: /data}}
        - {{name: config, mountPath: /etc/db.conf, subPath: db.conf}}
      volumes:
      - name: config
        configMap: {{name: db-config}}
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 16Mi}}}}
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, podman: str) -> Iterator[RunningServer]:
    s = start_server(Path(tmp_path_factory.mktemp("story")), agent=True, timeout=60)
    s.kubectl("create", "namespace", NS)
    yield s
    # the pods, then the claims: reclaim Delete has the agent wipe every volume it made
    s.kubectl("-n", NS, "delete", "sts,pods", "--all", "--grace-period=0", "--wait=false", check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and s.kubectl("get", "pods", "-n", NS, "-o", "name", check=False).stdout.strip():
        time.sleep(0.5)
    s.kubectl("-n", NS, "delete", "pvc", "--all", "--wait=false", check=False)
    while time.monotonic() < deadline and s.kubectl("get", "pv", "-o", "name", check=False).stdout.strip():
        time.sleep(0.5)
    s.kubectl("delete", "namespace", NS, "--wait=false", check=False)
    s.stop()
    ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=io.shoal.pod.namespace={NS}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["podman", "rm", "-f", *ids], capture_output=True)
    remove_own_sandboxes({"io.shoal.pod.namespace": NS})
    unmount_under(str(s.data_dir))


def unmount_under(root: str) -> None:
    """Whatever a failed run left mounted under the server's directory (volumes, loop devices) goes."""
    for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
        parts = line.split(" ")
        mp, source = parts[4], parts[parts.index("-") + 2]
        if mp.startswith(root + "/"):
            subprocess.run(["umount", "-l", mp], capture_output=True)
            if source.startswith("/dev/loop"):
                subprocess.run(["losetup", "-d", source], capture_output=True)


def kj(srv: RunningServer, *args: str) -> Any:
    return json.loads(srv.kubectl("-n", NS, *args, "-o", "json").stdout)


def until(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def ready(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def pods(srv: RunningServer) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in kj(srv, "get", "pods")["items"]}


def exec_in(srv: RunningServer, pod: str, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return srv.kubectl("-n", NS, "exec", pod, "--", "sh", "-c", script, check=check)


def assert_local(ip: str) -> None:
    """Only addresses the test's own server routes on this machine are ever sent to."""
    out = subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True).stdout
    assert out.startswith("local "), out


def test_statefulset_with_local_volumes_dns_and_config(srv: RunningServer, tmp_path: Path) -> None:
    log = PodLog(srv, NS, tmp_path / "pods.json")
    time.sleep(1)  # the watch is running before anything happens
    try:
        srv.kubectl("-n", NS, "apply", "-f", "-", input=MANIFEST)
        until(lambda: (ps := pods(srv)) and all(ready(ps.get(f"db-{i}", {"metadata": {}})) for i in range(3)),
              "db-0..2 Ready", timeout=120)
        time.sleep(1)  # the watch's last events
        for i in (1, 2):  # in order: each pod is made only once the one before it is Ready
            ready_before = log.first(lambda e, i=i: e[1] == f"db-{i - 1}" and e[3])
            created = log.first(lambda e, i=i: e[0] == "ADDED" and e[1] == f"db-{i}")
            assert ready_before < created, log.events
    finally:
        log.close()

    # kubectl get pvc,pv: each claim Bound to a volume made on the node its pod runs on
    table = srv.kubectl("-n", NS, "get", "pvc,pv").stdout
    running = pods(srv)
    claims = {c["metadata"]["name"]: c for c in kj(srv, "get", "pvc")["items"]}
    assert sorted(claims) == ["data-db-0", "data-db-1", "data-db-2"], table
    pvs = {v["metadata"]["name"]: v for v in json.loads(srv.kubectl("get", "pv", "-o", "json").stdout)["items"]}
    for i in range(3):
        claim = claims[f"data-db-{i}"]
        assert claim["status"]["phase"] == "Bound", claim
        pv = pvs[claim["spec"]["volumeName"]]
        assert pv["status"]["phase"] == "Bound" and pv["spec"]["claimRef"]["name"] == f"data-db-{i}", pv
        assert pv["spec"]["capacity"]["storage"] == "16Mi" and pv["spec"]["storageClassName"] == "local", pv
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        names = [v for t in terms for e in t["matchExpressions"] if e["key"] == "kubernetes.io/hostname"
                 for v in e["values"]]
        assert names == [running[f"db-{i}"]["spec"]["nodeName"]], pv
        row = next(ln.split() for ln in table.splitlines() if ln.startswith(f"persistentvolumeclaim/data-db-{i} "))
        assert row[1:5] == ["Bound", pv["metadata"]["name"], "16Mi", "RWO"], table

    # the ConfigMap is a file in the pod
    assert exec_in(srv, "db-0", "cat /etc/db.conf").stdout == "max_connections=7\n"

    # a write past the claim's size fails inside the container
    out = exec_in(srv, "db-2", "busybox dd if=/dev/zero of=/data/big bs=1M count=32 2>&1; echo rc=$?; busybox rm -f /data/big").stdout
    assert "No space left on device" in out and "rc=1" in out, out

    # the data outlives its pod: db-0 comes back with the same name, on the same node, with the same volume
    old = running["db-0"]
    exec_in(srv, "db-0", "echo x > /data/f")
    srv.kubectl("-n", NS, "delete", "pod", "db-0", "--wait=false")  # the name comes straight back: no --wait
    new = until(lambda: (p := pods(srv).get("db-0")) and p["metadata"]["uid"] != old["metadata"]["uid"]
                and ready(p) and p, "db-0 back")
    assert new["spec"]["nodeName"] == old["spec"]["nodeName"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}} in new["spec"]["volumes"]
    assert exec_in(srv, "db-0", "cat /data/f").stdout == "x\n"
    assert kj(srv, "get", "pvc", "data-db-0")["spec"]["volumeName"] == claims["data-db-0"]["spec"]["volumeName"]

    # db-1 finds db-0 by its per-pod name under the headless Service, through the cluster DNS. Busybox's
    # nslookup applies no search path to a name with a dot (it would send ``db-0.db.`` as it is, out of
    # the cluster domain, to the host's resolvers), so it is asked the full name; the short ``db-0.db``
    # goes through the pod's resolv.conf search path (ndots:5) in wget, which reads db-0's volume.
    # (``nslookup db-0.db.<ns>`` is sent unsearched too: tests/network/test_busybox_dns.py shows which.)
    assert_local("10.43.0.10")
    ip0 = new["status"]["podIP"]
    fqdn = f"db-0.db.{NS}.svc.cluster.local"

    def answers() -> str | None:
        p = exec_in(srv, "db-1", f"nslookup {fqdn}", check=False)
        return p.stdout if ip0 in p.stdout.split("Name:", 1)[-1] else None

    out = until(answers, "db-0's name to resolve to the new pod's address", timeout=20)
    assert "10.43.0.10" in out.split("Name:", 1)[0] and fqdn in out, out
    out = exec_in(srv, "db-1", "wget -O- http://db-0.db:5432/f 2>&1").stdout
    assert f"Connecting to db-0.db:5432 ({ip0}:5432)" in out and "x" in out.splitlines(), out
