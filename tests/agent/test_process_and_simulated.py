"""The ``process`` and ``simulated`` runtimes, and the ``shoal agent`` command's bad inputs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.agent.drivers.base import LABEL_POD_UID, ContainerSpec, DriverError, SandboxSpec
from shoal.agent.drivers.process import ProcessDriver
from tests.agent.conftest import (
    ROOT,
    Cluster,
    make_cluster,
    phase,
    ready,
    status_of,
    unique,
    waiting_reason,
)
from tests.server_fixture import free_port


@pytest.fixture(scope="module")
def process_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    server, agent = make_cluster(Path(tmp_path_factory.mktemp("agent-process")),
                                 runtime_args=["--runtime", "process"], node_prefix="proc")
    try:
        yield Cluster(server, agent)
    finally:
        agent.stop()
        server.stop()


@pytest.fixture(scope="module")
def sim_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    server, agent = make_cluster(
        Path(tmp_path_factory.mktemp("agent-sim")),
        runtime_args=["--runtime", "simulated", "--simulate-nodes", "3", "--labels", "zone=a,tier=hollow",
                      "--capacity", "cpu=8,memory=16Gi,pods=50", "--simulate-complete-after", "1",
                      "--lease-interval", "0.5"],
        node_prefix="sim")
    cluster = Cluster(server, agent)
    cluster.node = f"{agent.node}-1"
    try:
        yield cluster
    finally:
        agent.stop()
        server.stop()


# ---- process runtime, end to end ----------------------------------------------------------------------
def test_process_pod_runs_restarts_and_deletes(process_cluster: Cluster) -> None:
    c = process_cluster
    ok, crash = unique("proc"), unique("pcrash")
    c.pod(ok, [{"name": "main", "image": "ignored", "command": ["sh", "-c", "echo $GREETING; sleep 1000"],
                "env": [{"name": "GREETING", "value": "hi"}],
                "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}],
          terminationGracePeriodSeconds=5)
    c.pod(crash, [{"name": "main", "image": "ignored", "command": ["sh", "-c", "exit 2"]}])
    pod = c.wait(ok, ready, what="Ready")
    assert pod["status"]["podIP"] == pod["status"]["hostIP"]  # host network: the host's address
    assert status_of(pod, "main")["containerID"].startswith("process://")
    pod = c.wait(crash, lambda p: status_of(p, "main").get("restartCount", 0) >= 1
                 and waiting_reason(p, "main") == "CrashLoopBackOff", what="CrashLoopBackOff")
    assert status_of(pod, "main")["lastState"]["terminated"]["exitCode"] == 2
    t0 = time.monotonic()
    c.delete(ok)
    c.delete(crash)
    c.wait_gone(ok)
    c.wait_gone(crash)
    assert time.monotonic() - t0 < 5  # sh dies on SIGTERM: no need to wait for the grace period


def test_process_pod_with_no_command_is_a_clear_error(process_cluster: Cluster) -> None:
    c = process_cluster
    name = unique("nocmd")
    c.pod(name, [{"name": "main", "image": "localhost/busybox:test"}])
    pod = c.wait(name, lambda p: waiting_reason(p, "main") == "CreateContainerError")
    assert "command" in status_of(pod, "main")["state"]["waiting"]["message"]
    c.delete(name)
    c.wait_gone(name)


def test_restart_backoff_follows_the_pod_annotation(process_cluster: Cluster) -> None:
    """``shoal.io/restart-backoff: 0.5s,3,4.5s``: waits of 0.5, 1.5, then 4.5 s (the node's own are 1, 2, 4, 8 s
    here); an annotation that does not parse leaves the node's back-off and says so in an event."""
    c = process_cluster
    name, bad = unique("pback"), unique("pbad")
    crash = [{"name": "main", "image": "ignored", "command": ["sh", "-c", "exit 3"]}]
    c.pod(name, crash, metadata={"annotations": {"shoal.io/restart-backoff": "0.5s,3,4.5s"}})
    c.pod(bad, crash, metadata={"annotations": {"shoal.io/restart-backoff": "soon"}})
    seen: dict[str, int] = {}  # each back-off message -> the restart count when first seen

    def record(p: dict[str, Any]) -> bool:
        st = status_of(p, "main")
        msg = str(((st.get("state") or {}).get("waiting") or {}).get("message") or "")
        if msg.startswith("back-off "):
            seen.setdefault(msg.split()[1], int(st.get("restartCount") or 0))
        return "4.5s" in seen

    c.wait(name, record, timeout=30, what="a 4.5 s back-off")
    assert seen["4.5s"] == 3 and seen.get("1.5s", 2) == 2, seen
    assert not {"1s", "2s", "4s"} & set(seen), seen
    t0 = time.monotonic()
    c.wait(name, lambda p: status_of(p, "main").get("restartCount", 0) >= 4, timeout=15)
    assert time.monotonic() - t0 > 2.5  # the 4.5 s wait holds (less the time since it was first seen)
    c.wait(bad, lambda p: waiting_reason(p, "main") == "CrashLoopBackOff")
    warned = [e for e in c.events(bad) if e["reason"] == "InvalidAnnotation"]
    assert len(warned) == 1 and "shoal.io/restart-backoff" in warned[0]["message"], warned
    for n in (name, bad):
        c.delete(n, grace=0)
    c.wait_gone(name)
    c.wait_gone(bad)


