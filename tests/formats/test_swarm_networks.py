"""Swarm networks as pod labels and NetworkPolicies: the translation, and what the policy compiler makes of it.

The stack of the isolation story (``front``: web, proxy; ``back``: proxy, db; proxy publishes port 80) is
translated to its objects, its policies are compiled by ``shoal.network.policy`` exactly as a node does,
and each connection is asked of the compiled rules. No I/O.
"""

from __future__ import annotations

from typing import Any

import pytest

from shoal.api.validation_base import qualified_name
from shoal.formats.swarm import networks, service
from shoal.formats.swarm.wire import SpecError, canonical
from shoal.network.policy import NamespaceView, PodView, allows, compile_node, policy_of

NETS = {"id-front": "st_front", "st_front": "st_front", "id-back": "st_back", "st_back": "st_back",
        "shared": "shared", "ingress": "ingress"}


def spec(name: str, nets: list[str], ports: list[dict[str, Any]] | None = None, *, stack: str = "st",
         **extra: Any) -> dict[str, Any]:
    labels = {"com.docker.stack.namespace": stack} if stack else {}
    tt: dict[str, Any] = {"ContainerSpec": {"Image": "busybox"}}
    if nets:
        tt["Networks"] = [{"Target": n, "Aliases": [name.split("_")[-1]]} for n in nets]
    return canonical({"Name": name, "Labels": labels, "TaskTemplate": tt,
                      "EndpointSpec": {"Ports": ports or []}, **extra})


def objects(*specs: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    objs = [service.to_objects(s, network_names=NETS) for s in specs]
    return [o.workload for o in objs], [s for o in objs for s in o.services]


@pytest.mark.parametrize(("network", "key"), [
    ("st_front", "net.swarm.shoal.io/st_front"),
    ("a.b-c_D", "net.swarm.shoal.io/a.b-c_D"),
    ("n" * 63, "net.swarm.shoal.io/" + "n" * 63),
    ("n" * 64, "net.swarm.shoal.io/" + "n" * 54 + "-" + networks._hash("n" * 64)),
])
def test_label_key(network: str, key: str) -> None:
    assert networks.label_key(network) == key
    assert qualified_name(key) == []


@pytest.mark.parametrize(("label", "name"), [
    ("net.swarm.shoal.io/front", "swarm-net-front"),
    ("net.swarm.shoal.io/st_front", "swarm-net-st-front-" + networks._hash("st_front")),
    ("net.swarm.shoal.io/st-front", "swarm-net-st-front"),  # not the same policy as st_front's
])
def test_policy_name(label: str, name: str) -> None:
    assert networks.policy_name(label) == name


@pytest.mark.parametrize(("nets", "labels"), [
    ([], {}),
    (["st_front"], {"net.swarm.shoal.io/st_front": "true"}),
    (["id-front", "st_back", "st_front"], {"net.swarm.shoal.io/st_front": "true", "net.swarm.shoal.io/st_back": "true"}),
    (["ingress"], {}),  # the routing mesh is no network to isolate by
])
def test_template_labels(nets: list[str], labels: dict[str, str]) -> None:
    o = service.to_objects(spec("st_web", nets), network_names=NETS)
    tl = o.workload["spec"]["template"]["metadata"]["labels"]
    assert {k: v for k, v in tl.items() if k.startswith("net.")} == labels
    assert o.workload["spec"]["selector"] == {"matchLabels": {"com.docker.swarm.service.name": "st_web"}}
    # what was sent is what `docker service inspect` shows
    back = service.to_spec(o.workload, o.services)["TaskTemplate"].get("Networks") or []
    assert [n["Target"] for n in back] == nets


def test_spec_level_networks_and_unknown_network() -> None:
    o = service.to_objects(spec("st_web", [], Networks=[{"Target": "shared"}]), network_names=NETS)
    assert "net.swarm.shoal.io/shared" in o.workload["spec"]["template"]["metadata"]["labels"]
    with pytest.raises(SpecError) as e:
        service.to_objects(spec("st_web", ["nope"]), network_names=NETS)
    assert e.value.status == 404 and "network nope not found" in str(e.value)
    with pytest.raises(SpecError):
        service.to_objects(canonical({"Name": "x", "TaskTemplate": {"Networks": [{"Aliases": ["a"]}]}}))


STORY = [spec("st_web", ["st_front"]), spec("st_proxy", ["st_front", "id-back"], [
    {"TargetPort": 80, "PublishedPort": 8080}, {"TargetPort": 53, "PublishedPort": 5353, "Protocol": "udp",
                                                 "PublishMode": "host"}]),
         spec("st_db", ["st_back"]), spec("st_loose", [])]


def test_policies_of_the_story() -> None:
    workloads, services = objects(*STORY)
    pols = networks.policies("st", workloads, services)
    by_name = {p["metadata"]["name"]: p for p in pols}
    front, back = (networks.policy_name(networks.label_key(n)) for n in ("st_front", "st_back"))
    assert set(by_name) == {front, back, "swarm-published-proxy"}
    f = by_name[front]
    assert f["metadata"]["labels"] == {"swarm.shoal.io/policy": "network", "com.docker.stack.namespace": "st"}
    assert f["spec"] == {"podSelector": {"matchLabels": {"net.swarm.shoal.io/st_front": "true"}},
                         "ingress": [{"from": [{"namespaceSelector": {},
                                                "podSelector": {"matchLabels": {"net.swarm.shoal.io/st_front": "true"}}}]}],
                         "policyTypes": ["Ingress"]}
    pub = by_name["swarm-published-proxy"]["spec"]
    assert pub["podSelector"] == {"matchLabels": {"com.docker.swarm.service.name": "st_proxy"}}
    assert pub["ingress"] == [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                               "ports": [{"protocol": "TCP", "port": 80}, {"protocol": "UDP", "port": 53}]}]
    for p in pols:
        policy_of(p)  # each is a valid NetworkPolicy
    # deterministic (a re-deploy updates nothing), and nothing for a namespace without networks
    assert networks.policies("st", *objects(*STORY)) == pols
    assert networks.policies("st", *objects(spec("st_loose", []))) == []


