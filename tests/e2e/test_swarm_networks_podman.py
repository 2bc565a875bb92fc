"""Swarm overlay networks isolate services, with real containers (Podman) and the node's policy table.

``docker stack deploy`` of three services on two networks: ``front`` (web, proxy) and ``back`` (proxy,
db); web and db serve their own name with busybox httpd on port 80, proxy publishes port 80 (ingress
mode). Proxy reaches both by name; web and db cannot reach each other, by name or by pod IP (the
connection is cut by the policy: bounded from outside with ``timeout``, busybox ``wget -T`` crashes
here). A service made with ``docker service create`` and no ``--network`` is on no network: it is
isolated from nothing, reaches proxy's published port directly, and nothing else. ``docker service
inspect`` shows the networks; ``docker stack rm`` takes the policies away.

Every address sent to is a pod IP this test's pods have (checked to stay on this machine) or a name
the cluster DNS resolves to one. Run under the host lock (real containers, nftables, cluster DNS).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.agent.drivers.podnet import node_networks
from shoal.network import policynft
from tests.server_fixture import RunningServer, start_server

pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in ("podman", "nft", "docker")),
                                reason="needs podman, nft and the docker CLI")

TAG = uuid.uuid4().hex[:6]
STACK = f"swnet{TAG}"
NODE = f"swnet-{TAG}"  # a node name of its own: other servers on this machine are named after the host
LOOSE_NS = "default"


def httpd(text: str) -> str:
    return f'["sh", "-c", "echo {text} > /www/index.html; exec httpd -f -p 80 -h /www"]'


COMPOSE = f"""
services:
  web:
    image: localhost/busybox:test
    command: {httpd("web")}
    networks: [front]
    stop_grace_period: 1s
  db:
    image: localhost/busybox:test
    command: {httpd("db")}
    networks: [back]
    stop_grace_period: 1s
  proxy:
    image: localhost/busybox:test
    command: {httpd("proxy")}
    networks: [front, back]
    ports: ["5382:80"]
    stop_grace_period: 1s
networks:
  front:
  back:
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, podman: str) -> Iterator[RunningServer]:
    s = start_server(Path(tmp_path_factory.mktemp("swnet")), agent=True, timeout=60, args=["--node-name", NODE])
    yield s
    s.kubectl("delete", "namespace", STACK, "--wait=false", check=False)
    s.kubectl("delete", "deploy", "loose", "-n", LOOSE_NS, "--wait=false", check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
            s.kubectl("get", "pods", "-n", STACK, "-o", "name", check=False).stdout.strip()
            or s.kubectl("get", "pods", "-n", LOOSE_NS, "-o", "name", check=False).stdout.strip()):
        time.sleep(0.5)
    cluster_id = (s.data_dir / "cluster-id").read_text().strip()
    s.stop()
    for ns in (STACK, LOOSE_NS):
        ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=io.shoal.pod.namespace={ns}",
                              "--filter", f"label=io.shoal.node={NODE}"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["podman", "rm", "-f", *ids], capture_output=True)
    for pn in node_networks():
        if pn.node_name == NODE:  # this test's node's sandboxes only: others' are in "default" too
            for sb in pn.matching(None):
                pn.remove(sb.id)
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert policynft.table_name(NODE, cluster_id) not in tables.split()


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 90) -> Any:
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what} (last: {v!r})")
        time.sleep(0.5)


