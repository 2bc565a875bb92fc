"""Metrics benchmarks: what Prometheus and resource metrics cost, and how fast the HPA reacts.

    .venv/bin/python bench/metrics_bench.py [--quick] [--only api,agent,cgroup,hpa]

api: the API request path with request metrics on and off (``SHOAL_REQUEST_METRICS=off``), in
    the same run: ``shoal server`` (API only), N pod creates from 32 clients in 2 processes
    (bench/api_bench's load), rounds alternating on/off; creates/s and server CPU per create.
agent: one ``shoal agent --runtime simulated`` with 100 pods, its CPU (% of one core) over a
    steady window with ``--metrics-interval 5`` (sampling and pushing) and ``0`` (no metrics).
    Hollow pods, because 100 real containers do not fit beside the other work on this 2-core
    machine; the per-container cost of a real sample is measured apart (cgroup).
cgroup: reading one real Podman container's cgroup (what a sample costs per container with the
    docker driver), over the containers running on this machine.
hpa: the reaction time: a Deployment (requests 100m, using 10m) under an HPA (50% CPU) with
    upstream's default sync period (15 s) and the agent's default sample interval (5 s); its
    pods' CPU goes to 200m (the simulated driver's annotation) at t0; t = the first scale-up.

Prints a JSON object and writes bench/results/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import api_bench, load, procstats, workload  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "metrics.json"


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 120.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


def start_agent(srv: RunningServer, work: Path, *args: str) -> subprocess.Popen[bytes]:
    token = (srv.data_dir / "node-token").read_text().strip()
    return subprocess.Popen(
        [sys.executable, "-m", "shoal", "agent", "--server", srv.url, "--token", token, "--data-dir",
         str(work / "agent"), "--ca-file", srv.ca, "--runtime", "simulated", "--lease-interval", "2", *args],
        stdout=open(work / "agent.log", "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115


def stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)


# ---- api -------------------------------------------------------------------------------------
def api_round(enabled: bool, pods: int) -> dict[str, Any]:
    env_before = os.environ.get("SHOAL_REQUEST_METRICS")
    os.environ["SHOAL_REQUEST_METRICS"] = "on" if enabled else "off"
    try:
        with tempfile.TemporaryDirectory(prefix="shoal-bench-metrics-") as tmp:
            srv = start_server(Path(tmp) / "data", args=list(api_bench.API_ONLY))
            try:
                api_bench._post(srv, "/api/v1/namespaces", workload.namespace(api_bench.CREATE_NS))
                res: dict[str, Any] = {"raw_write_per_s": 1}
                sizes = api_bench.Sizes(pods=pods)
                api_bench._creates(load.Target(srv.url, srv.token, srv.ca), sizes, {"server": srv.proc.pid},
                                   procstats.Profiler(None), res)
                return {"create_per_s": res["create_per_s"], "server_cpu_us": res["create_server_cpu_us"],
                        "p50_ms": res["create_p50_ms"]}
            finally:
                srv.stop()
    finally:
        if env_before is None:
            os.environ.pop("SHOAL_REQUEST_METRICS", None)
        else:
            os.environ["SHOAL_REQUEST_METRICS"] = env_before


def observe_cost() -> float:
    """Microseconds the request path spends on metrics per request, in process (inflight + count + time)."""
    from shoal.api import kinds
    from shoal.apiserver.prom import RequestMetrics

    rm = RequestMetrics()
    info = kinds.lookup("", "v1", "pods")
    n = 100_000
    t = time.perf_counter()
    for _ in range(n):
        g = rm.inflight("POST")
        g.inc()
        t0 = time.perf_counter()
        g.dec()
        rm.observe("POST", info, namespaced=True, named=False, sub="", watch=False, code=201,
                   seconds=time.perf_counter() - t0)
    return round((time.perf_counter() - t) / n * 1e6, 2)


def store_timing_cost() -> float:
    """Microseconds ``TimedStore`` adds to one store call (a get of an in-memory store), in process."""
    import asyncio

    from shoal.apiserver.prom import TimedStore

    class Mem:
        async def get(self, key: str) -> None:
            return None

    async def run(store: Any, n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            await store.get("/registry/core/pods/x/p")
        return (time.perf_counter() - t) / n

    n = 100_000
    raw = asyncio.run(run(Mem(), n))
    timed = asyncio.run(run(TimedStore(Mem()), n))  # type: ignore[arg-type]
    return round((timed - raw) * 1e6, 2)


def bench_api(quick: bool) -> dict[str, Any]:
    pods = 1000 if quick else 5000
    rounds: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    for _ in range(1 if quick else 4):
        for mode in ("off", "on"):
            rounds[mode].append(api_round(mode == "on", pods))
    out: dict[str, Any] = {"pods": pods, "rounds": rounds, "observe_us_in_process": observe_cost(),
                           "store_timing_us_per_call": store_timing_cost()}
    for mode, rs in rounds.items():
        out[f"{mode}_create_per_s"] = round(statistics.median(r["create_per_s"] for r in rs))
        out[f"{mode}_server_cpu_us"] = round(statistics.median(r["server_cpu_us"] for r in rs))
    out["cpu_us_added_per_create"] = out["on_server_cpu_us"] - out["off_server_cpu_us"]
    return out


# ---- agent -----------------------------------------------------------------------------------
def agent_cpu(metrics_interval: float, pods: int, steady: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shoal-bench-agentmetrics-") as tmp:
        work = Path(tmp)
        srv = start_server(work / "server", args=["--disable-controller-manager"])
        agent = start_agent(srv, work, "--simulate-nodes", "2", "--node-name", "m",
                            "--metrics-interval", str(metrics_interval))
        try:
            wait_for("nodes", lambda: srv.kubectl("get", "nodes", "--no-headers").stdout.count(" Ready") == 2)
            body = "".join(
                f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  nodeName: m-{i % 2}\n"
                f"  containers: [{{name: c, image: x}}]\n" for i in range(pods))
            srv.kubectl("apply", "-f", "-", input=body, timeout=300)
            wait_for("pods running", lambda: srv.kubectl("get", "pods", "--no-headers").stdout.count(
                "Running") == pods, timeout=300, every=1)
            time.sleep(max(10.0, metrics_interval * 2))  # past start-up, and a full metrics window
            c0, t0 = procstats.cpu_seconds(agent.pid), time.monotonic()
            time.sleep(steady)
            c1, t1 = procstats.cpu_seconds(agent.pid), time.monotonic()
            top = srv.kubectl("top", "pods", "--no-headers", check=False).stdout.count("\n")
            return {"metrics_interval": metrics_interval, "cpu_pct": round(100 * (c1 - c0) / (t1 - t0), 2),
                    "rss_mb": round(procstats.status_kb(agent.pid, "VmRSS") / 1024, 1), "pods_in_top": top}
        finally:
            stop(agent)
            srv.stop()


def bench_agent(quick: bool) -> dict[str, Any]:
    steady = 20.0 if quick else 60.0
    off = agent_cpu(0, 100, steady)
    on = agent_cpu(5.0, 100, steady)
    return {"pods": 100, "steady_s": steady, "off": off, "on": on,
            "added_pct_of_a_core": round(on["cpu_pct"] - off["cpu_pct"], 2)}


# ---- cgroup ----------------------------------------------------------------------------------
def bench_cgroup() -> dict[str, Any]:
    from shoal.agent.cgroups import CgroupReader

    r = CgroupReader()
    ids = list(dict.fromkeys(p.name.split("-", 1)[1].removesuffix(".scope") for p in
                             (r._cpu_root / "libpod_parent").glob("libpod-*")))[:50] \
        if (r._cpu_root / "libpod_parent").is_dir() else []
    ids = [i for i in ids if r.container(i) is not None]
    if not ids:
        return {"layout": r.layout, "containers": 0}
    n = 2000
    t = time.perf_counter()
    for k in range(n):
        r.container(ids[k % len(ids)])
    per = (time.perf_counter() - t) / n
    node_t = time.perf_counter()
    for _ in range(200):
        r.node()
    return {"layout": r.layout, "containers": len(ids), "us_per_container_read": round(per * 1e6, 1),
            "us_per_node_read": round((time.perf_counter() - node_t) / 200 * 1e6, 1),
            "pct_of_a_core_100_containers_every_5s": round(100 * per * 100 / 5.0, 3)}


# ---- hpa -------------------------------------------------------------------------------------
DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: %(name)s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %(name)s}}
  template:
    metadata:
      labels: {app: %(name)s}
      annotations: {sim.shoal.io/cpu-usage: 10m}
    spec:
      containers: [{name: main, image: x, resources: {requests: {cpu: 100m}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: %(name)s}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %(name)s}
  maxReplicas: 10
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
"""


