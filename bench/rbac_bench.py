"""API creates/s with RBAC deciding, as a non-admin user, against the admin token.

    .venv/bin/python bench/rbac_bench.py [--pods N] [--rounds R] [--quick]

One ``shoal server`` (the API alone, SQLite), with 1,000 Roles and 1,000
RoleBindings in place across 50 namespaces (bindings for 200 users and 20
groups; the bench user's group is bound in 21 of those namespaces, one of
them the namespace it creates in, through ``edit``). Both users authenticate
the same way (a static bearer token: the admin's from the data dir, the
user's from ``--token-auth-file``), so the difference is authorization alone:
``system:masters`` short-circuits, the user is answered from the index.

After a warm-up round (not counted), rounds alternate admin, user, admin, user... each creating ``--pods`` pods
with 32 clients in 2 load processes; the figure is each side's median rate,
and the server CPU per create (less skewed by other load on the machine).
Target: user >= 0.95 x admin. Prints a JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import load, procstats  # noqa: E402
from bench.api_bench import API_ONLY  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

G = "rbac.authorization.k8s.io"
USER_TOKEN = "bench-user-token-0123456789"
NAMESPACES = 50


def _post(srv: RunningServer, s: Any, path: str, body: dict[str, Any]) -> None:
    r = s.post(srv.url + path, json=body)
    if r.status_code != 201:
        raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")


def populate(srv: RunningServer) -> None:
    """1,000 Roles and 1,000 RoleBindings; the bench user's group is bound in ``ns-0`` .. ``ns-20`` and ``x``."""
    s = srv.session()
    for i in range(NAMESPACES):
        _post(srv, s, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{i}"}})
    _post(srv, s, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    for i in range(1000):
        ns = f"ns-{i % NAMESPACES}"
        _post(srv, s, f"/apis/{G}/v1/namespaces/{ns}/roles", {
            "apiVersion": f"{G}/v1", "kind": "Role", "metadata": {"name": f"role-{i}"},
            "rules": [{"verbs": ["get", "list"], "apiGroups": ["", "apps"], "resources": [f"r{i}", "pods"]},
                      {"verbs": ["create"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": [f"c{i}"]}]})
        subject = ({"kind": "Group", "apiGroup": G, "name": "benchers"} if i < 21 else
                   {"kind": "Group", "apiGroup": G, "name": f"group-{i % 20}"} if i % 5 == 0 else
                   {"kind": "User", "apiGroup": G, "name": f"user-{i % 200}"})
        _post(srv, s, f"/apis/{G}/v1/namespaces/{ns}/rolebindings", {
            "apiVersion": f"{G}/v1", "kind": "RoleBinding", "metadata": {"name": f"binding-{i}"},
            "roleRef": {"apiGroup": G, "kind": "Role", "name": f"role-{i}"}, "subjects": [subject]})
    _post(srv, s, f"/apis/{G}/v1/namespaces/x/rolebindings", {
        "apiVersion": f"{G}/v1", "kind": "RoleBinding", "metadata": {"name": "benchers-edit"},
        "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "Group", "apiGroup": G, "name": "benchers"}]})


def one_round(target: load.Target, pid: int, names: list[str]) -> tuple[float, float]:
    """(creates/s, server CPU microseconds per create) of one round."""
    jobs = [("creates", {"namespace": "x", "names": names[k::2], "clients": 16}) for k in range(2)]
    cpu0 = [0.0]
    results = load.run_jobs(target, jobs, on_start=lambda: cpu0.__setitem__(0, procstats.cpu_seconds(pid)))
    cpu = procstats.cpu_seconds(pid) - cpu0[0]
    failures = [f for r in results for f in r["failures"]]
    if failures:
        raise RuntimeError(f"creates failed: {failures[:3]}")
    n = sum(r["n"] for r in results)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return n / wall, cpu / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=3000, help="pods created per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per user")
    ap.add_argument("--quick", action="store_true", help="500 pods, 2 rounds: a smoke run")
    args = ap.parse_args()
    pods, rounds = (500, 2) if args.quick else (args.pods, args.rounds)
    with tempfile.TemporaryDirectory(prefix="shoal-rbac-bench-") as tmp:
        work = Path(tmp)
        (work / "tokens.csv").write_text(f'{USER_TOKEN},bench,9000,"benchers"\n')
        srv = start_server(work / "data", args=[*API_ONLY, "--token-auth-file", str(work / "tokens.csv")])
        try:
            t0 = time.monotonic()
            populate(srv)
            print(f"1,000 Roles and 1,000 RoleBindings in {time.monotonic() - t0:.1f}s", file=sys.stderr)
            targets = {"admin": load.Target(srv.url, srv.token, srv.ca),
                       "user": load.Target(srv.url, USER_TOKEN, srv.ca)}
            one_round(targets["admin"], srv.proc.pid, [f"warm-{i:06d}" for i in range(500)])  # not counted
            rates: dict[str, list[float]] = {"admin": [], "user": []}
            cpus: dict[str, list[float]] = {"admin": [], "user": []}
            for r in range(rounds):
                for who in ("admin", "user"):
                    rate, cpu = one_round(targets[who], srv.proc.pid,
                                          [f"{who}-{r}-{i:06d}" for i in range(pods)])
                    rates[who].append(rate)
                    cpus[who].append(cpu)
                    print(f"round {r} {who}: {rate:.0f} creates/s, {cpu:.0f} us server CPU per create",
                          file=sys.stderr)
        finally:
            srv.stop()
    admin, user = statistics.median(rates["admin"]), statistics.median(rates["user"])
    out = {"pods_per_round": pods, "rounds": rounds, "admin_create_per_s": round(admin),
           "user_create_per_s": round(user), "ratio": round(user / admin, 3),
           "admin_server_cpu_us": round(statistics.median(cpus["admin"])),
           "user_server_cpu_us": round(statistics.median(cpus["user"])),
           "all_rates": {k: [round(v) for v in vs] for k, vs in rates.items()}, "target": ">= 0.95",
           "met": user / admin >= 0.95}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
