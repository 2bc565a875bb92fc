"""NetworkPolicy across machines: a default deny cuts pod-to-pod and Service traffic between machines,
and an allow rule for ``app=client`` pods on port 80 restores exactly that.

Three "machines" (``multinode.running_cluster``: network namespaces on a bridge of the test's own, each
running ``shoal agent``), a Deployment of three web pods spread over them (busybox httpd on ports 80 and
8080), a Service in front, and two clients on machine 0: ``app=client`` and ``app=other``. Each node
enforces policy for its own pods only, so a connection from machine 0 to a pod on machine 1 is let
through (or not) by machine 1's table, which must hold the client's address although the client runs
elsewhere; the packets arrive there through the overlay (VXLAN, or plain routes with ``host-gw``) and
must meet the forward hook's policy chains on the way to the pod's bridge.

Every address sent to is one the test made: pod addresses inside the machines' namespaces (checked with
``ip route get`` inside machine 0 to leave through the overlay's device or the test's underlay) and the
Service's VIP, which every machine routes locally. Run under the host lock.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.network.multinode import IMAGE, NS, Cluster, ready_pods, running_cluster, wait_until

pytestmark = pytest.mark.skipif(shutil.which("podman") is None or shutil.which("nft") is None
                                or shutil.which("nsenter") is None, reason="needs podman, nft and nsenter")

ENFORCED_WITHIN = 15.0  # seconds for a policy change to show on every machine (the benchmark measures it)
WEB = ("busybox hostname > /www/index.html; httpd -p 8080 -h /www; exec httpd -f -p 80 -h /www")


def manifests(replicas: int) -> str:
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
      terminationGracePeriodSeconds: 0
      topologySpreadConstraints:
      - {{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
          labelSelector: {{matchLabels: {{app: web}}}}}}
      containers:
      - name: web
        image: {IMAGE}
        command: ["sh", "-c", "busybox mkdir -p /www; {WEB}"]
        ports: [{{containerPort: 80, name: http}}, {{containerPort: 8080, name: alt}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, name: http}}]
"""


def client_pod(name: str, app: str, node: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {NS}, labels: {{app: {app}}}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 0
  containers:
  - {{name: main, image: {IMAGE}, command: ["sh", "-c", "exec sleep 3600"]}}
---"""


DEFAULT_DENY = f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: default-deny, namespace: {NS}}}
spec: {{podSelector: {{}}, policyTypes: [Ingress]}}
"""
ALLOW_CLIENT = f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: allow-client, namespace: {NS}}}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
  ingress:
  - from: [{{podSelector: {{matchLabels: {{app: client}}}}}}]
    ports: [{{protocol: TCP, port: 80}}]
"""


def get(c: Cluster, url_from: str, url: str) -> str | None:
    """What ``url`` answers to the pod ``url_from`` (None: no answer within a second)."""
    r = c.server.kubectl("exec", url_from, "-n", NS, "--", "busybox", "timeout", "1", "wget", "-qO-", url,
                         check=False)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def via_service(c: Cluster, url_from: str, vip: str, tries: int) -> set[str]:
    """The pods that answered ``tries`` connections to the Service's VIP from ``url_from``."""
    script = f"for i in $(busybox seq 1 {tries}); do busybox timeout 1 wget -qO- http://{vip}/; done; true"
    r = c.server.kubectl("exec", url_from, "-n", NS, "--", "sh", "-c", script, check=False)
    return set(r.stdout.split())


def settle(check: Callable[[], bool], what: str, cluster: Cluster) -> None:
    """Wait until ``check`` holds (the change is enforced), then see it hold again."""
    wait_until(check, ENFORCED_WITHIN, what, cluster)
    assert check(), what


@pytest.fixture(scope="module", params=["vxlan", "host-gw"])
def cluster(request: pytest.FixtureRequest, podman: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    with running_cluster(podman, Path(tmp_path_factory.mktemp("netpol-mm")), 3, request.param) as c:
        yield c


def test_default_deny_cuts_traffic_across_machines_and_allow_client_restores_exactly_that(cluster: Cluster) -> None:
    c = cluster
    here = c.agents[0]
    c.kubectl("apply", "-f", "-", input=manifests(3) + "---" + client_pod("client", "client", here.node)
              + client_pod("other", "other", here.node))
    wait_until(lambda: len(ready_pods(c)) == 3, 120, "3 ready web pods", c)
    web = {p["metadata"]["name"]: (p["spec"]["nodeName"], p["status"]["podIP"]) for p in ready_pods(c)}
    assert {node for node, _ in web.values()} == {a.node for a in c.agents}, web  # one on every machine
    remote = {name: ip for name, (node, ip) in web.items() if node != here.node}
    for name in ("client", "other"):
        wait_until(lambda n=name: c.kubectl("get", "pod", n, "-n", NS, "-o", "jsonpath={.status.phase}",
                                            check=False) == "Running", 90, f"{name} running", c)
    client_ip = c.kubectl("get", "pod", "client", "-n", NS, "-o", "jsonpath={.status.podIP}")
    vip = c.kubectl("get", "svc", "web", "-n", NS, "-o", "jsonpath={.spec.clusterIP}")
    for ip in remote.values():  # leaves machine 0 through the overlay, not its default route
        route = here.machine.route_get(ip)
        assert " dev shoal.1 " in route or f"via {c.underlay.machines[1].ip} " in route \
            or f"via {c.underlay.machines[2].ip} " in route, route
    assert " dev lo " in here.machine.route_get(vip) or "local" in here.machine.route_get(vip)

    # before any policy: both clients reach the pods on the other machines, on both ports, and the Service
    wait_until(lambda: all(get(c, "client", f"http://{ip}/") == name for name, ip in remote.items()), 30,
               "client reaches the other machines' pods", c)
    for name, ip in remote.items():
        assert get(c, "other", f"http://{ip}/") == name and get(c, "other", f"http://{ip}:8080/") == name
    assert via_service(c, "other", vip, 20) == set(web)

    # default deny in the namespace: nothing reaches a web pod on any machine, directly or through the VIP
    c.kubectl("apply", "-f", "-", input=DEFAULT_DENY)
    settle(lambda: all(get(c, who, f"http://{ip}/") is None for ip in remote.values() for who in ("client", "other")),
           "default deny enforced on the other machines", c)
    assert via_service(c, "client", vip, 6) == set() and via_service(c, "other", vip, 6) == set()

    # allow app=client on port 80: the client (on machine 0) reaches every machine's pods on 80 and
    # through the Service again; not on 8080, and `other` still nothing
    c.kubectl("apply", "-f", "-", input=ALLOW_CLIENT)
    settle(lambda: all(get(c, "client", f"http://{ip}/") == name for name, ip in remote.items()),
           "the allow rule enforced on the other machines", c)
    for ip in remote.values():
        assert get(c, "client", f"http://{ip}:8080/") is None
        assert get(c, "other", f"http://{ip}/") is None
    assert via_service(c, "client", vip, 20) == set(web)  # pods on machines 0, 1 and 2
    assert via_service(c, "other", vip, 6) == set()
    # each of the other machines judged the client by its address, though the client runs elsewhere
    for a in c.agents[1:]:
        assert client_ip in a.machine.run("nft", "list", "ruleset").stdout, a.node
    print(json.dumps({"backend": c.get("node", here.node)["metadata"]["annotations"]["shoal.io/network-backend"],
                      "web": web, "client": client_ip}))
