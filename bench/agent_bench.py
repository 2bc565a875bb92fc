"""Node agent benchmarks: pod startup against the raw engine, and 1000 simulated nodes.

    .venv/bin/python bench/agent_bench.py [--startup] [--scale] [--nodes 1000] [--pods 30000] [--quick]

startup: ``shoal server`` with its embedded agent on Podman. (a) one pod at a
time, create to Ready as seen by a watch, against the raw engine's create +
start of one container of the same image; (b) 50 pods created at once, each
one's create to Ready, against the raw engine starting 50 containers with the
same concurrency. Pods carry ``spec.nodeName`` (the agent's path, not the
scheduler's). ``--sandboxes own`` measures pods in sandboxes the agent makes
itself (namespaces on its bridge, the default), ``infra`` with an infra
container per pod (``SHOAL_AGENT_POD_CIDR=none``), ``both`` (the default) one
after the other, each beside its own raw figures; ``SHOAL_BENCH_DOCKER_HOST``
picks the engine socket.

scale: ``shoal server --no-agent`` and one ``shoal agent --simulate-nodes N``;
P pods bound round-robin to the nodes; once all run, the agent's CPU (% of one
core) over a steady minute and its RSS.

Prints a JSON object of figures (and writes it to bench/results/agent.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
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

from bench import procstats  # noqa: E402
from shoal.agent.drivers.base import LABEL_NODE  # noqa: E402
from shoal.agent.drivers.docker import _ulimits  # noqa: E402
from shoal.agent.drivers.engine import Engine  # noqa: E402
from shoal.client import ApiClient  # noqa: E402
from tests.podman_fixture import remove_own_sandboxes  # noqa: E402
from tests.server_fixture import free_port  # noqa: E402

IMAGE = "localhost/busybox:test"
SOCK = os.environ.get("SHOAL_BENCH_DOCKER_HOST", "unix:///run/podman/podman.sock")  # the engine to measure
RESULTS = REPO / "bench" / "results" / "agent.json"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    f = open(log, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
                            env={**os.environ, **(env or {})})


async def wait_ready_server(data: Path, port: int, proc: subprocess.Popen[bytes]) -> ApiClient:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(data / 'server.log').read_text()[-2000:]}")
        if (data / "admin.kubeconfig").exists():
            client = ApiClient.http(f"https://127.0.0.1:{port}", token=(data / "admin-token").read_text().strip(),
                                    ca_file=str(data / "ca.crt"), limit=256)
            try:
                await client.request("GET", "/version")
                return client
            except Exception:
                await client.close()
        await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- startup ------------------------------------------------------------------------------------
async def raw_one(engine: Engine, name: str) -> float:
    t0 = time.perf_counter()
    out = await engine.request("POST", "/containers/create", params={"name": name}, body={
        "Image": IMAGE, "Cmd": ["sleep", "100000"], "Labels": {"bench": "raw"},
        "HostConfig": {"Ulimits": _ulimits()}})
    await engine.request("POST", f"/containers/{out['Id']}/start")
    took = time.perf_counter() - t0
    return took


async def raw_cleanup(engine: Engine) -> None:
    items = await engine.request("GET", "/containers/json", params={"all": True, "filters": {"label": ["bench=raw"]}})
    await asyncio.gather(*(engine.request("DELETE", f"/containers/{c['Id']}", params={"force": True})
                           for c in items or []))


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class ReadyWatch:
    """One watch on the bench's pods; records when each first shows Ready."""

    def __init__(self, client: ApiClient, label: str) -> None:
        self.client = client
        self.label = label
        self.ready_at: dict[str, float] = {}
        self.events: dict[str, asyncio.Event] = {}

    async def run(self, rv: str) -> None:
        async for ev in self.client.watch("pods", "default", resource_version=rv, label_selector=self.label):
            name = ev.object.get("metadata", {}).get("name")
            if name and is_ready(ev.object) and name not in self.ready_at:
                self.ready_at[name] = time.perf_counter()
                self.events.setdefault(name, asyncio.Event()).set()

    async def wait(self, name: str, timeout: float = 60) -> float:
        await asyncio.wait_for(self.events.setdefault(name, asyncio.Event()).wait(), timeout)
        return self.ready_at[name]


def pod_body(name: str, node: str, run: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"bench": run}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": IMAGE, "command": ["sleep", "100000"]}]}}