def bench_hpa(quick: bool) -> dict[str, Any]:
    trials = 1 if quick else 3
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="shoal-bench-hpa-") as tmp:
        work = Path(tmp)
        srv = start_server(work / "server")  # the HPA's default 15 s sync period
        agent = start_agent(srv, work, "--simulate-nodes", "2", "--node-name", "h")  # default 5 s samples
        try:
            wait_for("nodes", lambda: srv.kubectl("get", "nodes", "--no-headers").stdout.count(" Ready") == 2)
            for i in range(trials):
                name = f"load{i}"
                srv.kubectl("apply", "-f", "-", input=DEPLOY % {"name": name})

                def active(name: str = name) -> bool:
                    obj = json.loads(srv.kubectl("get", "hpa", name, "-o", "json").stdout)
                    return any(c["type"] == "ScalingActive" and c["status"] == "True"
                               for c in (obj.get("status") or {}).get("conditions") or [])

                wait_for("the HPA measuring", active, timeout=120, every=0.5)
                t0 = time.monotonic()
                srv.kubectl("annotate", "pods", "-l", f"app={name}", "--overwrite", "sim.shoal.io/cpu-usage=200m")
                wait_for("a scale-up", lambda name=name: json.loads(srv.kubectl(
                    "get", "deploy", name, "-o", "json").stdout)["spec"]["replicas"] > 1, timeout=120, every=0.2)
                times.append(round(time.monotonic() - t0, 1))
        finally:
            stop(agent)
            srv.stop()
    return {"trials_s": times, "median_s": statistics.median(times), "max_s": max(times),
            "sync_period_s": 15, "metrics_interval_s": 5}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="api,agent,cgroup,hpa")
    a = ap.parse_args()
    parts = a.only.split(",")
    out: dict[str, Any] = {"quick": a.quick, "cpus": os.cpu_count()}
    if "cgroup" in parts:
        out["cgroup"] = bench_cgroup()
    if "api" in parts:
        out["api"] = bench_api(a.quick)
    if "agent" in parts:
        out["agent"] = bench_agent(a.quick)
    if "hpa" in parts:
        out["hpa"] = bench_hpa(a.quick)
    print(json.dumps(out, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
