"""Scheduler benchmark: pods bound per second end to end, through the real API.

    .venv/bin/python bench/scheduler_bench.py [--nodes 5000] [--pods 50000] [--scenario resources|spread|both]
                                              [--quick] [--core-only] [--http-server lean|aiohttp|both]

What it does, per scenario, against a fresh ``shoal server`` subprocess (SQLite
store, no local agent, controllers off so only the scheduler acts on pods):

1. registers ``--nodes`` Node objects over HTTPS with 32 concurrent clients,
   spread over 10 zones (what the agent's simulated nodes do: capacity,
   allocatable, a Ready condition, hostname/zone/os labels);
2. opens a watch on pods in a separate process that stamps, with the shared
   CLOCK_MONOTONIC, when each pod is first seen with ``spec.nodeName``;
3. creates ``--pods`` pods with 32 concurrent HTTPS clients (2 processes), stamping
   each send time; by default each client is shoal's lean HTTP/1.1 connection over TLS
   (``--client aiohttp``: aiohttp's client, as every round before 2026-12-02's second): the load
   generators share the two cores with what they measure, and aiohttp's client cost ~3x the CPU;
4. reports pods bound per second (first send -> last binding seen) and the
   p50/p99 of per-pod latency (send -> binding seen by the watcher), and the
   scheduler's own counters and seconds per plugin (logged by the server on
   shutdown), which is how we know which plugin dominates;
5. reports the CPU milliseconds spent per pod, during the pod phase, by the
   server, the scheduler process (when it is one) and the whole machine (so
   the load generators are what is left): on a 2-core machine where all of
   them compete, pods/s is two cores divided by the sum, and the CPU per pod is
   the figure that a change moves even when the machine is noisy;
6. reports ``host_baseline_us``, a fixed piece of stdlib interpreter work timed
   in the same run (once at the start, and per scenario just before its pods),
   so that runs on a faster or slower moment of these shared hosts compare.

Scenarios (issue 4): ``resources`` - requests only; ``spread`` - one pod in
five also has a zone topology spread constraint (maxSkew 1, DoNotSchedule)
and a required hostname anti-affinity, in groups of 50 pods.

``--rate R`` paces the creates (open loop, R pods/s): with R below what the
API can bind, the latency figures are the scheduling latency rather than
time spent in a backlog. ``--core-only`` measures the pure core alone (decisions/s over the same
cluster, in process), which separates the scheduler's cost from the API's.
``--http-server aiohttp`` serves the API with aiohttp alone (``SHOAL_HTTP_SERVER``), as before the
lean server; ``both`` runs each in turn, which is how the lean server's share was measured.
``run(...)`` is the entry point for a bench runner; it returns a dict.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import re
import ssl
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import msgspec  # noqa: E402

from bench import load, procstats, workload  # noqa: E402

NS = "bench-sched"
ZONE = "topology.kubernetes.io/zone"
GROUP = 50  # pods per app label in the spread scenario


# ---- bodies ---------------------------------------------------------------------------------

def node_body(i: int, zones: int) -> dict[str, Any]:
    name = f"sim-{i:05d}"
    alloc = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            ZONE: f"zone-{i % zones}", "node.shoal.io/simulated": "true"}},
        "spec": {},
        "status": {"capacity": alloc, "allocatable": alloc,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                   "message": "simulated node is ready"}],
                   "nodeInfo": {"kubeletVersion": "v1.32.0-shoal", "operatingSystem": "linux",
                                "architecture": "amd64"}},
    }


def pod_body(i: int, scenario: str) -> dict[str, Any]:
    p = workload.pod(f"p-{i:06d}", NS)
    if scenario == "spread" and i % 5 == 0:
        app = f"g{(i // 5) // GROUP}"
        p["metadata"]["labels"] = {**p["metadata"]["labels"], "app": app}
        sel = {"matchLabels": {"app": app}}
        p["spec"]["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": sel}]
        p["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": sel}]}}
    return p


# ---- load processes -------------------------------------------------------------------------

def _session(url: str, token: str, ca: str, connections: int) -> aiohttp.ClientSession:
    ctx = ssl.create_default_context(cafile=ca)
    conn = aiohttp.TCPConnector(ssl=ctx, limit=connections, limit_per_host=connections, keepalive_timeout=120)
    return aiohttp.ClientSession(base_url=url, connector=conn, headers={"Authorization": f"Bearer {token}"},
                                 timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))


Send = Callable[[bytes], Awaitable[tuple[int, bytes]]]


async def _drive(p: dict[str, Any], sync: Any, senders: list[Send]) -> dict[str, Any]:
    """POST every body, one sender per concurrent client, paced by ``rate`` if given."""
    sent: dict[str, float] = {}
    failures: list[str] = []
    sync()
    t0 = time.monotonic()
    todo = iter(enumerate(p["bodies"]))
    rate = p.get("rate") or 0.0

    async def client(send: Send) -> None:
        for k, (name, body) in todo:
            if rate:  # paced (open loop at a fixed rate), else as fast as the server answers
                delay = t0 + k / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent[name] = time.monotonic()
            status, answer = await send(body)
            if status != 201 and len(failures) < 5:
                failures.append(f"{status}: {answer[:200]!r}")
    await asyncio.gather(*(client(s) for s in senders))
    return {"sent": sent, "start": t0, "end": time.monotonic(), "failures": failures}


async def _post_all(p: dict[str, Any], sync: Any) -> dict[str, Any]:
    if p.get("client") == "lean":
        return await _post_all_lean(p, sync)
    path, clients = p["path"], p["clients"]
    async with _session(p["url"], p["token"], p["ca"], clients) as s:
        async def warm() -> None:
            async with s.get("/api/v1/namespaces/default") as r:
                await r.read()
        await asyncio.gather(*(warm() for _ in range(clients)))

        async def send(body: bytes) -> tuple[int, bytes]:
            async with s.post(path, data=body, headers={"Content-Type": "application/json"}) as r:
                return r.status, await r.read()
        return await _drive(p, sync, [send] * clients)


async def _post_all_lean(p: dict[str, Any], sync: Any) -> dict[str, Any]:
    """``_post_all`` with shoal's lean HTTP/1.1 connection over TLS instead of aiohttp's client: the
    same requests on the same number of kept-alive HTTPS connections, for a fraction of the load
    generator's CPU (which shares the machine's two cores with the server and the scheduler)."""
    from urllib.parse import urlsplit

    from shoal.client.unixhttp import Connection

    u = urlsplit(p["url"])
    ctx = ssl.create_default_context(cafile=p["ca"])
    loop = asyncio.get_running_loop()
    conns = [(await loop.create_connection(Connection, u.hostname, u.port, ssl=ctx))[1]
             for _ in range(p["clients"])]
    common = f"Host: {u.netloc}\r\nAuthorization: Bearer {p['token']}\r\nAccept: application/json\r\n"
    warm = f"GET /api/v1/namespaces/default HTTP/1.1\r\n{common}\r\n".encode()
    for c in conns:
        status = (await c.send(warm)).status
        if status != 200:
            raise RuntimeError(f"warm-up GET answered {status}")
    post = f"POST {p['path']} HTTP/1.1\r\n{common}Content-Type: application/json\r\n".encode()

    def sender(conn: Connection) -> Send:
        async def send(body: bytes) -> tuple[int, bytes]:
            r = await conn.send(b"%sContent-Length: %d\r\n\r\n%s" % (post, len(body), body))
            return r.status, r.body
        return send
    try:
        return await _drive(p, sync, [sender(c) for c in conns])
    finally:
        for c in conns:
            c.close()


async def _watch_bound(p: dict[str, Any], sync: Any) -> dict[str, Any]:
    expected, timeout = p["expected"], p["timeout"]
    bound: dict[str, float] = {}
    async with _session(p["url"], p["token"], p["ca"], 2) as s:
        async with s.get(f"/api/v1/namespaces/{NS}/pods?limit=1") as r:
            rv = msgspec.json.decode(await r.read())["metadata"]["resourceVersion"]
        url = f"/api/v1/namespaces/{NS}/pods?watch=1&resourceVersion={rv}&timeoutSeconds={int(timeout)}"
        async with s.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as r:
            sync()
            marker = b'"nodeName":"'
            rest = b""
            # whole chunks, stamped on arrival and split here (aiohttp's readline per event, with a
            # timer each, cost the watcher more CPU than the decoding); the server also ends the
            # stream at timeoutSeconds
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    async for chunk in r.content.iter_any():
                        now = time.monotonic()
                        lines = (rest + chunk).split(b"\n")
                        rest = lines.pop()
                        for line in lines:
                            if marker not in line:
                                continue
                            ev = msgspec.json.decode(line)
                            name = ev["object"]["metadata"]["name"]
                            if name not in bound and ev["object"]["spec"].get("nodeName"):
                                bound[name] = now
                        if len(bound) >= expected:
                            break
    return {"bound": bound}


JOBS = {"post": _post_all, "watch": _watch_bound}


def _child(name: str, params: dict[str, Any], barrier: Any, out: Any) -> None:
    def sync() -> None:
        barrier.wait(timeout=300)
    try:
        out.put(asyncio.run(JOBS[name](params, sync)))
    except BaseException:
        with contextlib.suppress(Exception):
            barrier.abort()
        out.put({"error": traceback.format_exc()})


def run_jobs(jobs: list[tuple[str, dict[str, Any]]], *, timeout: float) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs))
    out = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(n, p, barrier, out), daemon=True) for n, p in jobs]
    for proc in procs:
        proc.start()
    try:
        return load.collect(procs, out, timeout=timeout)
    finally:
        load.stop(procs)


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine so far (all cores: user, nice, system, irq, softirq)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


# ---- one scenario ---------------------------------------------------------------------------

def host_baseline_us(rounds: int = 3, n: int = 2000) -> float:
    """Microseconds for a fixed piece of interpreter work, best of ``rounds``: this host's speed now.

    These machines are shared and their speed moves by half within an hour, so every run reports
    this beside its figures (a baseline measured in the same run, as the benchmarks' rule asks).
    The work is stdlib only and does not change with shoal's code: decode the benchmark pod's JSON,
    walk it in Python, encode it again.
    """
    import json as stdjson

    raw = workload.pod_bytes("p-000000", NS)

    def walk(v: Any) -> int:
        if isinstance(v, dict):
            return sum(walk(x) for x in v.values()) + len(v)
        if isinstance(v, list):
            return sum(walk(x) for x in v)
        return 1

    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            doc = stdjson.loads(raw)
            walk(doc)
            stdjson.dumps(doc)
        best = min(best, (time.perf_counter() - t) / n * 1e6)
    return round(best, 1)


def run_scenario(scenario: str, *, nodes: int = 5000, zones: int = 10, pods: int = 50000, clients: int = 32,
                 processes: int = 2, workdir: Path | None = None, timeout: float = 1800,
                 rate: float = 0.0, scheduler: str = "", http_server: str = "",
                 client: str = "lean") -> dict[str, Any]:
    from shoal.server import HTTP_SERVER_ENV
    from tests.server_fixture import start_server

    work = Path(workdir or tempfile.mkdtemp(prefix="shoal-sched-bench-"))
    os.environ["SHOAL_CONTROLLERS"] = "none"
    if http_server:
        os.environ[HTTP_SERVER_ENV] = http_server
    else:
        os.environ.pop(HTTP_SERVER_ENV, None)
    srv = start_server(work / f"data-{scenario}", timeout=60, args=[f"--scheduler-{scheduler}"] if scheduler else [])
    out: dict[str, Any] = {"scenario": scenario, "nodes": nodes, "pods": pods, "clients": clients,
                           "rate": rate or "max", "scheduler": scheduler or "default",
                           "http_server": http_server or "lean", "client": client}
    try:
        base = {"url": srv.url, "token": srv.token, "ca": srv.ca}
        s = srv.session()
        s.post(srv.url + "/api/v1/namespaces", json={"metadata": {"name": NS}}).raise_for_status()
        # 1. nodes
        nbodies = [(f"sim-{i:05d}", msgspec.json.encode(node_body(i, zones))) for i in range(nodes)]
        t = time.monotonic()
        res = run_jobs([("post", {**base, "path": "/api/v1/nodes", "bodies": part, "clients": clients // processes})
                        for part in _split(nbodies, processes)], timeout=timeout)
        out["node_register_s"] = round(time.monotonic() - t, 2)
        if any(r["failures"] for r in res):
            raise RuntimeError(f"node registration failed: {[r['failures'] for r in res]}")
        time.sleep(2.0)  # let the scheduler's informer take in every node
        # 2. + 3. watch, then create pods
        pbodies = [(f"p-{i:06d}", msgspec.json.encode(pod_body(i, scenario))) for i in range(pods)]
        jobs = [("watch", {**base, "expected": pods, "timeout": timeout})]
        out["host_baseline_us"] = host_baseline_us()  # the machine is quiet here: nodes in, no pods yet
        meters = {"server": srv.proc.pid}
        if children := child_pids(srv.proc.pid):  # the scheduler, when it runs as its own process
            meters["scheduler"] = children[0]
        cpu0 = {k: procstats.cpu_seconds(v) for k, v in meters.items()} | {"machine": machine_cpu_seconds()}
        jobs += [("post", {**base, "path": f"/api/v1/namespaces/{NS}/pods", "bodies": part,
                           "clients": clients // processes, "rate": rate / processes, "client": client})
                 for part in _split(pbodies, processes)]
        res = run_jobs(jobs, timeout=timeout + 60)
        cpu1 = {k: procstats.cpu_seconds(v) for k, v in meters.items()} | {"machine": machine_cpu_seconds()}
        bound: dict[str, float] = next(r["bound"] for r in res if "bound" in r)
        posts = [r for r in res if "sent" in r]
        sent: dict[str, float] = {k: v for r in posts for k, v in r["sent"].items()}
        failures = [f for r in posts for f in r["failures"]]
        first = min(sent.values())
        last = max(bound.values()) if bound else first
        lat = [bound[k] - sent[k] for k in bound if k in sent]
        create_end = max(r["end"] for r in posts)
        out.update({
            "bound": len(bound), "create_failures": failures[:3],
            "creates_per_s": round(len(sent) / (create_end - min(r["start"] for r in posts)), 1),
            "bound_per_s": round(len(bound) / (last - first), 1) if last > first else 0.0,
            "seconds": round(last - first, 1),
            "latency_p50_ms": round(pct(lat, 0.50) * 1000, 1), "latency_p99_ms": round(pct(lat, 0.99) * 1000, 1),
            "cpu_ms_per_pod": {k: round((cpu1[k] - cpu0[k]) * 1000 / max(1, len(bound)), 3) for k in cpu0},
        })
    finally:
        srv.stop()
        m = re.findall(r"scheduler stats: (\{.*\})", srv.log())
        if m:
            out["scheduler"] = json.loads(m[-1])
    return out


# ---- the core alone -------------------------------------------------------------------------

def run_core(scenario: str, *, nodes: int = 5000, zones: int = 10, pods: int = 50000) -> dict[str, Any]:
    """Decisions per second of the pure core (no API), same cluster and pods."""
    from shoal.gctune import tune
    from shoal.scheduler.config import SchedulerConfig
    from shoal.scheduler.core import build_profiles, schedule
    from shoal.scheduler.podinfo import pod_info
    from shoal.scheduler.snapshot import ClusterState

    tune()  # as in every shoal process
    cs = ClusterState()
    for i in range(nodes):
        cs.set_node(node_body(i, zones))
    infos = []
    for i in range(pods):
        body = pod_body(i, scenario)
        body["metadata"]["uid"] = f"uid-{i}"
        infos.append(pod_info(body))
    profiles = build_profiles(SchedulerConfig())
    t = time.perf_counter()
    decisions = schedule(cs, infos, profiles)
    dt = time.perf_counter() - t
    timings = profiles["default-scheduler"].timings
    return {"scenario": scenario, "nodes": nodes, "pods": pods, "placed": sum(d.scheduled for d in decisions),
            "decisions_per_s": round(pods / dt, 1), "us_per_decision": round(dt / pods * 1e6, 1),
            "plugin_seconds": {k: round(v, 3) for k, v in sorted(timings.items(), key=lambda kv: -kv[1])}}


def run(*, scenarios: tuple[str, ...] = ("resources", "spread"), quick: bool = False, core_only: bool = False,
        nodes: int | None = None, pods: int | None = None, rate: float = 0.0,
        schedulers: tuple[str, ...] = ("",), http_servers: tuple[str, ...] = ("",),
        clients: tuple[str, ...] = ("lean",)) -> dict[str, Any]:
    """Entry point for a bench runner: every figure as a dict."""
    n = nodes or (500 if quick else 5000)
    p = pods or (2000 if quick else 50000)
    out: dict[str, Any] = {"host_baseline_us": host_baseline_us(),
                           "core": [run_core(s, nodes=n, pods=p) for s in scenarios]}
    if not core_only:
        out["e2e"] = [run_scenario(s, nodes=n, pods=p, rate=rate, scheduler=k, http_server=h, client=c)
                      for s in scenarios for k in schedulers for h in http_servers for c in clients]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--pods", type=int)
    ap.add_argument("--scenario", choices=["resources", "spread", "both"], default="both")
    ap.add_argument("--quick", action="store_true", help="500 nodes, 2,000 pods (a smoke run)")
    ap.add_argument("--core-only", action="store_true")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="create pods at this rate (pods/s) to measure latency below saturation; 0: as fast as possible")
    ap.add_argument("--scheduler", choices=["default", "process", "in-process", "both"], default="default",
                    help="where the server runs its scheduler (both: one run each, in-process first)")
    ap.add_argument("--http-server", choices=["lean", "aiohttp", "both"], default="lean",
                    help="what serves the API's requests (both: one run each, aiohttp alone first)")
    ap.add_argument("--client", choices=["lean", "aiohttp", "both"], default="lean",
                    help="the pod creators' HTTPS client (both: one run each, aiohttp first)")
    a = ap.parse_args()
    schedulers = {"default": ("",), "both": ("in-process", "process")}.get(a.scheduler, (a.scheduler,))
    scenarios = ("resources", "spread") if a.scenario == "both" else (a.scenario,)
    print(json.dumps(run(scenarios=scenarios, quick=a.quick, core_only=a.core_only, nodes=a.nodes, pods=a.pods,
                         rate=a.rate, schedulers=schedulers,
                         http_servers=("aiohttp", "lean") if a.http_server == "both" else (a.http_server,),
                         clients=("aiohttp", "lean") if a.client == "both" else (a.client,)),
                     indent=1))


if __name__ == "__main__":
    main()
