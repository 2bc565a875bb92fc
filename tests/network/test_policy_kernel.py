"""The compiled policy table in a real kernel: a node in a network namespace, pods on its bridge.

The "node" is a namespace of the test's own holding a bridge, as ``shoal0``, with three
"pods" (namespaces with a veth on it: bridged traffic, judged through br_netfilter), a
fourth pod routed through the node (as a pod of another node arrives over the overlay),
and a server on the node's own address (as the cluster DNS is). The policy table is
applied inside the node namespace, so the host's own rules are never touched, and every
address sent to is one of these namespaces'.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shoal.network import policynft
from shoal.network.policy import NamedPort, NamespaceView, PodView, compile_node, policy_of
from tests.network.netns import sh

pytestmark = pytest.mark.skipif(shutil.which("nft") is None or shutil.which("busybox") is None,
                                reason="needs nft and busybox (installed by make setup)")

NET = f"10.{random.randint(150, 199)}"
TABLE = "shoal-policy_test"


@dataclass
class Bed:
    node: str
    pods: dict[str, str]  # name -> netns
    ips: dict[str, str]  # name -> address ("node" included)
    servers: list[subprocess.Popen[bytes]]

    def run(self, netns: str, *cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", netns, *cmd], input=stdin, capture_output=True, text=True,
                              timeout=20)

    def apply(self, policies: list[Any]) -> None:
        views = [PodView("web", name, self.ips[name], {"app": name}, "n1") for name in ("web", "client", "other")]
        views.append(PodView("far", "far", self.ips["far"], {"app": "far"}, "n2"))
        rules = compile_node(policies, views, [NamespaceView("web"), NamespaceView("far")], node="n1")
        script = policynft.render(rules, TABLE) if rules.ingress or rules.egress else policynft.render_delete(TABLE)
        r = self.run(self.node, "nft", "-f", "-", stdin=script)
        assert r.returncode == 0, r.stdout + r.stderr

    def reaches(self, src: str, dst: str, port: int = 80) -> bool:
        ns = self.node if src == "node" else self.pods[src]
        r = self.run(ns, "timeout", "1", "busybox", "wget", "-qO-", f"http://{self.ips[dst]}:{port}/")
        return r.returncode == 0 and r.stdout.strip() == dst


def _pod(node: str, name: str, ip: str, gateway: str, bridge: str | None, root: Path) -> str:
    netns = f"{node}-{name}"[:30]
    veth = f"vp{uuid.uuid4().hex[:8]}"
    sh("ip", "netns", "add", netns)
    sh("ip", "-n", node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    if bridge:
        sh("ip", "-n", node, "link", "set", veth, "master", bridge)
    else:
        sh("ip", "-n", node, "addr", "add", f"{gateway}/24", "dev", veth)
    sh("ip", "-n", node, "link", "set", veth, "up")
    sh("ip", "-n", netns, "addr", "add", f"{ip}/24", "dev", "eth0")
    sh("ip", "-n", netns, "link", "set", "eth0", "up")
    sh("ip", "-n", netns, "link", "set", "lo", "up")
    sh("ip", "-n", netns, "route", "add", "default", "via", gateway)
    (root / name).mkdir()
    (root / name / "index.html").write_text(name + "\n")
    return netns


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    root = tmp_path_factory.mktemp("np-www")
    node = f"shoalnp-{uuid.uuid4().hex[:6]}"
    created = [node]
    servers: list[subprocess.Popen[bytes]] = []
    try:
        sh("ip", "netns", "add", node)
        for key in ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"):
            sh("ip", "netns", "exec", node, "sh", "-c", f"echo 1 > /proc/sys/{key}")
        sh("ip", "-n", node, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", node, "addr", "add", f"{NET}.0.1/24", "dev", "br0")
        sh("ip", "-n", node, "link", "set", "br0", "up")
        sh("ip", "-n", node, "link", "set", "lo", "up")
        ips = {"web": f"{NET}.0.10", "client": f"{NET}.0.20", "other": f"{NET}.0.30", "far": f"{NET}.1.10",
               "node": f"{NET}.0.1"}
        pods = {}
        for name in ("web", "client", "other"):
            pods[name] = _pod(node, name, ips[name], f"{NET}.0.1", "br0", root)
            created.append(pods[name])
        pods["far"] = _pod(node, "far", ips["far"], f"{NET}.1.1", None, root)
        created.append(pods["far"])
        (root / "node").mkdir()
        (root / "node" / "index.html").write_text("node\n")
        b = Bed(node, pods, ips, servers)
        for name, ns in [*pods.items(), ("node", node)]:
            servers.append(subprocess.Popen(["ip", "netns", "exec", ns, "busybox", "httpd", "-f", "-p",
                                             f"{ips[name]}:80", "-h", str(root / name)]))
        for name in ips:  # every server answers before any policy
            for _ in range(50):
                if b.reaches("client" if name != "client" else "web", name):
                    break
            else:
                raise RuntimeError(f"the test bed's {name} server did not answer")
        yield b
    finally:
        for s in servers:
            s.terminate()
            s.wait(5)
        for ns in reversed(created):
            sh("ip", "netns", "del", ns, check=False)


def np(name: str, spec: dict[str, Any], ns: str = "web") -> Any:
    return policy_of({"metadata": {"name": name, "namespace": ns}, "spec": spec})


DENY_INGRESS = np("deny-in", {"podSelector": {}})
ALLOW_CLIENT = np("allow-client", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [
    {"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], "ports": [{"port": 80}]}]})
WEB_NO_EGRESS = np("web-no-egress", {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"]})


def test_no_policy_every_pod_reaches_every_pod(bed: Bed) -> None:
    bed.apply([])
    assert bed.reaches("client", "web") and bed.reaches("other", "web") and bed.reaches("far", "web")
    assert bed.reaches("web", "node")


def test_default_deny_then_allow_client_on_80(bed: Bed) -> None:
    bed.apply([DENY_INGRESS])
    assert not bed.reaches("client", "web") and not bed.reaches("other", "web")
    assert not bed.reaches("far", "web")  # routed from another node: judged on the same hook
    assert bed.reaches("node", "web")  # the node reaches its pods
    assert bed.reaches("web", "far")  # far is not isolated, and web's egress is not
    bed.apply([DENY_INGRESS, ALLOW_CLIENT])
    assert bed.reaches("client", "web")
    assert not bed.reaches("other", "web") and not bed.reaches("far", "web")
    assert not bed.reaches("web", "client")  # client is isolated (deny-in selects every pod) and allows nobody


def test_egress_deny_blocks_what_the_pod_starts_not_replies(bed: Bed) -> None:
    bed.apply([WEB_NO_EGRESS])
    assert bed.reaches("client", "web")  # web's replies pass: conntrack accepts them first
    assert not bed.reaches("web", "client") and not bed.reaches("web", "far")
    assert not bed.reaches("web", "node")  # the node's own addresses (the cluster DNS's) count as egress
    assert bed.reaches("client", "node")


def test_replacing_the_table_is_atomic_and_removal_restores(bed: Bed) -> None:
    bed.apply([DENY_INGRESS, ALLOW_CLIENT, WEB_NO_EGRESS])
    before = bed.run(bed.node, "nft", "list", "table", "inet", TABLE).stdout
    assert "ct state established,related accept" in before
    bed.apply([DENY_INGRESS, ALLOW_CLIENT, WEB_NO_EGRESS])  # the same rules again: replaced in one transaction
    assert bed.run(bed.node, "nft", "list", "table", "inet", TABLE).stdout == before
    bed.apply([])
    assert bed.run(bed.node, "nft", "list", "tables").stdout.count(TABLE) == 0
    assert bed.reaches("other", "web") and bed.reaches("web", "client")


def test_the_kernel_takes_every_shape_of_rule(bed: Bed) -> None:
    edge = np("edges", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [
        {"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["0.0.0.0/1", "255.255.255.255/32"]}},
                  {"ipBlock": {"cidr": f"{NET}.0.20/32"}}, {"namespaceSelector": {}}],
         "ports": [{"port": 1}, {"port": 65535, "endPort": 65535}, {"protocol": "SCTP"},
                   {"protocol": "UDP", "port": 1000, "endPort": 2000}, {"protocol": "UDP", "port": 1500}]},
        {"from": [], "ports": []},
        {"ports": [{"port": "http"}, {"port": "dns", "protocol": "UDP"}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/9", "10.128.0.0/9"]}}]},
                   {"to": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn",
                                                                  "values": ["web"]}]}}],
                    "ports": [{"port": "http"}]}]})
    views = [PodView("web", "web", bed.ips["web"], {"app": "web"}, "n1",
                     (NamedPort("http", "tcp", 80), NamedPort("dns", "udp", 53))),
             PodView("web", "client", bed.ips["client"], {"app": "client"}, "n1", (NamedPort("http", "tcp", 8080),))]
    rules = compile_node([edge], views, [NamespaceView("web")], node="n1")
    assert rules.size()["rules"] >= 6
    r = bed.run(bed.node, "nft", "-c", "-f", "-", stdin=policynft.render(rules, TABLE))
    assert r.returncode == 0, r.stdout + r.stderr