async def startup(quick: bool, sandboxes: str = "own") -> dict[str, Any]:
    tmp = Path(f"/tmp/shoal-agent-bench-{uuid.uuid4().hex[:6]}")
    tmp.mkdir()
    port = free_port()
    node = f"bench-{uuid.uuid4().hex[:6]}"
    proc = start([sys.executable, "-m", "shoal", "server", "--data-dir", str(tmp), "--listen", f"127.0.0.1:{port}",
                  "--node-name", node, "--runtime", "docker", "--docker-host", SOCK], tmp / "server.log",
                 env={**os.environ, "SHOAL_AGENT_POD_CIDR": "none"} if sandboxes == "infra" else None)
    engine = Engine(SOCK)
    out: dict[str, Any] = {}
    try:
        client = await wait_ready_server(tmp, port, proc)
        for _ in range(100):
            try:
                await client.get("nodes", node)
                break
            except Exception:
                await asyncio.sleep(0.1)
        n_seq = 5 if quick else 20
        n_par = 10 if quick else 50
        # raw engine: sequential, then n_par at once
        await raw_cleanup(engine)
        raw_seq = []
        for i in range(n_seq):
            raw_seq.append(await raw_one(engine, f"bench-raw-{uuid.uuid4().hex[:6]}-{i}"))
        await raw_cleanup(engine)
        raw_par = list(await asyncio.gather(*(raw_one(engine, f"bench-rawp-{uuid.uuid4().hex[:6]}-{i}")
                                              for i in range(n_par))))
        await raw_cleanup(engine)
        # shoal: the same, create to Ready through a watch
        run = uuid.uuid4().hex[:6]
        _, rv = await client.list_all("pods", "default", label_selector=f"bench={run}")
        watch = ReadyWatch(client, f"bench={run}")
        wt = asyncio.create_task(watch.run(rv))
        seq = []
        for i in range(n_seq + 1):  # the first pod warms caches; not counted
            name = f"seq-{run}-{i}"
            t0 = time.perf_counter()
            await client.create("pods", pod_body(name, node, run), "default")
            took = await watch.wait(name) - t0
            if i:
                seq.append(took)
        t0s: dict[str, float] = {}

        async def create(name: str) -> None:
            t0s[name] = time.perf_counter()
            await client.create("pods", pod_body(name, node, run), "default")

        names = [f"par-{run}-{i}" for i in range(n_par)]
        await asyncio.gather(*(create(n) for n in names))
        par = [await watch.wait(n, 120) - t0s[n] for n in names]
        wt.cancel()
        out = {
            "raw_one_p50_s": round(statistics.median(raw_seq), 3),
            "pod_one_p50_s": round(statistics.median(seq), 3),
            "pod_one_p99_s": round(pct(seq, 99), 3),
            "raw_par_p50_s": round(pct(raw_par, 50), 3), "raw_par_p99_s": round(pct(raw_par, 99), 3),
            "pod_par_p50_s": round(pct(par, 50), 3), "pod_par_p99_s": round(pct(par, 99), 3),
            "n_sequential": n_seq, "n_parallel": n_par, "sandboxes": sandboxes,
        }
        out["one_over_raw_s"] = round(out["pod_one_p50_s"] - out["raw_one_p50_s"], 3)
        out["par_p50_ratio"] = round(out["pod_par_p50_s"] / out["raw_par_p50_s"], 2)
        out["par_p99_ratio"] = round(out["pod_par_p99_s"] / out["raw_par_p99_s"], 2)
        # clean up: delete the pods, let the agent remove the containers
        for p in (await client.list_all("pods", "default", label_selector=f"bench={run}"))[0]:
            await client.delete("pods", p["metadata"]["name"], "default", grace_period_seconds=0)
        await client.close()
    finally:
        stop(proc)
        for role in ("container", "sandbox"):  # a sandbox with dependents cannot go first
            ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label={LABEL_NODE}={node}",
                                  "--filter", f"label=io.shoal.role={role}"], capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(["podman", "rm", "-f", "-t", "0", *ids], capture_output=True)
        remove_own_sandboxes({LABEL_NODE: node})
        await raw_cleanup(engine)
        await engine.close()
    return out