IPS = {"web": "10.42.0.2", "proxy": "10.42.0.3", "db": "10.42.0.4", "loose": "10.42.0.5", "other": "10.42.1.9"}
OUTSIDE = "192.0.2.7"


def rules_of(*stacks: tuple[str, list[dict[str, Any]]]) -> Any:
    """The compiled filter of one node running every service of ``stacks`` ((namespace, specs) each)."""
    pols, pods = [], []
    for ns, specs in stacks:
        workloads, services = objects(*specs)
        pols += networks.policies(ns, workloads, services)
        pods += [PodView(ns, w["metadata"]["name"], IPS[w["metadata"]["name"]],
                         w["spec"]["template"]["metadata"]["labels"], "n1") for w in workloads]
    return compile_node([policy_of(p) for p in pols], pods, [NamespaceView(ns) for ns, _ in stacks], node="n1")


@pytest.mark.parametrize(("src", "dst", "port", "proto", "ok"), [
    ("proxy", "web", 80, "tcp", True),     # share front
    ("proxy", "db", 5432, "tcp", True),    # share back
    ("web", "proxy", 80, "tcp", True),
    ("db", "proxy", 1234, "tcp", True),
    ("web", "db", 5432, "tcp", False),     # front and back never meet
    ("db", "web", 80, "tcp", False),
    ("loose", "web", 80, "tcp", False),    # on no network: reaches no isolated service ...
    ("web", "loose", 80, "tcp", True),     # ... and is reached by everyone
    ("outside", "proxy", 80, "tcp", True),  # the routing mesh: published (target) ports from anywhere
    ("outside", "proxy", 53, "udp", True),  # a host-mode port too
    ("outside", "proxy", 81, "tcp", False),
    ("outside", "web", 80, "tcp", False),
    ("loose", "proxy", 80, "tcp", True),   # through the mesh, as Swarm
])
def test_story_connections(src: str, dst: str, port: int, proto: str, ok: bool) -> None:
    rules = rules_of(("st", STORY))
    assert allows(rules, IPS.get(src, OUTSIDE), IPS[dst], proto, port) is ok


def test_a_shared_network_joins_namespaces() -> None:
    """An attachable network used by a service of another stack: both ways across namespaces, and only them."""
    rules = rules_of(("st", [spec("st_web", ["st_front", "shared"]), *STORY[1:]]),
                     ("other", [spec("other_other", ["shared"], stack="other")]))
    assert allows(rules, IPS["other"], IPS["web"]) and allows(rules, IPS["web"], IPS["other"])
    assert not allows(rules, IPS["other"], IPS["db"]) and not allows(rules, IPS["proxy"], IPS["other"])


def test_plan() -> None:
    workloads, services = objects(*STORY)
    desired = networks.policies("st", workloads, services)
    assert networks.plan(desired, []) == (desired, [], [])
    stored = [{**p, "metadata": {**p["metadata"], "resourceVersion": "7"}} for p in desired]
    assert networks.plan(desired, stored) == ([], [], [])  # nothing changed: nothing written
    # db leaves the back network: back's policy is still proxy's; db's rollout relabels its pods
    w2, s2 = objects(*STORY[:2], spec("st_db", []))
    assert networks.plan(networks.policies("st", w2, s2), stored) == ([], [], [])
    # web and proxy are removed: front's and the published policy are deleted, back's stays (db)
    w3, s3 = objects(spec("st_db", ["st_back"]))
    create, update, delete = networks.plan(networks.policies("st", w3, s3), stored)
    assert create == [] and update == []
    assert sorted(p["metadata"]["name"] for p in delete) == sorted(
        [networks.policy_name(networks.label_key("st_front")), "swarm-published-proxy"])
    # a changed policy is updated in place (its resourceVersion kept); another's policy is never touched
    changed = [{**stored[0], "spec": {"podSelector": {}}}, {"metadata": {"name": stored[1]["metadata"]["name"]}}]
    create, update, delete = networks.plan(desired, changed)
    assert [p["metadata"]["name"] for p in create] == [desired[2]["metadata"]["name"]]
    assert update == [{**stored[0]}] and delete == []
