"""The nft ruleset as text: table names per node, LoadBalancer ports, duplicate claims.

``nft -c`` (check only, nothing applied) validates the scripts where nft is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from shoal.network import nftrules


def svc(name: str, *, typ: str = "ClusterIP", ip: str = "10.99.0.5", port: int = 80, node_port: int | None = None,
        ingress: list[str] | None = None, external: list[str] | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"name": "http", "port": port, "protocol": "TCP"}
    if node_port:
        p["nodePort"] = node_port
    s: dict[str, Any] = {"metadata": {"name": name, "namespace": "ns"},
                         "spec": {"type": typ, "clusterIP": ip, "ports": [p], "externalIPs": external or []}}
    if ingress is not None:
        s["status"] = {"loadBalancer": {"ingress": [{"ip": i} for i in ingress]}}
    return s


def eps(name: str, *ips: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"},
            "subsets": [{"addresses": [{"ip": i} for i in ips], "ports": [{"name": "http", "port": 8000}]}]}


def ports(*pairs: tuple[dict[str, Any], dict[str, Any]]) -> list[nftrules.ServicePort]:
    return nftrules.service_ports([s for s, _ in pairs], {("ns", e["metadata"]["name"]): e for _, e in pairs})


def nft_check(script: str) -> None:
    if shutil.which("nft") is None:
        return
    r = subprocess.run(["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + script


@pytest.mark.parametrize(("node", "table"), [
    ("node-1", "shoal_node_1"), ("Web.Example.COM", "shoal_web_example_com"), ("", "shoal"),
])
def test_table_name_per_node(node: str, table: str) -> None:
    assert nftrules.table_name(node) == table
    assert nftrules.is_shoal_table(table)


def test_table_names_carry_the_cluster() -> None:
    """Two clusters on one machine may name their nodes alike: their tables differ by the cluster's ID."""
    a = nftrules.table_name("node-1", "0a1b2c3d-0000-4000-8000-000000000000")
    b = nftrules.table_name("node-1", "99999999-0000-4000-8000-000000000000")
    assert (a, b) == ("shoal_0a1b2c3d_node_1", "shoal_99999999_node_1")
    assert nftrules.is_shoal_table(a)
    long = nftrules.table_name("n" * 200, "0a1b2c3d-0000-4000-8000-000000000000")
    assert len(long) <= 57  # nft takes names up to 255; the hash keeps long node names distinct


def test_long_node_names_stay_distinct_and_short() -> None:
    a, b = nftrules.table_name("n" * 200 + "a"), nftrules.table_name("n" * 200 + "b")
    assert a != b and len(a) <= 48 and nftrules.is_shoal_table(a)
    assert not nftrules.is_shoal_table("shoalish") and not nftrules.is_shoal_table("nat")


def test_load_balancer_port_opens_only_with_an_ingress() -> None:
    pending, ready = ports((svc("lb", typ="LoadBalancer", node_port=30080), eps("lb", "10.1.1.2")))[0], \
        ports((svc("lb", typ="LoadBalancer", node_port=30080, ingress=["192.0.2.7"]), eps("lb", "10.1.1.2")))[0]
    assert not pending.load_balancer and pending.ingress_ips == ()
    assert ready.load_balancer and ready.ingress_ips == ("192.0.2.7",)
    script = nftrules.render([ready], "shoal_t", cidr="10.99.0.0/16")
    assert "tcp . 80 : goto" in script.split("map service-lbports")[1].split("}")[0]
    assert "192.0.2.7 . tcp . 80 : goto" in script and "tcp . 30080 : goto" in script
    assert 'comment "shoal service-cidr 10.99.0.0/16"' in script
    # the service CIDR (the cluster DNS lives there) and loopback are not node addresses for node ports
    assert "ip daddr != { 127.0.0.0/8, 10.99.0.0/16 } fib daddr type local" in script
    nft_check(script)
    empty = nftrules.render([pending], "shoal_t", cidr="10.99.0.0/16")
    assert "elements" not in empty.split("map service-lbports")[1].split("}")[0]


def test_ingress_of_a_cluster_ip_service_is_ignored() -> None:
    sp = ports((svc("c", ingress=["192.0.2.7"]), eps("c", "10.1.1.2")))[0]
    assert not sp.load_balancer and sp.ingress_ips == ()


def test_two_claims_of_one_key_keep_the_first() -> None:
    # two LoadBalancers on port 80 (before the ServiceLB controller settles it) and a shared externalIP
    a = (svc("a", typ="LoadBalancer", ip="10.99.0.5", ingress=["192.0.2.7"], external=["192.0.2.9"]),
         eps("a", "10.1.1.2"))
    b = (svc("b", typ="LoadBalancer", ip="10.99.0.6", ingress=["192.0.2.7"], external=["192.0.2.9"]),
         eps("b", "10.1.1.6"))
    sps = ports(a, b)
    script = nftrules.render(sps, "shoal_t", cidr="10.99.0.0/16")
    assert script.count("192.0.2.7 . tcp . 80 :") == 1 and script.count("192.0.2.9 . tcp . 80 :") == 1
    lb = script.split("map service-lbports")[1].split("}")[0]
    assert lb.count("tcp . 80 :") == 1 and sps[0].chain in lb
    nft_check(script)


