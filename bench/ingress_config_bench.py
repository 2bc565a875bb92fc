"""HAProxy settings A/B: the CPU each costs per request, on the configuration shoal renders.

    .venv/bin/python bench/ingress_config_bench.py [--seconds S] [--rounds N] [--variants a,b,...] [--out FILE]

Needs root (the three 198.18.25.x addresses go on ``lo``), haproxy, nginx, wrk.
No shoal server: ``haproxycfg.render`` writes the configuration of one
Ingress (``bench.example`` -> 3 servers, the benchmark's route), and each
variant is that text with one setting added or changed. Every round runs the
straight baseline (3 wrk processes -> the 3 nginx backends) and then each
variant in a rotated order (a fresh HAProxy, the same 3 wrk processes at it),
so a variant is always compared with the baseline and the others of the same
minute on a machine whose load moves. Reported per variant: requests/s, the
ratio to straight, p99, and the CPU per request of HAProxy, wrk and nginx
(HAProxy's is what a setting can change; the rate follows the sum on shared
cores).

Prints the figures and writes bench/results/ingress_config.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingress_bench import NGINX, children, wrk_side  # noqa: E402
from shoal.ingress.haproxycfg import Settings, render  # noqa: E402
from shoal.ingress.model import Backend, Match, ProxyConfig, Route, Server  # noqa: E402
from shoal.ingress.tls import self_signed  # noqa: E402
from tests.ingress.backends import ADDRESSES, local_addresses  # noqa: E402
from tests.server_fixture import free_port  # noqa: E402


def _after(anchor: str, *lines: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert anchor in text, anchor
        return text.replace(anchor, anchor + "".join(f"\n    {x}" for x in lines), 1)
    return edit


def _drop(line: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert f"    {line}\n" in text, line
        return text.replace(f"    {line}\n", "")
    return edit


# name -> edit of the rendered text; "rendered" is shoal's configuration as it is
VARIANTS: dict[str, Callable[[str], str]] = {
    "rendered": lambda t: t,
    "log-per-request": _after("defaults", "log stdout format raw local0", "option httplog"),
    "reuse-always": _after("defaults", "http-reuse always"),
    "bufsize-8k": _after("hard-stop-after 60s", "tune.bufsize 8192"),
    "nbthread-1": _after("hard-stop-after 60s", "nbthread 1"),
    "server-close": _after("defaults", "option http-server-close"),
    "no-idle-close": _drop("option idle-close-on-response"),
    "idle-pool-unshared": _after("hard-stop-after 60s", "tune.idle-pool.shared off"),
    "forwardfor": _after("defaults", "option forwardfor"),
    "maxpollevents-1024": _after("hard-stop-after 60s", "tune.maxpollevents 1024"),
    "recv-enough-1k": _after("hard-stop-after 60s", "tune.recv_enough 1024"),
    "retry-conn-failure-only": lambda t: t.replace("retry-on conn-failure empty-response", "retry-on conn-failure"),
}
VARIANTS["retry-conn-failure-only+bufsize-8k"] = lambda t: VARIANTS["bufsize-8k"](VARIANTS["retry-conn-failure-only"](t))


def config(run_dir: Path, backends: list[tuple[str, int]], port: int) -> str:
    servers = tuple(Server(name=f"s{i}", address=a, port=p, weight=1, service="web")
                    for i, (a, p) in enumerate(backends))
    cfg = ProxyConfig(routes=(Route(hosts=("bench.example",), match=Match(), backend="default_web_80"),),
                      backends=(Backend(name="default_web_80", servers=servers),))
    crt, key = self_signed("shoal-ingress-default")
    (run_dir / "default.pem").write_text(crt + key)
    return render(cfg, Settings(run_dir=str(run_dir), bind="127.0.0.1", http_port=port,
                                https_port=free_port())).text


async def one_variant(name: str, text: str, work: Path, port: int, args: argparse.Namespace,
                      nginx: list[int]) -> dict[str, Any]:
    path = work / f"{name}.cfg"
    path.write_text(VARIANTS[name](text))
    subprocess.run(["haproxy", "-c", "-q", "-f", str(path)], check=True)
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        # warm the backend connections, then measure
        await wrk_side([f"http://127.0.0.1:{port}/"] * 3, 1, args.connections, "bench.example",
                       {"nginx": nginx, "haproxy": [proc.pid]})
        return await wrk_side([f"http://127.0.0.1:{port}/"] * 3, args.seconds, args.connections, "bench.example",
                              {"nginx": nginx, "haproxy": [proc.pid]})
    finally:
        proc.terminate()
        proc.wait(10)


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    ports = [free_port() for _ in ADDRESSES]
    servers = "\n".join(f"  server {{ listen {a}:{p}; location / {{ return 200 'b{i + 1}'; }} }}"
                        for i, (a, p) in enumerate(zip(ADDRESSES, ports, strict=True)))
    (work / "nginx.conf").write_text(NGINX.format(d=work, servers=servers))
    subprocess.run(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)], check=True)
    try:
        nginx = children(int((work / "nginx.pid").read_text()))
        backends = list(zip(ADDRESSES, ports, strict=True))
        port = free_port()
        text = config(work, backends, port)
        (work / "rendered.txt").write_text(text)
        names = args.variants
        rounds: list[dict[str, Any]] = []
        for i in range(args.rounds):
            straight = await wrk_side([f"http://{a}:{p}/" for a, p in backends], args.seconds, args.connections,
                                      None, {"nginx": nginx})
            row: dict[str, Any] = {"straight": straight, "loadavg": os.getloadavg()[0]}
            order = names[i % len(names):] + names[:i % len(names)]
            for name in order:
                row[name] = await one_variant(name, text, work, port, args, nginx)
            rounds.append(row)
            print(f"round {i + 1}: load {row['loadavg']:.2f} straight {straight['rps']} | "
                  + " | ".join(f"{n} {row[n]['rps']} hap {row[n]['cpu_us_per_request'].get('haproxy')}"
                               for n in names), flush=True)
    finally:
        subprocess.run(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work), "-s", "stop"], check=False)

    def med(name: str, f: Callable[[dict[str, Any]], float]) -> float:
        return round(statistics.median(f(r[name]) for r in rounds), 2)
    summary = {}
    for name in names:
        summary[name] = {
            "rps": med(name, lambda s: s["rps"]),
            "ratio": round(statistics.median(r[name]["rps"] / r["straight"]["rps"] for r in rounds), 3),
            "p99_ms": med(name, lambda s: s["p99_ms"]),
            "haproxy_us": med(name, lambda s: s["cpu_us_per_request"]["haproxy"]),
            "wrk_us": med(name, lambda s: s["cpu_us_per_request"]["wrk"]),
            "nginx_us": med(name, lambda s: s["cpu_us_per_request"]["nginx"]),
            "errors": sum(r[name]["errors"] for r in rounds),
        }
    summary["straight"] = {"rps": med("straight", lambda s: s["rps"]), "p99_ms": med("straight", lambda s: s["p99_ms"]),
                           "wrk_us": med("straight", lambda s: s["cpu_us_per_request"]["wrk"]),
                           "nginx_us": med("straight", lambda s: s["cpu_us_per_request"]["nginx"])}
    return {"seconds": args.seconds, "connections": args.connections, "summary": summary, "rounds": rounds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=48)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ingress_config.json"))
    args = ap.parse_args()
    args.variants = args.variants.split(",")
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants: {sorted(unknown)}")
    with local_addresses(), tempfile.TemporaryDirectory(prefix="shoal-ingress-cfg-") as d:
        results = asyncio.run(run(args, Path(d)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["summary"], indent=2))


if __name__ == "__main__":
    main()
