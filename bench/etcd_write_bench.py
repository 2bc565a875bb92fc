"""The etcd write path: API creates/s beside raw etcd creates in the same run, optionally profiled.

    .venv/bin/python bench/etcd_write_bench.py [--pods 5000] [--profile FILE]

Starts a throwaway etcd and a ``shoal server`` (API only) on it, measures the
raw create rate of ``EtcdStore`` from this process (32 writers, 1.5 KB
values, as ``api_bench``), then 32 HTTPS clients creating pods, and prints
both with their ratio and the server's CPU per create. ``--profile FILE`` runs
the server under cProfile (its event loop thread; the figures are then slower)
and prints the functions with the most cumulative and own time.
"""

from __future__ import annotations

import argparse
import asyncio
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--quick", action="store_true", help="1,000 pods")
    args = parser.parse_args()
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
