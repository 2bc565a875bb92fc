"""The userspace proxy's listeners honour the Local traffic policies as the nftables rules do. Pure.

For each case, the endpoints a userspace listener relays to are exactly those the nftables
ruleset of the same node picks (``nftrules.internal_endpoints``/``external_endpoints``, one
answer for both dataplanes).
"""

from __future__ import annotations

from typing import Any

import pytest

from shoal.network import nftrules
from shoal.network.proxy import userspace_listeners
from tests.network.test_nftrules import eps_on, svc

A5, B5, B6 = ("10.42.0.5", 8000), ("10.42.1.5", 8000), ("10.42.1.6", 8000)
EVERY = [A5, B5, B6]


def service(*, itp: str | None = None, etp: str | None = None, typ: str = "NodePort",
            ingress: list[str] | None = None) -> dict[str, Any]:
    s = svc("web", typ=typ, node_port=30080 if typ != "ClusterIP" else None, ingress=ingress)
    if itp:
        s["spec"]["internalTrafficPolicy"] = itp
    if etp:
        s["spec"]["externalTrafficPolicy"] = etp
    return s


def listeners(s: dict[str, Any], node: str) -> dict[tuple[str, int, str], list[tuple[str, int]]]:
    e = eps_on("web", ("10.42.0.5", "a"), ("10.42.1.5", "b"), ("10.42.1.6", "b"))
    return userspace_listeners(nftrules.service_ports([s], {("ns", "web"): e}, node))


VIP, NODE_PORT, LB_PORT = ("10.99.0.5", 80, "tcp"), ("0.0.0.0", 30080, "tcp"), ("0.0.0.0", 80, "tcp")


@pytest.mark.parametrize(("spec", "node", "vip", "outside"), [
    ({}, "a", EVERY, EVERY),  # Cluster both ways: every endpoint on every node
    ({"itp": "Local"}, "a", [A5], EVERY),
    ({"itp": "Local"}, "b", [B5, B6], EVERY),
    ({"itp": "Local"}, "c", [], EVERY),  # nothing here: the VIP's listener relays nowhere
    ({"etp": "Local"}, "a", EVERY, [A5]),
    ({"etp": "Local"}, "b", EVERY, [B5, B6]),
    ({"etp": "Local"}, "c", EVERY, []),
    ({"itp": "Local", "etp": "Local"}, "b", [B5, B6], [B5, B6]),
    # externalTrafficPolicy is only for traffic from outside: a ClusterIP Service ignores it
    ({"etp": "Local", "typ": "ClusterIP"}, "c", EVERY, None),
])
def test_local_traffic_policies(spec: dict[str, str], node: str, vip: list[tuple[str, int]],
                                outside: list[tuple[str, int]] | None) -> None:
    got = listeners(service(**spec), node)
    assert got[VIP] == vip
    if outside is None:
        assert NODE_PORT not in got
    else:
        assert got[NODE_PORT] == outside


@pytest.mark.parametrize(("etp", "node", "want"), [(None, "c", EVERY), ("Local", "a", [A5]), ("Local", "c", [])])
def test_load_balancer_port_follows_the_external_policy(etp: str | None, node: str,
                                                        want: list[tuple[str, int]]) -> None:
    got = listeners(service(etp=etp, typ="LoadBalancer", ingress=["192.0.2.7"]), node)
    assert got[LB_PORT] == want and got[NODE_PORT] == want


@pytest.mark.parametrize("spec", [{}, {"itp": "Local"}, {"etp": "Local"}, {"itp": "Local", "etp": "Local"}])
@pytest.mark.parametrize("node", ["a", "b", "c"])
def test_the_same_endpoints_as_the_nftables_rules(spec: dict[str, str], node: str) -> None:
    """What the userspace listeners relay to is what the kernel ruleset's chains pick."""
    s = service(**spec)
    e = eps_on("web", ("10.42.0.5", "a"), ("10.42.1.5", "b"), ("10.42.1.6", "b"))
    [sp] = nftrules.service_ports([s], {("ns", "web"): e}, node)
    script = nftrules.render([sp], "shoal_t", cidr="10.99.0.0/16")

    def picked(chain: str) -> list[tuple[str, int]]:
        if f"\tchain {chain} {{" not in script:
            return []
        body = script.split(f"\tchain {chain} {{")[1].split("\t}")[0]
        return [ep for i, ep in enumerate(sp.endpoints) if f"goto {sp.chain}-{i}" in body]

    got = userspace_listeners([sp])
    assert got[VIP] == picked(sp.chain)
    assert got[NODE_PORT] == picked(f"{sp.chain}-ext")
