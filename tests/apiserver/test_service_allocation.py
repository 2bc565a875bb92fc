"""Service ClusterIP and NodePort allocation through the real API."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer, obj


@pytest.fixture
def ns(server: RunningServer) -> str:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    assert server.session().post(server.url + "/api/v1/namespaces", json=obj("Namespace", name)).status_code == 201
    return name


def svc(name: str, **spec: Any) -> dict[str, Any]:
    return obj("Service", name, spec={"selector": {"app": name}, "ports": [{"port": 80}], **spec})


def post(server: RunningServer, ns: str, body: dict[str, Any]) -> requests.Response:
    return server.session().post(f"{server.url}/api/v1/namespaces/{ns}/services", json=body)


def test_cluster_ips_are_unique_and_in_range(server: RunningServer, ns: str) -> None:
    ips = set()
    for i in range(20):
        r = post(server, ns, svc(f"s{i}"))
        assert r.status_code == 201, r.text
        spec = r.json()["spec"]
        assert spec["clusterIPs"] == [spec["clusterIP"]]
        assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.43.0.0/16")
        assert spec["clusterIP"] != "10.43.0.10"  # kept for the cluster DNS
        ips.add(spec["clusterIP"])
    assert len(ips) == 20


def test_requested_ip_taken_or_out_of_range_is_422(server: RunningServer, ns: str) -> None:
    r = post(server, ns, svc("want", clusterIP="10.43.200.7"))
    assert r.status_code == 201 and r.json()["spec"]["clusterIP"] == "10.43.200.7"
    taken = post(server, ns, svc("want2", clusterIP="10.43.200.7"))
    assert taken.status_code == 422 and "spec.clusterIPs" in taken.json()["message"]
    assert "already allocated" in taken.json()["message"]
    out = post(server, ns, svc("want3", clusterIP="192.168.1.1"))
    assert out.status_code == 422 and "valid range" in out.json()["message"]
    # nothing half-written
    assert server.session().get(f"{server.url}/api/v1/namespaces/{ns}/services/want2").status_code == 404


def test_delete_releases_the_ip(server: RunningServer, ns: str) -> None:
    post(server, ns, svc("rel", clusterIP="10.43.201.1"))
    server.session().delete(f"{server.url}/api/v1/namespaces/{ns}/services/rel")
    again = post(server, ns, svc("rel2", clusterIP="10.43.201.1"))
    assert again.status_code == 201, again.text


def test_headless_gets_no_ip(server: RunningServer, ns: str) -> None:
    r = post(server, ns, svc("hl", clusterIP="None"))
    assert r.status_code == 201 and r.json()["spec"]["clusterIP"] == "None"


def test_node_ports(server: RunningServer, ns: str) -> None:
    r = post(server, ns, svc("np", type="NodePort", ports=[{"port": 80, "name": "http"},
                                                          {"port": 443, "name": "https", "nodePort": 30443}]))
    assert r.status_code == 201, r.text
    ports = r.json()["spec"]["ports"]
    assert 30000 <= ports[0]["nodePort"] <= 32767 and ports[1]["nodePort"] == 30443
    taken = post(server, ns, svc("np2", type="NodePort", ports=[{"port": 80, "nodePort": 30443}]))
    assert taken.status_code == 422 and "spec.ports[0].nodePort" in taken.json()["message"]
    bad = post(server, ns, svc("np3", type="NodePort", ports=[{"port": 80, "nodePort": 80}]))
    assert bad.status_code == 422 and "spec.ports[0].nodePort" in bad.json()["message"]
    # switching to ClusterIP releases the ports
    u = f"{server.url}/api/v1/namespaces/{ns}/services/np"
    cur = server.session().get(u).json()
    cur["spec"]["type"] = "ClusterIP"  # nodePorts and externalTrafficPolicy are dropped, as upstream
    upd = server.session().put(u, json=cur)
    assert upd.status_code == 200, upd.text
    assert post(server, ns, svc("np4", type="NodePort", ports=[{"port": 80, "nodePort": 30443}])).status_code == 201


def test_update_keeps_the_ip(server: RunningServer, ns: str) -> None:
    r = post(server, ns, svc("keep")).json()
    ip = r["spec"]["clusterIP"]
    r["metadata"]["labels"] = {"x": "y"}
    upd = server.session().put(f"{server.url}/api/v1/namespaces/{ns}/services/keep", json=r)
    assert upd.status_code == 200 and upd.json()["spec"]["clusterIP"] == ip


@pytest.mark.parametrize(("ports", "field"), [
    ([{"port": 0}], "spec.ports[0].port"),
    ([{"port": 70000}], "spec.ports[0].port"),
    ([{"port": 80, "name": "a"}, {"port": 81, "name": "a"}], "spec.ports[1].name"),
])
def test_bad_ports_are_422(server: RunningServer, ns: str, ports: list[dict[str, Any]], field: str) -> None:
    r = post(server, ns, svc("bad", ports=ports))
    assert r.status_code == 422 and field in r.json()["message"], r.text
