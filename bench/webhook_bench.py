"""API create latency and throughput with one no-op admission webhook beside none, same run.

    .venv/bin/python bench/webhook_bench.py [--n 2000] [--quick]

A real ``shoal server`` (the API alone: no scheduler, no controllers) and a
real HTTPS webhook on loopback (``tests.webhook_fixture``: its own CA, given as
``caBundle``). Two cases, each run without and with its webhook, alternating
(without, with, without, with) and keeping the better run of each:

- ConfigMap creates with one no-op *validating* webhook (answers ``allowed``);
- Pod creates with one *mutating* webhook that adds a label by JSON patch.

The webhooks select their own namespaces, so "without" and "with" run against
the same server and configuration set. Load comes from a separate process
(``bench.load``): creates/s and the p50/p99 latency each create saw. The
webhook round trip p50 is what an AdmissionReview POST to the webhook takes
from a pooled HTTPS client in this process (the same library and TLS as the
server's caller). Writes ``bench/results/webhook.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import msgspec  # noqa: E402

from bench import load  # noqa: E402
from tests.server_fixture import start_server  # noqa: E402
from tests.webhook_fixture import WebhookServer  # noqa: E402

ADM = "/apis/admissionregistration.k8s.io/v1"


def configmap(name: str) -> bytes:
    return msgspec.json.encode({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                "data": {"k": "v" * 64}})


def pod(name: str) -> bytes:
    return msgspec.json.encode({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "b"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}})


def run(target: load.Target, path: str, bodies: list[bytes], *, clients: int) -> dict[str, Any]:
    results = load.run_jobs(target, [("posts", {"path": path, "bodies": bodies, "clients": clients})])
    failures = [f for r in results for f in r["failures"]]
    if failures:
        raise RuntimeError(f"{len(failures)} creates failed, e.g. {failures[:3]}")
    n = sum(r["n"] for r in results)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    lat = sorted(x for r in results for x in r["lat"])
    return {"n": n, "per_s": round(n / wall, 1), "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2)}


def webhook_config(kind: str, name: str, url: str, ca: str, resource: str, label: str) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name},
            "webhooks": [{"name": f"{name}.bench.example.com", "clientConfig": {"url": url, "caBundle": ca},
                          "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                     "resources": [resource]}],
                          "namespaceSelector": {"matchLabels": {"hooked": label}},
                          "sideEffects": "None", "admissionReviewVersions": ["v1"], "failurePolicy": "Fail"}]}


def round_trip_p50(hook: WebhookServer, n: int = 500) -> float:
    body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u", "operation": "CREATE", "object": json.loads(configmap("rt"))}}).encode()

    async def go() -> list[float]:
        ctx = ssl.create_default_context(cadata=hook.ca_pem.decode())
        out: list[float] = []
        async with aiohttp.ClientSession() as s:
            for _ in range(n):
                t0 = time.perf_counter()
                async with s.post(hook.url("/allow") + "?timeout=10s", data=body, ssl=ctx,
                                  headers={"Content-Type": "application/json"}) as r:
                    await r.read()
                out.append(time.perf_counter() - t0)
        return out

    return round(statistics.median(asyncio.run(go())[50:]) * 1000, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 300 if args.quick else args.n
    hook = WebhookServer().start()
    out: dict[str, Any] = {"n": n, "clients": args.clients}
    try:
        with tempfile.TemporaryDirectory() as d:
            srv = start_server(Path(d), args=["--disable-scheduler", "--disable-controller-manager"])
            try:
                s = srv.session()
                target = load.Target(srv.url, srv.token, srv.ca)
                for name, kind, path, resource in (
                        ("validating", "ValidatingWebhookConfiguration", "/allow", "configmaps"),
                        ("mutating", "MutatingWebhookConfiguration", "/label", "pods")):
                    r = s.post(f"{srv.url}{ADM}/{kind.lower()}s",
                               json=webhook_config(kind, name, hook.url(path), hook.ca_bundle, resource, name))
                    assert r.status_code == 201, r.text
                    make = configmap if resource == "configmaps" else pod
                    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
                    serial: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
                    for i in range(2):
                        for case in ("without", "with"):
                            ns = f"{name}-{case}-{i}"
                            labels = {"hooked": name} if case == "with" else {}
                            s.post(f"{srv.url}/api/v1/namespaces", json={"metadata": {"name": ns, "labels": labels}})
                            bodies = [make(f"o-{j}") for j in range(n)]
                            runs[case].append(run(target, f"/api/v1/namespaces/{ns}/{resource}", bodies,
                                                  clients=args.clients))
                            # one client, one create at a time: the latency a create sees on an idle server
                            bodies = [make(f"s-{j}") for j in range(max(n // 4, 100))]
                            serial[case].append(run(target, f"/api/v1/namespaces/{ns}/{resource}", bodies,
                                                    clients=1))
                    # the webhook was called: one object of the hooked namespace carries the mutation
                    if resource == "pods":
                        got = s.get(f"{srv.url}/api/v1/namespaces/{name}-with-0/pods/o-0").json()
                        assert got["metadata"]["labels"].get("mutated-by") == "webhook", got
                    best = {c: max(rs, key=lambda x: x["per_s"]) for c, rs in runs.items()}
                    one = {c: min(rs, key=lambda x: x["p50_ms"]) for c, rs in serial.items()}
                    out[name] = {"resource": resource, "runs": runs, "best": best, "serial_runs": serial,
                                 "serial_best": one,
                                 "ratio": round(best["with"]["per_s"] / best["without"]["per_s"], 3),
                                 "added_serial_p50_ms": round(one["with"]["p50_ms"] - one["without"]["p50_ms"], 2)}
                    print(f"{resource} creates/s ({args.clients} clients) without {best['without']['per_s']}, with a "
                          f"{name} webhook {best['with']['per_s']}: {out[name]['ratio']}x; one client's p50 "
                          f"{one['without']['p50_ms']} ms without, {one['with']['p50_ms']} ms with "
                          f"(+{out[name]['added_serial_p50_ms']} ms)")
                out["webhook_round_trip_p50_ms"] = round_trip_p50(hook)
                print(f"webhook round trip p50: {out['webhook_round_trip_p50_ms']} ms")
            finally:
                srv.stop()
    finally:
        hook.stop()
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "webhook.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
