"""Pod volumes in real Podman containers, through a real server and a real ``shoal agent`` process.

Run under the host-tests lock (it starts containers and mounts tmpfs and loop devices).
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import IMAGE, Cluster, phase, ready, status_of, unique, waiting_reason


@pytest.fixture(scope="module", autouse=True)
def _unmount_left_behind(docker_cluster: Cluster) -> Any:
    """Whatever a failed test leaves mounted under the agent's directory is unmounted at the end."""
    yield
    root = str(docker_cluster.agent.root)
    for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
        parts = line.split(" ")
        mp, source = parts[4], parts[parts.index("-") + 2]
        if mp.startswith(root + "/"):
            subprocess.run(["umount", "-l", mp], capture_output=True)
            if source.startswith("/dev/loop"):
                subprocess.run(["losetup", "-d", source], capture_output=True)


def sh(script: str, name: str = "main", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "command": ["sh", "-c", script], **extra}


def cid_of(pod: dict[str, Any], container: str = "main") -> str:
    return str(status_of(pod, container)["containerID"]).split("://")[1]


def in_pod(cid: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "exec", cid, *cmd], capture_output=True, text=True)


def configmap(c: Cluster, name: str, data: dict[str, str]) -> None:
    c.create("/api/v1/namespaces/default/configmaps",
             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def mounts_of(path: str) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if f" {path}" in line]


