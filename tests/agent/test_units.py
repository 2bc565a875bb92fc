"""The agent's pure parts: environment building, pod phase and status, argument parsing, OOM lookup."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from shoal.agent.drivers.base import ContainerStatus
from shoal.agent.drivers.docker import rfc3339
from shoal.agent.drivers.oom import kernel_oom_killed
from shoal.agent.env import ConfigError, build_env, expand
from shoal.agent.main import AgentArgs, BadArgument, options
from shoal.agent.node import NodeConfig, node_object, parse_kv
from shoal.agent.status import ContainerView, build_status, pod_phase

POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}, "annotations": {"a": "1"}},
    "spec": {"nodeName": "n1", "serviceAccountName": "sa", "restartPolicy": "Always"},
}
OBJECTS: dict[tuple[str, str], dict[str, Any]] = {
    ("configmaps", "cm"): {"data": {"k": "v", "other": "o"}},
    ("secrets", "s"): {"data": {"pw": base64.b64encode(b"hunter2").decode()}},
}


async def fetch(kind: str, ns: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((kind, name))


async def test_env_order_sources_and_expansion() -> None:
    c = {"envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "P_"}],
         "env": [{"name": "A", "value": "a"}, {"name": "B", "value": "$(A)-$(NOPE)-$$(A)"},
                 {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                 {"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                 {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}],
         "resources": {"limits": {"cpu": "250m"}}}
    env = await build_env(POD, c, fetch, pod_ip="10.0.0.5")
    assert list(env) == ["P_k", "P_other", "A", "B", "K", "PW", "L", "SA", "IP", "CPU"]
    assert env["B"] == "a-$(NOPE)-$(A)" and env["PW"] == "hunter2" and env["L"] == "x"
    assert env["SA"] == "sa" and env["IP"] == "10.0.0.5" and env["CPU"] == "250"


@pytest.mark.parametrize(("env", "message"), [
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k"}}}], 'configmap "missing" not found'),
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nokey"}}}], "couldn't find key nokey"),
    ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}], 'secret "gone" not found'),
    ([{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}], "unsupported fieldRef"),
    ([{"name": "X", "valueFrom": {}}], "names no source"),
])
async def test_env_errors_are_config_errors(env: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        await build_env(POD, {"env": env}, fetch)


async def test_env_optional_sources_are_skipped() -> None:
    c = {"envFrom": [{"secretRef": {"name": "gone", "optional": True}}],
         "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nokey", "optional": True}}}]}
    assert await build_env(POD, c, fetch) == {}


def test_expand() -> None:
    assert expand("$(A)$(B)$$x$(", {"A": "1"}) == "1$(B)$x$("


def cs(state: str, code: int | None = None, attempt: int = 0, oom: bool = False) -> ContainerStatus:
    return ContainerStatus(id=f"id{attempt}", name="c", pod_uid="u", state=state, exit_code=code, oom_killed=oom,
                           labels={"io.shoal.container.attempt": str(attempt)})


@pytest.mark.parametrize(("policy", "apps", "expected"), [
    ("Always", [ContainerView("c", "i")], "Pending"),
    ("Always", [ContainerView("c", "i", current=cs("running"))], "Running"),
    ("Always", [ContainerView("c", "i", current=cs("exited", 0))], "Running"),
    ("OnFailure", [ContainerView("c", "i", current=cs("exited", 0))], "Succeeded"),
    ("OnFailure", [ContainerView("c", "i", current=cs("exited", 1))], "Running"),
    ("Never", [ContainerView("c", "i", current=cs("exited", 1))], "Failed"),
    ("Never", [ContainerView("c", "i", current=cs("exited", 0)), ContainerView("d", "i", current=cs("running"))],
     "Running"),
])
def test_pod_phase(policy: str, apps: list[ContainerView], expected: str) -> None:
    assert pod_phase(policy, [], apps) == expected


def test_phase_with_init_containers() -> None:
    failed_init = [ContainerView("i", "img", current=cs("exited", 2))]
    assert pod_phase("Never", failed_init, [ContainerView("c", "i")]) == "Failed"
    assert pod_phase("Always", failed_init, [ContainerView("c", "i")]) == "Pending"


def test_status_keeps_transition_times_and_reports_oom() -> None:
    view = ContainerView("c", "img", current=cs("exited", 137, attempt=1, oom=True), restart_count=1)
    pod = {**POD, "status": {"conditions": [{"type": "Initialized", "status": "True",
                                             "lastTransitionTime": "2020-01-01T00:00:00Z"}],
                             "startTime": "2020-01-01T00:00:00Z"}}
    st = build_status(pod, inits=[], apps=[view], pod_ip="10.1.1.1", host_ip="192.0.2.1", sandbox_ready=True,
                      scheme="podman", now="2030-01-01T00:00:00Z")
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Initialized"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["lastTransitionTime"] == "2030-01-01T00:00:00Z"
    term = st["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137 and term["containerID"] == "podman://id1"
    assert st["startTime"] == "2020-01-01T00:00:00Z" and st["podIPs"] == [{"ip": "10.1.1.1"}]


def test_crashloop_status_shows_last_exit() -> None:
    view = ContainerView("c", "img", current=cs("exited", 3, attempt=2), restart_count=2,
                         waiting_reason="CrashLoopBackOff", waiting_message="back-off 20s")
    st = build_status(POD, inits=[], apps=[view], pod_ip=None, host_ip=None, sandbox_ready=True, scheme="x",
                      now="2030-01-01T00:00:00Z")
    c = st["containerStatuses"][0]
    assert c["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}}
    assert c["lastState"]["terminated"]["exitCode"] == 3 and c["restartCount"] == 2


def test_parse_kv_and_node_object() -> None:
    assert parse_kv("a=1, b = 2,,", what="x") == {"a": "1", "b": "2"}
    with pytest.raises(ValueError, match="expected key=value"):
        parse_kv("a", what="--labels")
    node = node_object(NodeConfig(name="n9", labels={"zone": "z"}, capacity={"cpu": "3", "pods": "7"}))
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "n9"
    assert node["metadata"]["labels"]["zone"] == "z"
    assert node["status"]["capacity"]["cpu"] == "3" and node["status"]["allocatable"]["pods"] == "7"
    assert "memory" in node["status"]["capacity"]  # the host's, for what --capacity leaves out
    assert {c["type"] for c in node["status"]["conditions"]} >= {"Ready", "MemoryPressure"}


def test_options_defaults_ca_from_data_dir(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("x")
    opts, ca = options(AgentArgs(server="https://h:1", token="t", data_dir=tmp_path, node_name="n1"))
    assert ca == str(tmp_path / "ca.crt") and opts.node_name == "n1" and opts.state_dir == tmp_path / "agent"
    with pytest.raises(BadArgument) as e:
        options(AgentArgs(server="https://h:1", token="t", data_dir=tmp_path, capacity="memory=-1"))
    assert e.value.option == "--capacity"


def test_rfc3339_and_kernel_oom_lookup(tmp_path: Path) -> None:
    assert rfc3339("2024-05-01T10:00:00.123456789Z") == "2024-05-01T10:00:00Z"
    assert rfc3339("2024-05-01T12:00:00.5+02:00") == "2024-05-01T10:00:00Z"
    assert rfc3339("0001-01-01T00:00:00Z") is None and rfc3339("") is None
    log = tmp_path / "kmsg"
    cid = "a" * 64
    log.write_bytes(b"6,1,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/libpod_parent/libpod-" + cid.encode())
    assert kernel_oom_killed(cid, kmsg=str(log))
    assert not kernel_oom_killed("b" * 64, kmsg=str(log))
    assert not kernel_oom_killed(cid, kmsg=str(tmp_path / "none"))
