"""Server-side applies/s of a Deployment-sized object against plain updates/s, in one run.

    .venv/bin/python bench/apply_bench.py [--objects 40] [--ops 600] [--clients 8] [--rounds 3]

A real ``shoal server`` (the API alone, SQLite) holds ``--objects`` Deployments of
a realistic size (two containers with ports, env, resources, probes and volume
mounts; volumes; labels and annotations), each created by a server-side apply.
Then, alternating, ``--rounds`` times:

* updates: ``PUT`` of the whole Deployment (as ``kubectl replace`` sends it: no
  resourceVersion, no managedFields) with a new image tag;
* applies: ``PATCH`` ``application/apply-patch+yaml`` (JSON body, as client-go
  sends it) of the same configuration with a new image tag, by the manager that
  created it (the update path: the object exists, the applier owns its fields),
  with ``force=true`` as controllers apply (the updates phase took the image).

Both change the same field of objects of the same size, ``--clients`` requests in
flight, over keep-alive HTTPS; both keep managedFields (the update's writer gets an
``Update`` entry). The figure is the median rate of each over the rounds, and
their ratio (target >= 0.6), with the server's CPU time per write of each (read from
``/proc``; less at the mercy of other work on a shared machine than the rates).
Writes ``bench/results/apply.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.procstats import cpu_seconds  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "apply.json"
NS = "default"
APPLY = "application/apply-patch+yaml"
MANAGER = "bench-apply"


def container(name: str, image: str, port: int) -> dict[str, Any]:
    return {
        "name": name, "image": image,
        "ports": [{"name": "http", "containerPort": port}, {"name": "metrics", "containerPort": port + 1000}],
        "env": [{"name": f"VAR_{i}", "value": f"value-{i}"} for i in range(6)],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": port}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/live", "port": port}, "initialDelaySeconds": 10},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}, {"name": "cache", "mountPath": "/cache"}],
    }


def deployment(name: str, tag: int) -> dict[str, Any]:
    labels = {"app": name, "tier": "web", "team": "bench"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": labels,
                     "annotations": {"owner": "bench", "description": "a deployment of a realistic size"}},
        "spec": {
            "replicas": 3, "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels, "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {
                    "containers": [container("app", f"registry.local/app:{tag}", 8080),
                                   container("sidecar", "registry.local/sidecar:1", 9090)],
                    "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}},
                                {"name": "cache", "emptyDir": {}}],
                    "terminationGracePeriodSeconds": 20,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                },
            },
        },
    }


class Client:
    def __init__(self, srv: RunningServer, connections: int) -> None:
        ctx = ssl.create_default_context(cafile=srv.ca)
        self.session = aiohttp.ClientSession(
            base_url=srv.url, headers={"Authorization": f"Bearer {srv.token}"},
            connector=aiohttp.TCPConnector(ssl=ctx, limit=connections, keepalive_timeout=120))

    async def close(self) -> None:
        await self.session.close()

    async def send(self, method: str, path: str, body: bytes, ctype: str, ok: tuple[int, ...]) -> None:
        async with self.session.request(method, path, data=body, headers={"Content-Type": ctype}) as r:
            text = await r.read()
            if r.status not in ok:
                raise RuntimeError(f"{method} {path}: {r.status} {text[:500]!r}")


def _path(name: str) -> str:
    return f"/apis/apps/v1/namespaces/{NS}/deployments/{name}"


async def phase(c: Client, pid: int, kind: str, names: list[str], ops: int, clients: int,
                tag0: int) -> tuple[float, float]:
    """``ops`` writes of one kind round-robin over ``names``; returns (writes/s, server CPU us per write)."""
    bodies = []
    for i in range(ops):
        name = names[i % len(names)]
        doc = json.dumps(deployment(name, tag0 + i)).encode()
        if kind == "apply":
            bodies.append(("PATCH", f"{_path(name)}?fieldManager={MANAGER}&force=true", doc, APPLY, (200,)))
        else:
            bodies.append(("PUT", f"{_path(name)}?fieldManager=bench-update", doc, "application/json", (200,)))
    todo = iter(bodies)

    async def worker() -> None:
        for b in todo:
            await c.send(*b)

    t0, cpu0 = time.monotonic(), cpu_seconds(pid)
    await asyncio.gather(*(worker() for _ in range(clients)))
    t1, cpu1 = time.monotonic(), cpu_seconds(pid)
    return ops / (t1 - t0), (cpu1 - cpu0) / ops * 1e6


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shoal-apply-bench-") as tmp:
        srv = start_server(Path(tmp) / "srv", args=["--disable-scheduler", "--disable-controller-manager"])
        c = Client(srv, args.clients)
        try:
            names = [f"web-{i:03}" for i in range(args.objects)]
            for n in names:  # created by the applier, which then owns what it applied
                await c.send("PATCH", f"{_path(n)}?fieldManager={MANAGER}", json.dumps(deployment(n, 0)).encode(),
                             APPLY, (201,))
            pid = srv.proc.pid
            await phase(c, pid, "apply", names, len(names) * 2, args.clients, 1)  # warm up both paths
            await phase(c, pid, "update", names, len(names) * 2, args.clients, 1)
            rates: dict[str, list[float]] = {"update": [], "apply": []}
            cpu: dict[str, list[float]] = {"update": [], "apply": []}
            tag = 10_000
            for _ in range(args.rounds):
                for kind in ("update", "apply"):
                    rate, us = await phase(c, pid, kind, names, args.ops, args.clients, tag)
                    rates[kind].append(rate)
                    cpu[kind].append(us)
                    tag += args.ops
        finally:
            await c.close()
            srv.stop()
    upd, app = statistics.median(rates["update"]), statistics.median(rates["apply"])
    upd_us, app_us = statistics.median(cpu["update"]), statistics.median(cpu["apply"])
    return {"objects": args.objects, "ops_per_phase": args.ops, "clients": args.clients, "rounds": args.rounds,
            "update_per_s": round(upd, 1), "apply_per_s": round(app, 1), "apply_to_update": round(app / upd, 3),
            "update_rounds": [round(x, 1) for x in rates["update"]],
            "apply_rounds": [round(x, 1) for x in rates["apply"]],
            "update_server_cpu_us": round(upd_us), "apply_server_cpu_us": round(app_us),
            "apply_to_update_by_cpu": round(upd_us / app_us, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--objects", type=int, default=40)
    p.add_argument("--ops", type=int, default=600)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    res = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"plain updates/s      {res['update_per_s']:8.1f}   rounds {res['update_rounds']}")
    print(f"server-side applies/s {res['apply_per_s']:7.1f}   rounds {res['apply_rounds']}")
    met = "MET" if res["apply_to_update"] >= 0.6 else "NOT MET"
    print(f"applies / updates     {res['apply_to_update']:7.3f}   target >= 0.6  {met}")
    print(f"server CPU us per update / apply  {res['update_server_cpu_us']} / {res['apply_server_cpu_us']}"
          f"   (ratio of rates the CPU allows: {res['apply_to_update_by_cpu']:.3f})")


if __name__ == "__main__":
    main()
