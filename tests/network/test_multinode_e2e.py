"""Three machines on one host: one cluster network across them (node IPAM, the VXLAN overlay, Services).

Each "machine" is a network namespace the test makes on a bridge of its own (``netns.make_underlay``), and
runs a real ``shoal agent`` inside it (``nsenter --net``); the server runs on the host, listening on the
bridge, with no agent of its own. Pods are real containers through the one Podman. Every address sent to
is one the test made: the machines' underlay addresses (checked with ``ip route get`` to stay on the test
bridge), pod addresses and service VIPs inside the machines' namespaces.

Run under the host lock (tests/network uses host-wide resources).
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.network.multinode import (
    IMAGE,
    NS,
    WEB_CMD,
    Cluster,
    fetch,
    on_test_bridge,
    plain,
    ready_pods,
    run_client,
    running_cluster,
    wait_until,
)

pytestmark = pytest.mark.skipif(shutil.which("podman") is None or shutil.which("nft") is None
                                or shutil.which("nsenter") is None, reason="needs podman, nft and nsenter")


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
        command: ["sh", "-c", {json.dumps(WEB_CMD)}]
        ports: [{{containerPort: 80, name: http}}]
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
metadata: {{name: web-local, namespace: {NS}}}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  internalTrafficPolicy: Local
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, name: http}}]
"""


@pytest.fixture(scope="module")
def cluster(podman: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(podman, Path(tmp_path_factory.mktemp("multinode")), 3, "vxlan") as c:
        yield c


@pytest.fixture(scope="module")
def web(cluster: Cluster) -> dict[str, str]:
    """Six ready replicas over the three machines; pod name -> node name."""
    cluster.kubectl("apply", "-f", "-", input=manifests(6))
    wait_until(lambda: len(ready_pods(cluster)) == 6, 120, "6 ready replicas", cluster)
    placed = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in ready_pods(cluster)}
    assert set(placed.values()) == {a.node for a in cluster.agents}, placed
    return placed


def test_every_node_has_its_own_range_and_routes_to_the_others(cluster: Cluster) -> None:
    nodes = {n["metadata"]["name"]: n for n in cluster.get("nodes")["items"]}
    cidrs = {name: n["spec"]["podCIDR"] for name, n in nodes.items()}
    assert len(set(cidrs.values())) == 3 and all(c.startswith("10.42.") and c.endswith("/24") for c in cidrs.values())
    for a in cluster.agents:
        mine = cidrs[a.node]
        routes = a.machine.routes()
        for other, cidr in cidrs.items():
            assert (cidr in routes) == (other != a.node), (a.node, routes)
        # VTEP device: MTU = underlay (1500) - 50; its address is the first of the node's range
        link = json.loads(a.machine.run("ip", "-j", "-d", "addr", "show", "dev", "shoal.1").stdout)[0]
        assert link["mtu"] == 1450 and link["linkinfo"]["info_data"]["port"] == 8472
        assert {x["local"] for x in link["addr_info"] if x["family"] == "inet"} == {mine.split("/")[0]}
        ann = nodes[a.node]["metadata"]["annotations"]
        assert ann["shoal.io/network-public-ip"] == a.machine.ip and ann["shoal.io/network-backend"] == "vxlan"
        assert json.loads(ann["shoal.io/network-backend-data"])["VtepMAC"] == link["address"]


def test_service_by_name_answers_from_pods_on_every_machine(cluster: Cluster, web: dict[str, str]) -> None:
    """From a pod on each machine: cluster DNS answers there, and the VIP spreads over all six pods."""
    outs = {}
    for a in cluster.agents:
        outs[a.node] = run_client(cluster, f"client-{a.node}", a.node,
                                  "for i in $(seq 1 40); do wget -qO- http://web; done")
    for node, out in outs.items():
        seen = set(out.split())
        assert seen <= set(web), out
        assert {web[p] for p in seen} == set(web.values()), (node, out)  # pods on A, B and C answered
    assert set().union(*(set(o.split()) for o in outs.values())) == set(web)


def test_node_port_on_any_machine_reaches_pods_on_every_machine(cluster: Cluster, web: dict[str, str]) -> None:
    svc = cluster.get("svc", "web", "-n", NS)
    port = svc["spec"]["ports"][0]["nodePort"]
    for m in cluster.underlay.machines:
        on_test_bridge(cluster.underlay, m.ip)
        seen = {fetch(f"http://{m.ip}:{port}/") for _ in range(30)}
        assert {web[p] for p in seen} == set(web.values()), (m.ip, seen)


def test_local_traffic_policies_keep_traffic_on_the_node_and_the_client_address(
        cluster: Cluster, web: dict[str, str]) -> None:
    svc = cluster.get("svc", "web-local", "-n", NS)
    port = svc["spec"]["ports"][0]["nodePort"]
    for m in cluster.underlay.machines:
        on_test_bridge(cluster.underlay, m.ip)
        node = cluster.node_of(m)
        seen = {fetch(f"http://{m.ip}:{port}/") for _ in range(15)}
        assert seen and {web[p] for p in seen} == {node}, (node, seen)  # externalTrafficPolicy: Local
        assert plain(fetch(f"http://{m.ip}:{port}/cgi-bin/ip")) == cluster.underlay.host_ip  # not masqueraded
    # internalTrafficPolicy: Local: a pod on machine 0 reaches only machine 0's pods through the VIP
    node0 = cluster.agents[0].node
    out = run_client(cluster, "client-itp", node0, "for i in $(seq 1 15); do wget -qO- http://web-local; done")
    assert out.split() and {web[p] for p in out.split()} == {node0}, out


