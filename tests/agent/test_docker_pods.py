"""Pods as real Podman containers, through a real server and a real ``shoal agent`` process.

Pods are created at once where they do not depend on each other and waited on
afterwards, so the module runs in well under a minute.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.agent.conftest import (
    IMAGE,
    Cluster,
    phase,
    ready,
    status_of,
    unique,
    waiting_reason,
)
from tests.podman_fixture import own_sandboxes


def sh(script: str, name: str = "main", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "command": ["sh", "-c", script], **extra}


def inspect_env(cluster: Cluster, pod: dict[str, Any], container: str) -> dict[str, str]:
    for c in cluster.containers(pod["metadata"]["uid"]):
        if c["Labels"].get("io.shoal.container.name") == container:
            out = subprocess.run(["podman", "inspect", c["Id"]], capture_output=True, text=True).stdout
            env = json.loads(out)[0]["Config"]["Env"]
            return dict(e.split("=", 1) for e in env)
    raise AssertionError(f"no container {container}")


def pod_parts(cluster: Cluster, pod_uid: str) -> int:
    """Every container of a pod and the sandbox the agent made for it, if it did."""
    return len(cluster.containers(pod_uid)) + len(own_sandboxes({"io.shoal.pod.uid": pod_uid}))


def in_pod(cid: str, *cmd: str) -> str:
    return subprocess.run(["podman", "exec", cid, *cmd], capture_output=True, text=True).stdout


def test_pod_runs_with_ip_and_containers_share_localhost(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name = unique("web")
    c.pod(name, [
        sh("httpd -f -p 8080 -h /www", name="server"),
        sh("until wget -q -O /tmp/ok http://127.0.0.1:8080/; do sleep 0.2; done; sleep 100000", name="client",
           readinessProbe={"exec": {"command": ["cat", "/tmp/ok"]}, "periodSeconds": 1}),
    ], terminationGracePeriodSeconds=1)
    pod = c.wait(name, ready, what="Ready")
    st = pod["status"]
    assert st["phase"] == "Running"
    assert st["podIP"].startswith("10.42.")  # a sandbox the agent made, on its own bridge
    assert st["hostIP"] and st["startTime"]
    conds = {x["type"]: x["status"] for x in st["conditions"]}
    assert conds == {"PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
                     "ContainersReady": "True", "PodScheduled": "True"}
    server = status_of(pod, "server")
    assert server["ready"] and server["started"] and server["restartCount"] == 0
    assert server["containerID"].startswith("podman://") and server["image"] == IMAGE
    assert "running" in server["state"]
    # the pod IP answers from the host, and the pod's hostname is its name
    out = subprocess.run(["curl", "-s", "-m", "5", f"http://{st['podIP']}:8080/"], capture_output=True, text=True)
    assert out.stdout.strip() == "hello"
    cid = server["containerID"].split("://")[1]
    host = subprocess.run(["podman", "exec", cid, "hostname"], capture_output=True, text=True).stdout.strip()
    assert host == name
    reasons = {e["reason"] for e in c.events(name)}
    assert {"Pulled", "Created", "Started"} <= reasons
    c.delete(name, grace=0)
    c.wait_gone(name)


def test_env_from_configmap_secret_and_fields(docker_cluster: Cluster) -> None:
    c = docker_cluster
    cm, sec, name = unique("cm"), unique("sec"), unique("env")
    c.create("/api/v1/namespaces/default/configmaps",
             {"metadata": {"name": cm}, "data": {"color": "blue", "size": "L", "1bad": "x"}})
    c.create("/api/v1/namespaces/default/secrets",
             {"metadata": {"name": sec}, "data": {"password": base64.b64encode(b"s3cret").decode()}})
    pod = c.pod(name, [sh("sleep 100000", env=[
        {"name": "PLAIN", "value": "v1"},
        {"name": "EXPANDED", "value": "$(PLAIN)-x-$$(PLAIN)"},
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "color"}}},
        {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": sec, "key": "password"}}},
        {"name": "MISSING_OK", "valueFrom": {"configMapKeyRef": {"name": cm, "key": "nope", "optional": True}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
    ], envFrom=[{"configMapRef": {"name": cm}, "prefix": "CM_"}, {"secretRef": {"name": sec}}], resources={"limits": {"memory": "64Mi"}})],
        terminationGracePeriodSeconds=0)
    pod = c.wait(name, lambda p: phase(p) == "Running", what="Running")
    env = inspect_env(c, pod, "main")
    assert env["PLAIN"] == "v1"
    assert env["EXPANDED"] == "v1-x-$(PLAIN)"
    assert env["COLOR"] == "blue" and env["PASS"] == "s3cret"
    assert "MISSING_OK" not in env
    assert env["POD_NAME"] == name and env["POD_NS"] == "default" and env["NODE"] == c.node
    assert env["POD_IP"] == pod["status"]["podIP"]
    assert env["MEM"] == "64"
    assert env["CM_color"] == "blue" and env["CM_size"] == "L" and env["CM_1bad"] == "x"
    assert env["password"] == "s3cret"
    c.delete(name)
    c.wait_gone(name)


def test_init_containers_run_in_order_then_app(docker_cluster: Cluster) -> None:
    c = docker_cluster
    ok, bad = unique("init"), unique("initfail")
    c.pod(ok, [sh("sleep 100000")], initContainers=[sh("sleep 0.5", name="first"), sh("true", name="second")],
          terminationGracePeriodSeconds=0)
    c.pod(bad, [sh("sleep 100000")], initContainers=[sh("exit 7", name="first")], restartPolicy="Never")
    pod = c.wait(ok, lambda p: phase(p) == "Running", what="Running")
    for n in ("first", "second"):
        t = status_of(pod, n, init=True)["state"]["terminated"]
        assert t["exitCode"] == 0 and t["reason"] == "Completed"
    first = status_of(pod, "first", init=True)["state"]["terminated"]["finishedAt"]
    second = status_of(pod, "second", init=True)["state"]["terminated"]["startedAt"]
    assert first <= second
    pod = c.wait(bad, lambda p: phase(p) == "Failed", what="Failed")
    assert status_of(pod, "first", init=True)["state"]["terminated"]["exitCode"] == 7
    assert waiting_reason(pod, "main") == "PodInitializing"
    init_cond = next(x for x in pod["status"]["conditions"] if x["type"] == "Initialized")
    assert init_cond["status"] == "False" and "first" in init_cond["message"]
    for n in (ok, bad):
        c.delete(n)
    for n in (ok, bad):
        c.wait_gone(n)


def test_crash_restarts_with_backoff_and_crashloop(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name, once = unique("crash"), unique("onfail")
    c.pod(name, [sh("echo boom; exit 3")], terminationGracePeriodSeconds=0)
    c.pod(once, [sh("exit 0")], restartPolicy="OnFailure")
    pod = c.wait(name, lambda p: waiting_reason(p, "main") == "CrashLoopBackOff"
                 and status_of(p, "main").get("restartCount", 0) >= 2, timeout=30, what="CrashLoopBackOff")
    st = status_of(pod, "main")
    assert "back-off" in st["state"]["waiting"]["message"]
    assert st["lastState"]["terminated"]["exitCode"] == 3 and st["lastState"]["terminated"]["reason"] == "Error"
    assert phase(pod) == "Running" and not ready(pod)
    assert any(e["reason"] == "BackOff" and e["type"] == "Warning" for e in c.events(name))
    # exit 0 with OnFailure: done, Succeeded, not restarted
    pod = c.wait(once, lambda p: phase(p) == "Succeeded", what="Succeeded")
    assert status_of(pod, "main")["restartCount"] == 0
    assert status_of(pod, "main")["state"]["terminated"]["reason"] == "Completed"
    # only the latest two attempts are kept
    time.sleep(1)
    uid = c.get(name)["metadata"]["uid"]  # type: ignore[index]
    assert len([x for x in c.containers(uid) if x["Labels"].get("io.shoal.role") != "sandbox"]) <= 2
    for n in (name, once):
        c.delete(n)
    for n in (name, once):
        c.wait_gone(n)


def test_oom_killed_with_small_memory_limit(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name = unique("oom")
    c.pod(name, [sh("a=xxxxxxxxxxxxxxxx; while true; do a=$a$a; done", resources={"limits": {"memory": "16Mi"}})],
          restartPolicy="Never")
    pod = c.wait(name, lambda p: phase(p) == "Failed", timeout=40, what="Failed")
    t = status_of(pod, "main")["state"]["terminated"]
    assert t["reason"] == "OOMKilled" and t["exitCode"] == 137
    c.delete(name)
    c.wait_gone(name)


def test_probes(docker_cluster: Cluster) -> None:
    c = docker_cluster
    live, http_closed, tcp_open, startup = unique("live"), unique("httpclosed"), unique("tcp"), unique("startup")
    c.pod(live, [sh("sleep 100000", livenessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1,
                                                    "failureThreshold": 1})], terminationGracePeriodSeconds=1)
    c.pod(http_closed, [sh("sleep 100000", readinessProbe={"httpGet": {"port": 8081, "path": "/"},
                                                           "periodSeconds": 1})], terminationGracePeriodSeconds=0)
    c.pod(tcp_open, [sh("httpd -f -p 8080 -h /www", ports=[{"containerPort": 8080, "name": "web"}],
                        readinessProbe={"tcpSocket": {"port": "web"}, "periodSeconds": 1},
                        startupProbe={"httpGet": {"port": 8080, "path": "/index.html"}, "periodSeconds": 1})],
          terminationGracePeriodSeconds=0)
    c.pod(startup, [sh("sleep 100000", startupProbe={"exec": {"command": ["false"]}, "periodSeconds": 1,
                                                     "failureThreshold": 2})], terminationGracePeriodSeconds=0)
    pod = c.wait(tcp_open, ready, what="Ready via tcp + http startup")
    assert status_of(pod, "main")["started"] is True
    pod = c.wait(live, lambda p: status_of(p, "main").get("restartCount", 0) >= 1, timeout=30, what="restart")
    ev = c.events(live)
    assert any(e["reason"] == "Unhealthy" and "Liveness probe failed" in e["message"] for e in ev)
    assert any(e["reason"] == "Killing" and "liveness" in e["message"] for e in ev)
    pod = c.get(http_closed)
    assert pod is not None and phase(pod) == "Running" and not ready(pod)
    assert status_of(pod, "main")["ready"] is False
    ev = c.events(http_closed)
    assert any(e["reason"] == "Unhealthy" and "Readiness probe failed" in e["message"] for e in ev)
    pod = c.wait(startup, lambda p: status_of(p, "main").get("restartCount", 0) >= 1, timeout=30,
                 what="startup probe restart")
    assert status_of(pod, "main")["started"] is False
    for n in (live, http_closed, tcp_open, startup):
        c.delete(n, grace=0)
    for n in (live, http_closed, tcp_open, startup):
        c.wait_gone(n)


def test_graceful_delete(docker_cluster: Cluster) -> None:
    c = docker_cluster
    polite, stubborn = unique("polite"), unique("stubborn")
    c.pod(polite, [sh("trap 'exit 0' TERM; sleep 100000 & wait")], terminationGracePeriodSeconds=20)
    c.pod(stubborn, [sh("trap '' TERM; sleep 100000 & wait")], terminationGracePeriodSeconds=2)
    p1 = c.wait(polite, lambda p: phase(p) == "Running")
    p2 = c.wait(stubborn, lambda p: phase(p) == "Running")
    t0 = time.monotonic()
    c.delete(polite)
    c.delete(stubborn)
    assert c.wait_gone(polite) < 8  # stopped on SIGTERM, well before its 20 s
    c.wait_gone(stubborn)
    assert time.monotonic() - t0 >= 1.5  # waited for the grace period, then SIGKILL
    for p in (p1, p2):
        assert c.containers(p["metadata"]["uid"]) == []
    assert any(e["reason"] == "Killing" for e in c.events(polite))


def test_bad_inputs_end_in_clear_reasons(docker_cluster: Cluster) -> None:
    c = docker_cluster
    missing, nocmd, tiny, noenv = unique("noimage"), unique("nocmd"), unique("tiny"), unique("noenv")
    c.pod(missing, [{"name": "main", "image": "localhost/no-such-image:1"}])
    c.pod(nocmd, [{"name": "main", "image": IMAGE, "command": ["/no/such/binary"]}], restartPolicy="Never")
    c.pod(tiny, [sh("sleep 1", resources={"limits": {"memory": "1"}})])
    c.pod(noenv, [sh("sleep 1", env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope-cm",
                                                                                     "key": "k"}}}])])
    pod = c.wait(missing, lambda p: waiting_reason(p, "main") in ("ErrImagePull", "ImagePullBackOff"))
    assert "no-such-image" in status_of(pod, "main")["state"]["waiting"]["message"]
    assert phase(pod) == "Pending"
    pod = c.wait(nocmd, lambda p: phase(p) == "Failed", what="Failed")
    t = status_of(pod, "main")["state"]["terminated"]
    assert t["exitCode"] == 128 and t["reason"] == "StartError" and "/no/such/binary" in t["message"]
    # Podman takes the limit at create and the runtime refuses it at start: StartError, then back-off
    pod = c.wait(tiny, lambda p: "memory limit" in json.dumps(status_of(p, "main")))
    st = status_of(pod, "main")
    assert (st["state"].get("waiting", {}).get("reason") in ("CreateContainerError", "CrashLoopBackOff",
                                                             "RunContainerError")
            or st["state"].get("terminated", {}).get("reason") == "StartError")
    pod = c.wait(noenv, lambda p: waiting_reason(p, "main") == "CreateContainerConfigError")
    assert 'configmap "nope-cm" not found' in status_of(pod, "main")["state"]["waiting"]["message"]
    for n in (missing, nocmd, tiny, noenv):
        assert any(e["type"] == "Warning" for e in c.events(n)), n
        c.delete(n, grace=0)
    for n in (missing, nocmd, tiny, noenv):
        c.wait_gone(n)
    assert c.agent.proc is not None and c.agent.proc.poll() is None  # the agent lives on


def test_agent_restart_adopts_and_cleans_up(docker_cluster: Cluster) -> None:
    c = docker_cluster
    keep, gone = unique("keep"), unique("gone")
    c.pod(keep, [sh("sleep 100000")], terminationGracePeriodSeconds=0)
    c.pod(gone, [sh("sleep 100000")], terminationGracePeriodSeconds=0)
    p1 = c.wait(keep, ready)
    p2 = c.wait(gone, ready)
    before = status_of(p1, "main")["containerID"]
    c.agent.stop()
    # while the agent is away: one pod is force-deleted (its containers are orphans now)
    c.delete(gone, grace=0)
    c.wait_gone(gone)
    c.agent.start()
    deadline = time.monotonic() + 20
    while c.containers(p2["metadata"]["uid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert c.containers(p2["metadata"]["uid"]) == []
    while pod_parts(c, p2["metadata"]["uid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pod_parts(c, p2["metadata"]["uid"]) == 0  # its sandbox too
    time.sleep(1.5)  # a sync pass has run by now
    p1 = c.wait(keep, ready)
    st = status_of(p1, "main")
    assert st["containerID"] == before and st["restartCount"] == 0
    assert pod_parts(c, p1["metadata"]["uid"]) == 2  # one sandbox, one container: no duplicate
    c.delete(keep)
    c.wait_gone(keep)


def test_logs_and_exec_through_kubectl(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name = unique("kctl")
    c.pod(name, [sh("echo first line; echo second line; sleep 100000")], terminationGracePeriodSeconds=0)
    c.wait(name, ready)
    deadline = time.monotonic() + 10
    out = ""
    while time.monotonic() < deadline and "second line" not in out:
        out = c.server.kubectl("logs", name, check=False).stdout
        time.sleep(0.2)
    assert out == "first line\nsecond line\n"
    assert c.server.kubectl("logs", name, "--tail=1").stdout == "second line\n"
    p = c.server.kubectl("exec", name, "--", "sh", "-c", "echo $HOSTNAME; hostname; exit 3", check=False)
    assert p.returncode == 3 and p.stdout.split() == [name, name]
    p = c.server.kubectl("exec", "-i", name, "--", "cat", input="via stdin\n")
    assert p.stdout == "via stdin\n"
    c.delete(name)
    c.wait_gone(name)


def test_ulimits_from_the_pod_annotation(docker_cluster: Cluster) -> None:
    """``shoal.io/ulimits`` sets one container's limits (the other keeps the runtime's); ``ulimit`` inside shows them."""
    c = docker_cluster
    name = unique("ulim")
    c.pod(name, [sh("echo $(ulimit -n) $(ulimit -Hn) $(ulimit -c); sleep 100000"),
                 sh("echo $(ulimit -n); sleep 100000", name="side")], terminationGracePeriodSeconds=0,
          metadata={"annotations": {"shoal.io/ulimits": "main: nofile=1024:2048, core=0:0"}})
    c.wait(name, ready)
    deadline = time.monotonic() + 10
    out = side = ""
    while time.monotonic() < deadline and not (out and side):
        out = c.server.kubectl("logs", name, "-c", "main", check=False).stdout
        side = c.server.kubectl("logs", name, "-c", "side", check=False).stdout
        time.sleep(0.2)
    assert out.split() == ["1024", "2048", "0"], out
    assert side.strip() and side.strip() != "1024", side  # the runtime's default, untouched
    c.delete(name)
    c.wait_gone(name)


def test_server_restart_does_not_disturb_running_pods(docker_cluster: Cluster) -> None:
    from tests.server_fixture import start_server

    c = docker_cluster
    name, after = unique("steady"), unique("after")
    c.pod(name, [sh("sleep 100000")], terminationGracePeriodSeconds=0)
    before = status_of(c.wait(name, ready), "main")["containerID"]
    c.server.stop()
    time.sleep(1)
    c.server = start_server(c.server.data_dir, port=c.server.port, args=c.server.extra_args)
    c.http = c.server.session()
    pod = c.wait(name, ready)
    assert status_of(pod, "main")["containerID"] == before and status_of(pod, "main")["restartCount"] == 0
    c.pod(after, [sh("sleep 100000")], terminationGracePeriodSeconds=0)  # the agent is back on its watch
    c.wait(after, ready, timeout=30)
    for n in (name, after):
        c.delete(n)
    for n in (name, after):
        c.wait_gone(n)


def test_own_sandbox_namespaces_address_files_and_cleanup(docker_cluster: Cluster) -> None:
    """A pod's sandbox made by the agent: two containers share its network and IPC namespaces, the pod's
    hostname, /etc/hosts and resolv.conf are its own, pods reach each other, a hostPort pod gets an infra
    container instead, and deleting the pods leaves no namespace, address or record behind."""
    c = docker_cluster
    name, peer, ported = unique("ownsb"), unique("peer"), unique("hostport")
    pod = c.pod(name, [sh("httpd -f -p 8080 -h /www; sleep 100000", name="web"),
                       sh("sleep 100000", name="side")],
                terminationGracePeriodSeconds=0)
    c.pod(peer, [sh("sleep 100000")], terminationGracePeriodSeconds=0)
    c.pod(ported, [sh("sleep 100000", ports=[{"containerPort": 80, "hostPort": 20000 + hash(ported) % 20000}])],
          terminationGracePeriodSeconds=0)
    uid = pod["metadata"]["uid"]
    pod = c.wait(name, ready, what="Ready")
    ip = pod["status"]["podIP"]
    [sb] = own_sandboxes({"io.shoal.pod.uid": uid})
    assert sb.state == "running" and sb.ip == ip and sb.role == "sandbox"
    # the address file is in the directory of the node's own range (node IPAM's /24 of 10.42.0.0/16)
    [addr_file] = Path("/run/shoal/podnet/ips").glob(f"10.42.*_24/{ip}")
    assert Path(f"/run/netns/{sb.id}").exists() and addr_file.read_text() == sb.id
    labelled = {x["Labels"]["io.shoal.container.name"]: x["Id"] for x in c.containers(uid)}
    assert sorted(labelled) == ["side", "web"]  # no infra container
    web, side = labelled["web"], labelled["side"]
    # one network and one IPC namespace for both containers: the agent's, by path
    for ns in ("net", "ipc"):
        assert in_pod(web, "busybox", "readlink", f"/proc/self/ns/{ns}") == \
            in_pod(side, "busybox", "readlink", f"/proc/self/ns/{ns}") != ""
    assert in_pod(side, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/").strip() == "hello"
    assert in_pod(web, "hostname").strip() == name
    assert f"{ip}\t{name}" in in_pod(web, "cat", "/etc/hosts")
    resolv = in_pod(web, "cat", "/etc/resolv.conf")
    if "search" in resolv and "svc" in resolv:  # the agent has cluster DNS: the pod's namespace comes first
        assert "search default.svc." in resolv
    # from the host and from another pod's sandbox
    out = subprocess.run(["curl", "-s", "-m", "5", f"http://{ip}:8080/"], capture_output=True, text=True)
    assert out.stdout.strip() == "hello"
    p2 = c.wait(peer, ready, what="Ready")
    assert p2["status"]["podIP"] != ip and p2["status"]["podIP"].startswith("10.42.")
    peer_cid = c.containers(p2["metadata"]["uid"])[0]["Id"]
    assert in_pod(peer_cid, "wget", "-q", "-O", "-", f"http://{ip}:8080/").strip() == "hello"
    # a pod with a hostPort gets an infra container (the engine maps host ports)
    p3 = c.wait(ported, ready, what="Ready")
    roles = sorted(x["Labels"]["io.shoal.role"] for x in c.containers(p3["metadata"]["uid"]))
    assert roles == ["container", "sandbox"] and own_sandboxes({"io.shoal.pod.uid": p3["metadata"]["uid"]}) == []
    for n in (name, peer, ported):
        c.delete(n, grace=0)
    for n in (name, peer, ported):
        c.wait_gone(n)
    deadline = time.monotonic() + 10
    while (own_sandboxes({"io.shoal.pod.uid": uid}) or c.containers(uid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert own_sandboxes({"io.shoal.pod.uid": uid}) == [] and c.containers(uid) == []
    assert not Path(f"/run/netns/{sb.id}").exists() and not addr_file.exists()
