"""A StatefulSet of N replicas with one claim each on simulated nodes: all Ready, in order.

    .venv/bin/python bench/statefulset_bench.py [--replicas 100] [--nodes 5] [--no-claims] [--parallel]

A real ``shoal server`` (API, scheduler, controllers; no local agent) and a
real ``shoal agent --runtime simulated`` (hollow nodes whose containers "run"
at once), as ``controllers_bench`` starts them. This process creates a headless
Service and the StatefulSet (``OrderedReady`` unless ``--parallel``, one
``volumeClaimTemplate`` unless ``--no-claims``) and watches the namespace's
pods; it reports the time until ``readyReplicas`` is N, the time per replica,
and checks the order on the watch events: pod ``k`` is first seen only after
pod ``k-1`` was seen Ready.

Without the PV binder and its provisioner (another branch) the claims stay
Pending; nothing in this tree waits for them to bind, so the figure is the
controller's, the scheduler's and the agent's pace, claims created included.

Writes ``bench/results/statefulset.json``.
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

from bench.controllers_bench import start_agent, wait_nodes  # noqa: E402
from shoal.client import ApiClient, ApiException  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "statefulset.json"
NS = "bench-sts"


def statefulset(replicas: int, *, claims: bool, parallel: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "podManagementPolicy": "Parallel" if parallel else "OrderedReady",
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
            {"name": "db", "image": "registry.local/db:1",
             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
             **({"volumeMounts": [{"name": "data", "mountPath": "/data"}]} if claims else {})}]}}}
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    return {"metadata": {"name": "db"}, "spec": spec}


class PodEvents:
    """The order in which pods were first seen and first seen Ready (indexes into one event sequence)."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.seq = 0
        self.added: dict[str, int] = {}
        self.ready: dict[str, int] = {}
        self.ready_count = 0
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        rv = (await self.client.list("pods", NS))["metadata"]["resourceVersion"]
        self._task = asyncio.create_task(self._run(rv))

    async def _run(self, rv: str) -> None:
        while True:
            try:
                async for ev in self.client.watch("pods", NS, resource_version=rv):
                    if ev.type not in ("ADDED", "MODIFIED"):
                        continue
                    rv = ev.object["metadata"]["resourceVersion"]
                    name = ev.object["metadata"]["name"]
                    self.seq += 1
                    self.added.setdefault(name, self.seq)
                    conds = (ev.object.get("status") or {}).get("conditions") or []
                    if name not in self.ready and any(c.get("type") == "Ready" and c.get("status") == "True"
                                                      for c in conds):
                        self.ready[name] = self.seq
                        self.ready_count += 1
                        self.changed.set()
            except ApiException:
                await asyncio.sleep(0.1)

    async def until_ready(self, n: int, timeout: float) -> float:
        t0 = time.monotonic()
        while self.ready_count < n:
            self.changed.clear()
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                raise TimeoutError(f"{self.ready_count} of {n} pods Ready after {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        return time.monotonic() - t0

    def out_of_order(self, n: int) -> list[str]:
        """Pods first seen before their predecessor was Ready."""
        return [f"db-{i}" for i in range(1, n)
                if self.added.get(f"db-{i}", 0) < self.ready.get(f"db-{i - 1}", 1 << 60)]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def drive(srv: RunningServer, replicas: int, *, claims: bool, parallel: bool) -> dict[str, Any]:
    async with ApiClient.http(srv.url, token=srv.token, ca_file=srv.ca) as client:
        await client.create("namespaces", {"metadata": {"name": NS}})
        await client.create("services", {"metadata": {"name": "db"}, "spec": {
            "clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}}, NS)
        events = PodEvents(client)
        await events.start()
        t0 = time.monotonic()
        await client.create("statefulsets", statefulset(replicas, claims=claims, parallel=parallel), NS)
        ready_s = await events.until_ready(replicas, timeout=900)
        sts: dict[str, Any] = {}
        for _ in range(100):  # the controller writes status after the last pod's event
            sts = await client.get("statefulsets", "db", NS)
            if int((sts.get("status") or {}).get("readyReplicas") or 0) == replicas:
                break
            await asyncio.sleep(0.05)
        status_s = time.monotonic() - t0
        await events.stop()
        pvcs = (await client.list("persistentvolumeclaims", NS))["items"]
        late = events.out_of_order(replicas)
        return {"replicas": replicas, "policy": "Parallel" if parallel else "OrderedReady",
                "claims": len(pvcs),
                "claims_bound": sum((c.get("status") or {}).get("phase") == "Bound" for c in pvcs),
                "all_ready_s": round(ready_s, 2), "status_ready_s": round(status_s, 2),
                "per_replica_ms": round(1000 * ready_s / replicas, 1),
                "in_order": not late if not parallel else None, "out_of_order": late[:10],
                "status_ready_replicas": int((sts.get("status") or {}).get("readyReplicas") or 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--no-claims", action="store_true", help="no volumeClaimTemplates")
    ap.add_argument("--parallel", action="store_true", help="podManagementPolicy: Parallel")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="shoal-sts-bench-") as tmp:
        tmpd = Path(tmp)
        srv = start_server(tmpd / "server")
        agent = start_agent(srv, tmpd, args.nodes)
        try:
            async def run() -> dict[str, Any]:
                async with ApiClient.http(srv.url, token=srv.token, ca_file=srv.ca) as c:
                    await wait_nodes(c, args.nodes)
                return await drive(srv, args.replicas, claims=not args.no_claims, parallel=args.parallel)

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
    res.update(nodes=args.nodes, cpus=os.cpu_count(), load_avg_1m=round(os.getloadavg()[0], 2))
    print(json.dumps(res, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")
    if res["in_order"] is False:
        raise SystemExit(f"pods started out of order: {res['out_of_order']}")


if __name__ == "__main__":
    main()