def test_pod_to_pod_keeps_the_pod_address_and_leaving_the_cluster_is_masqueraded(
        cluster: Cluster, web: dict[str, str]) -> None:
    a, b = cluster.agents[0], cluster.agents[1]
    target = next(p for p in ready_pods(cluster) if p["spec"]["nodeName"] == b.node)
    # a listener on the host's end of the test bridge: the address a pod's connection arrives from
    srv = socket.socket()
    srv.bind((cluster.underlay.host_ip, 0))
    srv.listen(1)
    srv.settimeout(60)
    seen: list[str] = []

    def accept() -> None:
        try:
            conn, addr = srv.accept()
            seen.append(addr[0])
            conn.sendall(b"hi\n")
            conn.close()
        except OSError:
            pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    host_port = srv.getsockname()[1]
    out = run_client(cluster, "client-addr", a.node,
                     f"wget -qO- http://{target['status']['podIP']}/cgi-bin/ip; echo ===; "
                     f"hostname -i 2>/dev/null || busybox ip -4 -o addr show eth0; echo ===; "
                     f"echo x | nc {cluster.underlay.host_ip} {host_port}")
    t.join(10)
    srv.close()
    remote_addr, own, _ = out.split("===")
    client_ip = next(w.split("/")[0] for w in own.split() if w.startswith("10.42."))
    assert plain(remote_addr) == client_ip  # across machines the pod address is kept
    assert seen == [a.machine.ip]  # to outside the cluster CIDR: masqueraded to the machine's address


def test_agent_restart_rebuilds_its_entries_and_leaves_others_alone(cluster: Cluster, web: dict[str, str]) -> None:
    a = cluster.agents[0]
    m = a.machine
    others = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in cluster.get("nodes")["items"]
              if n["metadata"]["name"] != a.node}
    lost = next(iter(others.values()))
    foreign = "10.99.7.0/24"
    gw = cluster.underlay.machines[2].ip
    m.run("ip", "route", "add", foreign, "via", gw, "proto", "static", check=True)  # someone else's route
    m.run("ip", "route", "add", "10.42.250.0/24", "via", gw, "proto", "83", check=True)  # a stale one of ours
    a.stop()
    m.run("ip", "route", "del", lost, check=True)  # removed by hand while the agent was down
    a.start()
    wait_until(lambda: lost in m.routes() and "10.42.250.0" not in m.routes(), 60, "rebuilt routes", cluster)
    assert all(c in m.routes() for c in others.values())
    assert foreign in m.run("ip", "route", "show", foreign).stdout
    m.run("ip", "route", "del", foreign)
    # the pods kept running through the restart, and the machine is still part of the network
    out = run_client(cluster, "client-after", a.node, "for i in $(seq 1 20); do wget -qO- http://web; done")
    assert len({web[p] for p in out.split()}) == 3, out


def test_a_deleted_node_leaves_every_other_machine_within_a_second(cluster: Cluster, web: dict[str, str]) -> None:
    gone = cluster.agents[2]
    node = cluster.get("node", gone.node)
    cidr = node["spec"]["podCIDR"]
    mac = json.loads(node["metadata"]["annotations"]["shoal.io/network-backend-data"])["VtepMAC"]
    gone.stop()  # the machine leaves (its agent would register the Node again)
    rest = [a.machine for a in cluster.agents[:2]]
    assert all(cidr in m.routes() for m in rest)
    start = time.monotonic()
    cluster.kubectl("delete", "node", gone.node, "--wait=false")

    def vanished() -> bool:
        return all(cidr not in m.routes() and mac not in m.run("bridge", "fdb", "show", "dev", "shoal.1").stdout
                   and cidr.split("/")[0] not in m.run("ip", "neigh", "show", "dev", "shoal.1").stdout for m in rest)

    wait_until(vanished, 5, "the deleted node's entries to vanish", cluster)
    took = time.monotonic() - start
    print(f"deleted node's entries gone from the other machines {took:.3f} s after `kubectl delete node` was run")
    assert took <= 1.0, f"{took:.2f} s"


def test_host_gw_routes_pods_through_the_machines_without_encapsulation(podman: str, tmp_path: Path) -> None:
    """The other backend, on machines of one segment: plain routes via the peers' underlay addresses."""
    with running_cluster(podman, tmp_path, 2, "host-gw") as c:
        (m0, m1), (a0, a1) = c.underlay.machines, c.agents
        cidr1 = c.get("node", a1.node)["spec"]["podCIDR"]
        assert f"{cidr1} via {m1.ip} dev eth0" in m0.routes()
        assert m0.run("ip", "link", "show", "dev", "shoal.1").returncode != 0  # no VXLAN device
        c.kubectl("run", "srv", "-n", NS, f"--image={IMAGE}", "--restart=Never",
                  f"--overrides={json.dumps({'apiVersion': 'v1', 'spec': {'nodeName': a1.node, 'terminationGracePeriodSeconds': 0}})}",
                  "--", "sh", "-c", WEB_CMD)
        ip = wait_until(lambda: c.kubectl("get", "pod", "srv", "-n", NS, "-o", "jsonpath={.status.podIP}",
                                          check=False).strip(), 60, "the server pod's address", c)
        assert ip.startswith(cidr1.rsplit(".", 1)[0] + ".")
        out = run_client(c, "client-hgw", a0.node, f"wget -qO- http://{ip}/cgi-bin/ip; hostname -i")
        answer, own = out.split()[:2]
        assert plain(answer) == own  # across machines, the pod address kept
