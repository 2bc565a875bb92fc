"""Entry point of ``make bench``: every control-plane figure, against both stores.

    .venv/bin/python bench/run.py [--quick] [--store sqlite|etcd|both] [--profile DIR]

Prints one table (figures per store, the target, met or not) and writes every
figure to ``bench/results/latest.json``. ``--quick`` is a smoke run with fewer
objects (well under 30 s); its figures are not comparable with the targets.
``--profile DIR`` records the server with py-spy during each phase (collapsed
stacks, ``DIR/<store>/<phase>.txt``, plus a summary of the hottest functions).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `bench`, `shoal` and `tests` importable
    sys.path.insert(0, str(REPO))

from bench import api_bench, procstats  # noqa: E402

RESULTS = REPO / "bench" / "results" / "latest.json"

# (label, key, unit, target test or None, target text)
Check = Callable[[dict[str, Any]], bool] | None
ROWS: list[tuple[str, str, Check, str]] = [
    ("raw store writes/s (32 writers)", "raw_write_per_s", None, ""),
    ("API creates/s (32 clients, HTTPS)", "create_per_s",
     lambda r: r["create_per_s"] >= 2000 if r["store"] == "sqlite" else r["create_ratio_to_raw"] >= 0.6,
     "sqlite >= 2000/s; etcd >= 0.6x raw"),
    ("  creates / raw writes", "create_ratio_to_raw", None, ""),
    ("  create latency p50 / p99 ms", "create_p50_ms|create_p99_ms", None, ""),
    ("  CPU % during creates", "create_cpu_pct", None, ""),
    ("  server CPU us per create", "create_server_cpu_us", None, ""),
    ("  load generator CPU %", "create_client_cpu_pct", None, ""),
    ("list 10k pods JSON p50 / p95 ms", "list_p50_ms|list_p95_ms",
     lambda r: r["list_p50_ms"] <= 300, "p50 <= 300 ms"),
    ("list 10k pods Table p50 / p95 ms", "table_p50_ms|table_p95_ms", None, "(reported)"),
    ("  list size JSON / Table MB", "list_mb|table_mb", None, ""),
    ("get p50 / p99 ms", "get_p50_ms|get_p99_ms", lambda r: r["get_p99_ms"] <= 5, "p99 <= 5 ms"),
    ("  server CPU us per get", "get_server_cpu_us", None, ""),
    ("watch delivery p50 / p99 ms", "watch_p50_ms|watch_p99_ms",
     lambda r: r["watch_p99_ms"] <= 50, "p99 <= 50 ms"),
    ("  from ack p50 / p99 ms", "watch_from_ack_p50_ms|watch_from_ack_p99_ms", None, ""),
    ("  events delivered", "watch_delivered", None, ""),
    ("  CPU % during watch", "watch_cpu_pct", None, ""),
    ("  watch client CPU %", "watch_client_cpu_pct", None, ""),
    ("server RSS after start MB", "rss_start_mb", None, ""),
    ("server RSS settled / peak MB", "rss_settled_mb|rss_peak_mb",
     lambda r: r["rss_settled_mb"] <= 100, "settled <= 100 MB"),
]


def machine() -> dict[str, Any]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")
    mem_kb = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                      if ln.startswith("MemTotal")))
    etcd = shutil.which("etcd")
    etcd_version = ""
    if etcd:
        out = subprocess.run([etcd, "--version"], capture_output=True, text=True).stdout
        etcd_version = out.splitlines()[0] if out else ""
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kb / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(), "etcd": etcd_version,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _cell(r: dict[str, Any], key: str) -> str:
    parts = []
    for k in key.split("|"):
        v = r.get(k, "-")
        if isinstance(v, dict):
            v = " ".join(f"{name} {pct:g}" for name, pct in v.items())
        parts.append(str(v))
    return " / ".join(parts)


def table(results: list[dict[str, Any]]) -> str:
    head = ["figure", *(r["store"] for r in results), "target"]
    rows = [head]
    for label, key, check, text in ROWS:
        cells = [label]
        for r in results:
            c = _cell(r, key)
            if check is not None:
                with contextlib.suppress(KeyError, TypeError):
                    c += "  MET" if check(r) else "  NOT MET"
            cells.append(c)
        rows.append([*cells, text])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run with fewer objects (< 30 s)")
    parser.add_argument("--store", choices=("sqlite", "etcd", "both"), default="both")
    parser.add_argument("--all-components", action="store_true",
                        help="run shoal server as shipped (scheduler, controllers); default: the API alone")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the server per phase")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON figures")
    args = parser.parse_args()
    sizes = api_bench.QUICK if args.quick else api_bench.FULL
    stores = ["sqlite", "etcd"] if args.store == "both" else [args.store]
    if "etcd" in stores and shutil.which("etcd") is None:
        print("etcd is not installed (make setup as root); measuring sqlite only", file=sys.stderr)
        stores.remove("etcd")
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average is {load_before:.2f}: other work on this machine skews the figures",
              file=sys.stderr)
    results = [api_bench.run_store(s, sizes=sizes, all_components=args.all_components,
                                   profile_dir=args.profile,
                                   log=lambda m: print(m, file=sys.stderr, flush=True))
               for s in stores]
    report = {"machine": machine(), "loadavg_before": round(load_before, 2),
              "loadavg_after": round(os.getloadavg()[0], 2), "components": "all" if args.all_components else "api", "quick": args.quick, "sizes": dataclasses.asdict(sizes), "results": results,
              "seconds": round(time.monotonic() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    print(f"\nshoal control-plane benchmarks{' (QUICK: not comparable with targets)' if args.quick else ''}"
          f" - {m['date']}\n{m['nproc']} x {m['cpu']}, {m['ram_gib']} GiB, Linux {m['kernel']}, "
          f"Python {m['python']}, {m['etcd']}\nserver components: {report['components']}; "
          f"load average before {report['loadavg_before']}, after {report['loadavg_after']}\n")
    print(table(results))
    print(f"\n{report['seconds']} s; figures in {args.out}")
    if args.profile:
        for s in stores:
            for f in sorted((args.profile / s).glob("*.txt")):
                summary = procstats.summarize(f)
                f.with_suffix(".summary").write_text(summary + "\n")
        print(f"profiles and summaries in {args.profile}")


if __name__ == "__main__":
    main()
