"""Cluster network benchmark: pod to pod across two "machines" through the overlay, against the underlay.

    .venv/bin/python bench/overlay_bench.py [--quick] [--rounds N] [--seconds S] [--backend vxlan|host-gw]
                                            [--out FILE]

Needs root, Podman and nsenter (``make setup``). Everything runs on this host,
on addresses the benchmark makes: two "machines" (network namespaces on a
bridge of its own, 192.168.n.0/24), each running a real ``shoal agent``
(``nsenter --net``), ``shoal server`` on the host's end of the bridge, and one
pod on each machine (a real container; the measuring program runs in the pod's
network namespace, reached by its path under /run/netns).

Three paths, same run, same sender and receiver programs (Python sockets; the
sender uses ``sendfile`` from a file in memory, so the kernel does the work):

* underlay: machine A's namespace to machine B's underlay address, directly;
* overlay: pod on A to pod on B by pod IP (veth, bridge, VXLAN, underlay, and
  back up on B);
* service: pod on A to a ClusterIP whose only endpoint is the pod on B (the
  same path plus the DNAT on A).

Per round (the order rotates between rounds): TCP throughput for ``--seconds``
and TCP request/response round trips (1 byte each way, one connection) for
latency percentiles. Ratios are per round, then the median is taken, so a
slower moment of the shared machine hits both sides of a ratio alike. Targets:
overlay >= 0.8x underlay throughput, added p50 latency <= 0.1 ms, service
>= 0.75x direct (pod IP).

Prints the figures and writes them to bench/results/overlay.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.network.netns import (  # noqa: E402
    MachineAgent,
    Underlay,
    make_underlay,
    nsenter,
    remove_underlay,
    sh,
)
from tests.podman_fixture import own_sandboxes, podman_socket, remove_own_sandboxes  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "overlay.json"
IMAGE = "localhost/busybox:test"

# one program, three roles: a receiver (reads until EOF, prints the bytes and seconds from first byte to EOF),
# a sender (sendfile for S seconds), and a round-trip pair (echo server / client printing percentiles)
_PROG = r'''
import os, socket, sys, tempfile, time
role = sys.argv[1]
if role == "recv":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(sys.argv[3]))); s.listen(1); print("ready", flush=True)
    c, _ = s.accept(); buf = bytearray(1 << 20); n = 0; first = None
    while True:
        k = c.recv_into(buf)
        if not k: break
        if first is None: first = time.perf_counter()
        n += k
    print(n, time.perf_counter() - (first or time.perf_counter()), flush=True)
elif role == "send":
    ip, port, secs = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    f = tempfile.TemporaryFile(dir="/dev/shm"); f.write(b"\0" * (64 << 20)); f.flush()
    c = socket.create_connection((ip, port)); end = time.perf_counter() + secs
    while time.perf_counter() < end:
        c.sendfile(f, 0)
    c.shutdown(socket.SHUT_WR); c.recv(1); c.close()
elif role == "echo":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(sys.argv[3]))); s.listen(1); print("ready", flush=True)
    c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while (d := c.recv(1)):
        c.sendall(d)
elif role == "ping":
    ip, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    c = socket.create_connection((ip, port)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(200):
        c.sendall(b"x"); c.recv(1)
    rtts = []
    for _ in range(n):
        t = time.perf_counter_ns(); c.sendall(b"x"); c.recv(1); rtts.append(time.perf_counter_ns() - t)
    c.close(); rtts.sort()
    print(*(rtts[int(len(rtts) * p)] / 1e6 for p in (0.5, 0.9, 0.99)), flush=True)
'''


def in_ns(netns: str, *args: str, cpu: int | None = None) -> list[str]:
    pin = ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []
    return nsenter(netns, *pin, sys.executable, "-c", _PROG, *args)


def _serve(netns: str, role: str, ip: str, port: int, cpu: int | None = None) -> subprocess.Popen[str]:
    p = subprocess.Popen(in_ns(netns, role, ip, str(port), cpu=cpu), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    if line.strip() != "ready":
        p.kill()
        raise RuntimeError(f"{role} in {netns} did not start: {line} {p.stderr.read() if p.stderr else ''}")
    return p


def throughput(src: str, dst: str, listen: str, target: str, port: int, seconds: float) -> float:
    """Gbit/s from ``src`` (a netns) to ``target:port``, received in ``dst`` on ``listen``."""
    rx = _serve(dst, "recv", listen, port)
    subprocess.run(in_ns(src, "send", target, str(port), str(seconds)), check=True, timeout=seconds + 30)
    out, err = rx.communicate(timeout=30)
    n, secs = out.split()
    return round(int(n) * 8 / float(secs) / 1e9, 3)


def round_trips(src: str, dst: str, listen: str, target: str, port: int, n: int) -> tuple[float, float, float]:
    """Round-trip percentiles (ms). Both ends run on one CPU: a wake-up across CPUs (and how deep the other
    CPU sleeps) would otherwise decide the figure (p50s of 15 or 75 µs on one path from run to run)."""
    cpu = (os.cpu_count() or 1) - 1
    srv = _serve(dst, "echo", listen, port, cpu=cpu)
    try:
        out = subprocess.run(in_ns(src, "ping", target, str(port), str(n), cpu=cpu), check=True,
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        srv.kill()
        srv.wait()
    p50, p90, p99 = (round(float(x), 4) for x in out.split())
    return p50, p90, p99


def kubectl(srv: RunningServer, *args: str, input: str | None = None) -> str:
    return srv.kubectl(*args, input=input).stdout


def wait_until(fn: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def pod_netns(srv: RunningServer, ns: str, name: str) -> tuple[str, str]:
    """(pod IP, the path name of its network namespace under /run/netns) once the pod runs."""
    def running() -> dict[str, Any] | None:
        p = json.loads(kubectl(srv, "get", "pod", name, "-n", ns, "-o", "json"))
        return p if p["status"].get("phase") == "Running" and p["status"].get("podIP") else None

    pod = wait_until(running, 90, f"pod {name}")
    [sb] = own_sandboxes({"io.shoal.pod.uid": pod["metadata"]["uid"]})
    return pod["status"]["podIP"], sb.id


def run(*, rounds: int, seconds: float, pings: int, backend: str, log: Any) -> dict[str, Any]:
    if os.geteuid() != 0 or shutil.which("podman") is None or shutil.which("nsenter") is None:
        raise SystemExit("overlay bench: needs root, podman and nsenter (make setup)")
    podman_gen = podman_socket()
    docker_host = next(podman_gen)
    work = Path(tempfile.mkdtemp(prefix="shoal-overlaybench-"))
    u: Underlay = make_underlay(2)
    srv: RunningServer | None = None
    agents: list[MachineAgent] = []
    ns = f"bench-{uuid.uuid4().hex[:5]}"
    res: dict[str, Any] = {"backend": backend, "rounds": rounds, "seconds_per_run": seconds, "round_trips": pings,
                           "loadavg_before": round(os.getloadavg()[0], 2)}
    try:
        srv = start_server(work / "server", host=u.host_ip, args=["--network-backend", backend])
        tag = uuid.uuid4().hex[:4]
        for i, m in enumerate(u.machines):
            a = MachineAgent(m, f"b{i}-{tag}", srv.url, srv.data_dir, work / f"agent{i}", docker_host, [])
            a.start()
            agents.append(a)
        kubectl(srv, "create", "namespace", ns)
        for i, a in enumerate(agents):
            kubectl(srv, "run", f"p{i}", "-n", ns, f"--image={IMAGE}", "--restart=Never", f"--labels=app=p{i}",
                    f"--overrides={json.dumps({'apiVersion': 'v1', 'spec': {'nodeName': a.node}})}",
                    "--", "sleep", "100000")
        (ip_a, ns_a), (ip_b, ns_b) = pod_netns(srv, ns, "p0"), pod_netns(srv, ns, "p1")
        kubectl(srv, "create", "service", "clusterip", "to-b", "-n", ns, "--tcp=5201:5201")
        kubectl(srv, "set", "selector", "service", "to-b", "app=p1", "-n", ns)
        vip = kubectl(srv, "get", "svc", "to-b", "-n", ns, "-o", "jsonpath={.spec.clusterIP}").strip()
        ma, mb = u.machines
        # every address sent to is the test's own: B's underlay address stays on the bridge, the pod and
        # service addresses are routed inside A's namespace (the VIP locally, the pod CIDR by the overlay)
        assert "dev eth0" in ma.run("ip", "route", "get", mb.ip).stdout
        wait_until(lambda: ip_b.rsplit(".", 1)[0] in ma.routes(), 30, "the overlay route to B's pods")
        assert ma.run("ip", "route", "get", vip).stdout.startswith("local ")
        log(f"machines {ma.ip} {mb.ip}; pods {ip_a} -> {ip_b}; service {vip}:5201 -> {ip_b}:5201 ({backend})")
        wait_until(lambda: ip_b in kubectl(srv, "get", "endpoints", "to-b", "-n", ns, "-o", "json"), 30,
                   "the service's endpoint")
        paths = {  # name -> (src netns, dst netns, listen address, target)
            "underlay": (ma.netns, mb.netns, mb.ip, mb.ip),
            "overlay": (ns_a, ns_b, ip_b, ip_b),
            "service": (ns_a, ns_b, ip_b, vip),
        }
        per: dict[str, list[float]] = {k: [] for k in paths}
        lat: dict[str, list[tuple[float, float, float]]] = {k: [] for k in paths}
        names = list(paths)
        for r in range(rounds):
            order = names[r % 3:] + names[:r % 3]
            for name in order:
                src, dst, listen, target = paths[name]
                per[name].append(throughput(src, dst, listen, target, 5201, seconds))
                lat[name].append(round_trips(src, dst, listen, target, 5201, pings))
            log(f"round {r + 1}: " + ", ".join(f"{k} {per[k][-1]} Gbit/s p50 {lat[k][-1][0]} ms" for k in names))
        for k in names:
            res[f"{k}_gbps"] = round(statistics.median(per[k]), 3)
            res[f"{k}_gbps_rounds"] = per[k]
            for i, p in enumerate(("p50", "p90", "p99")):
                res[f"{k}_rtt_{p}_ms"] = round(statistics.median(x[i] for x in lat[k]), 4)
        res["overlay_vs_underlay"] = round(statistics.median(o / d for o, d in zip(per["overlay"], per["underlay"],
                                                                                     strict=True)), 3)
        res["service_vs_direct"] = round(statistics.median(s / o for s, o in zip(per["service"], per["overlay"],
                                                                                   strict=True)), 3)
        res["overlay_added_rtt_p50_ms"] = round(statistics.median(
            o[0] - d[0] for o, d in zip(lat["overlay"], lat["underlay"], strict=True)), 4)
        res["service_added_rtt_p50_ms"] = round(statistics.median(
            s[0] - o[0] for s, o in zip(lat["service"], lat["overlay"], strict=True)), 4)
        res["pod_mtu"] = int(json.loads(sh("nsenter", f"--net=/run/netns/{ns_a}", "ip", "-j", "link", "show",
                                           "eth0").stdout)[0]["mtu"])
    finally:
        if srv is not None:
            srv.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        for a in agents:
            a.stop()
        if srv is not None:
            srv.stop()
        for a in agents:
            ids = sh("podman", "ps", "-aq", "--filter", f"label=io.shoal.node={a.node}", check=False).stdout.split()
            if ids:
                sh("podman", "rm", "-f", "-t", "0", *ids, check=False)
            remove_own_sandboxes({"io.shoal.node": a.node})
            shutil.rmtree(f"/run/shoal/podnet/nodes/{a.node}", ignore_errors=True)
        remove_underlay(u)
        shutil.rmtree(work, ignore_errors=True)
        next(podman_gen, None)  # stops the Podman service if the bench started it
    res["loadavg_after"] = round(os.getloadavg()[0], 2)
    return res


def summary(r: dict[str, Any]) -> str:
    return "\n".join([
        f"backend {r['backend']}, pod MTU {r.get('pod_mtu')}; medians of {r['rounds']} rounds",
        f"TCP throughput: underlay {r['underlay_gbps']} Gbit/s, overlay (pod to pod) {r['overlay_gbps']} Gbit/s "
        f"-> {r['overlay_vs_underlay']}x (target >= 0.8); through a ClusterIP {r['service_gbps']} Gbit/s -> "
        f"{r['service_vs_direct']}x direct (target >= 0.75)",
        f"round trip p50: underlay {r['underlay_rtt_p50_ms']} ms, overlay {r['overlay_rtt_p50_ms']} ms "
        f"(+{r['overlay_added_rtt_p50_ms']} ms; target <= 0.1), service {r['service_rtt_p50_ms']} ms "
        f"(+{r['service_added_rtt_p50_ms']} ms over the pod IP); p99 underlay {r['underlay_rtt_p99_ms']} ms, "
        f"overlay {r['overlay_rtt_p99_ms']} ms",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one round of 1 s, 2000 round trips")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--round-trips", type=int, default=20000)
    ap.add_argument("--backend", choices=["vxlan", "host-gw"], default="vxlan")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.round_trips = 1, 1.0, 2000
    started = time.monotonic()
    res = run(rounds=args.rounds, seconds=args.seconds, pings=args.round_trips, backend=args.backend,
              log=lambda m: print(m, file=sys.stderr, flush=True))
    res["seconds"] = round(time.monotonic() - started, 1)
    res["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    res["nproc"] = os.cpu_count()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(summary(res))
    print(f"{res['seconds']} s; load average before {res['loadavg_before']}, after {res['loadavg_after']}; "
          f"figures in {args.out}")


if __name__ == "__main__":
    main()