# ---- process driver, directly ---------------------------------------------------------------------------
async def test_process_driver_logs_exec_stop_and_adoption(tmp_path: Path) -> None:
    drv = ProcessDriver(tmp_path)
    await drv.start()
    changed: list[str] = []
    drv.set_change_handler(changed.append)
    sb = await drv.run_sandbox(SandboxSpec(pod_uid="u1", pod_name="p", namespace="ns", hostname="p"))
    spec = ContainerSpec(pod_uid="u1", pod_name="p", namespace="ns", name="c", image="", sandbox_id=sb.id,
                         command=("sh", "-c"), args=("echo one; echo two >&2; printf partial; sleep 30",),
                         env={"X": "1"})
    cid = await drv.create_container(spec)
    await drv.start_container(cid)
    await asyncio.sleep(0.8)
    out = b"".join([x async for x in drv.logs(cid)])
    assert out == b"one\ntwo\n"  # the partial line is written when it ends
    stamped = b"".join([x async for x in drv.logs(cid, timestamps=True, tail=1)])
    assert stamped.endswith(b" two\n") and stamped[:4].isdigit()
    session = await drv.exec(cid, ["sh", "-c", "cat; echo $X; exit 4"], stdin=True)
    await session.write_stdin(b"in\n")
    await session.close_stdin()
    frames = [f async for f in session.output()]
    assert b"".join(d for _, d in frames) == b"in\n1\n"
    assert await session.wait() == 4
    with pytest.raises(DriverError):
        await drv.exec(cid, ["/no/such/thing"])
    # a new driver over the same directory adopts the running process and sees its exit code
    await drv.close()
    again = ProcessDriver(tmp_path)
    await again.start()
    seen: list[str] = []
    again.set_change_handler(seen.append)
    st = await again.inspect(cid)
    assert st.state == "running" and st.labels[LABEL_POD_UID] == "u1"
    await again.stop_container(cid, 2)
    st = await again.inspect(cid)
    assert st.state == "exited" and st.exit_code in (143, 137)
    assert seen == ["u1"]
    await again.remove_container(cid)
    await again.remove_sandbox(sb.id)
    assert await again.list_containers({LABEL_POD_UID: "u1"}) == []
    await again.close()