def test_no_endpoints_no_rules_and_headless_is_dns_only() -> None:
    sps = ports((svc("e", typ="LoadBalancer", ingress=["192.0.2.7"]), eps("e")),
                (svc("h", ip="None"), eps("h", "10.1.1.2")))
    assert [s.name for s in sps] == ["e"]
    script = nftrules.render(sps, "shoal_t")
    assert "goto svc-" not in script
    nft_check(script)


def test_bad_manual_endpoints_cannot_break_the_ruleset() -> None:
    # Endpoints are written by hand for selector-less Services; one bad element would make nft
    # reject the whole script, every Service's rules with it
    bad: dict[str, Any] = {"metadata": {"name": "bad", "namespace": "ns"}, "subsets": [
        {"addresses": [{"ip": "not-an-ip"}, {"ip": "fd00::1"}, {"ip": "10.1.1.9"}],
         "ports": [{"name": "http", "port": 8000}]},
        {"addresses": [{"ip": "10.1.1.10"}], "ports": [{"name": "http", "port": 0}]},
        {"addresses": [{"ip": "10.1.1.11"}], "ports": [{"name": "http", "port": 70000}]}]}
    good = eps("good", "10.1.1.2")
    sps = ports((svc("bad", ip="10.99.0.7", external=["nope"]), bad), (svc("good"), good))
    assert {s.name: s.endpoints for s in sps} == {"bad": (("10.1.1.9", 8000),), "good": (("10.1.1.2", 8000),)}
    assert sps[0].external_ips == ()
    script = nftrules.render(sps, "shoal_t", cidr="10.99.0.0/16")
    assert "not-an-ip" not in script and "fd00" not in script and "10.1.1.2:8000" in script
    nft_check(script)


def eps_on(name: str, *pairs: tuple[str, str]) -> dict[str, Any]:
    """Endpoints whose addresses name their nodes: (ip, node)."""
    return {"metadata": {"name": name, "namespace": "ns"},
            "subsets": [{"addresses": [{"ip": i, "nodeName": n} for i, n in pairs],
                         "ports": [{"name": "http", "port": 8000}]}]}


def chain_body(script: str, chain: str) -> str:
    return script.split(f"\tchain {chain} {{")[1].split("\t}")[0]


def test_node_ports_from_outside_are_masqueraded_and_spread_over_every_node() -> None:
    s = svc("np", typ="NodePort", node_port=30080)
    [sp] = nftrules.service_ports([s], {("ns", "np"): eps_on("np", ("10.42.0.5", "a"), ("10.42.1.5", "b"))}, "a")
    assert sp.local_endpoints == (("10.42.0.5", 8000),) and not sp.external_local
    script = nftrules.render([sp], "shoal_t", cidr="10.99.0.0/16")
    assert f"tcp . 30080 : goto {sp.chain}-ext" in script
    ext = chain_body(script, f"{sp.chain}-ext")
    assert "jump mark-masq" in ext and f"goto {sp.chain}-0" in ext and f"goto {sp.chain}-1" in ext
    assert "mark-masq" not in chain_body(script, sp.chain)  # pods reaching the VIP keep their address
    nft_check(script)


@pytest.mark.parametrize(("node", "local_ips"), [("a", ["10.42.0.5"]), ("b", ["10.42.1.5", "10.42.1.6"]), ("c", [])])
def test_external_traffic_policy_local_keeps_the_client_address_and_the_node(node: str, local_ips: list[str]) -> None:
    s = svc("loc", typ="NodePort", node_port=30081, external=["192.0.2.9"])
    s["spec"]["externalTrafficPolicy"] = "Local"
    e = eps_on("loc", ("10.42.0.5", "a"), ("10.42.1.5", "b"), ("10.42.1.6", "b"))
    [sp] = nftrules.service_ports([s], {("ns", "loc"): e}, node)
    script = nftrules.render([sp], "shoal_t", cidr="10.99.0.0/16")
    if not local_ips:  # no endpoint here: no rule, the connection is refused on this node
        assert "30081" not in script and "192.0.2.9" not in script and f"{sp.chain}-ext" not in script
    else:
        ext = chain_body(script, f"{sp.chain}-ext")
        assert "mark-masq" not in ext
        picked = {ep for i, ep in enumerate(sp.endpoints) if f"goto {sp.chain}-{i}" in ext}
        assert {ip for ip, _ in picked} == set(local_ips)
        assert f"tcp . 30081 : goto {sp.chain}-ext" in script and f"192.0.2.9 . tcp . 80 : goto {sp.chain}-ext" in script
    # the VIP (traffic from inside) still reaches every endpoint
    assert f"10.99.0.5 . tcp . 80 : goto {sp.chain}" in script
    assert chain_body(script, sp.chain).count("goto") == 3
    nft_check(script)


def test_internal_traffic_policy_local_picks_this_nodes_endpoints_only() -> None:
    s = svc("itp")
    s["spec"]["internalTrafficPolicy"] = "Local"
    e = eps_on("itp", ("10.42.0.5", "a"), ("10.42.1.5", "b"))
    [here] = nftrules.service_ports([s], {("ns", "itp"): e}, "a")
    script = nftrules.render([here], "shoal_t", cidr="10.99.0.0/16")
    assert chain_body(script, here.chain).strip() == f"goto {here.chain}-0" and "10.42.0.5:8000" in script
    [elsewhere] = nftrules.service_ports([s], {("ns", "itp"): e}, "c")
    assert "10.99.0.5 . tcp . 80" not in nftrules.render([elsewhere], "shoal_t", cidr="10.99.0.0/16")
    nft_check(script)
