"""Pod sandboxes the agent makes itself: the pure parts (names, addresses, iproute2 batches, records),
the address files shared by agents, and which pods the docker driver gives such a sandbox.

The namespaces themselves are made for real by the pods in ``test_docker_pods.py``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from shoal.agent.agent import env_overrides
from shoal.agent.drivers.base import DriverError, SandboxSpec
from shoal.agent.drivers.docker import DockerDriver
from shoal.agent.drivers.podnet import (
    Addresses,
    PodNetwork,
    SandboxRecord,
    candidates,
    host_batch,
    hosts_file,
    is_sandbox_id,
    masquerade_rules,
    masquerade_table,
    netns_batch,
    new_sandbox_id,
    node_networks,
    resolv_file,
    veth_name,
)


def test_sandbox_ids_and_veth_names_fit_the_kernel() -> None:
    ids = {new_sandbox_id() for _ in range(200)}
    assert len(ids) == 200 and all(is_sandbox_id(i) for i in ids)
    assert all(len(veth_name(i)) <= 15 for i in ids)  # IFNAMSIZ - 1
    assert len({veth_name(i) for i in ids}) == 200
    assert not is_sandbox_id("0123456789abcdef") and not is_sandbox_id("shoal-x")


def test_candidates_skip_network_gateway_and_broadcast_and_wrap_around() -> None:
    net = ipaddress.IPv4Network("10.42.0.0/29")  # .0 network, .1 gateway, .7 broadcast
    assert list(candidates(net, None)) == [f"10.42.0.{i}" for i in range(2, 7)]
    assert list(candidates(net, "10.42.0.4")) == ["10.42.0.5", "10.42.0.6", "10.42.0.2", "10.42.0.3", "10.42.0.4"]
    assert list(candidates(net, "10.42.0.6"))[0] == "10.42.0.2"  # the last one: start over
    assert list(candidates(net, "192.168.1.1"))[0] == "10.42.0.2"  # outside the range (the CIDR changed)
    assert list(candidates(net, "garbage"))[0] == "10.42.0.2"
    assert list(candidates(ipaddress.IPv4Network("10.42.0.0/31"), None)) == []


def test_addresses_are_taken_once_across_allocators_and_released_by_their_owner(tmp_path: Path) -> None:
    net = ipaddress.IPv4Network("10.42.0.0/29")
    a, b = Addresses(tmp_path, net), Addresses(tmp_path, net)  # two agents on one machine
    got = [a.allocate("shoal-aaaaaaaaaaaa"), b.allocate("shoal-bbbbbbbbbbbb"), a.allocate("shoal-cccccccccccc")]
    assert len(set(got)) == 3
    b.release(got[0], "shoal-bbbbbbbbbbbb")  # not its owner: nothing happens
    assert (tmp_path / got[0]).read_text() == "shoal-aaaaaaaaaaaa"
    a.allocate("d"), a.allocate("e")
    with pytest.raises(DriverError, match="no free pod address"):
        a.allocate("f")
    a.release(got[1], "shoal-bbbbbbbbbbbb")
    a.release(got[1], "shoal-bbbbbbbbbbbb")  # twice is harmless
    assert a.allocate("g") == got[1]


def test_a_freed_address_is_not_handed_out_next(tmp_path: Path) -> None:
    """As host-local IPAM: the host's neighbour cache may still point a freed address at the old pod."""
    net = ipaddress.IPv4Network("10.42.0.0/24")
    a = Addresses(tmp_path, net)
    first = a.allocate("shoal-aaaaaaaaaaaa")
    a.release(first, "shoal-aaaaaaaaaaaa")
    second = a.allocate("shoal-bbbbbbbbbbbb")
    assert second != first
    # another agent, or this one after a restart, goes on from there
    assert Addresses(tmp_path, net).allocate("shoal-cccccccccccc") not in (first, second)
    (tmp_path / Addresses.LAST).write_text("not an address")
    assert Addresses(tmp_path, net).allocate("shoal-dddddddddddd") == first  # unreadable: from the start