# ---- scale ----------------------------------------------------------------------------------------
async def scale(n_nodes: int, n_pods: int, steady: float, profile: str | None = None) -> dict[str, Any]:
    tmp = Path(f"/tmp/shoal-agent-scale-{uuid.uuid4().hex[:6]}")
    tmp.mkdir()
    port = free_port()
    server = start([sys.executable, "-m", "shoal", "server", "--data-dir", str(tmp), "--listen", f"127.0.0.1:{port}",
                    "--no-agent", "--disable-scheduler", "--disable-controller-manager"], tmp / "server.log")
    agent: subprocess.Popen[bytes] | None = None
    try:
        client = await wait_ready_server(tmp, port, server)
        token = (tmp / "node-token").read_text().strip()
        agent = start([sys.executable, "-m", "shoal", "agent", "--server", f"https://127.0.0.1:{port}",
                       "--token", token, "--data-dir", str(tmp), "--node-name", "hollow",
                       "--simulate-nodes", str(n_nodes), "--runtime", "simulated"], tmp / "agent.log")
        t0 = time.perf_counter()
        while True:
            if len((await client.list_all("nodes"))[0]) >= n_nodes:
                break
            if agent.poll() is not None:
                raise RuntimeError((tmp / "agent.log").read_text()[-2000:])
            await asyncio.sleep(0.5)
        registered = time.perf_counter() - t0
        sem = asyncio.Semaphore(64)

        async def create(i: int) -> None:
            body = {"metadata": {"name": f"p-{i}"}, "spec": {"nodeName": f"hollow-{i % n_nodes}",
                                                             "containers": [{"name": "c", "image": "x:1"}]}}
            async with sem:
                await client.create("pods", body, "default")

        t0 = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(n_pods)))
        created = time.perf_counter() - t0
        while True:  # (no remainingItemCount with a field selector, as upstream: count them)
            running, _ = await client.list_all("pods", "default", field_selector="status.phase=Running")
            if len(running) >= n_pods:
                break
            await asyncio.sleep(3)
        all_running = time.perf_counter() - t0
        await asyncio.sleep(10)  # let the queue drain and the event loop settle
        meter = procstats.CpuMeter({"agent": agent.pid, "server": server.pid})
        meter.start()
        prof = procstats.Profiler(Path(profile) if profile else None)
        prof.start(agent.pid, "agent-steady")
        await asyncio.sleep(steady)
        cpu = meter.stop()
        path = prof.stop()
        if path is not None:
            print(procstats.summarize(path, top=15), file=sys.stderr)
        rss = procstats.status_kb(agent.pid, "VmRSS") / 1024
        hwm = procstats.status_kb(agent.pid, "VmHWM") / 1024
        await client.close()
        return {"nodes": n_nodes, "pods": n_pods, "register_s": round(registered, 1),
                "create_s": round(created, 1), "all_running_s": round(all_running, 1),
                "agent_cpu_pct": cpu["agent"], "server_cpu_pct": cpu["server"],
                "agent_rss_mb": round(rss), "agent_rss_peak_mb": round(hwm), "steady_s": steady}
    finally:
        if agent is not None:
            stop(agent)
        stop(server)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--startup", action="store_true")
    ap.add_argument("--scale", action="store_true")
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=30000)
    ap.add_argument("--steady", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sandboxes", choices=["own", "infra", "both"], default="both")
    ap.add_argument("--profile", help="py-spy the agent at steady state into this directory")
    a = ap.parse_args()
    both = not a.startup and not a.scale
    out: dict[str, Any] = {}
    if a.startup or both:
        with contextlib.ExitStack() as stack:
            if "SHOAL_BENCH_DOCKER_HOST" not in os.environ:
                # nothing may serve Podman's API yet (make setup starts no service): start it for the run
                from tests.podman_fixture import podman_socket

                gen = podman_socket()
                next(gen)
                stack.callback(lambda: next(gen, None))
            kinds = ["own", "infra"] if a.sandboxes == "both" else [a.sandboxes]
            out["startup"] = {}
            for k in kinds:
                out["startup"][k] = asyncio.run(startup(a.quick, k))
                print(json.dumps(out["startup"][k]), flush=True)
    if a.scale or both:
        nodes, pods = (50, 1000) if a.quick else (a.nodes, a.pods)
        out["scale"] = asyncio.run(scale(nodes, pods, 10 if a.quick else a.steady, a.profile))
        print(json.dumps(out["scale"]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, **out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
