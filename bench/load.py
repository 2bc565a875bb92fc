"""Load generators: client jobs that run in their own processes.

The server is one Python process on a small machine, so a load generator in
the same process (or the same event loop) would measure itself. Each job here
runs in a spawned process with its own event loop and aiohttp session (TLS
verified against the data dir's CA, the admin bearer token, keep-alive
connections), waits on a barrier so that every process starts its timed part
together, and reports its own latencies and the CPU it used while timed.

``run_jobs`` is the parent's side: spawn, barrier, collect.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import queue
import ssl
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from bench import workload

JSON = "application/json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to reach the server."""

    url: str
    token: str
    ca: str


Sync = Callable[[], None]
Job = Callable[[Target, dict[str, Any], Sync], Awaitable[dict[str, Any]]]


def _session(target: Target, *, connections: int) -> aiohttp.ClientSession:
    ctx = ssl.create_default_context(cafile=target.ca)
    conn = aiohttp.TCPConnector(ssl=ctx, limit=connections, limit_per_host=connections,
                                keepalive_timeout=120)
    return aiohttp.ClientSession(
        base_url=target.url, connector=conn,
        headers={"Authorization": f"Bearer {target.token}"},
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
    )


async def _warm(s: aiohttp.ClientSession, path: str, connections: int) -> None:
    """Open ``connections`` keep-alive connections (TLS handshakes are not timed)."""
    async def one() -> None:
        async with s.get(path) as r:
            await r.read()
    await asyncio.gather(*(one() for _ in range(connections)))


# ---- jobs ----------------------------------------------------------------------------

async def _post_all(target: Target, path: str, bodies: list[bytes], *, clients: int, warm: str,
                    sync: Sync) -> dict[str, Any]:
    """POST ``bodies`` to ``path`` from ``clients`` concurrent clients; latencies, CPU and failures."""
    lat: list[float] = []
    failures: list[str] = []
    async with _session(target, connections=clients) as s:
        await _warm(s, warm, clients)
        sync()
        cpu0, t0 = time.process_time(), time.monotonic()
        todo = iter(bodies)

        async def client() -> None:
            for body in todo:
                t = time.monotonic()
                async with s.post(path, data=body, headers={"Content-Type": JSON}) as r:
                    answer = await r.read()
                    if r.status != 201 and len(failures) < 5:
                        failures.append(f"{r.status}: {answer[:300]!r}")
                lat.append(time.monotonic() - t)

        await asyncio.gather(*(client() for _ in range(clients)))
        t1, cpu1 = time.monotonic(), time.process_time()
    return {"n": len(lat), "start": t0, "end": t1, "cpu": cpu1 - cpu0, "lat": lat,
            "failures": failures}


async def creates(target: Target, p: dict[str, Any], sync: Sync) -> dict[str, Any]:
    """POST the pods named ``p["names"]`` into ``p["namespace"]`` with ``p["clients"]`` clients."""
    ns = p["namespace"]
    bodies = [workload.pod_bytes(n, ns) for n in p["names"]]  # encoded before the clock starts
    return await _post_all(target, f"/api/v1/namespaces/{ns}/pods", bodies, clients=p["clients"],
                           warm=f"/api/v1/namespaces/{ns}", sync=sync)


async def posts(target: Target, p: dict[str, Any], sync: Sync) -> dict[str, Any]:
    """POST the encoded ``p["bodies"]`` to ``p["path"]`` with ``p["clients"]`` clients (any kind)."""
    return await _post_all(target, p["path"], p["bodies"], clients=p["clients"], warm=p.get("warm", "/version"),
                           sync=sync)


async def gets(target: Target, p: dict[str, Any], sync: Sync) -> dict[str, Any]:
    """Sequential GETs of single pods over one keep-alive connection."""
    ns, names = p["namespace"], p["names"]
    lat: list[float] = []
    bad = 0
    async with _session(target, connections=1) as s:
        for name in names[:100]:  # warm up the connection and the server's code paths
            async with s.get(f"/api/v1/namespaces/{ns}/pods/{name}") as r:
                await r.read()
        sync()
        cpu0, t0 = time.process_time(), time.monotonic()
        for name in names:
            t = time.monotonic()
            async with s.get(f"/api/v1/namespaces/{ns}/pods/{name}") as r:
                await r.read()
                bad += r.status != 200
            lat.append(time.monotonic() - t)
        t1, cpu1 = time.monotonic(), time.process_time()
    return {"n": len(lat), "bad": bad, "start": t0, "end": t1, "cpu": cpu1 - cpu0, "lat": lat}


async def lists(target: Target, p: dict[str, Any], sync: Sync) -> dict[str, Any]:
    """``p["runs"]`` full lists as JSON, then as a Table, one at a time."""
    path = f"/api/v1/namespaces/{p['namespace']}/pods"
    out: dict[str, Any] = {}
    async with _session(target, connections=1) as s:
        # one untimed run of each, which also checks that every object is there
        async with s.get(path) as r:
            body = await r.read()
        out["items"] = len(msgspec.json.decode(body)["items"])
        out["bytes"] = len(body)
        async with s.get(path, headers={"Accept": TABLE}) as r:
            tbody = await r.read()
        out["rows"] = len(msgspec.json.decode(tbody)["rows"])
        out["table_bytes"] = len(tbody)
        sync()
        cpu0 = time.process_time()
        for key, accept in (("json", JSON), ("table", TABLE)):
            lat = []
            for _ in range(p["runs"]):
                t = time.monotonic()
                async with s.get(path, headers={"Accept": accept}) as r:
                    await r.read()
                lat.append(time.monotonic() - t)
            out[key] = lat
        out["cpu"] = time.process_time() - cpu0
    return out


