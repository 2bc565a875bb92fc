"""NetworkPolicy end to end: real containers, the embedded agent, the node's policy table.

In a namespace of its own: a web pod (busybox httpd on port 80) and two clients, app=client
and app=other. Before any policy both reach the web pod; a default-deny ingress policy cuts
both; an allow rule for app=client pods on port 80 restores exactly that one. An egress
default deny then stops the client's own connections, the cluster DNS included (upstream
does not make an exception for DNS either), until a rule allows port 53.

Every address sent to is a pod IP this test made (checked with ``ip route get`` before the
first connection: it is on this machine's pod bridge), or the cluster DNS address, only when
it is routed locally.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.network import policynft
from tests.podman_fixture import remove_own_sandboxes
from tests.server_fixture import RunningServer, start_server

pytestmark = pytest.mark.skipif(shutil.which("podman") is None or shutil.which("nft") is None,
                                reason="needs podman and nft (installed by make setup)")

IMAGE = "localhost/busybox:test"
TAG = uuid.uuid4().hex[:6]
NS = f"np-e2e-{TAG}"
NODE = f"np-e2e-{TAG}"  # a node name of its own: other servers on this machine are named after the host
ENFORCED_WITHIN = 5.0  # seconds to wait for a change to show (the benchmark measures the real figure)


def pod(name: str, app: str, command: str, port: int | None = None) -> str:
    ports = f"\n    ports: [{{containerPort: {port}, name: http}}]" if port else ""
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {NS}, labels: {{app: {app}}}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: {IMAGE}
    command: ["sh", "-c", "{command}"]{ports}
---"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, podman: str) -> Iterator[RunningServer]:
    s = start_server(Path(tmp_path_factory.mktemp("np-e2e")), agent=True, timeout=60, args=["--node-name", NODE])
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
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert policynft.table_name(NODE, cluster_id(s)) not in tables.split()  # the node's policy table went with it


def cluster_id(s: RunningServer) -> str:
    return (s.data_dir / "cluster-id").read_text().strip()


def wait_until(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def pod_ip(srv: RunningServer, name: str) -> str:
    return srv.kubectl("get", "pod", name, "-n", NS, "-o", "jsonpath={.status.podIP}", check=False).stdout.strip()


def assert_on_this_machine(ip: str) -> None:
    out = subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True).stdout
    assert " via " not in out and " dev " in out, f"{ip} does not stay on this machine: {out}"


def fetch(srv: RunningServer, client: str, ip: str) -> bool:
    r = srv.kubectl("exec", client, "-n", NS, "--", "busybox", "timeout", "2", "wget", "-qO-", f"http://{ip}/",
                    check=False)
    return r.returncode == 0 and r.stdout.strip() == "web"


def dns_answered(srv: RunningServer, client: str) -> bool:
    """Whether a query of the cluster DNS got any answer (found or not): the packets passed."""
    r = srv.kubectl("exec", client, "-n", NS, "--", "busybox", "timeout", "3", "nslookup", "web", check=False)
    return "Name:" in r.stdout or "NXDOMAIN" in r.stdout or "can't find" in r.stdout


def settle(check: Callable[[], bool], want: bool, what: str) -> None:
    """Wait until ``check`` gives ``want`` (the policy is enforced), then see it stay so."""
    wait_until(lambda: check() is want, ENFORCED_WITHIN + 10, what)
    assert check() is want, what


SERVICE = f"""
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}
"""


def policy(name: str, spec: str) -> str:
    return f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: {NS}}}
spec: {spec}
"""


def test_default_deny_then_allow_client_then_egress(srv: RunningServer) -> None:
    srv.kubectl("apply", "-f", "-", input=pod("web", "web", "echo web > /www/index.html; exec httpd -f -p 80 -h /www", 80)
                + pod("client", "client", "exec sleep 3600") + pod("other", "other", "exec sleep 3600") + SERVICE)
    for name in ("web", "client", "other"):
        wait_until(lambda n=name: srv.kubectl("get", "pod", n, "-n", NS, "-o", "jsonpath={.status.phase}",
                                              check=False).stdout == "Running" and pod_ip(srv, n), 90, f"{name} running")
    web = pod_ip(srv, "web")
    for name in ("web", "client", "other"):
        assert_on_this_machine(pod_ip(srv, name))

    # before any policy both clients reach the web pod
    wait_until(lambda: fetch(srv, "client", web), 20, "client reaches web")
    assert fetch(srv, "other", web)

    # a default deny for ingress cuts both
    srv.kubectl("apply", "-f", "-", input=policy("default-deny", "{podSelector: {}, policyTypes: [Ingress]}"))
    settle(lambda: fetch(srv, "client", web), False, "default deny enforced")
    assert not fetch(srv, "other", web)
    netpols = srv.kubectl("get", "netpol", "-n", NS).stdout
    assert "default-deny" in netpols and "<none>" in netpols

    # allow app=client on port 80: exactly that one comes back
    srv.kubectl("apply", "-f", "-", input=policy("allow-client", """
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]"""))
    settle(lambda: fetch(srv, "client", web), True, "allow rule enforced")
    assert not fetch(srv, "other", web)

    # egress default deny for the client: its own connections stop, the cluster DNS included
    srv.kubectl("delete", "netpol", "default-deny", "allow-client", "-n", NS)
    settle(lambda: fetch(srv, "other", web), True, "ingress policies gone")
    resolv = srv.kubectl("exec", "client", "-n", NS, "--", "cat", "/etc/resolv.conf").stdout
    dns_ip = next((ln.split()[1] for ln in resolv.splitlines() if ln.startswith("nameserver")), "")
    local_dns = dns_ip.startswith("10.43.") and subprocess.run(
        ["ip", "route", "get", dns_ip], capture_output=True, text=True).stdout.startswith("local ")
    print(f"cluster DNS {dns_ip!r} local: {local_dns}")  # noqa: T201 - which branch ran, in the -s output
    if local_dns:
        assert wait_until(lambda: dns_answered(srv, "client"), 20, "cluster DNS answers")
    srv.kubectl("apply", "-f", "-", input=policy("client-no-egress",
                                                  "{podSelector: {matchLabels: {app: client}}, policyTypes: [Egress]}"))
    settle(lambda: fetch(srv, "client", web), False, "egress deny enforced")
    assert fetch(srv, "other", web)  # only the selected pod is isolated
    if local_dns:
        assert not dns_answered(srv, "client")
        srv.kubectl("apply", "-f", "-", input=policy("client-dns", """
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]"""))
        settle(lambda: dns_answered(srv, "client"), True, "DNS allowed again")
        assert not fetch(srv, "client", web)  # port 53 only

    rules = subprocess.run(["nft", "list", "table", "inet", policynft.table_name(NODE, cluster_id(srv))],
                           capture_output=True, text=True).stdout
    assert f"{pod_ip(srv, 'client')} : goto" in rules and f"{web} : goto" not in rules  # only the isolated pod
    assert len(json.loads(srv.kubectl("get", "netpol", "-n", NS, "-o", "json").stdout)["items"]) == 2
