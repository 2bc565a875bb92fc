"""Custom resource creates/s with a 50-field structural schema, beside ConfigMap creates/s, same run.

    .venv/bin/python bench/crd_bench.py [--n 3000] [--quick]

A real ``shoal server`` (the API alone: no scheduler, no controllers). The
CRD's version has a structural schema of 50 typed fields under ``spec``
(strings with lengths and patterns, bounded integers and numbers, enums,
booleans, a default, and one CEL rule), so every create is pruned, defaulted,
validated and checked by CEL; the ConfigMaps carry 50 data keys of the same
values, so both bodies are about the same size. Load comes from separate
processes (``bench.load``); the two kinds alternate (ConfigMaps, custom
resources, twice), and the figure is the better run of each.

Target (issue 21): custom resources >= 0.8x ConfigMaps. Writes
``bench/results/crd.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402
import requests  # noqa: E402

from bench import load  # noqa: E402
from tests.server_fixture import start_server  # noqa: E402

GROUP = "bench.example.com"
FIELDS = 50


def field_schema(i: int) -> tuple[dict[str, Any], Any]:
    """The schema of field ``f<i>`` and a valid value for it."""
    kind = i % 5
    if kind == 0:
        return {"type": "string", "maxLength": 64, "pattern": "^[a-z0-9-]+$"}, f"value-{i}"
    if kind == 1:
        return {"type": "integer", "minimum": 0, "maximum": 1_000_000}, i * 1000
    if kind == 2:
        return {"type": "string", "enum": ["alpha", "beta", "gamma"]}, "beta"
    if kind == 3:
        return {"type": "boolean"}, i % 2 == 0
    return {"type": "number", "minimum": 0}, i / 4


def crd() -> dict[str, Any]:
    props = {f"f{i:02d}": field_schema(i)[0] for i in range(FIELDS)}
    props["f01"] = {**props["f01"], "default": 7}
    spec = {"type": "object", "required": ["f00", "f02"], "properties": props,
            "x-kubernetes-validations": [{"rule": "self.f01 <= 1000000", "message": "f01 too large"}]}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"records.{GROUP}"},
            "spec": {"group": GROUP, "scope": "Namespaced",
                     "names": {"plural": "records", "singular": "record", "kind": "Record", "listKind": "RecordList"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}}}]}}


def record(name: str) -> bytes:
    spec = {f"f{i:02d}": field_schema(i)[1] for i in range(FIELDS)}
    return msgspec.json.encode({"apiVersion": f"{GROUP}/v1", "kind": "Record", "metadata": {"name": name},
                                "spec": spec})


def configmap(name: str) -> bytes:
    data = {f"f{i:02d}": str(field_schema(i)[1]) for i in range(FIELDS)}
    return msgspec.json.encode({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def run(target: load.Target, path: str, bodies: list[bytes], *, processes: int, clients: int) -> dict[str, Any]:
    share = [bodies[i::processes] for i in range(processes)]
    results = load.run_jobs(target, [("posts", {"path": path, "bodies": b, "clients": clients}) for b in share])
    failures = [f for r in results for f in r["failures"]]
    if failures:
        raise RuntimeError(f"creates failed: {failures[:3]}")
    n = sum(r["n"] for r in results)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    lat = sorted(x for r in results for x in r["lat"])
    return {"n": n, "per_s": round(n / wall, 1), "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="creates per run and kind")
    ap.add_argument("--quick", action="store_true", help="a smoke run (500 creates)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients per load process")
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    n = 500 if args.quick else args.n
    with tempfile.TemporaryDirectory() as tmp:
        srv = start_server(Path(tmp) / "s", args=["--disable-scheduler", "--disable-controller-manager"])
        try:
            http = srv.session()
            target = load.Target(srv.url, srv.token, srv.ca)
            assert http.post(srv.url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                             json=crd()).status_code == 201
            deadline = time.monotonic() + 10
            while http.get(f"{srv.url}/apis/{GROUP}/v1").status_code != 200:
                assert time.monotonic() < deadline, "the CRD was not established"
                time.sleep(0.05)
            for ns in ("cm", "cr"):
                http.post(srv.url + "/api/v1/namespaces", json={"metadata": {"name": ns}})
            runs: dict[str, list[dict[str, Any]]] = {"configmaps": [], "records": []}
            for round_ in range(2):
                runs["configmaps"].append(run(
                    target, "/api/v1/namespaces/cm/configmaps", [configmap(f"c{round_}-{i}") for i in range(n)],
                    processes=args.processes, clients=args.clients))
                runs["records"].append(run(
                    target, f"/apis/{GROUP}/v1/namespaces/cr/records", [record(f"r{round_}-{i}") for i in range(n)],
                    processes=args.processes, clients=args.clients))
            check = requests.get(f"{srv.url}/apis/{GROUP}/v1/namespaces/cr/records/r0-0", headers=http.headers,
                                 verify=srv.ca).json()
            assert len(check["spec"]) == FIELDS
        finally:
            srv.stop()
    best = {k: max(v, key=lambda r: r["per_s"]) for k, v in runs.items()}
    out = {"fields": FIELDS, "creates_per_run": n, "processes": args.processes, "clients": args.clients,
           "configmaps": best["configmaps"], "records": best["records"], "runs": runs,
           "ratio": round(best["records"]["per_s"] / best["configmaps"]["per_s"], 3)}
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "crd.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"ConfigMap creates/s: {best['configmaps']['per_s']}  (p50 {best['configmaps']['p50_ms']} ms)")
    print(f"custom resource creates/s ({FIELDS}-field schema): {best['records']['per_s']}  "
          f"(p50 {best['records']['p50_ms']} ms)")
    print(f"ratio: {out['ratio']} (target >= 0.8)")


if __name__ == "__main__":
    main()
