"""Ingress benchmarks: throughput through HAProxy vs straight to the backends, reloads under load, weights.

    .venv/bin/python bench/ingress_bench.py [--quick] [--seconds S] [--connections C] [--rounds N] [--out FILE]
                                            [--no-pinned] [--only-throughput]

Needs root (three addresses of 198.18.0.0/15 go on ``lo`` for the run, and
come off after), haproxy, nginx and wrk. A ``shoal server`` (no agent) holds
the objects; ``IngressNode`` runs in this process on high loopback ports with
the real HAProxy; the three "pods" are one nginx with a server on each address
(``return 200``), put in Endpoints directly.

* throughput: straight to the three backends (one wrk process per backend)
  vs through the ingress (the same three wrk processes, 1 thread and
  connections/3 each, all to the proxy, which balances over the three),
  alternated ``--rounds`` times, each ``--seconds``; rates summed, p99 the
  worst of the three; the CPU per request of wrk, nginx and HAProxy on each
  side (their ratio bounds the rate ratio when all share the same cores), and
  HAProxy's new vs reused backend connections (``show stat``).
* reloads: wrk (keep-alive) while the configuration changes 50 times
  (alternately a new path, which reloads HAProxy, and the endpoints changing);
  failed = socket errors + non-2xx; the run is at least 20,000 requests.
* weights: an HTTPRoute with two Services, weights patched 20/80 -> 50/50 ->
  80/20 -> 5/95; a client sends requests back to back and the time from the
  API write to the first window of 200 responses within ±5 % of the weight.
* pinned (last; ``--no-pinned`` skips it): the deployment's shape. The rest
  above is the worst case (trivial backends, and the proxy sharing both cores
  with wrk and the backends); here HAProxy is restarted on CPU 1 alone (so one
  thread), and wrk and the backends run on CPU 0 on both sides, so clients
  and backends get the same CPU straight and through. Three backends: nginx
  ``return 200`` (the worst case's), nginx serving a ~4 KB static page (a
  static site's pod), and a Python aiohttp JSON API, one process per pod (an
  API's pod); rounds alternate straight and through, with the CPU per request
  of wrk, the backend and HAProxy on each side. Then the same three
  backends with the pods alone on CPU 0 and wrk on CPU 1 with HAProxy
  (``pods_alone``): the pods' capacity is what is compared, as for an ingress
  node in front of application nodes, and the proxy still pays for sharing
  its core with the load tool.

Prints the figures and writes bench/results/ingress.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procstats import cpu_seconds  # noqa: E402
from shoal.client import ApiClient, ApiException  # noqa: E402
from shoal.ingress.node import IngressNode  # noqa: E402
from shoal.ingress.resources import GATEWAYS, HTTPROUTES  # noqa: E402
from tests.ingress.backends import ADDRESSES, local_addresses  # noqa: E402
from tests.ingress.objects import endpoints, ingress, path, service  # noqa: E402
from tests.server_fixture import free_port, start_server  # noqa: E402

NGINX = """worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx.err;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
{servers}
}}
"""


def wrk(url: str, seconds: float, conns: int, threads: int = 2, host: str | None = None,
        cpus: str | None = None) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--latency", url]
    if host:
        cmd[1:1] = ["-H", f"Host: {host}"]
    if cpus is not None:
        cmd[:0] = ["taskset", "-c", cpus]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)] if p99 else 0.0
    errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "requests": total, "p99_ms": p99_ms, "errors": errs + (int(non2xx.group(1)) if non2xx else 0)}


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (nginx's and HAProxy's workers)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(x) for x in out.split()]


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


async def wrk_side(urls: list[str], seconds: float, conns: int, host: str | None,
                   procs: dict[str, list[int]], cpus: str | None = None) -> dict[str, Any]:
    """One wrk process (1 thread, conns/len(urls) connections) per URL, at once; rates summed.

    Both sides of the comparison go through here with the same wrk processes,
    threads and connections, so the load tool costs both the same; the CPU each
    process used per request is recorded beside the rate, which is what bounds
    the ratio on a machine where every process shares the same 2 cores.
    """
    c0 = {k: cpu_of(v) for k, v in procs.items()}
    w0, t0 = children_cpu(), time.monotonic()
    runs = await asyncio.gather(*(asyncio.to_thread(wrk, u, seconds, max(1, conns // len(urls)), 1, host, cpus)
                                  for u in urls))
    wall = time.monotonic() - t0
    reqs = sum(r["requests"] for r in runs)
    cpu = {k: cpu_of(v) - c0[k] for k, v in procs.items()}
    cpu["wrk"] = children_cpu() - w0
    return {"rps": round(sum(r["rps"] for r in runs)), "requests": reqs, "p99_ms": max(r["p99_ms"] for r in runs),
            "errors": sum(r["errors"] for r in runs), "wall_s": round(wall, 2),
            "cpu_us_per_request": {k: round(v / reqs * 1e6, 2) for k, v in cpu.items()} if reqs else {}}


def backend_reuse(stats: list[dict[str, str]]) -> dict[str, int]:
    """New connections vs reused ones HAProxy made to the backends (``show stat`` connect/reuse)."""
    rows = [r for r in stats if r.get("svname") == "BACKEND"]
    return {"requests": sum(int(r.get("stot") or 0) for r in rows),
            "new_connections": sum(int(r.get("connect") or 0) for r in rows),
            "reused": sum(int(r.get("reuse") or 0) for r in rows)}


def info_field(info: str, name: str) -> str:
    m = re.search(rf"^{name}: (.*)$", info, re.M)
    return m.group(1).strip() if m else ""


async def throughput(args: argparse.Namespace, backends: list[tuple[str, int]], hp: int, node: IngressNode,
                     work: Path) -> dict[str, Any]:
    """Straight to the 3 backends vs through the ingress, alternated ``--rounds`` times, same wrk settings."""
    nginx = children(int((work / "nginx.pid").read_text()))
    assert node.proxy.proc is not None
    haproxy = children(node.proxy.proc.pid)
    procs = {"nginx": nginx, "haproxy": haproxy}
    c = args.connections
    direct_urls = [f"http://{a}:{p}/" for a, p in backends]
    via_urls = [f"http://127.0.0.1:{hp}/"] * len(backends)
    before = backend_reuse(await node.proxy.stats())
    rounds = []
    for _ in range(args.rounds):
        d = await wrk_side(direct_urls, args.seconds, c, None, procs)
        v = await wrk_side(via_urls, args.seconds, c, "bench.example", procs)
        rounds.append({"direct": d, "ingress": v, "ratio": round(v["rps"] / d["rps"], 3)})
    after = backend_reuse(await node.proxy.stats())
    ratios = sorted(r["ratio"] for r in rounds)

    def per_req(side: str) -> float:
        return sum(sum(r[side]["cpu_us_per_request"].values()) for r in rounds) / len(rounds)
    return {"connections": c, "seconds": args.seconds, "wrk": f"{len(backends)} processes x 1 thread, "
            f"{c // len(backends)} connections each, both sides", "haproxy_threads": info_field(await node.proxy.command("show info"), "Nbthread"),
            "rounds": rounds, "ratio_median": ratios[len(ratios) // 2],
            "direct_rps_median": sorted(r["direct"]["rps"] for r in rounds)[len(rounds) // 2],
            "ingress_rps_median": sorted(r["ingress"]["rps"] for r in rounds)[len(rounds) // 2],
            "p99_added_ms_median": sorted(round(r["ingress"]["p99_ms"] - r["direct"]["p99_ms"], 3)
                                          for r in rounds)[len(rounds) // 2],
            "cpu_us_per_request_direct": round(per_req("direct"), 2),
            "cpu_us_per_request_ingress": round(per_req("ingress"), 2),
            "cpu_bound_ratio": round(per_req("direct") / per_req("ingress"), 3),
            "backend_connections": {k: after[k] - before[k] for k in after},
            "loadavg": os.getloadavg()[0]}


# A pod's work for the deployment shape: an API answering JSON from Python (aiohttp, asyncio's loop, no access
# log), one process per pod as a Deployment's replicas would be; nothing is slowed on purpose.
APP = """import sys
from aiohttp import web

name, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


async def index(request: web.Request) -> web.Response:
    items = [{"id": i, "name": f"item-{i}", "price": round(i * 1.25, 2)} for i in range(10)]
    return web.json_response({"pod": name, "path": request.path, "items": items})


app = web.Application()
app.router.add_get("/", index)
web.run_app(app, host=host, port=port, print=None, access_log=None)
"""
# a static site's page for the same nginx backends (sendfile, as Debian's nginx.conf has it): about 4 KB
STATIC_PAGE = "<!doctype html><html><head><title>shoal</title></head><body>\n" + "".join(
    f"<p>Paragraph {i}: a line of text that a small static page would carry.</p>\n" for i in range(55)) + "</body></html>\n"


def median(xs: Iterable[float]) -> float:
    """The middle one (the upper of two): a value that was measured, not an average of two."""
    s = sorted(xs)
    return s[len(s) // 2]


def cpu_median(rounds: list[dict[str, Any]], side: str) -> dict[str, float]:
    """Per process, the median over the rounds of its CPU microseconds per request on ``side``."""
    return {k: round(median(r[side]["cpu_us_per_request"][k] for r in rounds), 2)
            for k in rounds[0][side]["cpu_us_per_request"]}


def pin(pids: list[int], cpus: str) -> None:
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True, capture_output=True)


async def pinned_shape(args: argparse.Namespace, client: ApiClient, node: IngressNode, work: Path,
                       backends: list[tuple[str, int]], hp: int) -> dict[str, Any]:
    """The deployment's shape: HAProxy alone on CPU 1 (restarted there, so one thread), wrk and the backends on
    CPU 0 on both sides, for three backends: nginx ``return 200`` (as the worst case), nginx serving a ~4 KB
    static page, and a Python (aiohttp) JSON API, one process per pod. Rounds alternate straight and through."""
    app_ports = [free_port() for _ in ADDRESSES]
    (work / "app.py").write_text(APP)
    apps = [subprocess.Popen(["taskset", "-c", "0", sys.executable, str(work / "app.py"), f"app{i + 1}", a, str(p)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i, (a, p) in enumerate(zip(ADDRESSES, app_ports, strict=True))]
    master = int((work / "nginx.pid").read_text())
    nginx = children(master)
    pin([master, *nginx], "0")
    wrapper = work / "haproxy-cpu1"
    wrapper.write_text('#!/bin/sh\nexec taskset -c 1 haproxy "$@"\n')
    wrapper.chmod(0o755)
    try:
        app_backends = list(zip(ADDRESSES, app_ports, strict=True))
        await put(client, "services", service("app"))
        await put(client, "endpoints", endpoints("app", app_backends))
        await put(client, "ingresses", ingress("app", [("app.example", [path("/", "app")])]))
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(answers, hp, "app.example", '{"pod": "app'):
            if time.monotonic() > deadline:
                raise RuntimeError("app.example did not answer")
            await asyncio.sleep(0.1)
        applied = node.proxy.applied
        assert applied is not None
        node.proxy.binary = str(wrapper)  # a start from here on (ours, or the node's) is on CPU 1
        await node.proxy.stop()
        if not node.proxy.running:
            await node.proxy.apply(applied)
        assert node.proxy.proc is not None
        haproxy = children(node.proxy.proc.pid)
        affinity = subprocess.run(["taskset", "-p", str(haproxy[0])], capture_output=True, text=True).stdout.strip()
        kinds = [("nginx return 200", "/", "bench.example", backends, {"nginx": nginx}),
                 ("nginx static 4 KB page", "/static/index.html", "bench.example", backends, {"nginx": nginx}),
                 ("python aiohttp JSON API", "/", "app.example", app_backends, {"app": [a.pid for a in apps]})]
        out: dict[str, Any] = {"haproxy_threads": info_field(await node.proxy.command("show info"), "Nbthread"),
                               "haproxy_affinity": affinity, "kinds": {}}
        # "kinds": wrk and the pods on CPU 0, HAProxy alone on CPU 1 (the clients pay for the proxy's
        # hop in their own CPU); "pods_alone": the pods alone on CPU 0, wrk and HAProxy sharing CPU 1
        # (the pods are what is measured, as for an ingress node in front of application nodes; the
        # proxy competes with the load tool, which only counts against it).
        for layout, wrk_cpu in (("kinds", "0"), ("pods_alone", "1")):
            out[layout] = {}
            for name, url_path, host, bk, procs in kinds:
                out[layout][name] = await pinned_kind(args, hp, url_path, host, bk, procs, haproxy, wrk_cpu)
                print("pinned", layout, name, {k: v for k, v in out[layout][name].items() if k != "rounds"},
                      flush=True)
        out["loadavg"] = os.getloadavg()[0]
        return out
    finally:
        for a in apps:
            a.terminate()
        for a in apps:
            a.wait(10)


async def pinned_kind(args: argparse.Namespace, hp: int, url_path: str, host: str, bk: list[tuple[str, int]],
                      procs: dict[str, list[int]], haproxy: list[int], wrk_cpu: str) -> dict[str, Any]:
    """Alternated rounds straight to ``bk`` and through the proxy, wrk pinned to ``wrk_cpu`` on both sides."""
    direct_urls = [f"http://{a}:{p}{url_path}" for a, p in bk]
    via_urls = [f"http://127.0.0.1:{hp}{url_path}"] * len(bk)
    await wrk_side(via_urls, 1, args.connections, host, {}, cpus=wrk_cpu)  # warm (the app's first requests)
    rounds = []
    for _ in range(args.rounds):
        d = await wrk_side(direct_urls, args.seconds, args.connections, None, procs, cpus=wrk_cpu)
        v = await wrk_side(via_urls, args.seconds, args.connections, host, {**procs, "haproxy": haproxy},
                           cpus=wrk_cpu)
        rounds.append({"direct": d, "ingress": v, "ratio": round(v["rps"] / d["rps"], 3),
                       "loadavg": os.getloadavg()[0]})
    return {
        "ratio_median": median(r["ratio"] for r in rounds),
        "direct_rps_median": median(r["direct"]["rps"] for r in rounds),
        "ingress_rps_median": median(r["ingress"]["rps"] for r in rounds),
        "p99_direct_ms_median": median(r["direct"]["p99_ms"] for r in rounds),
        "p99_ingress_ms_median": median(r["ingress"]["p99_ms"] for r in rounds),
        "p99_added_ms_median": median(round(r["ingress"]["p99_ms"] - r["direct"]["p99_ms"], 3) for r in rounds),
        "cpu_us_per_request_direct": cpu_median(rounds, "direct"),
        "cpu_us_per_request_ingress": cpu_median(rounds, "ingress"),
        "errors": sum(r["direct"]["errors"] + r["ingress"]["errors"] for r in rounds),
        "rounds": rounds}


async def put(client: ApiClient, res: Any, obj: dict[str, Any]) -> None:
    try:
        await client.create(res, obj, "default")
    except ApiException as e:
        if e.status != 409:
            raise
        for _ in range(20):  # the node writes status meanwhile: a stale resourceVersion is a 409 again
            cur = await client.get(res, obj["metadata"]["name"], "default")
            obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": cur["metadata"]["resourceVersion"]}}
            try:
                await client.update(res, obj)
                return
            except ApiException as e2:
                if e2.status != 409:
                    raise
        raise RuntimeError(f"could not update {obj['metadata']['name']}") from e


def fetch(port: int, host: str, n: int) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    out = []
    for _ in range(n):
        conn.request("GET", "/", headers={"Host": host})
        r = conn.getresponse()
        out.append(r.read().decode().strip())
        if r.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.close()
    return out


def answers(port: int, host: str, prefix: str) -> bool:
    try:
        return fetch(port, host, 1)[0].startswith(prefix)
    except OSError:
        return False


async def wait_for(port: int, host: str, want: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await asyncio.to_thread(fetch, port, host, 1))[0] == want:
                return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{host} did not answer {want}")


async def weight_changes(args: argparse.Namespace, client: ApiClient, backends: list[tuple[str, int]], hp: int,
                         node: IngressNode) -> dict[str, Any]:
    """Weights patched on an HTTPRoute of two Services; seconds until a window of 200 responses is within ±5 %."""
    await put(client, "endpoints", endpoints("web", backends))
    await put(client, "services", service("one"))
    await put(client, "endpoints", endpoints("one", backends[:1]))
    await put(client, "services", service("two"))
    await put(client, "endpoints", endpoints("two", backends[1:2]))
    await put(client, GATEWAYS, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                 "metadata": {"name": "gw", "namespace": "default"},
                                 "spec": {"gatewayClassName": "shoal",
                                          "listeners": [{"name": "web", "port": 80, "protocol": "HTTP"}]}})

    def route(w: int) -> dict[str, Any]:
        return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": "split", "namespace": "default"},
                "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["split.example"],
                         "rules": [{"backendRefs": [{"name": "one", "port": 80, "weight": w},
                                                    {"name": "two", "port": 80, "weight": 100 - w}]}]}}
    await put(client, HTTPROUTES, route(20))
    await wait_for(hp, "split.example", "b2", timeout=30)  # a Gateway's first sync: slow under load
    trials = []
    for w in (50, 80, 5, 20) * (1 if args.quick else 2):
        t0 = time.monotonic()
        await put(client, HTTPROUTES, route(w))
        seen = None
        while time.monotonic() - t0 < 10:
            window = await asyncio.to_thread(fetch, hp, "split.example", 200)
            share = window.count("b1") / len(window)
            if abs(share - w / 100) <= 0.05:
                seen = time.monotonic() - t0
                break
        trials.append({"weight": w, "seconds": round(seen, 3) if seen is not None else None,
                       "observed_share": round(share, 3)})
    return {"trials": trials, "max_s": max((t["seconds"] or 99) for t in trials),
            "how": "runtime API set weight" if node.proxy.weight_updates else "reload"}


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    ports = [free_port() for _ in ADDRESSES]
    servers = "\n".join(f"  server {{ listen {a}:{p}; location / {{ return 200 'b{i + 1}'; }} "
                        f"location /static/ {{ root {work}; sendfile on; }} }}"
                        for i, (a, p) in enumerate(zip(ADDRESSES, ports, strict=True)))
    (work / "static").mkdir()
    (work / "static" / "index.html").write_text(STATIC_PAGE)
    for p, mode in ((work, 0o711), (work / "static", 0o755), (work / "static" / "index.html", 0o644)):
        p.chmod(mode)  # nginx's workers run as nobody
    (work / "nginx.conf").write_text(NGINX.format(d=work, servers=servers))
    subprocess.run(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)], check=True)
    srv = start_server(work / "server", args=["--disable-scheduler"])
    client = ApiClient.http(srv.url, token=srv.token, ca_file=srv.ca)
    node = IngressNode(client, run_dir=str(work / "run"), bind="127.0.0.1", http_port=free_port(),
                       https_port=free_port(), addresses=["127.0.0.1"], debounce=0.02)
    await node.start()
    hp = node.settings.http_port
    results: dict[str, Any] = {}
    try:
        backends = list(zip(ADDRESSES, ports, strict=True))
        await put(client, "services", service("web"))
        await put(client, "endpoints", endpoints("web", backends))
        await put(client, "ingresses", ingress("web", [("bench.example", [path("/", "web")])]))
        await wait_for(hp, "bench.example", "b1")
        # --- throughput -------------------------------------------------------------------
        results["throughput"] = await throughput(args, backends, hp, node, work)
        print("throughput", results["throughput"], flush=True)
        if not args.only_throughput:
            # --- 50 changes under load --------------------------------------------------------
            reloads0, weights0 = node.proxy.reloads, node.proxy.weight_updates
            load = asyncio.create_task(asyncio.to_thread(wrk, f"http://127.0.0.1:{hp}/", args.change_seconds, 8, 1,
                                                         "bench.example"))
            t0 = time.monotonic()
            for i in range(50):
                if i % 2:
                    await put(client, "ingresses", ingress("web", [("bench.example", [path("/", "web"),
                                                                                      path(f"/p{i}", "web")])]))
                else:
                    await put(client, "endpoints", endpoints("web", backends[: 2 + (i // 2) % 2]))
                await asyncio.sleep(args.change_seconds * 0.8 / 50)
            changes_s = time.monotonic() - t0
            r = await load
            results["reloads"] = {"changes": 50, "changes_over_s": round(changes_s, 2), "requests": r["requests"],
                                  "failed": r["errors"], "haproxy_reloads": node.proxy.reloads - reloads0,
                                  "runtime_weight_updates": node.proxy.weight_updates - weights0}
            print("reloads", results["reloads"], flush=True)
            # --- weight changes ---------------------------------------------------------------
            try:
                results["weights"] = await weight_changes(args, client, backends, hp, node)
            except Exception as e:  # noqa: BLE001 - the other sections' figures are still written
                results["weights"] = {"error": repr(e)}
            print("weights", results["weights"], flush=True)
        # --- the deployment's shape: the proxy on a core of its own, last (HAProxy restarts pinned) ---------
        if not args.no_pinned:
            results["pinned"] = await pinned_shape(args, client, node, work, backends, hp)
    finally:
        await node.stop()
        await client.close()
        srv.stop()
        subprocess.run(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work), "-s", "stop"], check=False)
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3, help="throughput: direct/ingress pairs, alternated")
    ap.add_argument("--no-pinned", action="store_true", help="skip the deployment-shaped (pinned) throughput")
    ap.add_argument("--only-throughput", action="store_true", help="skip the reloads and weights sections")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ingress.json"))
    args = ap.parse_args()
    if args.quick:
        args.seconds = 3.0
    args.change_seconds = 6.0 if args.quick else 10.0
    with local_addresses(), tempfile.TemporaryDirectory(prefix="shoal-ingress-bench-") as d:
        results = asyncio.run(run(args, Path(d)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
