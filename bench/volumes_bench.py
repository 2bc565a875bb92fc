"""Pod volume benchmarks: startup with volumes, ConfigMap propagation, local-volume throughput.

    .venv/bin/python bench/volumes_bench.py [--quick]

startup: ``shoal server`` with its embedded agent on Podman; pods with no volume
and pods with four (a configMap, a secret, an emptyDir and a claim bound to a
local PV) are created one at a time, alternating, in the same run; each pod's
create to Ready is timed through a watch; p50 of each and the difference.

configmap: one running pod mounts a ConfigMap; the ConfigMap is patched N times
and the time from the patch's answer to the new value in the file the
container sees (the volume's file on the node, which the container bind-mounts)
is recorded; p50 and p99 (kubelet's default takes up to a minute).

throughput: a 1 GiB ``shoal.io/local``-style volume (a loop device on an
ext4 image, as the agent makes it) against the host directory beneath its
image: ``dd`` of 512 MiB with fsync, three runs each, the median's MB/s.

Prints a JSON object (and writes it to bench/results/volumes.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.agent_bench import (  # noqa: E402
    IMAGE,
    SOCK,
    ReadyWatch,
    pct,
    start,
    stop,
    wait_ready_server,
)
from shoal.agent.drivers.base import LABEL_NODE  # noqa: E402
from shoal.agent.volumes import mounts  # noqa: E402
from shoal.agent.volumes.local import LocalVolumes, PVSource  # noqa: E402
from shoal.client import ApiClient  # noqa: E402
from tests.podman_fixture import remove_own_sandboxes  # noqa: E402
from tests.server_fixture import free_port  # noqa: E402

RESULTS = REPO / "bench" / "results" / "volumes.json"


def pod_body(name: str, node: str, run: str, *, volumes: bool, cm: str = "", sec: str = "",
             claim: str = "") -> dict[str, Any]:
    c: dict[str, Any] = {"name": "main", "image": IMAGE, "command": ["sleep", "100000"]}
    spec: dict[str, Any] = {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [c]}
    if volumes:
        c["volumeMounts"] = [{"name": "cfg", "mountPath": "/cfg"}, {"name": "sec", "mountPath": "/sec"},
                             {"name": "scratch", "mountPath": "/scratch"}, {"name": "data", "mountPath": "/data"}]
        spec["volumes"] = [{"name": "cfg", "configMap": {"name": cm}}, {"name": "sec", "secret": {"secretName": sec}},
                           {"name": "scratch", "emptyDir": {}},
                           {"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return {"metadata": {"name": name, "labels": {"bench": run}}, "spec": spec}


async def _objects(client: ApiClient, node: str, tmp: Path, run: str) -> tuple[str, str, str]:
    cm, sec, claim, pv = f"cm-{run}", f"sec-{run}", f"data-{run}", f"pv-{run}"
    await client.create("configmaps", {"metadata": {"name": cm}, "data": {"k": "v0", "app.conf": "x=1\n"}}, "default")
    await client.create("secrets", {"metadata": {"name": sec}, "stringData": {"password": "s3cret"}}, "default")
    local = tmp / "static-pv"
    local.mkdir()
    await client.create("persistentvolumes", {
        "metadata": {"name": pv},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                 "persistentVolumeReclaimPolicy": "Retain", "local": {"path": str(local)},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}})
    await client.create("persistentvolumeclaims", {
        "metadata": {"name": claim},
        "spec": {"storageClassName": "", "volumeName": pv, "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}}, "default")
    for _ in range(300):
        got = await client.get("persistentvolumeclaims", claim, "default")
        if (got.get("status") or {}).get("phase") == "Bound":
            break
        await asyncio.sleep(0.1)
    else:
        raise RuntimeError("the bench claim was not bound")
    return cm, sec, claim


async def startup_and_configmap(quick: bool) -> dict[str, Any]:
    tmp = Path(f"/tmp/shoal-volumes-bench-{uuid.uuid4().hex[:6]}")
    tmp.mkdir()
    port = free_port()
    node = f"bench-{uuid.uuid4().hex[:6]}"
    proc = start([sys.executable, "-m", "shoal", "server", "--data-dir", str(tmp), "--listen", f"127.0.0.1:{port}",
                  "--node-name", node, "--runtime", "docker", "--docker-host", SOCK], tmp / "server.log")
    out: dict[str, Any] = {}
    try:
        client = await wait_ready_server(tmp, port, proc)
        for _ in range(100):
            with contextlib.suppress(Exception):
                await client.get("nodes", node)
                break
            await asyncio.sleep(0.1)
        run = uuid.uuid4().hex[:6]
        cm, sec, claim = await _objects(client, node, tmp, run)
        _, rv = await client.list_all("pods", "default", label_selector=f"bench={run}")
        watch = ReadyWatch(client, f"bench={run}")
        wt = asyncio.create_task(watch.run(rv))
        n = 6 if quick else 20
        times: dict[bool, list[float]] = {False: [], True: []}
        for i in range(n + 1):  # the first pair warms caches; not counted
            for vols in (False, True):
                name = f"{'vol' if vols else 'none'}-{run}-{i}"
                t0 = time.perf_counter()
                await client.create("pods", pod_body(name, node, run, volumes=vols, cm=cm, sec=sec, claim=claim),
                                    "default")
                took = await watch.wait(name) - t0
                if i:
                    times[vols].append(took)
                await client.delete("pods", name, "default", grace_period_seconds=0)
        none_p50, vol_p50 = statistics.median(times[False]), statistics.median(times[True])
        out["startup"] = {"no_volumes_p50_s": round(none_p50, 3), "four_volumes_p50_s": round(vol_p50, 3),
                          "difference_s": round(vol_p50 - none_p50, 3), "n": n}
        # ConfigMap change -> the file the container sees
        name = f"cmwatch-{run}"
        await client.create("pods", pod_body(name, node, run, volumes=True, cm=cm, sec=sec, claim=claim), "default")
        await watch.wait(name)
        wt.cancel()
        pod = await client.get("pods", name, "default")
        f = tmp / "agent" / "pods" / pod["metadata"]["uid"] / "volumes" / "kubernetes.io~configmap" / "cfg" / "k"
        lat = []
        for i in range(1, (10 if quick else 40) + 1):
            want = f"v{i}"
            await client.patch("configmaps", cm, {"data": {"k": want}}, "default")
            t0 = time.perf_counter()
            while f.read_text() != want:
                if time.perf_counter() - t0 > 30:
                    raise RuntimeError("the ConfigMap change never reached the pod")
                await asyncio.sleep(0.002)
            lat.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)
        cid = str((await client.get("pods", name, "default"))["status"]["containerStatuses"][0]["containerID"])
        seen = subprocess.run(["podman", "exec", cid.split("://")[1], "cat", "/cfg/k"], capture_output=True,
                              text=True).stdout
        out["configmap"] = {"p50_s": round(statistics.median(lat), 3), "p99_s": round(pct(lat, 99), 3),
                            "max_s": round(max(lat), 3), "n": len(lat), "container_sees_last": seen == want}
        for p in (await client.list_all("pods", "default", label_selector=f"bench={run}"))[0]:
            await client.delete("pods", p["metadata"]["name"], "default", grace_period_seconds=0)
        await client.close()
    finally:
        stop(proc)
        for role in ("container", "sandbox"):
            ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label={LABEL_NODE}={node}",
                                  "--filter", f"label=io.shoal.role={role}"], capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(["podman", "rm", "-f", "-t", "0", *ids], capture_output=True)
        remove_own_sandboxes({LABEL_NODE: node})
        mounts.unmount_all_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _dd(target: Path, mib: int) -> float:
    """MB/s of a sequential write of ``mib`` MiB with fsync at the end."""
    f = target / "bench.dat"
    t0 = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={f}", "bs=1M", f"count={mib}", "conv=fsync"], check=True,
                   capture_output=True)
    took = time.perf_counter() - t0
    f.unlink()
    return mib * 1.048576 / took


def throughput(quick: bool) -> dict[str, Any]:
    tmp = Path(f"/var/tmp/shoal-volumes-tp-{uuid.uuid4().hex[:6]}")
    tmp.mkdir(parents=True)
    mib = 128 if quick else 512
    lv = LocalVolumes()
    src = PVSource("pvc-bench", str(tmp / "pvc-bench"), managed=True, size=(mib + 256) << 20)
    try:
        path = Path(asyncio.run(lv.ensure(src)))
        volume, host = [], []
        for _ in range(3):
            host.append(_dd(tmp, mib))
            volume.append(_dd(path, mib))
        v, h = statistics.median(volume), statistics.median(host)
        return {"volume_mb_s": round(v, 1), "host_dir_mb_s": round(h, 1), "ratio": round(v / h, 2), "mib": mib}
    finally:
        asyncio.run(lv.wipe(str(tmp / "pvc-bench")))
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        from tests.podman_fixture import podman_socket

        gen = podman_socket()
        next(gen)
        stack.callback(lambda: next(gen, None))
        out.update(asyncio.run(startup_and_configmap(a.quick)))
    out["throughput"] = throughput(a.quick)
    print(json.dumps(out, indent=1), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