def test_batches_and_rules() -> None:
    sid = "shoal-0123456789ab"
    assert host_batch(sid, "shoal0") == ("link add vsh0123456789ab type veth peer name eth0 netns shoal-0123456789ab\n"
                                         "link set vsh0123456789ab master shoal0 up\n")
    lines = netns_batch("10.42.3.4", ipaddress.IPv4Network("10.42.0.0/16")).splitlines()
    assert lines == ["addr add 10.42.3.4/16 dev eth0", "link set lo up", "link set eth0 up",
                     "route add default via 10.42.0.1 dev eth0"]
    rules = masquerade_rules("10.42.0.0/16", "shoal0")
    assert "flush table ip shoal-podnet" in rules  # replaces its own table whole, every start
    assert 'ip saddr 10.42.0.0/16 ip daddr != 10.42.0.0/16 oifname != "shoal0" masquerade' in rules
    # a cluster on a machine flushes only the table of its own pod range
    table = masquerade_table("10.42.0.0/16")
    assert table == "shoal-podnet-10_42_0_0_16" and masquerade_table("10.52.0.0/16") != table
    assert f"flush table ip {table}\n" in masquerade_rules("10.42.0.0/16", "shoal0", table)


def test_pod_files() -> None:
    assert hosts_file("10.42.0.5", "web").splitlines()[-1] == "10.42.0.5\tweb"
    assert "web" not in hosts_file(None, "web")
    text = resolv_file(("10.43.0.10",), ("ns.svc.cluster.local", "cluster.local"), ("ndots:5",))
    assert text == "nameserver 10.43.0.10\nsearch ns.svc.cluster.local cluster.local\noptions ndots:5\n"
    assert resolv_file(("1.1.1.1",), (), ()) == "nameserver 1.1.1.1\n"


def test_records_round_trip_and_bad_records_are_ignored(tmp_path: Path) -> None:
    rec = SandboxRecord("shoal-0123456789ab", "10.42.0.9", {"io.shoal.pod.uid": "u", "io.shoal.role": "sandbox"},
                        (("/r/hosts", "/etc/hosts"),))
    assert SandboxRecord.from_json(rec.to_json()) == rec
    for bad in ("", "{", "[]", '{"id": "x", "ip": "1", "labels": {}}', '{"id": "shoal-0123456789ab", "labels": 3}'):
        assert SandboxRecord.from_json(bad) is None, bad
    # a PodNetwork reads back the records of this boot, skipping any that do not match their directory
    pn = PodNetwork(run_dir=tmp_path, netns_dir=tmp_path / "netns")
    for sid in ("shoal-0123456789ab", "shoal-ffffffffffff"):
        (tmp_path / "sandboxes" / sid).mkdir(parents=True)
    (tmp_path / "sandboxes" / "shoal-0123456789ab" / "sandbox.json").write_text(rec.to_json())
    (tmp_path / "sandboxes" / "shoal-ffffffffffff" / "sandbox.json").write_text(rec.to_json())
    pn.load()
    assert list(pn.records) == ["shoal-0123456789ab"]
    st = pn.status("shoal-0123456789ab")  # no namespace file: the sandbox shows as exited, with no address
    assert st is not None and st.state == "exited" and st.ip is None and st.pod_uid == "u"
    (tmp_path / "netns").mkdir()
    (tmp_path / "netns" / "shoal-0123456789ab").touch()
    st = pn.status("shoal-0123456789ab")
    assert st is not None and st.state == "running" and st.ip == "10.42.0.9" and st.role == "sandbox"
    assert [s.id for s in pn.matching({"io.shoal.pod.uid": "u"})] == ["shoal-0123456789ab"]
    assert pn.matching({"io.shoal.pod.uid": "other"}) == []


@pytest.mark.parametrize("cidr", ["10.42.0.0/33", "not-a-cidr", "10.42.0.1/16", "10.42.0.0/31"])
def test_a_bad_pod_cidr_is_a_clear_error(cidr: str) -> None:
    with pytest.raises(DriverError, match="pod CIDR"):
        PodNetwork(cidr)