async def test_process_driver_bad_command(tmp_path: Path) -> None:
    drv = ProcessDriver(tmp_path)
    await drv.start()
    spec = ContainerSpec(pod_uid="u2", pod_name="p", namespace="ns", name="c", image="", sandbox_id="x",
                         command=("no-such-command-xyz",))
    cid = await drv.create_container(spec)
    with pytest.raises(DriverError, match="executable file not found"):
        await drv.start_container(cid)
    with pytest.raises(DriverError, match="command"):
        await drv.create_container(ContainerSpec(pod_uid="u2", pod_name="p", namespace="ns", name="d", image="",
                                                 sandbox_id="x"))
    await drv.remove_container(cid)
    await drv.close()


# ---- simulated nodes ------------------------------------------------------------------------------------
def test_simulated_nodes_register_with_labels_capacity_and_leases(sim_cluster: Cluster) -> None:
    c = sim_cluster
    base = c.agent.node
    for i in range(3):
        node = c.http.get(c.url(f"/api/v1/nodes/{base}-{i}")).json()
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == f"{base}-{i}" and labels["zone"] == "a"
        assert labels["kubernetes.io/os"] == "linux" and labels["tier"] == "hollow"
        assert node["status"]["capacity"]["cpu"] == "8" and node["status"]["allocatable"]["pods"] == "50"
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "simulated://1"
    path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{base}-0"
    first = c.http.get(c.url(path)).json()["spec"]["renewTime"]
    time.sleep(1.2)
    second = c.http.get(c.url(path)).json()["spec"]
    assert second["renewTime"] > first and second["holderIdentity"] == f"{base}-0"


def test_simulated_pods_run_complete_and_delete(sim_cluster: Cluster) -> None:
    c = sim_cluster
    svc, job = unique("hollow"), unique("hollowjob")
    refused = free_port()  # probes of hollow pods are decided by the driver: none connects, so this passes
    probe = {"httpGet": {"host": "127.0.0.1", "port": refused}, "periodSeconds": 1}
    c.pod(svc, [{"name": "main", "image": "anything:1", "readinessProbe": probe},
                {"name": "side", "image": "anything:2", "livenessProbe": {"tcpSocket": {"port": 80}}}])
    c.pod(job, [{"name": "main", "image": "anything:1"}], restartPolicy="Never")
    pod = c.wait(svc, ready, what="Ready")
    assert pod["status"]["podIP"].startswith("100.") and pod["spec"]["nodeName"] == c.node
    assert [s["ready"] for s in pod["status"]["containerStatuses"]] == [True, True]
    pod = c.wait(job, lambda p: phase(p) == "Succeeded", what="Succeeded")
    assert status_of(pod, "main")["state"]["terminated"]["reason"] == "Completed"
    c.delete(svc)
    c.delete(job)
    c.wait_gone(svc)
    c.wait_gone(job)


# ---- the command line ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "needle"), [
    (["--capacity", "cpu=lots"], "not a quantity"),
    (["--labels", "novalue"], "expected key=value"),
    (["--labels", "bad key=x"], "invalid label"),
    (["--node-name", "Not_Valid"], "not a valid node name"),
    (["--simulate-nodes", "-1"], "-1"),
    (["--server", "ftp://x"], "expected https"),
    (["--simulate-probe-result", "flaky"], "flaky"),
    (["--ca-file", "/no/such/ca.crt"], "no such file"),
])
def test_agent_command_rejects_bad_arguments(args: list[str], needle: str, tmp_path: Path) -> None:
    base = {"--server": "https://127.0.0.1:1", "--token": "t", "--data-dir": str(tmp_path)}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = [x for kv in base.items() for x in kv]
    p = subprocess.run([sys.executable, "-m", "shoal", "agent", *argv], capture_output=True, text=True, cwd=ROOT,
                       timeout=30)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr


def test_agent_command_with_a_wrong_token_fails_clearly(sim_cluster: Cluster, tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "shoal", "agent", "--server", sim_cluster.server.url, "--token",
                        "wrong", "--ca-file", sim_cluster.server.ca, "--data-dir", str(tmp_path),
                        "--runtime", "simulated"], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert p.returncode == 1
    assert "401" in p.stderr


# ---- runtime selection ------------------------------------------------------------------------------------
async def test_podman_service_started_and_stopped_by_the_agent(tmp_path: Path) -> None:
    """Where no socket answers, the agent runs ``podman system service`` itself (on its own socket here)."""
    import shutil

    from shoal.agent.runtime import PodmanService, engine_answers

    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    sock = tmp_path / "run" / "podman.sock"
    svc = PodmanService(str(sock))
    assert await svc.start()
    assert await engine_answers(f"unix://{sock}")
    proc = svc.proc
    await svc.stop()
    assert proc is not None and proc.returncode is not None
    assert not await engine_answers(f"unix://{sock}", 1)


async def test_runtime_selection(tmp_path: Path) -> None:
    from shoal.agent.runtime import RuntimeOptions, open_runtime

    with pytest.raises(DriverError, match="no container engine answers"):
        await open_runtime(RuntimeOptions(runtime="docker", docker_host=f"unix://{tmp_path}/none.sock",
                                          state_dir=tmp_path))
    with pytest.raises(DriverError, match="unknown runtime"):
        await open_runtime(RuntimeOptions(runtime="kvm", state_dir=tmp_path))
    # auto with an explicit engine that does not answer: the process runtime, not a crash
    drv, svc = await open_runtime(RuntimeOptions(runtime="auto", docker_host=f"unix://{tmp_path}/none.sock",
                                                 state_dir=tmp_path))
    assert drv.name == "process" and svc is None
    await drv.close()


# ---- volumes ------------------------------------------------------------------------------------------
def test_process_pod_sees_its_volumes_through_rewritten_paths(process_cluster: Cluster) -> None:
    c = process_cluster
    name, cm = unique("pvol"), unique("cm")
    c.create("/api/v1/namespaces/default/configmaps",
             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm}, "data": {"k": "from-cm"}})
    c.pod(name, [{"name": "main", "image": "none", "command": ["sh", "-c", "cat /cfg/k > /scratch/out; sleep 1000"],
                  "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}, {"name": "scratch", "mountPath": "/scratch"}]}],
          volumes=[{"name": "cfg", "configMap": {"name": cm}}, {"name": "scratch", "emptyDir": {}}],
          terminationGracePeriodSeconds=0)
    pod = c.wait(name, lambda p: phase(p) == "Running", what="Running")
    out = c.agent.root / "agent" / "pods" / pod["metadata"]["uid"] / "volumes" / "kubernetes.io~empty-dir" / "scratch"
    deadline = time.monotonic() + 10
    while not (out / "out").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (out / "out").read_text() == "from-cm"
    c.delete(name, grace=0)
    c.wait_gone(name)
    deadline = time.monotonic() + 10
    while out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not out.exists()


def test_simulated_pod_with_volumes_runs_and_nothing_is_written(sim_cluster: Cluster) -> None:
    c = sim_cluster
    ok, bad = unique("svol"), unique("snfs")
    c.pod(ok, [{"name": "main", "image": "x", "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}]}],
          volumes=[{"name": "cfg", "configMap": {"name": "does-not-matter"}}])
    c.pod(bad, [{"name": "main", "image": "x", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
          volumes=[{"name": "d", "iscsi": {"targetPortal": "192.0.2.1:3260", "iqn": "iqn.x", "lun": 0}}])
    c.wait(ok, lambda p: phase(p) == "Running", what="Running")
    c.wait(bad, lambda p: waiting_reason(p, "main") == "ContainerCreating", what="ContainerCreating")
    assert not (c.agent.root / "agent" / "pods").exists()  # no I/O for hollow pods
    time.sleep(1)
    assert phase(c.get(bad) or {}) == "Pending"
