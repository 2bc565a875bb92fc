"""The sandbox pool's pure parts: the durable bindings file, per-pod files, and which pods may use the pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shoal.agent.agent import env_overrides
from shoal.agent.drivers.base import LABEL_POD_UID, SandboxSpec
from shoal.agent.drivers.docker import DockerDriver
from shoal.agent.drivers.sandbox_pool import Binding, Bindings, hosts_file, resolv_file


def test_bindings_survive_a_reload_and_unbind(tmp_path: Path) -> None:
    b = Bindings(tmp_path / "s.json")
    b.bind("sb1", Binding({LABEL_POD_UID: "u1", "io.shoal.node": "n"}, (("/x/hosts", "/etc/hosts"),)))
    b.bind("sb2", Binding({LABEL_POD_UID: "u2", "io.shoal.node": "n"}))
    again = Bindings(tmp_path / "s.json")
    again.load()
    assert again.uid_of("sb1") == "u1" and again.get("sb1") == b.get("sb1")
    assert sorted(again.matching({"io.shoal.node": "n"})) == ["sb1", "sb2"]
    assert again.matching({LABEL_POD_UID: "u2"}) == ["sb2"]
    assert sorted(again.matching(None)) == ["sb1", "sb2"]
    assert again.matching({LABEL_POD_UID: "nope"}) == []
    assert again.unbind("sb1") is not None and again.unbind("sb1") is None
    third = Bindings(tmp_path / "s.json")
    third.load()
    assert list(third.items) == ["sb2"] and third.uid_of("sb1") == ""
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, no leftovers


@pytest.mark.parametrize("content", ["", "{not json", "[]", json.dumps({"sb": {"labels": "bad"}}),
                                     json.dumps({"sb": "x"})])
def test_bindings_ignore_a_bad_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "s.json").write_text(content)
    b = Bindings(tmp_path / "s.json")
    b.load()
    assert b.items == {}


def test_missing_bindings_file_is_empty(tmp_path: Path) -> None:
    b = Bindings(tmp_path / "none" / "s.json")
    b.load()
    assert b.items == {} and b.matching(None) == []


def test_pod_files() -> None:
    assert hosts_file("10.88.0.5", "web").splitlines()[-1] == "10.88.0.5\tweb"
    assert "web" not in hosts_file(None, "web")
    text = resolv_file(("10.96.0.10",), ("ns.svc.cluster.local", "cluster.local"), ("ndots:5",))
    assert text == "nameserver 10.96.0.10\nsearch ns.svc.cluster.local cluster.local\noptions ndots:5\n"
    assert resolv_file(("1.1.1.1",), (), ()) == "nameserver 1.1.1.1\n"


def spec(**kw: object) -> SandboxSpec:
    return SandboxSpec(pod_uid="u", pod_name="p", namespace="default", hostname="p", **kw)  # type: ignore[arg-type]


def test_which_pods_may_take_a_pooled_sandbox(tmp_path: Path) -> None:
    d = DockerDriver("unix:///nonexistent.sock", node_name="n", state_dir=tmp_path, pool_size=4)
    assert d.pool_size == 4
    assert d._poolable(spec())
    assert d._poolable(spec(dns_servers=("10.96.0.10",), dns_searches=("a",), dns_options=("ndots:5",)))
    assert not d._poolable(spec(host_network=True))
    assert not d._poolable(spec(port_mappings=((8080, 80, "TCP"),)))
    assert not d._poolable(spec(dns_searches=("a",)))  # would need the host's nameservers merged in
    assert d._claim(spec()) is None  # nothing ready: the caller makes its own sandbox


def test_pool_is_off_without_node_state_dir_or_local_engine(tmp_path: Path) -> None:
    assert DockerDriver("unix:///x.sock", node_name="", state_dir=tmp_path, pool_size=4).pool_size == 0
    assert DockerDriver("unix:///x.sock", node_name="n", state_dir=None, pool_size=4).pool_size == 0
    assert DockerDriver("tcp://10.0.0.1:2375", node_name="n", state_dir=tmp_path, pool_size=4).pool_size == 0
    assert DockerDriver("unix:///x.sock", node_name="n", state_dir=tmp_path, pool_size=-3).pool_size == 0


def test_pool_size_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_AGENT_SANDBOX_POOL", "0")
    assert env_overrides()["sandbox_pool"] == 0
    monkeypatch.setenv("SHOAL_AGENT_SANDBOX_POOL", "7")
    assert env_overrides()["sandbox_pool"] == 7
    monkeypatch.setenv("SHOAL_AGENT_SANDBOX_POOL", "lots")
    assert "sandbox_pool" not in env_overrides()