def spec(**kw: object) -> SandboxSpec:
    return SandboxSpec(pod_uid="u", pod_name="p", namespace="default", hostname="p", **kw)  # type: ignore[arg-type]


def test_which_pods_get_a_sandbox_of_the_agents_own(tmp_path: Path) -> None:
    d = DockerDriver("unix:///nonexistent.sock", node_name="n", pod_network=PodNetwork(run_dir=tmp_path))
    assert d._own_namespaces(spec())
    assert d._own_namespaces(spec(dns_servers=("10.43.0.10",), dns_searches=("a",), dns_options=("ndots:5",)))
    assert not d._own_namespaces(spec(host_network=True))
    assert not d._own_namespaces(spec(port_mappings=((8080, 80, "TCP"),)))  # the engine maps host ports
    assert not d._own_namespaces(spec(dns_searches=("a",)))  # would need the host's nameservers merged in


def test_own_sandboxes_need_a_node_name_and_a_local_engine(tmp_path: Path) -> None:
    pn = PodNetwork(run_dir=tmp_path)
    assert DockerDriver("unix:///x.sock", node_name="", pod_network=pn).podnet is None
    assert DockerDriver("tcp://10.0.0.1:2375", node_name="n", pod_network=pn).podnet is None
    assert DockerDriver("unix:///x.sock", node_name="n", pod_network=None).podnet is None
    assert DockerDriver("unix:///x.sock", node_name="n", pod_network=pn).podnet is pn


def test_pod_cidr_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_AGENT_POD_CIDR", "10.77.0.0/16")
    assert env_overrides()["pod_cidr"] == "10.77.0.0/16"
    monkeypatch.setenv("SHOAL_AGENT_POD_CIDR", "none")
    assert env_overrides()["pod_cidr"] == ""
    monkeypatch.delenv("SHOAL_AGENT_POD_CIDR")
    assert "pod_cidr" not in env_overrides()


def test_pods_take_the_overlays_mtu() -> None:
    assert host_batch("shoal-0123456789ab", "shoal0", 1450).splitlines()[0] == (
        "link add vsh0123456789ab mtu 1450 type veth peer name eth0 mtu 1450 netns shoal-0123456789ab")


async def test_no_sandbox_before_the_node_has_its_range(tmp_path: Path) -> None:
    pn = PodNetwork(run_dir=tmp_path, node_name="n1")
    assert not pn.configured
    with pytest.raises(DriverError, match="node n1 has no pod CIDR yet"):
        await pn.create({}, "p", None)
    await pn.configure("10.42.3.0/24", cluster_cidr="10.42.0.0/16", mtu=1450)  # not set up: nothing applied yet
    assert pn.configured and pn.mtu == 1450 and pn.cluster_cidr == "10.42.0.0/16"
    assert pn.addresses is not None and pn.addresses.directory == tmp_path / "ips" / "10.42.3.0_24"


def test_each_node_keeps_its_records_and_addresses_go_back_to_their_range(tmp_path: Path) -> None:
    """Agents of several "machines" on one host: each loads only its own node's sandboxes."""
    a, b = (PodNetwork("10.42.1.0/24", run_dir=tmp_path, node_name="a", netns_dir=tmp_path / "netns"),
            PodNetwork("10.42.2.0/24", run_dir=tmp_path, node_name="b", netns_dir=tmp_path / "netns"))
    rec = SandboxRecord("shoal-0123456789ab", "10.42.1.2", {"io.shoal.node": "a"})
    d = a.sandbox_dir(rec.id)
    d.mkdir(parents=True)
    (d / "sandbox.json").write_text(rec.to_json())
    a.load(), b.load()
    assert list(a.records) == [rec.id] and b.records == {}
    assert a.addresses is not None and a.addresses.allocate(rec.id) == "10.42.1.2"
    assert [pn.node_name for pn in node_networks(tmp_path)] == ["", "a"]  # every node with records, for tools
    a.remove(rec.id)  # the address is released from its range's directory
    assert not (tmp_path / "ips" / "10.42.1.0_24" / "10.42.1.2").exists() and not d.exists()