def test_networks_isolate_services(srv: RunningServer, tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{srv.data_dir / 'docker.sock'}",
           "DOCKER_CONFIG": str(tmp_path / "cfg"), "DOCKER_CLI_HINTS": "false"}

    def docker(*args: str) -> str:
        p = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert p.returncode == 0, f"docker {args}: {p.stderr}\n{srv.log()[-2000:]}"
        return p.stdout

    def pod_of(service: str, ns: str = STACK) -> tuple[str, str]:
        out = srv.kubectl("get", "pods", "-n", ns, "-l", f"com.docker.swarm.service.name={service}", "-o",
                          "jsonpath={range .items[*]}{.metadata.name} {.status.podIP}{'\\n'}{end}", check=False)
        rows = [ln.split() for ln in out.stdout.splitlines() if len(ln.split()) == 2]
        return (rows[0][0], rows[0][1]) if len(rows) == 1 else ("", "")

    def fetch(frm: tuple[str, str], url: str, ns: str = STACK) -> str:
        """What ``frm``'s pod gets from ``url`` ("" if nothing: refused, cut or unresolved), within 3 s."""
        try:
            r = srv.kubectl("exec", frm[0], "-n", ns, "--", "busybox", "timeout", "3", "wget", "-qO-", url,
                            check=False, timeout=20)
        except subprocess.TimeoutExpired:
            return ""
        return r.stdout.strip() if r.returncode == 0 else ""

    wait_for("the Swarm API socket", lambda: (srv.data_dir / "docker.sock").exists(), 60)
    (tmp_path / "stack.yml").write_text(COMPOSE)
    docker("stack", "deploy", "--resolve-image", "never", "-c", "stack.yml", STACK)
    docker("service", "create", "--detach", "--no-resolve-image", "--name", "loose", "--stop-grace-period", "1s",
           "localhost/busybox:test", "sh", "-c", "echo loose > /www/index.html; exec httpd -f -p 80 -h /www")
    pods = {s: wait_for(f"{s} running", lambda s=s: all(pod_of(f"{STACK}_{s}")) and pod_of(f"{STACK}_{s}"))
            for s in ("web", "db", "proxy")}
    loose = wait_for("loose running", lambda: all(pod_of("loose", LOOSE_NS)) and pod_of("loose", LOOSE_NS))
    for _, ip in [*pods.values(), loose]:
        route = subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True).stdout
        assert " via " not in route and " dev " in route, f"{ip} does not stay on this machine: {route}"
    web, db, proxy = pods["web"], pods["db"], pods["proxy"]

    # proxy shares a network with each: it reaches both, by name (cluster DNS) and by address
    assert wait_for("proxy reaches web", lambda: fetch(proxy, "http://web/"), 30) == "web"
    assert wait_for("proxy reaches db", lambda: fetch(proxy, "http://db/"), 30) == "db"
    assert fetch(proxy, f"http://{web[1]}/") == "web"
    # web (front) and db (back) share none: cut both ways, by name and by address
    for frm, to in ((web, db), (db, web)):
        assert fetch(frm, f"http://{to[1]}/") == ""
    assert fetch(web, "http://db/") == ""
    ns_lookup = srv.kubectl("exec", web[0], "-n", STACK, "--", "busybox", "timeout", "3", "nslookup", "db",
                            check=False, timeout=20).stdout
    assert db[1] in ns_lookup  # the name resolves: what stops web is the policy, not DNS
    # on no network: open itself; it reaches only proxy's published (target) port among the stack's
    assert fetch(web, f"http://{loose[1]}/") == "loose"
    assert fetch(loose, f"http://{proxy[1]}/", LOOSE_NS) == "proxy"
    assert fetch(loose, f"http://{web[1]}/", LOOSE_NS) == ""
    assert fetch(loose, f"http://{db[1]}/", LOOSE_NS) == ""

    # the docker CLI shows the networks, and they are the ones it created
    attached = json.loads(docker("service", "inspect", f"{STACK}_proxy", "--format",
                                 "{{json .Spec.TaskTemplate.Networks}}"))
    names = {json.loads(docker("network", "inspect", a["Target"]))[0]["Name"] for a in attached}
    assert names == {f"{STACK}_front", f"{STACK}_back"}
    assert {a["Aliases"][0] for a in attached} == {"proxy"}
    pols = {p["metadata"]["name"] for p in json.loads(srv.kubectl("get", "netpol", "-n", STACK, "-o",
                                                                 "json").stdout)["items"]}
    assert "swarm-published-proxy" in pols and len(pols) == 3

    docker("stack", "rm", STACK)
    wait_for("policies removed", lambda: not srv.kubectl("get", "netpol", "-n", STACK, "-o", "name").stdout.strip(), 30)
    docker("service", "rm", "loose")
