"""Three "machines" on one host, each running its own ``shoal agent``: the cluster the multi-machine tests share.

``running_cluster`` makes the machines (network namespaces on a bridge of the test's own, from
``netns.make_underlay``), starts ``shoal server`` on the host's end of that bridge with no agent of its
own and one agent per machine (``nsenter --net``), waits until every Node is Ready with a pod CIDR and the
backend's annotations, and removes everything afterwards: the namespace ``NS`` and its pods, the agents,
the server, the containers and sandboxes labelled with each agent's node, and the underlay. The helpers
below run client pods and read what the tests check. Used by ``test_multinode_e2e`` (overlay, Services)
and ``test_policy_multinode_e2e`` (NetworkPolicy across machines); run under the host lock.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.network.netns import Machine, MachineAgent, Underlay, make_underlay, remove_underlay, sh
from tests.podman_fixture import remove_own_sandboxes
from tests.server_fixture import RunningServer, start_server

IMAGE = "localhost/busybox:test"
NS = f"mm-{uuid.uuid4().hex[:6]}"
# an httpd that answers / with its pod name and /cgi-bin/ip with the client address it sees
WEB_CMD = ("busybox mkdir -p /www/cgi-bin; busybox hostname > /www/index.html; "
           "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip; "
           "busybox chmod +x /www/cgi-bin/ip; exec httpd -f -p 80 -h /www")


@dataclass
class Cluster:
    server: RunningServer
    underlay: Underlay
    agents: list[MachineAgent]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.server.kubectl(*args, input=input, check=check).stdout

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def node_of(self, machine: Machine) -> str:
        return next(a.node for a in self.agents if a.machine is machine)

    def logs(self) -> str:
        return "\n".join(f"--- {a.node} ---\n{a.log()[-3000:]}" for a in self.agents)


def wait_until(fn: Callable[[], Any], timeout: float, what: str, cluster: Cluster | None = None) -> Any:
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}" + (f"\n{cluster.logs()}" if cluster else ""))
        time.sleep(0.2)


@contextmanager
def running_cluster(docker_host: str, root: Path, machines: int, backend: str) -> Iterator[Cluster]:
    """``machines`` machines with an agent each, and the server on the host's end of their bridge."""
    underlay = make_underlay(machines)
    server: RunningServer | None = None
    agents: list[MachineAgent] = []
    try:
        server = start_server(root / "server", host=underlay.host_ip, args=["--network-backend", backend])
        tag = uuid.uuid4().hex[:4]
        for i, m in enumerate(underlay.machines):
            a = MachineAgent(m, f"m{i}-{tag}", server.url, server.data_dir, root / f"agent{i}", docker_host, [])
            a.start()
            agents.append(a)
        c = Cluster(server, underlay, agents)

        def ready() -> bool:
            nodes = c.get("nodes")["items"]
            ok = [n for n in nodes if n["spec"].get("podCIDR")
                  and n["metadata"].get("annotations", {}).get("shoal.io/network-backend") == backend
                  and (backend != "vxlan" or "shoal.io/network-backend-data" in n["metadata"]["annotations"])
                  and any(x["type"] == "Ready" and x["status"] == "True" for x in n["status"]["conditions"])]
            return len(ok) == machines

        wait_until(ready, 60, f"{machines} ready nodes with pod CIDRs ({backend})", c)
        c.kubectl("create", "namespace", NS)
        yield c
    finally:
        if server is not None:
            server.kubectl("delete", "namespace", NS, "--wait=false", check=False)
            end = time.monotonic() + 30
            while time.monotonic() < end and server.kubectl("get", "pods", "-n", NS, "-o", "name",
                                                            check=False).stdout.strip():
                time.sleep(0.5)
        for a in agents:
            a.stop()
        if server is not None:
            server.stop()
        for a in agents:
            ids = sh("podman", "ps", "-aq", "--filter", f"label=io.shoal.node={a.node}", check=False).stdout.split()
            if ids:
                sh("podman", "rm", "-f", "-t", "0", *ids, check=False)
            remove_own_sandboxes({"io.shoal.node": a.node})
            shutil.rmtree(f"/run/shoal/podnet/nodes/{a.node}", ignore_errors=True)
        remove_underlay(underlay)


def pods(c: Cluster, selector: str = "app=web") -> list[dict[str, Any]]:
    return list(c.get("pods", "-n", NS, "-l", selector)["items"])


def ready_pods(c: Cluster) -> list[dict[str, Any]]:
    return [p for p in pods(c) if not p["metadata"].get("deletionTimestamp")
            and any(x["type"] == "Ready" and x["status"] == "True" for x in p["status"].get("conditions") or [])]


def run_client(c: Cluster, name: str, node: str, script: str, timeout: float = 90, labels: str = "app=client") -> str:
    """A busybox pod on ``node`` running ``script``; its output (time bounded from outside)."""
    overrides = json.dumps({"apiVersion": "v1", "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0}})
    c.kubectl("run", name, "-n", NS, f"--image={IMAGE}", "--restart=Never", f"--labels={labels}",
              f"--overrides={overrides}", "--", "sh", "-c", script)
    wait_until(lambda: c.kubectl("get", "pod", name, "-n", NS, "-o", "jsonpath={.status.phase}", check=False)
               in ("Succeeded", "Failed"), timeout, f"client {name}", c)
    out = c.kubectl("logs", name, "-n", NS)
    c.kubectl("delete", "pod", name, "-n", NS, "--wait=false")
    return out


def on_test_bridge(u: Underlay, ip: str) -> None:
    """``ip`` is a machine of the test: the host reaches it over the test's own bridge."""
    out = sh("ip", "route", "get", ip).stdout
    assert f"dev {u.bridge} " in out, out


def fetch(url: str) -> str:
    return urllib.request.urlopen(url, timeout=5).read().decode().strip()


def plain(addr: str) -> str:
    """busybox httpd's REMOTE_ADDR, ``[::ffff:10.42.0.5]``, as the IPv4 address."""
    return addr.strip().removeprefix("[").removesuffix("]").removeprefix("::ffff:")
