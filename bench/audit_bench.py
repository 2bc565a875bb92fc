"""API creates with the audit log at Metadata for every request, against the same server without it.

    .venv/bin/python bench/audit_bench.py [--pods N] [--rounds R] [--quick]

Two ``shoal server`` processes (the API alone, SQLite), started side by side
in one run: one with ``--audit-policy-file`` (one rule: ``level: Metadata``,
so every create is two events, RequestReceived and ResponseComplete) and
``--audit-log-path``, one without. After a warm-up round on each (not
counted), rounds alternate off, on, then on, off (neither side always runs second), each creating ``--pods`` pods
with 32 clients in 2 load processes as the admin; the figures are each side's
median rate, client-side create latency (p50/p99) and server CPU per create, and the median of each
round's audited rate over the unaudited one measured beside it (``paired_ratio``: on a shared machine
whose speed drifts within a run, the steadier of the two).
Target (issue 20): audited >= 0.9 x creates/s without audit. Prints a JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import load, procstats  # noqa: E402
from bench.api_bench import API_ONLY  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"


def one_round(srv: RunningServer, names: list[str]) -> tuple[float, float, list[float]]:
    """(creates/s, server CPU microseconds per create, latencies) of one round."""
    target = load.Target(srv.url, srv.token, srv.ca)
    jobs = [("creates", {"namespace": "default", "names": names[k::2], "clients": 16}) for k in range(2)]
    cpu0 = [0.0]
    results = load.run_jobs(target, jobs, on_start=lambda: cpu0.__setitem__(0, procstats.cpu_seconds(srv.proc.pid)))
    cpu = procstats.cpu_seconds(srv.proc.pid) - cpu0[0]
    failures = [f for r in results for f in r["failures"]]
    if failures:
        raise RuntimeError(f"creates failed: {failures[:3]}")
    n = sum(r["n"] for r in results)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return n / wall, cpu / n * 1e6, [x for r in results for x in r["lat"]]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=3000, help="pods created per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per side")
    ap.add_argument("--quick", action="store_true", help="500 pods, 2 rounds: a smoke run")
    args = ap.parse_args()
    pods, rounds = (500, 2) if args.quick else (args.pods, args.rounds)
    with tempfile.TemporaryDirectory(prefix="shoal-audit-bench-") as tmp:
        work = Path(tmp)
        (work / "policy.yaml").write_text(POLICY)
        log = work / "audit.log"
        servers = {"off": start_server(work / "off", args=API_ONLY),
                   "metadata": start_server(work / "on", args=[*API_ONLY, "--audit-policy-file",
                                                               str(work / "policy.yaml"), "--audit-log-path", str(log)])}
        try:
            for who, srv in servers.items():
                one_round(srv, [f"warm-{who}-{i:06d}" for i in range(500)])  # not counted
            rates: dict[str, list[float]] = {k: [] for k in servers}
            cpus: dict[str, list[float]] = {k: [] for k in servers}
            lats: dict[str, list[float]] = {k: [] for k in servers}
            for r in range(rounds):
                order = list(servers.items())
                for who, srv in order if r % 2 == 0 else order[::-1]:  # off, on / on, off: neither side always second
                    rate, cpu, lat = one_round(srv, [f"{who}-{r}-{i:06d}" for i in range(pods)])
                    rates[who].append(rate)
                    cpus[who].append(cpu)
                    lats[who] += lat
                    print(f"round {r} audit {who}: {rate:.0f} creates/s, {cpu:.0f} us server CPU per create, "
                          f"p50 {pct(lat, 0.5):.1f} ms", file=sys.stderr)
            lines = sum(1 for _ in log.open()) if log.exists() else 0
        finally:
            for srv in servers.values():
                srv.stop()
    off, on = statistics.median(rates["off"]), statistics.median(rates["metadata"])
    # each round's audited rate over the unaudited one measured next to it (the rounds alternate): a drift
    # of the machine's speed over the run moves both sides of a pair alike
    paired = statistics.median(m / o for m, o in zip(rates["metadata"], rates["off"], strict=True))
    out = {"pods_per_round": pods, "rounds": rounds, "off_create_per_s": round(off),
           "metadata_create_per_s": round(on), "ratio": round(on / off, 3), "paired_ratio": round(paired, 3),
           "off_p50_ms": round(pct(lats["off"], 0.5), 2), "metadata_p50_ms": round(pct(lats["metadata"], 0.5), 2),
           "off_p99_ms": round(pct(lats["off"], 0.99), 2), "metadata_p99_ms": round(pct(lats["metadata"], 0.99), 2),
           "off_server_cpu_us": round(statistics.median(cpus["off"])),
           "metadata_server_cpu_us": round(statistics.median(cpus["metadata"])),
           "audit_lines": lines, "all_rates": {k: [round(v) for v in vs] for k, vs in rates.items()},
           "target": ">= 0.9", "met": on / off >= 0.9}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
