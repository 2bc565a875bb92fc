"""The etcd write path: API creates/s beside raw etcd creates in the same run, optionally profiled.

    .venv/bin/python bench/etcd_write_bench.py [--pods 5000] [--profile FILE]
    .venv/bin/python bench/etcd_write_bench.py --cluster [--quick] [--pods 3000]

Starts a throwaway etcd and a ``shoal server`` (API only) on it, measures the
raw create rate of ``EtcdStore`` from this process (32 writers, 1.5 KB
values, as ``api_bench``), then 32 HTTPS clients creating pods, and prints
both with their ratio and the server's CPU per create. ``--profile FILE`` runs
the server under cProfile (its event loop thread; the figures are then slower)
and prints the functions with the most cumulative and own time.

``--cluster``: three API-only ``shoal server``s with embedded etcd members
(``tests/ha/cluster.py``: one 3-member etcd on loopback, TLS), raw creates on
that etcd from this process (``EtcdStore`` with a member's certificate, 32
writers, values of the size the API stores the bench's pod at: 1.5 KB posted
is ~4.5 KB stored, with defaults and managedFields; the 1.5 KB rate is printed
beside it), then pod creates through 1, 2 and 3 of the servers (the same 32
clients in 4 processes, spread round-robin over the servers used), then the
raw rate again: each API rate is set beside the mean of the two raw ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import api_bench, load, procstats, workload  # noqa: E402
from tests.etcd_fixture import start_etcd  # noqa: E402
from tests.server_fixture import RunningServer, free_port, start_server  # noqa: E402


def _profiled_server(data: Path, endpoint: str, out: Path) -> RunningServer:
    """``start_server``, but the server process runs under cProfile (written to ``out`` at SIGTERM)."""
    port = free_port()
    data.mkdir(parents=True)
    code = ("import cProfile\nfrom shoal.cli.main import main\np = cProfile.Profile()\np.enable()\n"
            f"try:\n    main()\nfinally:\n    p.disable()\n    p.dump_stats({str(out)!r})\n")
    cmd = [sys.executable, "-c", code, "server", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}",
           "--no-agent", *api_bench.API_ONLY, "--store", f"etcd://{endpoint}", "--scheduler-in-process"]
    logf = open(data / "server.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "SHOAL_HTTP_SERVER": os.environ.get("SHOAL_HTTP_SERVER", "lean")})
    srv = RunningServer(proc, data, f"https://127.0.0.1:{port}", port, data / "server.log")
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (data / "admin.kubeconfig").exists() and requests.get(
                    srv.url + "/readyz", verify=str(data / "ca.crt"), timeout=2).status_code == 200:
                return srv
        except requests.RequestException:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(srv.log())


def run(pods: int, profile: Path | None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    sizes = api_bench.Sizes(pods=pods)
    with tempfile.TemporaryDirectory(prefix="shoal-etcdw-") as tmp:
        work = Path(tmp)
        endpoint, stop_etcd = start_etcd(work / "etcd")
        try:
            pids = {"etcd": procstats.find_pid(str(work / "etcd" / "data")) or 0}
            srv = (_profiled_server(work / "data", endpoint, profile) if profile else
                   start_server(work / "data", args=[*api_bench.API_ONLY, "--store", f"etcd://{endpoint}"]))
            try:
                pids["server"] = srv.proc.pid
                res["raw_write_per_s"] = round(asyncio.run(
                    api_bench._raw_rate("etcd", workdir=work, endpoint=endpoint, sizes=sizes)))
                api_bench._post(srv, "/api/v1/namespaces", workload.namespace(api_bench.CREATE_NS))
                api_bench._creates(load.Target(srv.url, srv.token, srv.ca), sizes, pids,
                                   procstats.Profiler(None), res)
            finally:
                srv.stop(signal.SIGTERM)
        finally:
            stop_etcd()
    return res


def run_cluster(pods: int) -> dict[str, Any]:
    from bench.store_raw import raw_write_rate
    from shoal.etcdmember.plan import CertPaths
    from shoal.store.etcd import EtcdStore
    from tests.ha.cluster import start_cluster

    res: dict[str, Any] = {"pods_per_run": pods}
    sizes = api_bench.Sizes(pods=pods)
    with tempfile.TemporaryDirectory(prefix="shoal-etcdw3-") as tmp:
        cluster = start_cluster(Path(tmp) / "servers", 3, extra=list(api_bench.API_ONLY))
        try:
            first = cluster.members[0]
            dd = first.server.data_dir
            certs = CertPaths(ca=dd / "ca.crt", cert=dd / "etcd" / "member.crt", key=dd / "etcd" / "member.key")
            endpoints = [f"127.0.0.1:{m.client_port}" for m in cluster.members]
            tls = (certs.ca.read_bytes(), certs.key.read_bytes(), certs.cert.read_bytes())

            async def raw(n: int, value_size: int, key: str) -> float:
                """The raw rate; the CPU of every process (this one as ``bench``) per put under ``res[key]``."""
                store = EtcdStore(endpoints, tls=tls)
                await store.start()
                try:
                    await raw_write_rate(store, concurrency=sizes.concurrency, n=min(500, n), value_size=value_size)
                    meter = procstats.CpuMeter({**pids, "bench": os.getpid()})
                    meter.start()
                    rate = await raw_write_rate(store, concurrency=sizes.concurrency, n=n, value_size=value_size)
                    res[key] = {k: round(pct * 1e4 / rate) for k, pct in meter.stop().items()}
                    return rate
                finally:
                    await store.close()

            async def stored_size(key: str) -> int:
                store = EtcdStore(endpoints, tls=tls)
                await store.start()
                try:
                    kv = await store.get(key)
                    assert kv is not None, key
                    return len(kv.value)
                finally:
                    await store.close()

            pids = {f"server{i}": m.server.proc.pid for i, m in enumerate(cluster.members)}
            pids |= {f"etcd{i}": m.etcd_pid() or 0 for i, m in enumerate(cluster.members)}
            # raw puts of the size the API stores a pod at (defaults, managedFields: ~3x the 1.5 KB posted),
            # so raw and API write the same bytes to etcd; the 1.5 KB figure is kept beside it
            api_bench._post(first.server, "/api/v1/namespaces", workload.namespace("size"))
            api_bench._post(first.server, "/api/v1/namespaces/size/pods", workload.pod_bytes("p", "size"))
            value_size = res["stored_pod_bytes"] = asyncio.run(stored_size("/registry/core/pods/size/p"))
            res["raw_1500_bytes_per_s"] = round(asyncio.run(raw(pods, 1500, "raw_1500_cpu_us_per_put")))
            res["raw_before_per_s"] = round(asyncio.run(raw(pods, value_size, "raw_before_cpu_us_per_put")))
            target = load.Target(first.server.url, first.server.token, first.server.ca)
            for n in (1, 2, 3):
                ns = f"x{n}"
                api_bench._post(first.server, "/api/v1/namespaces", workload.namespace(ns))
                names = [f"p-{i:06d}" for i in range(pods)]
                procs = 4
                jobs = [("creates", {"namespace": ns, "names": names[k::procs],
                                     "clients": sizes.concurrency // procs,
                                     "url": cluster.members[k % n].server.url}) for k in range(procs)]
                meter = procstats.CpuMeter(pids)
                results = load.run_jobs(target, jobs, on_start=meter.start)
                cpu = meter.stop()
                failures = [f for r in results for f in r["failures"]]
                if failures:
                    raise RuntimeError(f"creates through {n} servers failed: {failures[:3]}")
                wall = max(r["end"] for r in results) - min(r["start"] for r in results)
                lat = sorted(x for r in results for x in r["lat"])
                res[f"servers_{n}"] = {
                    "create_per_s": round(sum(r["n"] for r in results) / wall),
                    "p50_ms": round(lat[len(lat) // 2] * 1e3, 1), "p99_ms": round(lat[int(len(lat) * .99)] * 1e3, 1),
                    "cpu_pct": cpu, "client_cpu_pct": round(100 * sum(r["cpu"] for r in results) / wall, 1)}
                rate = res[f"servers_{n}"]["create_per_s"]
                res[f"servers_{n}"]["cpu_us_per_create"] = {
                    **{k: round(pct * 1e4 / rate) for k, pct in cpu.items()},
                    "clients": round(res[f"servers_{n}"]["client_cpu_pct"] * 1e4 / rate)}
                print(f"{n} server(s): {res[f'servers_{n}']}", flush=True)
            res["raw_after_per_s"] = round(asyncio.run(raw(pods, value_size, "raw_after_cpu_us_per_put")))
            raw_mean = (res["raw_before_per_s"] + res["raw_after_per_s"]) / 2
            for n in (1, 2, 3):
                res[f"servers_{n}"]["ratio_to_raw"] = round(res[f"servers_{n}"]["create_per_s"] / raw_mean, 2)
        finally:
            cluster.stop()
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--quick", action="store_true", help="1,000 pods")
    parser.add_argument("--cluster", action="store_true", help="3 servers on a 3-member embedded etcd")
    args = parser.parse_args()
    if args.cluster:
        res = run_cluster(1000 if args.quick else min(args.pods, 3000))
        print(json.dumps(res, indent=2))
        return
    res = run(1000 if args.quick else args.pods, args.profile)
    keys = ("raw_write_per_s", "create_per_s", "create_ratio_to_raw", "create_p50_ms", "create_p99_ms",
            "create_cpu_pct", "create_server_cpu_us")
    for k in keys:
        print(f"{k:24} {res.get(k)}")
    if args.profile and args.profile.exists():
        st = pstats.Stats(str(args.profile))
        st.sort_stats("tottime").print_stats(25)
        st.sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
