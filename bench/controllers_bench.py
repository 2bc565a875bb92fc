"""Deployments at scale on simulated nodes: scale 0 -> N until available, then roll N replicas.

    .venv/bin/python bench/controllers_bench.py [--replicas 1000] [--nodes 20] [--store sqlite|etcd]

A real ``shoal server`` (API, scheduler, controllers; no local agent) and a
real ``shoal agent --runtime simulated --simulate-nodes K`` (hollow nodes whose
containers "run" at once), both subprocesses, exactly as a user would start
them. This process only writes the Deployment and watches it:

1. scale a Deployment from 0 to N replicas; time until ``availableReplicas``
   is N (target: 10 s for 1,000);
2. change its template (maxSurge 25%, maxUnavailable 25%); time until the
   rollout is complete as ``kubectl rollout status`` judges it (target: 30 s),
   recording the fewest available replicas seen in between (the promise:
   never below N - 25%).

Writes ``bench/results/controllers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from shoal.client import ApiClient, ApiException  # noqa: E402
from tests.etcd_fixture import start_etcd  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "controllers.json"
NS = "bench"


def deployment(image: str) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "containers": [{"name": "web", "image": image,
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}


def start_agent(srv: RunningServer, data_dir: Path, nodes: int) -> subprocess.Popen[bytes]:
    token = (srv.data_dir / "node-token").read_text().strip()
    log = open(data_dir / "agent.log", "ab")  # noqa: SIM115 - handed to the child
    cmd = [sys.executable, "-m", "shoal", "agent", "--server", srv.url, "--token", token,
           "--data-dir", str(data_dir / "agent"), "--ca-file", srv.ca, "--runtime", "simulated",
           "--simulate-nodes", str(nodes), "--node-name", "sim", "--capacity", "cpu=64,memory=256Gi,pods=1000"]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def wait_nodes(client: ApiClient, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = (await client.list("nodes"))["items"]
        ready = [x for x in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in (x.get("status") or {}).get("conditions") or [])]
        if len(ready) >= n:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"only {len(ready)} of {n} simulated nodes became Ready")


class Follow:
    """Watches the Deployment; remembers its latest status and the fewest available replicas."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.d: dict[str, Any] = {}
        self.min_available: int | None = None
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        d = await self.client.get("deployments", "web", NS)
        self.d = d
        self._task = asyncio.create_task(self._run(d["metadata"]["resourceVersion"]))

    async def _run(self, rv: str) -> None:
        while True:
            try:
                async for ev in self.client.watch("deployments", NS, resource_version=rv,
                                                  field_selector="metadata.name=web"):
                    if ev.type in ("ADDED", "MODIFIED"):
                        self.d = ev.object
                        rv = ev.object["metadata"]["resourceVersion"]
                        if self.min_available is not None:
                            a = int((ev.object.get("status") or {}).get("availableReplicas") or 0)
                            self.min_available = min(self.min_available, a)
                        self.changed.set()
            except ApiException:
                await asyncio.sleep(0.1)

    def complete(self, n: int, generation: int) -> bool:
        st = self.d.get("status") or {}
        return (int(st.get("observedGeneration") or 0) >= generation and int(st.get("updatedReplicas") or 0) == n
                and int(st.get("replicas") or 0) == n and int(st.get("availableReplicas") or 0) == n)

    async def until(self, n: int, generation: int, timeout: float) -> float:
        t0 = time.monotonic()
        while not self.complete(n, generation):
            self.changed.clear()
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                raise TimeoutError(f"not complete after {timeout}s: {self.d.get('status')}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        return time.monotonic() - t0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def drive(srv: RunningServer, replicas: int) -> dict[str, Any]:
    async with ApiClient.http(srv.url, token=srv.token, ca_file=srv.ca) as client:
        await client.create("namespaces", {"metadata": {"name": NS}})
        await client.create("deployments", deployment("registry.local/app:1"), NS)
        follow = Follow(client)
        await follow.start()
        t0 = time.monotonic()
        await client.patch("deployments", "web", {"spec": {"replicas": replicas}}, NS, subresource="scale")
        d = await client.get("deployments", "web", NS)
        scale_s = await follow.until(replicas, int(d["metadata"]["generation"]), timeout=300)
        follow.min_available = replicas
        t1 = time.monotonic()
        d = await client.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "registry.local/app:2"}]}}}}, NS, patch_type="strategic")
        roll_s = await follow.until(replicas, int(d["metadata"]["generation"]), timeout=600)
        t2 = time.monotonic()
        await follow.stop()
        pods = (await client.list("pods", NS))["items"]
        return {"replicas": replicas, "scale_up_s": round(scale_s, 2), "rollout_s": round(roll_s, 2),
                "rollout_min_available": follow.min_available, "rollout_floor": replicas - replicas // 4,
                "pods_after": len(pods), "total_s": round(t2 - t0, 2), "rollout_wall_s": round(t2 - t1, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--store", choices=["sqlite", "etcd"], default="sqlite")
    ap.add_argument("--quick", action="store_true", help="100 replicas on 5 nodes (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.replicas, args.nodes = 100, 5
    with tempfile.TemporaryDirectory(prefix="shoal-ctl-bench-") as tmp:
        tmpd = Path(tmp)
        etcd = None
        server_args: list[str] = []
        if args.store == "etcd":
            etcd = start_etcd(tmpd / "etcd")
            server_args = ["--store", f"etcd://{etcd.endpoint}"]
        srv = start_server(tmpd / "server", args=server_args)
        agent = start_agent(srv, tmpd, args.nodes)
        try:
            async def run() -> dict[str, Any]:
                async with ApiClient.http(srv.url, token=srv.token, ca_file=srv.ca) as c:
                    await wait_nodes(c, args.nodes)
                return await drive(srv, args.replicas)

            res = asyncio.run(run())
        except BaseException:
            print(srv.log()[-3000:], file=sys.stderr)
            print((tmpd / "agent.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            agent.terminate()
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
            srv.stop()
            if etcd is not None:
                etcd.stop()
    res.update(store=args.store, nodes=args.nodes, cpus=os.cpu_count(), load_avg_1m=round(os.getloadavg()[0], 2))
    print(json.dumps(res, indent=2))
    targets = [(f"scale 0 -> {args.replicas} until available", res["scale_up_s"], 10.0),
               (f"roll {args.replicas} replicas (maxSurge 25%)", res["rollout_s"], 30.0)]
    for label, value, target in targets:
        print(f"{label:<40} {value:>8.2f} s   target <= {target:.0f} s   {'met' if value <= target else 'MISSED'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
