"""The API benchmark for one store: start a real server, drive it, read it.

One function, ``run_store``, takes a store kind (``sqlite`` or ``etcd``) and the
sizes of the run and returns a flat dict of figures. It starts a real
``shoal server`` subprocess (and, for etcd, a throwaway etcd on loopback ports)
in a temporary directory, exactly as a user would run it, then:

1. raw store write rate at the same concurrency (``bench.store_raw``), measured
   from this process against a store of the same kind, so the API figure has
   its ceiling beside it;
2. creates/s over HTTPS from separate load processes;
3. list of every pod, as JSON and as a Table;
4. sequential single-pod GETs;
5. watch fan-out: many streams in one client process, steady updates from
   another, delivery latency per event;
6. the server's RSS after start and once everything has settled.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load, procstats, workload
from bench.store_raw import raw_write_rate
from tests.etcd_fixture import start_etcd
from tests.server_fixture import RunningServer, start_server

CREATE_NS = "x"
WATCH_NS = "w"


@dataclass(frozen=True, slots=True)
class Sizes:
    pods: int = 10_000
    concurrency: int = 32
    processes: int = 2
    gets: int = 2_000
    list_runs: int = 10
    watchers: int = 100
    updates: int = 500
    update_rate: float = 50.0
    settle: float = 5.0


FULL = Sizes()
QUICK = Sizes(pods=1_000, gets=300, list_runs=3, watchers=20, updates=50, update_rate=100.0, settle=1.0)


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s)) - 1))]


def ms(x: float) -> float:
    return round(1000 * x, 2)


async def _raw_rate(kind: str, *, workdir: Path, endpoint: str | None, sizes: Sizes) -> float:
    from shoal.store.base import Store

    store: Store
    if kind == "sqlite":
        from shoal.store.sqlite import SqliteStore

        store = SqliteStore(workdir / "raw.db")
    else:
        from shoal.store.etcd import EtcdStore

        assert endpoint is not None
        store = EtcdStore([endpoint])
    await store.start()
    try:
        await raw_write_rate(store, concurrency=sizes.concurrency, n=min(1000, sizes.pods),
                             value_size=1500)  # warm up
        return await raw_write_rate(store, concurrency=sizes.concurrency, n=sizes.pods,
                                    value_size=1500)
    finally:
        await store.close()


def _post(srv: RunningServer, path: str, body: bytes) -> None:
    r = srv.session().post(srv.url + path, data=body, headers={"Content-Type": "application/json"})
    if r.status_code not in (200, 201):
        raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")


class _Phase:
    """CPU of the named processes (and an optional py-spy profile) over one phase."""

    def __init__(self, pids: dict[str, int], profiler: procstats.Profiler, name: str) -> None:
        self.meter = procstats.CpuMeter(pids)
        self.profiler = profiler
        self.name = name
        self.server_pid = pids["server"]
        self.cpu: dict[str, float] = {}

    def start(self) -> None:
        self.profiler.start(self.server_pid, self.name)
        self.meter.start()

    def stop(self) -> None:
        self.cpu = self.meter.stop()
        self.profiler.stop()


API_ONLY = ["--disable-scheduler", "--disable-controller-manager"]


def run_store(kind: str, *, sizes: Sizes, all_components: bool = False,
              profile_dir: Path | None = None, log: Any = print) -> dict[str, Any]:
    """Every figure for one store kind (``sqlite`` or ``etcd``).

    By default the server runs the API alone (no scheduler or controllers, which
    would add their own writes, e.g. a PodScheduled=False status for every pod
    that no node can take); ``all_components`` measures ``shoal server`` as shipped.
    """
    res: dict[str, Any] = {"store": kind, "components": "all" if all_components else "api"}
    with tempfile.TemporaryDirectory(prefix=f"shoal-bench-{kind}-") as tmp:
        work = Path(tmp)
        stop_etcd = None
        endpoint = None
        pids: dict[str, int] = {}
        args: list[str] = [] if all_components else list(API_ONLY)
        if kind == "etcd":
            endpoint, stop_etcd = start_etcd(work / "etcd")
            etcd_pid = procstats.find_pid(str(work / "etcd" / "data"))
            if etcd_pid:
                pids["etcd"] = etcd_pid
            args += ["--store", f"etcd://{endpoint}"]
        srv = start_server(work / "data", args=args)
        profiler = procstats.Profiler(profile_dir / kind if profile_dir else None)
        try:
            pids["server"] = srv.proc.pid
            res["rss_start_mb"] = round(procstats.status_kb(srv.proc.pid, "VmRSS") / 1024, 1)
            target = load.Target(srv.url, srv.token, srv.ca)

            log(f"[{kind}] raw store write rate ...")
            res["raw_write_per_s"] = round(asyncio.run(
                _raw_rate(kind, workdir=work, endpoint=endpoint, sizes=sizes)))

            for ns in (CREATE_NS, WATCH_NS):
                _post(srv, "/api/v1/namespaces", workload.namespace(ns))
            for i in range(10):
                _post(srv, f"/api/v1/namespaces/{WATCH_NS}/pods", workload.pod_bytes(f"w-{i}", WATCH_NS))

            log(f"[{kind}] creates ({sizes.pods} pods, {sizes.concurrency} clients "
                f"in {sizes.processes} processes) ...")
            _creates(target, sizes, pids, profiler, res)
            log(f"[{kind}] lists ...")
            _lists(target, sizes, pids, profiler, res)
            log(f"[{kind}] gets ...")
            _gets(target, sizes, pids, profiler, res)
            log(f"[{kind}] watch ({sizes.watchers} watchers, {sizes.updates} updates "
                f"at {sizes.update_rate:g}/s) ...")
            _watch(target, sizes, pids, profiler, res)

            time.sleep(sizes.settle)
            res["rss_settled_mb"] = round(procstats.status_kb(srv.proc.pid, "VmRSS") / 1024, 1)
            res["rss_peak_mb"] = round(procstats.status_kb(srv.proc.pid, "VmHWM") / 1024, 1)
        finally:
            profiler.stop()
            srv.stop()
            if stop_etcd is not None:
                stop_etcd()
    return res


def _cpu_per_op(phase: _Phase, rate: float) -> float:
    """Server CPU microseconds per operation: a figure that other load on the machine skews less."""
    return round(phase.cpu["server"] / 100 / rate * 1e6)


def _creates(target: load.Target, sizes: Sizes, pids: dict[str, int],
             profiler: procstats.Profiler, res: dict[str, Any]) -> None:
    names = [f"p-{i:06d}" for i in range(sizes.pods)]
    procs = max(1, min(sizes.processes, sizes.concurrency))
    jobs = []
    for k in range(procs):
        clients = sizes.concurrency // procs + (k < sizes.concurrency % procs)
        jobs.append(("creates", {"namespace": CREATE_NS, "names": names[k::procs], "clients": clients}))
    phase = _Phase(pids, profiler, "creates")
    results = load.run_jobs(target, jobs, on_start=phase.start)
    phase.stop()
    failures = [f for r in results for f in r["failures"]]
    if failures:
        raise RuntimeError(f"creates failed: {failures[:3]}")
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    lat = [x for r in results for x in r["lat"]]
    res["create_per_s"] = round(sum(r["n"] for r in results) / wall)
    res["create_ratio_to_raw"] = round(res["create_per_s"] / res["raw_write_per_s"], 2)
    res["create_p50_ms"] = ms(pct(lat, 0.5))
    res["create_p99_ms"] = ms(pct(lat, 0.99))
    res["create_client_cpu_pct"] = round(100 * sum(r["cpu"] for r in results) / wall, 1)
    res["create_cpu_pct"] = phase.cpu
    res["create_server_cpu_us"] = _cpu_per_op(phase, res["create_per_s"])


def _lists(target: load.Target, sizes: Sizes, pids: dict[str, int],
           profiler: procstats.Profiler, res: dict[str, Any]) -> None:
    phase = _Phase(pids, profiler, "lists")
    [r] = load.run_jobs(target, [("lists", {"namespace": CREATE_NS, "runs": sizes.list_runs})],
                        on_start=phase.start)
    phase.stop()
    if r["items"] != sizes.pods or r["rows"] != sizes.pods:
        raise RuntimeError(f"list returned {r['items']} items / {r['rows']} rows, expected {sizes.pods}")
    res["list_items"] = r["items"]
    res["list_mb"] = round(r["bytes"] / 2**20, 1)
    res["list_p50_ms"] = ms(statistics.median(r["json"]))
    res["list_p95_ms"] = ms(pct(r["json"], 0.95))
    res["table_mb"] = round(r["table_bytes"] / 2**20, 1)
    res["table_p50_ms"] = ms(statistics.median(r["table"]))
    res["table_p95_ms"] = ms(pct(r["table"], 0.95))
    res["list_cpu_pct"] = phase.cpu


def _gets(target: load.Target, sizes: Sizes, pids: dict[str, int],
          profiler: procstats.Profiler, res: dict[str, Any]) -> None:
    names = [f"p-{(i * 7919) % sizes.pods:06d}" for i in range(sizes.gets)]  # spread over the set
    phase = _Phase(pids, profiler, "gets")
    [r] = load.run_jobs(target, [("gets", {"namespace": CREATE_NS, "names": names})],
                        on_start=phase.start)
    phase.stop()
    if r["bad"]:
        raise RuntimeError(f"{r['bad']} GETs failed")
    res["get_n"] = r["n"]
    res["get_p50_ms"] = ms(pct(r["lat"], 0.5))
    res["get_p99_ms"] = ms(pct(r["lat"], 0.99))
    res["get_cpu_pct"] = phase.cpu
    res["get_server_cpu_us"] = _cpu_per_op(phase, r["n"] / (r["end"] - r["start"]))


def _watch(target: load.Target, sizes: Sizes, pids: dict[str, int],
           profiler: procstats.Profiler, res: dict[str, Any]) -> None:
    duration = sizes.updates / sizes.update_rate
    wparams = {"namespace": WATCH_NS, "watchers": sizes.watchers, "expected": sizes.updates,
               "timeout": int(duration + 60)}
    uparams = {"namespace": WATCH_NS, "names": [f"w-{i}" for i in range(10)],
               "updates": sizes.updates, "rate": sizes.update_rate}
    phase = _Phase(pids, profiler, "watch")
    writer: dict[str, Any] = {}

    def start_writer() -> None:
        phase.start()
        [writer["r"]] = load.run_jobs(target, [("updates", uparams)])
        phase.stop()

    [w] = load.run_jobs(target, [("watchers", wparams)], on_start=start_writer)
    u = writer["r"]
    if u["failures"]:
        raise RuntimeError(f"updates failed: {u['failures'][:3]}")
    from_send: list[float] = []
    from_ack: list[float] = []
    for got in w["received"]:
        for seq, t in got:
            from_send.append(t - u["sent"][seq])
            from_ack.append(t - u["acked"][seq])
    expected = sizes.watchers * sizes.updates
    res["watch_delivered"] = f"{len(from_send)}/{expected}"
    res["watch_p50_ms"] = ms(pct(from_send, 0.5))
    res["watch_p99_ms"] = ms(pct(from_send, 0.99))
    res["watch_max_ms"] = ms(max(from_send, default=float("nan")))
    res["watch_from_ack_p50_ms"] = ms(pct(from_ack, 0.5))
    res["watch_from_ack_p99_ms"] = ms(pct(from_ack, 0.99))
    res["update_p50_ms"] = ms(pct([a - s for s, a in zip(u["sent"], u["acked"], strict=True)], 0.5))
    res["watch_client_cpu_pct"] = round(100 * w["cpu"] / (w["end"] - w["start"]), 1)
    res["watch_cpu_pct"] = phase.cpu
