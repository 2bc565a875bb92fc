"""High-availability benchmark: failover time and write latency under an etcd member kill.

    .venv/bin/python bench/ha_bench.py [--quick] [--kills N] [--out FILE]

Runs three ``shoal server``s with embedded etcd members on loopback (ports of
their own, ``tests/ha/cluster.py``) and a simulated-node agent that knows all
three (``--server A,B,C``). Two measurements:

* failover: ``kill -9`` the server whose scheduler holds the ``kube-scheduler``
  Lease (its etcd member dies with it), create a pod through another server at
  once, and time until the pod is bound, i.e. the first scheduling decision of
  the new leader. The killed server is started again (same data dir, it rejoins
  with its member's data) before the next kill. p50 and max over N kills (10;
  3 with --quick). Target: <= 5 s (kube-scheduler's defaults, 15 s / 10 s /
  2 s, give about 15 s).
* write latency: one client creating ConfigMaps back to back through one
  server for a few seconds undisturbed, then again while another server's etcd
  member is killed with -9 (its server starts it again): p50 / p99 / max of
  each window, and the writes that failed.

Prints the figures and writes them to bench/results/ha.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from tests.ha.chaos import CMS, bound_node, pod, start_agent, wait_until  # noqa: E402
from tests.ha.cluster import Cluster, start_cluster  # noqa: E402
from tests.server_fixture import start_server  # noqa: E402

PODS = "/api/v1/namespaces/default/pods"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def one_failover(cluster: Cluster, i: int) -> float:
    leader = wait_until("the scheduler's leader", lambda: cluster.leader_of("kube-scheduler"), timeout=30)
    survivor = next(m for m in cluster.members if m is not leader and m.server.proc.poll() is None)
    s, u = survivor.server.session(), survivor.server.url
    leader.server.proc.send_signal(signal.SIGKILL)
    t0 = time.monotonic()
    name = f"failover-{i}"
    wait_until("the pod created", lambda: s.post(u + PODS, json=pod(name), timeout=5).status_code in (201, 409),
               timeout=20, every=0.05)
    wait_until("the pod bound", lambda: bound_node(s, u, name), timeout=30, every=0.05)
    took = time.monotonic() - t0
    leader.server.proc.wait(10)
    # back to three servers before the next kill
    old = leader.server
    leader.server = start_server(old.data_dir, port=old.port, args=old.extra_args, timeout=90)
    # a member just back is not counted active by etcd for a few seconds: kill the next one after that
    # (the kills measure a leader's loss, not the loss of quorum that two members down at once would be)
    time.sleep(5.0)
    return took


def write_window(s: requests.Session, u: str, seconds: float, tag: str) -> tuple[list[float], int]:
    lat: list[float] = []
    failed = 0
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        t = time.monotonic()
        try:
            r = s.post(u + CMS, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{tag}-{i}"}},
                       timeout=10)
            ok = r.status_code == 201
        except requests.RequestException:
            ok = False
        i += 1
        if ok:
            lat.append(time.monotonic() - t)
        else:
            failed += 1
    return lat, failed


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--kills", type=int)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "ha.json"))
    a = ap.parse_args()
    kills = a.kills or (3 if a.quick else 10)
    window = 4.0 if a.quick else 8.0
    root = Path(tempfile.mkdtemp(prefix="shoal-ha-bench-"))
    t = time.monotonic()
    cluster = start_cluster(root / "servers", 3)
    print(f"three servers with embedded etcd up in {time.monotonic() - t:.1f} s")
    agent = start_agent(cluster, root / "agent")
    result: dict[str, Any] = {"machine": machine(), "kills": kills}
    try:
        s0, u0 = cluster.members[0].server.session(), cluster.members[0].server.url
        wait_until("the simulated nodes", lambda: len(s0.get(u0 + "/api/v1/nodes", timeout=5).json()["items"]) >= 2,
                   timeout=60)
        # write latency first (the cluster as started, after a warm-up), then the failovers
        write_window(s0, u0, 1.0, "warm")
        base, base_failed = write_window(s0, u0, window, "base")
        victim = cluster.members[1]
        pid = victim.etcd_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        hit, hit_failed = write_window(s0, u0, window, "kill")
        result["writes"] = {
            "window_s": window,
            "undisturbed": {"n": len(base), "failed": base_failed, "p50_ms": pct(base, 0.5) * 1e3,
                            "p99_ms": pct(base, 0.99) * 1e3, "max_ms": max(base) * 1e3},
            "member_killed": {"n": len(hit), "failed": hit_failed, "p50_ms": pct(hit, 0.5) * 1e3,
                              "p99_ms": pct(hit, 0.99) * 1e3, "max_ms": max(hit) * 1e3},
        }
        print(f"writes, undisturbed: n={len(base)} p50={pct(base, .5) * 1e3:.1f} ms "
              f"p99={pct(base, .99) * 1e3:.1f} ms max={max(base) * 1e3:.1f} ms failed={base_failed}")
        print(f"writes, a member killed: n={len(hit)} p50={pct(hit, .5) * 1e3:.1f} ms "
              f"p99={pct(hit, .99) * 1e3:.1f} ms max={max(hit) * 1e3:.1f} ms failed={hit_failed}")
        times = []
        for i in range(kills):
            took = one_failover(cluster, i)
            times.append(took)
            print(f"failover {i + 1}/{kills}: {took:.2f} s")
        result["failover_s"] = {"all": times, "p50": statistics.median(times), "max": max(times)}
        print(f"failover (leader killed -> first binding by the new leader): p50 {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s over {kills} kills")
    finally:
        agent.terminate()
        agent.wait(10)
        cluster.stop()
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
