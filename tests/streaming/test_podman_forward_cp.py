"""kubectl port-forward and kubectl cp against real Podman containers, through the tunnel and the ``docker``
driver (the agent is ``tests.streaming.agent_main``; the test starts the pods as in ``test_podman``).
Host-wide (Podman): run under ``flock /tmp/shoal-host-tests.lock``."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.server_fixture import RunningServer, free_port
from tests.streaming.test_podman import Pods, pods  # noqa: F401 - the module's fixture

__all__ = ["pods"]


def with_ip(server: RunningServer, p: Pods, name: str) -> None:
    """Give the pod its sandbox's address in its status (the node agent's pod sync does so)."""
    ip = p.run(p.driver.inspect(p.sandboxes[name])).ip
    assert ip, "the sandbox has no address"
    s = server.session()
    url = f"{server.url}/api/v1/namespaces/default/pods/{name}"
    pod = s.get(url).json()
    pod["status"]["podIP"] = ip
    assert s.put(url + "/status", json=pod).status_code == 200


def test_port_forward_to_a_container_port(server: RunningServer, pods: Pods) -> None:  # noqa: F811
    pod = pods.create("echo forwarded-page > /www/index.html; exec httpd -f -p 8080 -h /www")
    with_ip(server, pods, pod)
    local = free_port()
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir)}
    fwd = subprocess.Popen(["kubectl", "port-forward", pod, f"{local}:8080"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert fwd.stdout is not None
        assert fwd.stdout.readline().startswith("Forwarding from 127.0.0.1:")
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=5) as r:  # noqa: S310
                    body = r.read()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert body == b"forwarded-page\n"
        for _ in range(3):  # one connection after another over the same forward
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=5) as r:  # noqa: S310
                assert r.read() == b"forwarded-page\n"
    finally:
        fwd.terminate()
        fwd.wait(10)


def test_cp_both_ways(server: RunningServer, pods: Pods, tmp_path: Path) -> None:  # noqa: F811
    # the test image links only some of busybox's applets: kubectl cp needs tar
    pod = pods.create("busybox ln -s busybox /bin/tar; exec sleep 3600")
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n")
    (src / "sub").mkdir()
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 400)
    server.kubectl("cp", str(src), f"default/{pod}:/tmp/copied")
    assert server.kubectl("exec", pod, "--", "cat", "/tmp/copied/a.txt").stdout == "alpha\n"
    out = tmp_path / "out"
    server.kubectl("cp", f"default/{pod}:/tmp/copied", str(out))
    assert (out / "a.txt").read_text() == "alpha\n"
    assert (out / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 400


def test_attach_to_the_containers_own_process(server: RunningServer, pods: Pods) -> None:  # noqa: F811
    from shoal.agent.drivers.base import LABEL_ATTEMPT, ContainerSpec

    # output only: what the process prints from now on
    pod = pods.create("i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir)}
    att = subprocess.Popen(["kubectl", "attach", pod], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
    try:
        assert att.stdout is not None
        lines = [att.stdout.readline() for _ in range(2)]
        assert all(ln.startswith("tick ") for ln in lines), lines
    finally:
        att.terminate()
        att.wait(10)
    # with stdin: the pod's container opens one (spec.containers[].stdin) and reads a line from it
    name = pods.create("exec sleep 3600")
    s = server.session()
    url = f"{server.url}/api/v1/namespaces/default/pods"
    body = s.get(f"{url}/{name}").json()
    body["metadata"] = {"name": name + "-i"}
    body["spec"]["containers"][0]["stdin"] = True
    body.pop("status", None)
    r = s.post(url, json=body)
    assert r.status_code == 201, r.text
    iname = name + "-i"
    pods.uids[iname] = r.json()["metadata"]["uid"]
    pods.sandboxes[iname] = pods.sandboxes[name]
    labels = {**pods.labels(iname), LABEL_ATTEMPT: "0"}
    cid = pods.run(pods.driver.create_container(ContainerSpec(
        pod_uid=pods.uids[iname], pod_name=iname, namespace="default", name="main", image="localhost/busybox:test",
        sandbox_id=pods.sandboxes[name], command=("sh", "-c", "read line; echo got:$line"), attempt=0,
        labels=labels, stdin=True)))
    pods.run(pods.driver.start_container(cid))
    pods.set_status(iname, restarted=False)
    p = server.kubectl("attach", "-i", iname, input="hello\n", timeout=30)
    assert "got:hello" in p.stdout, (p.stdout, p.stderr)
