"""Service dataplane benchmarks: a ClusterIP against the pod's own IP, and endpoint propagation.

    .venv/bin/python bench/network_bench.py [--quick] [--rounds N] [--seconds S] [--trials N]
                                            [--no-userspace] [--out FILE]

Needs root, nft and wrk (``make setup`` installs them). Everything runs on this
machine, on addresses the benchmark creates: a backend "pod" and a client
"pod" in network namespaces (veth pairs to the host, routed through it as
pods on a bridge are), ``shoal server`` on a service CIDR of its own, and the
service proxy of one node in its own process, as on a node.

throughput and latency: ``wrk`` in the client namespace against (a) the
backend's IP and (b) the Service's ClusterIP, which DNATs to that same
backend: same client, same backend, same path through the host but for the
NAT. Rounds alternate the order. Four loads each: keep-alive with 32
connections (requests/s), one new connection per request with 32 connections
(connections/s, where the DNAT rule is evaluated for every request), and each
of those with one connection (p50 latency, nothing queued). With
``--no-userspace`` unset, the same against the userspace proxy mode (Python
relaying the bytes), the fallback without root.

propagation: a pod of the Service turns Ready (its status written through the
API) while the bench polls the ClusterIP from the host; the time until a
request through the VIP is answered, over ``--trials`` Ready flips (each
after the pod went unready and the VIP refused again). This covers the API
write, the endpoints controller, the proxy's watch, its 20 ms debounce and the
nft transaction.

Prints the figures and writes them to bench/results/network.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "network.json"
Log = Callable[[str], None]

# a fast backend: one asyncio process answering its name, keep-alive or close as the client asks
_BACKEND = r'''
import asyncio, sys
name = sys.argv[3].encode() + b"\n"
KEEP = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(name), name)
CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (
    len(name), name)
class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        while (i := self.buf.find(b"\r\n\r\n")) >= 0:
            head, self.buf = self.buf[:i].lower(), self.buf[i + 4:]
            if b"connection: close" in head:
                # the client closes first (wrk does on "Connection: close"): TIME_WAIT stays on its side
                self.t.write(CLOSE)
                return
            self.t.write(KEEP)
    def eof_received(self):
        return False
async def main():
    srv = await asyncio.get_running_loop().create_server(P, sys.argv[1], int(sys.argv[2]), backlog=4096)
    await srv.serve_forever()
asyncio.run(main())
'''


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


@dataclass
class Netns:
    name: str
    veth: str
    host_ip: str
    ip: str
    proc: subprocess.Popen[bytes] | None = None


def make_netns(tag: str, subnet: int, index: int) -> Netns:
    n = Netns(f"shoalb-{tag}-{index}", f"vb{tag}{index}", f"10.{subnet}.{index}.1", f"10.{subnet}.{index}.2")
    sh("ip", "netns", "add", n.name)
    sh("ip", "link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.name)
    sh("ip", "addr", "add", f"{n.host_ip}/30", "dev", n.veth)
    sh("ip", "link", "set", n.veth, "up")
    for cmd in (["ip", "addr", "add", f"{n.ip}/30", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", n.host_ip]):
        sh("ip", "netns", "exec", n.name, *cmd)
    # the client makes tens of thousands of short connections: let it reuse its TIME_WAIT ports
    sh("ip", "netns", "exec", n.name, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
    return n


def remove_netns(n: Netns) -> None:
    if n.proc is not None and n.proc.poll() is None:
        n.proc.terminate()
        try:
            n.proc.wait(5)
        except subprocess.TimeoutExpired:
            n.proc.kill()
    sh("ip", "netns", "del", n.name, check=False)
    sh("ip", "link", "del", n.veth, check=False)


def wait_port(ip: str, port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((ip, port), 1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ip}:{port} did not open") from None
            time.sleep(0.05)


def assert_local(ip: str) -> None:
    out = sh("ip", "route", "get", ip).stdout
    if not out.startswith("local "):
        raise RuntimeError(f"{ip} is not routed locally, refusing to send to it: {out.strip()}")


# ---- wrk ----------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict[str, float]:
    res: dict[str, float] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError(f"wrk gave no figures:\n{out}")
    res["rps"] = float(m.group(1))
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        if m:
            res[f"p{p}_ms"] = _ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["errors"] = float(sum(int(g) for g in m.groups())) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["errors"] += float(m.group(1)) if m else 0.0
    return res


def wrk(client: Netns, url: str, *, connections: int, seconds: float, close: bool) -> dict[str, float]:
    cmd = ["ip", "netns", "exec", client.name, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--latency", "--timeout", "2s"]
    if close:
        cmd += ["-H", "Connection: close"]
    r = sh(*cmd, url)
    return parse_wrk(r.stdout)


LOADS = {  # name -> (connections, new connection per request)
    "keepalive_c32": (32, False),
    "close_c32": (32, True),
    "keepalive_c1": (1, False),
    "close_c1": (1, True),
}


def compare(client: Netns, targets: dict[str, str], *, rounds: int, seconds: float, log: Log) -> dict[str, Any]:
    """Each load against each target, ``rounds`` times in alternating order; medians per figure."""
    runs: dict[str, dict[str, list[dict[str, float]]]] = {t: {ld: [] for ld in LOADS} for t in targets}
    for r in range(rounds):
        order = list(targets) if r % 2 == 0 else list(reversed(targets))
        for load, (conns, close) in LOADS.items():
            for t in order:
                res = wrk(client, targets[t], connections=conns, seconds=seconds, close=close)
                runs[t][load].append(res)
                log(f"  round {r + 1} {load:14} {t:9} {res['rps']:>9.0f} req/s  p50 {res.get('p50_ms', 0):.3f} ms"
                    f"  p99 {res.get('p99_ms', 0):.3f} ms  errors {res['errors']:.0f}")
    out: dict[str, Any] = {}
    for t, loads in runs.items():
        for load, results in loads.items():
            for k in ("rps", "p50_ms", "p99_ms", "errors"):
                vals = [x[k] for x in results if k in x]
                if vals:
                    out[f"{t}_{load}_{k}"] = round(statistics.median(vals), 4 if k.endswith("ms") else 1)
            out[f"{t}_{load}_best_rps"] = round(max(x["rps"] for x in results), 1)
    # paired figures: the two targets of one round ran back to back, so other load on the machine
    # (a shared CI box) skews them alike; the median of the per-round ratios is the headline
    if {"direct", "clusterip"} <= set(runs):
        for load in LOADS:
            pairs = list(zip(runs["direct"][load], runs["clusterip"][load], strict=True))
            out[f"ratio_{load}"] = round(statistics.median(c["rps"] / d["rps"] for d, c in pairs), 3)
            out[f"ratios_{load}"] = [round(c["rps"] / d["rps"], 3) for d, c in pairs]
            added = [c["p50_ms"] - d["p50_ms"] for d, c in pairs if "p50_ms" in c and "p50_ms" in d]
            if added:
                out[f"added_p50_ms_{load}"] = round(statistics.median(added), 4)
    return out


# ---- the cluster side -------------------------------------------------------------------------
def proxy_child(url: str, token: str, ca: str, cidr: str, mode: str, table: str) -> None:
    """The service proxy of one node, in its own process (``--proxy-child``)."""
    import asyncio

    from shoal.client import ApiClient, InformerFactory
    from shoal.network.proxy import ServiceProxy

    async def main() -> None:
        client = ApiClient.http(url, token=token, ca_file=ca)
        factory = InformerFactory(client)
        proxy = ServiceProxy(factory, service_cidr=cidr, mode=mode, table=table)
        factory.start()
        await proxy.start()
        await factory.wait_synced(30)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print(f"ready {proxy.mode}", flush=True)
        await stop.wait()
        await proxy.stop()
        await factory.stop()
        await client.close()

    asyncio.run(main())


@contextmanager
def running_proxy(srv: RunningServer, cidr: str, mode: str, table: str, log_dir: Path) -> Iterator[None]:
    logf = open(log_dir / f"proxy-{mode}.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([sys.executable, __file__, "--proxy-child", srv.url, srv.token, srv.ca, cidr, mode, table],
                            stdout=subprocess.PIPE, stderr=logf, cwd=REPO)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("ready"):
            raise RuntimeError(f"the proxy did not start: {line!r}\n{(log_dir / f'proxy-{mode}.log').read_text()}")
        if line.split()[1] != mode:
            raise RuntimeError(f"asked for the {mode} proxy, got {line}")
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        logf.close()
        sh("nft", "delete", "table", "ip", table, check=False)


class Api:
    """The few API calls the bench makes, over plain HTTPS."""

    def __init__(self, srv: RunningServer, ns: str) -> None:
        self.s = srv.session()
        self.base = f"{srv.url}/api/v1/namespaces/{ns}"
        self.ns = ns
        r = self.s.post(f"{srv.url}/api/v1/namespaces", json={"metadata": {"name": ns}})
        r.raise_for_status()

    def create(self, res: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.s.post(f"{self.base}/{res}", json=body)
        r.raise_for_status()
        return dict(r.json())

    def pod_status(self, name: str, ip: str, ready: bool) -> None:
        r = self.s.patch(f"{self.base}/pods/{name}/status", data=json.dumps({"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}),
            headers={"Content-Type": "application/merge-patch+json"})
        r.raise_for_status()


def make_service(api: Api, name: str, backend_ip: str, *, ready: bool = True) -> str:
    svc = api.create("services", {"metadata": {"name": name}, "spec": {
        "selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8000}]}})
    api.create("pods", {"metadata": {"name": f"{name}-0", "labels": {"app": name}},
                        "spec": {"schedulerName": "none", "containers": [{"name": "c", "image": "none"}]}})
    api.pod_status(f"{name}-0", backend_ip, ready)
    return str(svc["spec"]["clusterIP"])


def http_get(ip: str, port: int, timeout: float = 1.0) -> str | None:
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
                head, sep, body = data.partition(b"\r\n\r\n")
                m = re.search(rb"content-length: *(\d+)", head.lower())
                if sep and m and len(body) >= int(m.group(1)):
                    break  # the backend leaves closing to the client
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode().strip() if head.startswith(b"HTTP/1.1 200") else None


def wait_until(fn: Callable[[], bool], timeout: float, poll: float = 0.001) -> float | None:
    """Seconds until ``fn()`` holds, or None after ``timeout``."""
    t0 = time.perf_counter()
    while True:
        if fn():
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            return None
        time.sleep(poll)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def propagation(api: Api, vip: str, backend: Netns, *, trials: int, log: Log) -> dict[str, Any]:
    """Ready flip -> served through the VIP, ``trials`` times; also unready -> refused again."""
    up: list[float] = []
    down: list[float] = []
    missed = 0
    name = backend.name.rsplit("-", 1)[0]
    for i in range(trials):
        api.pod_status("prop-0", backend.ip, False)
        gone = wait_until(lambda: http_get(vip, 80, 0.5) is None, 5)
        if gone is not None:
            down.append(gone)
        time.sleep(random.uniform(0.02, 0.1))
        t0 = time.perf_counter()
        api.pod_status("prop-0", backend.ip, True)
        dt = wait_until(lambda: http_get(vip, 80, 0.5) is not None, 5)
        if dt is None:
            missed += 1
            continue
        up.append(time.perf_counter() - t0)
        if (i + 1) % 10 == 0:
            log(f"  propagation {i + 1}/{trials}: last {up[-1] * 1000:.0f} ms")
    del name
    res: dict[str, Any] = {"propagation_trials": trials, "propagation_missed": missed}
    if up:
        res.update({"propagation_p50_ms": round(pct(up, 50) * 1000, 1), "propagation_p99_ms": round(pct(up, 99) * 1000, 1),
                    "propagation_max_ms": round(max(up) * 1000, 1)})
    if down:
        res.update({"removal_p50_ms": round(pct(down, 50) * 1000, 1), "removal_p99_ms": round(pct(down, 99) * 1000, 1)})
    return res


# ---- the run ---------------------------------------------------------------------------------
def check_requirements() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, nft)"
    for tool in ("nft", "ip", "wrk"):
        if shutil.which(tool) is None:
            return f"needs {tool} (make setup installs it)"
    return None


def run(*, rounds: int = 3, seconds: float = 3.0, trials: int = 50, userspace: bool = True,
        log: Log = print) -> dict[str, Any]:
    why = check_requirements()
    if why:
        raise SystemExit(f"network bench: {why}")
    tag = uuid.uuid4().hex[:5]
    subnet = random.randint(251, 254)
    cidr = f"10.{subnet - 100}.0.0/16"
    table = f"shoal_bench_{tag}"
    work = Path(tempfile.mkdtemp(prefix="shoal-netbench-"))
    hosts: list[Netns] = []
    srv: RunningServer | None = None
    old_ctl = os.environ.get("SHOAL_CONTROLLERS")
    os.environ["SHOAL_CONTROLLERS"] = "endpoints"
    results: dict[str, Any] = {"service_cidr": cidr, "rounds": rounds, "seconds_per_run": seconds,
                               "loadavg_before": round(os.getloadavg()[0], 2)}
    try:
        srv = start_server(work / "server", args=["--service-cidr", cidr, "--disable-scheduler"])
        backend, client = make_netns(tag, subnet, 0), make_netns(tag, subnet, 1)
        hosts += [backend, client]
        backend.proc = subprocess.Popen(["ip", "netns", "exec", backend.name, sys.executable, "-c", _BACKEND,
                                         backend.ip, "8000", backend.name], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_port(backend.ip, 8000)
        api = Api(srv, f"netbench-{tag}")
        vip = make_service(api, "bench", backend.ip)
        prop_vip = make_service(api, "prop", backend.ip, ready=False)
        targets = {"direct": f"http://{backend.ip}:8000/", "clusterip": f"http://{vip}/"}
        with running_proxy(srv, cidr, "nftables", table, work):
            assert_local(vip)
            if wait_until(lambda: http_get(vip, 80) is not None, 10, 0.02) is None:
                raise RuntimeError("the ClusterIP never answered")
            log(f"nftables proxy: {vip}:80 -> {backend.ip}:8000; wrk in {client.name}")
            results.update(compare(client, targets, rounds=rounds, seconds=seconds, log=log))
            assert_local(prop_vip)
            log(f"endpoint propagation, {trials} trials")
            results.update(propagation(api, prop_vip, backend, trials=trials, log=log))
        if userspace:
            with running_proxy(srv, cidr, "userspace", table, work):
                assert_local(vip)
                if wait_until(lambda: http_get(vip, 80) is not None, 10, 0.02) is None:
                    raise RuntimeError("the userspace proxy never answered")
                log("userspace proxy")
                us = compare(client, {"userspace": targets["clusterip"]}, rounds=1, seconds=seconds, log=log)
                results.update(us)
        for load in LOADS:
            d = results.get(f"direct_{load}_rps")
            u = results.get(f"userspace_{load}_rps")
            if d and u:
                results[f"userspace_ratio_{load}"] = round(u / d, 3)
    finally:
        if old_ctl is None:
            os.environ.pop("SHOAL_CONTROLLERS", None)
        else:
            os.environ["SHOAL_CONTROLLERS"] = old_ctl
        for h in hosts:
            remove_netns(h)
        if srv is not None:
            srv.stop()
        sh("nft", "delete", "table", "ip", table, check=False)
        if "local" in sh("ip", "route", "show", "table", "local", cidr).stdout:
            sh("ip", "route", "del", "local", cidr, "dev", "lo", check=False)
        shutil.rmtree(work, ignore_errors=True)
    results["loadavg_after"] = round(os.getloadavg()[0], 2)
    return results


def summary(r: dict[str, Any]) -> str:
    rows = [("figure (medians)", "direct", "clusterIP", "paired ratio / added", "userspace")]
    for load, what in (("keepalive_c32", "req/s, keep-alive, 32 conns"), ("close_c32", "req/s, new conn each, 32 conns")):
        rows.append((what, f"{r.get(f'direct_{load}_rps', '-')}", f"{r.get(f'clusterip_{load}_rps', '-')}",
                     f"{r.get(f'ratio_{load}', '-')}x (rounds {r.get(f'ratios_{load}')})",
                     f"{r.get(f'userspace_{load}_rps', '-')}"))
    for load, what in (("keepalive_c1", "p50 ms, keep-alive, 1 conn"), ("close_c1", "p50 ms, new conn each, 1 conn")):
        rows.append((what, f"{r.get(f'direct_{load}_p50_ms', '-')}", f"{r.get(f'clusterip_{load}_p50_ms', '-')}",
                     f"+{r.get(f'added_p50_ms_{load}', '-')}", f"{r.get(f'userspace_{load}_p50_ms', '-')}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(f"endpoint propagation (Ready -> served via VIP): p50 {r.get('propagation_p50_ms')} ms, "
                 f"p99 {r.get('propagation_p99_ms')} ms, max {r.get('propagation_max_ms')} ms "
                 f"over {r.get('propagation_trials')} trials ({r.get('propagation_missed')} missed); "
                 f"unready -> refused p50 {r.get('removal_p50_ms')} ms, p99 {r.get('removal_p99_ms')} ms")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--proxy-child":
        proxy_child(*sys.argv[2:8])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one round of 1 s runs, 10 propagation trials")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--no-userspace", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.trials = 1, 1.0, 10
    started = time.monotonic()
    res = run(rounds=args.rounds, seconds=args.seconds, trials=args.trials, userspace=not args.no_userspace,
              log=lambda m: print(m, file=sys.stderr, flush=True))
    res["seconds"] = round(time.monotonic() - started, 1)
    res["quick"] = args.quick
    res["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    res["nproc"] = os.cpu_count()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(summary(res))
    print(f"{res['seconds']} s; load average before {res['loadavg_before']}, after {res['loadavg_after']}; "
          f"figures in {args.out}")


if __name__ == "__main__":
    main()