async def watchers(target: Target, p: dict[str, Any], sync: Sync) -> dict[str, Any]:
    """Hold ``p["watchers"]`` watch streams; record when each stamped event arrives."""
    ns, count, expected = p["namespace"], p["watchers"], p["expected"]
    marker = f'"{workload.SENT_ANNOTATION}":"'.encode()
    received: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    async with _session(target, connections=count + 1) as s:
        async with s.get(f"/api/v1/namespaces/{ns}/pods") as r:
            rv = msgspec.json.decode(await r.read())["metadata"]["resourceVersion"]
        url = f"/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={rv}&timeoutSeconds={p['timeout']}"
        streams = await asyncio.gather(*(s.get(url) for _ in range(count)))
        if any(r.status != 200 for r in streams):
            raise RuntimeError(f"watch answered {[r.status for r in streams if r.status != 200][:3]}")
        sync()  # every stream is open: the parent starts the writer now
        cpu0, t0 = time.process_time(), time.monotonic()

        async def follow(i: int, r: aiohttp.ClientResponse) -> None:
            got = received[i]
            while len(got) < expected:
                line = await r.content.readline()
                now = time.monotonic()
                if not line:
                    break
                j = line.find(marker)
                if j < 0:
                    continue
                j += len(marker)
                seq = int(line[j:line.index(b":", j)])
                got.append((seq, now))

        deadline = p["timeout"]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(follow(i, r) for i, r in enumerate(streams))),
                                   timeout=deadline)
        t1, cpu1 = time.monotonic(), time.process_time()
        for r in streams:
            r.close()
    return {"received": received, "start": t0, "end": t1, "cpu": cpu1 - cpu0}


async def updates(target: Target, p: dict[str, Any], sync: Sync) -> dict[str, Any]:
    """``p["updates"]`` merge patches at ``p["rate"]``/s, round-robin over ``p["names"]``."""
    ns, names, n, rate = p["namespace"], p["names"], p["updates"], p["rate"]
    sent: list[float] = []
    acked: list[float] = []
    bad: list[str] = []
    async with _session(target, connections=1) as s:
        async with s.get(f"/api/v1/namespaces/{ns}") as r:
            await r.read()
        sync()
        cpu0, t0 = time.process_time(), time.monotonic()
        for seq in range(n):
            delay = t0 + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            name = names[seq % len(names)]
            t = time.monotonic()
            body = workload.sent_patch(seq, t)
            async with s.patch(f"/api/v1/namespaces/{ns}/pods/{name}", data=body,
                               headers={"Content-Type": MERGE_PATCH}) as r:
                answer = await r.read()
                if r.status != 200 and len(bad) < 5:
                    bad.append(f"{r.status}: {answer[:300]!r}")
            acked.append(time.monotonic())
            sent.append(t)
        t1, cpu1 = time.monotonic(), time.process_time()
    return {"sent": sent, "acked": acked, "failures": bad, "start": t0, "end": t1,
            "cpu": cpu1 - cpu0}


JOBS: dict[str, Job] = {"creates": creates, "posts": posts, "gets": gets, "lists": lists,
                        "watchers": watchers, "updates": updates}


# ---- process plumbing ------------------------------------------------------------------

def _child(name: str, target: Target, params: dict[str, Any], barrier: Any, out: Any) -> None:
    def sync() -> None:
        barrier.wait(timeout=120)

    if "url" in params:  # this job's own server (several API servers, one token and CA)
        target = Target(params["url"], target.token, target.ca)

    try:
        result = asyncio.run(JOBS[name](target, params, sync))
    except BaseException:
        with contextlib.suppress(Exception):
            barrier.abort()
        out.put({"error": traceback.format_exc()})
        return
    out.put(result)


def run_jobs(
    target: Target,
    jobs: list[tuple[str, dict[str, Any]]],
    *,
    on_start: Callable[[], None] | None = None,
    timeout: float = 600,
) -> list[dict[str, Any]]:
    """Run ``jobs`` in spawned processes; ``on_start`` runs once all are ready to go.

    Returns each job's result (order of completion, not of ``jobs``).
    """
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs) + 1)
    out = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(name, target, params, barrier, out), daemon=True)
             for name, params in jobs]
    for proc in procs:
        proc.start()
    try:
        try:
            barrier.wait(timeout=120)
        except Exception:  # a child failed before the start line: report its error below
            pass
        else:
            if on_start is not None:
                on_start()
        results = collect(procs, out, timeout=timeout)
    finally:
        stop(procs)
    return results


def collect(procs: list[Any], out: Any, *, timeout: float) -> list[dict[str, Any]]:
    """One result per process from ``out`` (any order); a child's traceback becomes an error here."""
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=max(1.0, deadline - time.monotonic())))
        except queue.Empty:
            raise RuntimeError("a load process did not finish in time") from None
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError("load process failed:\n" + errors[0])
    return results


def stop(procs: list[Any]) -> None:
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