def test_pod_reads_configmap_secret_emptydir_hostpath_downward(docker_cluster: Cluster, tmp_path: Path) -> None:
    c = docker_cluster
    name, cm, sec = unique("vols"), unique("cm"), unique("sec")
    configmap(c, cm, {"app.conf": "port=80\n", "other": "x"})
    c.create("/api/v1/namespaces/default/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": sec},
                                                     "data": {"password": base64.b64encode(b"s3cret").decode()}})
    host = tmp_path / "host"
    host.mkdir()
    (host / "greeting").write_text("hello from the host\n")
    pod = c.pod(name, [sh("echo scratch > /scratch/f; sleep 100000", env=[{"name": "SUB", "value": "deep"}],
                          volumeMounts=[
                              {"name": "cfg", "mountPath": "/cfg"},
                              {"name": "sec", "mountPath": "/sec"},
                              {"name": "scratch", "mountPath": "/scratch"},
                              {"name": "host", "mountPath": "/host", "readOnly": True},
                              {"name": "info", "mountPath": "/info"},
                              {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
                              {"name": "scratch", "mountPath": "/expr", "subPathExpr": "$(SUB)"},
                          ])],
                metadata={"labels": {"app": "vols"}}, terminationGracePeriodSeconds=0,
                volumes=[
                    {"name": "cfg", "configMap": {"name": cm, "items": [{"key": "app.conf", "path": "app.conf"}]}},
                    {"name": "sec", "secret": {"secretName": sec, "defaultMode": 0o400}},
                    {"name": "scratch", "emptyDir": {}},
                    {"name": "host", "hostPath": {"path": str(host), "type": "Directory"}},
                    {"name": "info", "downwardAPI": {"items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                        {"path": "mem", "resourceFieldRef": {"containerName": "main", "resource": "limits.memory",
                                                             "divisor": "1Mi"}}]}},
                ])
    pod = c.wait(name, ready, what="Ready")
    cid = cid_of(pod)
    assert in_pod(cid, "cat", "/cfg/app.conf").stdout == "port=80\n"
    assert in_pod(cid, "ls", "/cfg").stdout.split() == ["app.conf"]  # only the item asked for
    assert in_pod(cid, "cat", "/etc/app.conf").stdout == "port=80\n"  # subPath: one file
    assert in_pod(cid, "cat", "/sec/password").stdout == "s3cret"
    assert in_pod(cid, "ls", "-lL", "/sec/password").stdout.startswith("-r-------- ")  # defaultMode 0400
    assert in_pod(cid, "cat", "/scratch/f").stdout == "scratch\n"
    assert in_pod(cid, "cat", "/host/greeting").stdout == "hello from the host\n"
    assert in_pod(cid, "touch", "/host/new").returncode != 0  # readOnly
    assert in_pod(cid, "touch", "/cfg/new").returncode != 0  # configMap volumes are always read only
    assert in_pod(cid, "cat", "/info/labels").stdout == 'app="vols"'
    assert in_pod(cid, "cat", "/info/name").stdout == name
    assert int(in_pod(cid, "cat", "/info/mem").stdout) > 0  # no limit: the node's memory
    assert in_pod(cid, "sh", "-c", "touch /expr/x && ls /scratch/deep").stdout.strip() == "x"
    # the kubelet's layout; the secret on a tmpfs, never on disk
    uid = pod["metadata"]["uid"]
    base = c.agent.root / "agent" / "pods" / uid / "volumes"
    cfg_dir = base / "kubernetes.io~configmap" / "cfg"
    assert (cfg_dir / "..data").is_symlink() and (cfg_dir / "app.conf").is_symlink()
    sec_dir = base / "kubernetes.io~secret" / "sec"
    assert any(" tmpfs " in line for line in mounts_of(str(sec_dir)))
    # removal unmounts the tmpfs and deletes the pod's directory
    c.delete(name, grace=0)
    c.wait_gone(name)
    deadline = time.monotonic() + 10
    while (base.exists() or mounts_of(str(sec_dir))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not base.exists() and not mounts_of(str(sec_dir))


def test_configmap_change_reaches_running_pod_within_2s(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name, cm = unique("live"), unique("cm")
    configmap(c, cm, {"k": "v1"})
    c.pod(name, [sh("sleep 100000", volumeMounts=[{"name": "cfg", "mountPath": "/cfg"},
                                                  {"name": "cfg", "mountPath": "/one", "subPath": "k"}])],
          volumes=[{"name": "cfg", "configMap": {"name": cm}}], terminationGracePeriodSeconds=0)
    cid = cid_of(c.wait(name, ready, what="Ready"))
    assert in_pod(cid, "cat", "/cfg/k").stdout == "v1"
    r = c.http.patch(c.url(f"/api/v1/namespaces/default/configmaps/{cm}"), json={"data": {"k": "v2", "k2": "new"}},
                     headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    start = time.monotonic()
    while in_pod(cid, "cat", "/cfg/k").stdout != "v2":
        assert time.monotonic() - start < 2.0, "the ConfigMap change did not reach the pod within 2 s"
        time.sleep(0.05)
    assert in_pod(cid, "cat", "/cfg/k2").stdout == "new"
    assert in_pod(cid, "cat", "/one").stdout == "v1"  # subPath: no updates, as upstream
    c.delete(name, grace=0)


def test_missing_configmap_fails_mount_then_starts_when_created(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name, cm = unique("wait"), unique("later")
    c.pod(name, [sh("sleep 100000", volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])],
          volumes=[{"name": "cfg", "configMap": {"name": cm}}], terminationGracePeriodSeconds=0)
    c.wait(name, lambda p: waiting_reason(p, "main") == "ContainerCreating"
           and any(e["reason"] == "FailedMount" for e in c.events(name)), what="FailedMount")
    msg = next(e["message"] for e in c.events(name) if e["reason"] == "FailedMount")
    assert msg == f'MountVolume.SetUp failed for volume "cfg" : configmap "{cm}" not found'
    assert not c.containers(c.get(name)["metadata"]["uid"])  # type: ignore[index]
    configmap(c, cm, {"k": "here"})
    cid = cid_of(c.wait(name, ready, what="Ready once the ConfigMap exists"))
    assert in_pod(cid, "cat", "/cfg/k").stdout == "here"
    c.delete(name, grace=0)


def test_unsupported_volume_type_and_bad_hostpath_never_run(docker_cluster: Cluster, tmp_path: Path) -> None:
    c = docker_cluster
    nfs, hp = unique("nfs"), unique("hp")
    c.pod(nfs, [sh("sleep 100000", volumeMounts=[{"name": "data", "mountPath": "/data"}])],
          volumes=[{"name": "data", "nfs": {"server": "192.0.2.1", "path": "/export"}}])
    (tmp_path / "file").write_text("x")
    c.pod(hp, [sh("sleep 100000", volumeMounts=[{"name": "d", "mountPath": "/d"}])],
          volumes=[{"name": "d", "hostPath": {"path": str(tmp_path / "file"), "type": "Directory"}}])
    for name, text in ((nfs, 'volume type "nfs" is not supported'),
                       (hp, f"hostPath type check failed: {tmp_path / 'file'} is not a directory")):
        pod = c.wait(name, lambda p: waiting_reason(p, "main") == "ContainerCreating"
                     and any(e["reason"] == "FailedMount" for e in c.events(p["metadata"]["name"])),
                     what="FailedMount")
        assert any(text in e["message"] for e in c.events(name) if e["reason"] == "FailedMount"), c.events(name)
        assert phase(pod) == "Pending"
    time.sleep(1.5)  # retried, never started
    for name in (nfs, hp):
        pod = c.get(name)
        assert pod is not None and phase(pod) == "Pending" and not c.containers(pod["metadata"]["uid"])
        c.delete(name, grace=0)


def test_emptydir_over_size_limit_is_evicted(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name = unique("big")
    c.pod(name, [sh("dd if=/dev/zero of=/scratch/fill bs=1024 count=3000; sleep 100000",
                    volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}])],
          volumes=[{"name": "scratch", "emptyDir": {"sizeLimit": "1Mi"}}], terminationGracePeriodSeconds=0)
    pod = c.wait(name, lambda p: phase(p) == "Failed", timeout=30, what="Evicted")
    assert pod["status"]["reason"] == "Evicted"
    assert pod["status"]["message"] == 'Usage of EmptyDir volume "scratch" exceeds the limit "1Mi".'
    assert any(e["reason"] == "Evicted" for e in c.events(name))
    c.delete(name, grace=0)


def test_agent_restart_keeps_volumes_and_mounts_nothing_twice(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name, sec = unique("keepvol"), unique("sec")
    c.create("/api/v1/namespaces/default/secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": sec},
                                                     "stringData": {"k": "v"}})
    c.pod(name, [sh("echo mem > /mem/f; echo disk > /disk/f; sleep 100000",
                    volumeMounts=[{"name": "mem", "mountPath": "/mem"}, {"name": "disk", "mountPath": "/disk"},
                                  {"name": "sec", "mountPath": "/sec"}])],
          volumes=[{"name": "mem", "emptyDir": {"medium": "Memory"}}, {"name": "disk", "emptyDir": {}},
                   {"name": "sec", "secret": {"secretName": sec}}], terminationGracePeriodSeconds=0)
    pod = c.wait(name, ready, what="Ready")
    cid, uid = cid_of(pod), pod["metadata"]["uid"]
    base = c.agent.root / "agent" / "pods" / uid / "volumes"
    tmpfs = [str(base / "kubernetes.io~empty-dir" / "mem"), str(base / "kubernetes.io~secret" / "sec")]
    assert all(len(mounts_of(p)) == 1 for p in tmpfs)
    c.agent.stop()
    c.agent.start()
    time.sleep(3)  # the new agent adopts the pod and syncs it (volumes set up again: nothing to do)
    pod = c.wait(name, ready, what="Ready after the agent restarts")
    assert cid_of(pod) == cid and status_of(pod, "main")["restartCount"] == 0
    assert in_pod(cid, "cat", "/mem/f").stdout == "mem\n" and in_pod(cid, "cat", "/disk/f").stdout == "disk\n"
    assert in_pod(cid, "cat", "/sec/k").stdout == "v"
    assert all(len(mounts_of(p)) == 1 for p in tmpfs), [mounts_of(p) for p in tmpfs]
    c.delete(name, grace=0)
    c.wait_gone(name)
    deadline = time.monotonic() + 10
    while (base.exists() or any(mounts_of(p) for p in tmpfs)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not base.exists() and not any(mounts_of(p) for p in tmpfs)


def test_local_claim_is_a_sized_volume_kept_across_restarts_grown_and_wiped(docker_cluster: Cluster) -> None:
    c = docker_cluster
    name, claim = unique("db"), unique("data")
    c.create("/api/v1/namespaces/default/persistentvolumeclaims", {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim, "annotations": {"volume.kubernetes.io/selected-node": c.node}},  # the scheduler's
        "spec": {"storageClassName": "local", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "8Mi"}}}})
    c.pod(name, [sh("sleep 100000", volumeMounts=[{"name": "data", "mountPath": "/data"}])],
          volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim}}], terminationGracePeriodSeconds=0)
    pod = c.wait(name, ready, timeout=60, what="Ready with its claim")
    pvc = c.http.get(c.url(f"/api/v1/namespaces/default/persistentvolumeclaims/{claim}")).json()
    pv_name = pvc["spec"]["volumeName"]
    path = c.agent.root / "volumes" / pv_name  # the volume dir the agent advertises
    pv = c.http.get(c.url(f"/api/v1/persistentvolumes/{pv_name}")).json()
    assert pv["spec"]["local"]["path"] == str(path)
    assert len(mounts_of(str(path))) == 1
    cid = cid_of(pod)
    out = in_pod(cid, "sh", "-c", "echo kept > /data/f; dd if=/dev/zero of=/data/big bs=1M count=20 2>&1; rm /data/big")
    assert "No space left on device" in out.stdout, out
    # a container restart keeps the data
    subprocess.run(["podman", "stop", "-t", "0", cid], capture_output=True)
    pod = c.wait(name, lambda p: ready(p) and status_of(p, "main").get("restartCount", 0) >= 1, timeout=30,
                 what="restarted")
    cid = cid_of(pod)
    assert in_pod(cid, "cat", "/data/f").stdout == "kept\n"
    # expansion: the claim asks for more, the agent grows ext4 online and ends the resize
    r = c.http.patch(c.url(f"/api/v1/namespaces/default/persistentvolumeclaims/{claim}"),
                     json={"spec": {"resources": {"requests": {"storage": "32Mi"}}}},
                     headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    # online where the kernel allows it; else (no CAP_SYS_RESOURCE) when a pod mounts it next, as upstream
    c.delete(name, grace=0)
    c.wait_gone(name)
    c.pod(name, [sh("sleep 100000", volumeMounts=[{"name": "data", "mountPath": "/data"}])],
          volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": claim}}], terminationGracePeriodSeconds=0)
    cid = cid_of(c.wait(name, ready, timeout=60, what="Ready again"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st = c.http.get(c.url(f"/api/v1/namespaces/default/persistentvolumeclaims/{claim}")).json()["status"]
        if st.get("capacity", {}).get("storage") == "32Mi" and not st.get("conditions"):
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"the claim did not finish growing: {st}\n{c.agent.log()[-2000:]}")
    assert "rc=0" in in_pod(cid, "sh", "-c", "dd if=/dev/zero of=/data/big bs=1M count=20 2>&1; echo rc=$?").stdout
    assert in_pod(cid, "cat", "/data/f").stdout == "kept\n"
    # the pod and the claim go: reclaim Delete, the agent wipes the volume and removes its finalizer
    c.delete(name, grace=0)
    c.wait_gone(name)
    c.http.delete(c.url(f"/api/v1/namespaces/default/persistentvolumeclaims/{claim}"))
    deadline = time.monotonic() + 30
    while c.http.get(c.url(f"/api/v1/persistentvolumes/{pv_name}")).status_code != 404:
        assert time.monotonic() < deadline, c.http.get(c.url(f"/api/v1/persistentvolumes/{pv_name}")).text
        time.sleep(0.3)
    assert not path.exists() and not Path(str(path) + ".img").exists() and not mounts_of(str(path))


def test_memory_emptydir_without_size_limit_is_capped_at_the_pods_memory_limit(docker_cluster: Cluster) -> None:
    """Upstream's tmpfs size: the containers' memory limits summed (48 Mi here), not half the machine's RAM."""
    c = docker_cluster
    name = unique("memcap")
    c.pod(name, [sh("sleep 100000", volumeMounts=[{"name": "mem", "mountPath": "/mem"}],
                    resources={"limits": {"memory": "32Mi"}}),
                 sh("sleep 100000", name="side", resources={"limits": {"memory": "16Mi"}})],
          volumes=[{"name": "mem", "emptyDir": {"medium": "Memory"}}], terminationGracePeriodSeconds=0)
    pod = c.wait(name, ready, what="Ready")
    path = c.agent.root / "agent" / "pods" / pod["metadata"]["uid"] / "volumes" / "kubernetes.io~empty-dir" / "mem"
    st = os.statvfs(path)
    assert st.f_blocks * st.f_frsize == 48 << 20, st
    assert any(" tmpfs " in line and "size=49152k" in line for line in mounts_of(str(path))), mounts_of(str(path))
    df = in_pod(cid_of(pod), "busybox", "df", "-k", "/mem").stdout.split("\n")[1].split()
    assert df[1] == "49152", df  # what the container sees
    c.delete(name, grace=0)
