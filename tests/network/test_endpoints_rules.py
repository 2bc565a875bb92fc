"""Pure endpoint rules: readiness, terminating pods, named target ports, subsets."""

from __future__ import annotations

from typing import Any

from shoal.network import endpoints as ep


def pod(name: str, ip: str | None, *, ready: bool = True, port: int = 8080, terminating: bool = False,
        phase: str = "Running") -> dict[str, Any]:
    p: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
    if ip:
        p["status"]["podIP"] = ip
    if terminating:
        p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return p


def svc(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "s1"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "h", "port": 80, "targetPort": "http",
                                                            "protocol": "TCP"}], **spec}}


def ips(addrs: list[dict[str, Any]]) -> list[str]:
    return [a["ip"] for a in addrs]


def test_ready_and_not_ready_split() -> None:
    subs = ep.endpoints_subsets(svc(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)])
    assert len(subs) == 1
    assert ips(subs[0]["addresses"]) == ["10.0.0.1"] and ips(subs[0]["notReadyAddresses"]) == ["10.0.0.2"]
    assert subs[0]["ports"] == [{"name": "h", "port": 8080, "protocol": "TCP"}]
    assert subs[0]["addresses"][0]["targetRef"]["name"] == "a" and subs[0]["addresses"][0]["nodeName"] == "n1"


def test_publish_not_ready_addresses() -> None:
    subs = ep.endpoints_subsets(svc(publishNotReadyAddresses=True), [pod("b", "10.0.0.2", ready=False)])
    assert ips(subs[0]["addresses"]) == ["10.0.0.2"] and "notReadyAddresses" not in subs[0]


def test_terminating_finished_and_ipless_pods_are_left_out() -> None:
    pods = [pod("t", "10.0.0.3", terminating=True), pod("f", "10.0.0.4", phase="Failed"), pod("n", None)]
    assert ep.endpoints_subsets(svc(), pods) == []


def test_named_port_resolved_per_pod_makes_subsets() -> None:
    subs = ep.endpoints_subsets(svc(), [pod("a", "10.0.0.1", port=8080), pod("b", "10.0.0.2", port=9090)])
    assert sorted(s["ports"][0]["port"] for s in subs) == [8080, 9090]


def test_numeric_and_default_target_port() -> None:
    s = svc(ports=[{"port": 80, "targetPort": 8000, "protocol": "TCP"}, {"name": "x", "port": 81, "protocol": "TCP"}])
    subs = ep.endpoints_subsets(s, [pod("a", "10.0.0.1")])
    assert {p["port"] for p in subs[0]["ports"]} == {8000, 81}


def test_unresolvable_named_port_drops_the_pod() -> None:
    s = svc(ports=[{"port": 80, "targetPort": "nope", "protocol": "TCP"}])
    assert ep.endpoints_subsets(s, [pod("a", "10.0.0.1")]) == []


def test_slice_keeps_terminating_marked() -> None:
    eps, ports = ep.endpoint_slice_body(svc(), [pod("a", "10.0.0.1"), pod("t", "10.0.0.3", terminating=True)])
    by = {e["targetRef"]["name"]: e["conditions"] for e in eps}
    assert by["a"] == {"ready": True, "serving": True, "terminating": False}
    assert by["t"] == {"ready": False, "serving": True, "terminating": True}
    assert ports == [{"name": "h", "port": 8080, "protocol": "TCP"}]
    assert ep.slice_name(svc()).startswith("web-")


def test_a_pod_hostname_is_published_only_under_the_service_its_subdomain_names() -> None:
    named = pod("db-0", "10.0.0.7")
    named["spec"].update(hostname="db-0", subdomain="web")
    other = pod("x-0", "10.0.0.8")
    other["spec"].update(hostname="x-0", subdomain="elsewhere")
    subs = ep.endpoints_subsets(svc(), [named, other])
    by_ip = {a["ip"]: a for a in subs[0]["addresses"]}
    assert by_ip["10.0.0.7"]["hostname"] == "db-0"
    assert "hostname" not in by_ip["10.0.0.8"]
    eps, _ = ep.endpoint_slice_body(svc(), [named, other])
    assert {e["targetRef"]["name"]: e.get("hostname") for e in eps} == {"db-0": "db-0", "x-0": None}
