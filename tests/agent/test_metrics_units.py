"""The agent's resource metrics without a runtime: cgroup layouts as fake trees, the window, synthetic usage."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from shoal.agent.cgroups import (
    CgroupReader,
    Usage,
    detect_layout,
    parse_meminfo_working_set,
    working_set,
)
from shoal.agent.metrics import AgentCollector, MetricsCollector, MetricsOptions, running_containers
from shoal.agent.usagewindow import (
    Sample,
    SyntheticCpu,
    Window,
    per_container,
    rate_of,
    synthetic_usage,
)

CID = "ab" * 32


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def v1_tree(root: Path, container_dir: str) -> None:
    write(root, "cpuacct/cpuacct.usage", "9000000000\n")
    write(root, "memory/memory.usage_in_bytes", "5000\n")
    write(root, "memory/memory.stat", "total_inactive_file 1000\n")
    write(root, f"cpuacct/{container_dir}/cpuacct.usage", "2500000000\n")
    write(root, f"memory/{container_dir}/memory.usage_in_bytes", "4096000\n")
    write(root, f"memory/{container_dir}/memory.stat", "cache 1\ntotal_inactive_file 96000\n")


@pytest.mark.parametrize("container_dir", [f"libpod_parent/libpod-{CID}", f"machine.slice/libpod-{CID}.scope",
                                           f"docker/{CID}", f"system.slice/docker-{CID}.scope"])
def test_v1_finds_the_container_wherever_the_runtime_put_it(tmp_path: Path, container_dir: str) -> None:
    v1_tree(tmp_path, container_dir)
    r = CgroupReader(tmp_path, proc=tmp_path / "proc")
    assert r.layout == "v1"
    assert r.container(CID) == Usage(2_500_000_000, 4_000_000)
    assert r.node() == Usage(9_000_000_000, 4000)
    assert r.container("cd" * 32) is None


def test_hybrid_reads_the_v1_controllers(tmp_path: Path) -> None:
    v1_tree(tmp_path, f"libpod_parent/libpod-{CID}")
    (tmp_path / "unified").mkdir()
    r = CgroupReader(tmp_path)
    assert r.layout == "hybrid" and r.container(CID) == Usage(2_500_000_000, 4_000_000)


def test_v2(tmp_path: Path) -> None:
    write(tmp_path, "cgroup.controllers", "cpu memory\n")
    d = f"machine.slice/libpod-{CID}.scope"
    write(tmp_path, f"{d}/cpu.stat", "usage_usec 1500\nuser_usec 1000\n")
    write(tmp_path, f"{d}/memory.current", "10000\n")
    write(tmp_path, f"{d}/memory.stat", "anon 5\ninactive_file 2000\n")
    write(tmp_path, "proc/stat", "cpu  100 0 100 5000 7 0 0 0 0 0\n")
    write(tmp_path, "proc/meminfo", "MemTotal: 100 kB\nMemFree: 40 kB\nInactive(file): 10 kB\n")
    r = CgroupReader(tmp_path, proc=tmp_path / "proc")
    assert r.layout == "v2"
    assert r.container(CID) == Usage(1_500_000, 8000)
    node = r.node()
    assert node is not None and node.memory_bytes == 50 * 1024 and node.cpu_ns > 0


def test_pure_parsers() -> None:
    assert working_set(100, {"total_inactive_file": 150}, v2=False) == 0
    assert parse_meminfo_working_set("MemTotal: 10 kB\nMemFree: 2 kB\n") == 8 * 1024
    assert detect_layout(Path("/nonexistent")) == "none"


def test_this_machine_has_a_layout_the_reader_knows() -> None:
    r = CgroupReader()
    assert r.layout in ("v1", "v2", "hybrid")
    node = r.node()
    assert node is not None and node.cpu_ns > 0 and node.memory_bytes > 0


def test_window_rates() -> None:
    assert rate_of([Sample(0, 0, 1)]) is None
    w = Window(3)
    for t, cpu in ((0, 0), (1, 500_000_000), (2, 1_000_000_000), (3, 2_500_000_000)):
        w.add("c", Sample(t, cpu, 7))
    r = w.rate("c")
    assert r is not None and (r.cpu_nanocores, r.memory_bytes, r.window) == (1_000_000_000, 7, 2)
    w.add("c", Sample(4, 10, 7))  # the counter went back: a new cgroup, the window restarts
    assert w.rate("c") is None
    w.retain([])
    assert len(w) == 0


def test_synthetic_usage_from_annotations() -> None:
    ann = {"sim.shoal.io/cpu-usage": "web=250m,side=10m", "sim.shoal.io/memory-usage": "64Mi"}
    assert synthetic_usage(ann, "web", default_cpu=Fraction(1, 1000), default_memory=1) == (Fraction(1, 4), 64 << 20)
    assert synthetic_usage(ann, "other", default_cpu=Fraction(1, 1000), default_memory=1)[0] == Fraction(1, 1000)
    assert synthetic_usage({"sim.shoal.io/cpu-usage": "bad"}, "x", default_cpu=Fraction(2), default_memory=1)[0] == 2
    assert per_container("1", "any") == "1"
    s = SyntheticCpu()
    s.advance("c", Fraction(1, 2), 10.0)
    assert s.advance("c", Fraction(1, 2), 12.0) == 1_000_000_000


POD = {"metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"},
                    "annotations": {"sim.shoal.io/cpu-usage": "500m"}},
       "spec": {"nodeName": "n1", "containers": [{"name": "main"}, {"name": "side"}]},
       "status": {"containerStatuses": [
           {"name": "main", "containerID": "simulated://c1", "state": {"running": {}}, "restartCount": 2,
            "image": "img"},
           {"name": "side", "containerID": "simulated://c2", "state": {"waiting": {}}}]}}


def test_collector_reports_running_containers_and_serves_cadvisor_names() -> None:
    assert [r.id for r in running_containers(POD)] == ["c1"]
    clock = [0.0]
    c = MetricsCollector(client=None, nodes=["n1"], pods=lambda: [POD], source=None, simulated=True,
                         opts=MetricsOptions(interval=1), monotonic=lambda: clock[0], wall=lambda: 1000.0)
    c.sample()
    assert c.report()["nodes"][0]["pods"] == []  # one sample: no rate yet
    clock[0] = 2.0
    c.sample()
    node = c.report()["nodes"][0]
    assert node["usage"] == {"cpu": 500_000_000, "memory": 8 << 20}
    assert node["pods"][0]["containers"] == [{"name": "main", "cpu": 500_000_000, "memory": 8 << 20}]
    assert node["pods"][0]["labels"] == {"app": "web"}
    names = {m.name: m for m in AgentCollector(c).collect()}
    cpu = names["container_cpu_usage_seconds"].samples[0]
    assert cpu.labels["pod"] == "web-1" and cpu.labels["container"] == "main" and cpu.value == 1.0
    assert names["kube_pod_container_status_restarts"].samples[0].value == 2
