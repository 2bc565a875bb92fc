"""Services end to end: real containers, the embedded agent, kernel rules and cluster DNS.

Three httpd replicas each serve their own pod name; a client pod reaches them
through the Service's name. Everything goes to container IPs and service VIPs
that are routed locally (checked before anything is sent to a VIP).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.podman_fixture import remove_own_sandboxes
from tests.server_fixture import RunningServer, start_server

pytestmark = pytest.mark.skipif(shutil.which("podman") is None or shutil.which("nft") is None,
                                reason="needs podman and nft (installed by make setup)")

IMAGE = "localhost/busybox:test"
NS = f"svc-e2e-{uuid.uuid4().hex[:6]}"


def web(replicas: int) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NS}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {IMAGE}
        command: ["sh", "-c", "hostname > /www/index.html; busybox touch /tmp/ready; exec httpd -f -p 80 -h /www"]
        ports: [{{containerPort: 80, name: http}}]
        readinessProbe: {{exec: {{command: [cat, /tmp/ready]}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, name: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-headless, namespace: {NS}}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, name: http}}]
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    s = start_server(Path(tmp_path_factory.mktemp("svc-e2e")), agent=True, timeout=60)
    s.kubectl("create", "namespace", NS)
    yield s
    s.kubectl("delete", "namespace", NS, "--wait=false", check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and s.kubectl("get", "pods", "-n", NS, "-o", "name", check=False).stdout.strip():
        time.sleep(0.5)
    s.stop()
    ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=io.shoal.pod.namespace={NS}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["podman", "rm", "-f", *ids], capture_output=True)
    remove_own_sandboxes({"io.shoal.pod.namespace": NS})


def pods(srv: RunningServer) -> list[dict[str, Any]]:
    return json.loads(srv.kubectl("get", "pods", "-n", NS, "-l", "app=web", "-o", "json").stdout)["items"]


def ready_pods(srv: RunningServer) -> list[str]:
    out = []
    for p in pods(srv):
        conds = {c["type"]: c["status"] for c in p.get("status", {}).get("conditions", [])}
        if conds.get("Ready") == "True" and not p["metadata"].get("deletionTimestamp"):
            out.append(p["metadata"]["name"])
    return sorted(out)


def wait_until(fn: Any, timeout: float = 60, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def run_client(srv: RunningServer, name: str, script: str) -> str:
    srv.kubectl("run", name, "-n", NS, f"--image={IMAGE}", "--restart=Never", "--", "sh", "-c", script)
    wait_until(lambda: srv.kubectl("get", "pod", name, "-n", NS, "-o", "jsonpath={.status.phase}",
                                   check=False).stdout in ("Succeeded", "Failed"), 60, f"client {name}")
    out = srv.kubectl("logs", name, "-n", NS).stdout
    srv.kubectl("delete", "pod", name, "-n", NS, "--wait=false")
    return out


def assert_local(ip: str) -> None:
    out = subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True).stdout
    assert out.startswith("local "), out


def test_service_by_name_reaches_every_ready_replica(srv: RunningServer) -> None:
    srv.kubectl("apply", "-f", "-", input=web(3))
    names = wait_until(lambda: len(ready_pods(srv)) == 3 and ready_pods(srv), 90, "3 ready replicas")
    out = run_client(srv, "client1", "for i in $(seq 1 30); do wget -qO- http://web; done")
    seen = set(out.split())
    assert seen == set(names), out


def test_dns_records_and_env_vars(srv: RunningServer) -> None:
    wait_until(lambda: len(ready_pods(srv)) == 3, 90, "3 ready replicas")
    svc = json.loads(srv.kubectl("get", "svc", "web", "-n", NS, "-o", "json").stdout)
    vip = svc["spec"]["clusterIP"]
    out = run_client(srv, "client2", "nslookup web; echo ===; nslookup web-headless; echo ===; "
                     f"nslookup -type=SRV _http._tcp.web.{NS}.svc.cluster.local; echo ===; env; echo ===; "
                     "cat /etc/resolv.conf")
    dns, headless, srv_rec, env, resolv = out.split("===")
    assert vip in dns and f"web.{NS}.svc.cluster.local" in dns
    pod_ips = {p["status"]["podIP"] for p in pods(srv)}
    assert {ip for ip in pod_ips if ip in headless} == pod_ips
    assert "port = 80" in srv_rec or " 80 " in srv_rec, srv_rec
    assert f"WEB_SERVICE_HOST={vip}" in env and "WEB_SERVICE_PORT=80" in env
    assert f"WEB_PORT_80_TCP=tcp://{vip}:80" in env
    assert "nameserver 10.43.0.10" in resolv and f"search {NS}.svc.cluster.local" in resolv
    assert "ndots:5" in resolv


def test_node_port_from_the_host(srv: RunningServer) -> None:
    wait_until(lambda: len(ready_pods(srv)) == 3, 90, "3 ready replicas")
    svc = json.loads(srv.kubectl("get", "svc", "web", "-n", NS, "-o", "json").stdout)
    node_port = svc["spec"]["ports"][0]["nodePort"]
    # a node address of this machine that the test itself controls: the pod bridge's gateway (the
    # agent's own bridge; Podman's where pods have infra containers)
    dev = "shoal0" if Path("/sys/class/net/shoal0").exists() else "cni-podman0"
    bridge = subprocess.run(["ip", "-4", "-o", "addr", "show", dev], capture_output=True, text=True).stdout
    gw = bridge.split("inet ")[1].split("/")[0]
    assert_local(gw)
    got = urllib.request.urlopen(f"http://{gw}:{node_port}/", timeout=5).read().decode().strip()
    assert got in ready_pods(srv)


def test_not_ready_replica_drops_out(srv: RunningServer) -> None:
    names = wait_until(lambda: len(ready_pods(srv)) == 3 and ready_pods(srv), 90, "3 ready replicas")
    victim = names[0]
    srv.kubectl("exec", victim, "-n", NS, "--", "busybox", "rm", "/tmp/ready")
    wait_until(lambda: victim not in ready_pods(srv), 20, "readiness failure")
    time.sleep(1.0)  # endpoint propagation: p99 <= 1 s
    out = run_client(srv, "client3", "for i in $(seq 1 20); do wget -qO- http://web; done")
    assert victim not in out.split() and len(set(out.split())) == 2, out
    srv.kubectl("exec", victim, "-n", NS, "--", "busybox", "touch", "/tmp/ready")
    wait_until(lambda: victim in ready_pods(srv), 20, "ready again")


def test_scale_to_one_then_delete_removes_rules(srv: RunningServer) -> None:
    srv.kubectl("scale", "deployment", "web", "-n", NS, "--replicas=1")
    wait_until(lambda: len(pods(srv)) == 1 and len(ready_pods(srv)) == 1, 60, "1 replica")
    only = ready_pods(srv)[0]
    time.sleep(1.0)
    out = run_client(srv, "client4", "for i in $(seq 1 10); do wget -qO- http://web; done")
    assert set(out.split()) == {only}, out
    vip = json.loads(srv.kubectl("get", "svc", "web", "-n", NS, "-o", "json").stdout)["spec"]["clusterIP"]
    srv.kubectl("delete", "service", "web", "-n", NS)

    def gone() -> bool:
        return vip not in subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout

    wait_until(gone, 5, "rules removed")
    assert_local(vip)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{vip}/", timeout=3)
