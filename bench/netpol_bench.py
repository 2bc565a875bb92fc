"""NetworkPolicy benchmarks: one node's full rule sync at scale, and policy change -> enforced.

    .venv/bin/python bench/netpol_bench.py [--quick] [--pods N] [--policies N] [--runs N]
                                           [--trials N] [--out FILE]

Needs root, nft and busybox (``make setup`` installs them). Everything happens on
addresses the benchmark makes, inside network namespaces it makes: the host's own
rules are never touched.

sync: ``--policies`` policies (default 500) over ``--pods`` pods (default 1,000) in 20
namespaces, all on one node, of seven shapes (default deny, allow by pod label on a
port, namespace AND pod selector, ipBlock with except and a port range, egress to a
named port plus DNS, egress deny, namespace OR pod peers). Synthetic pods: objects
with addresses, no containers. One sync is what the enforcer does on every change:
compile (``compile_node``), render the nft script, and apply it with ``nft -f`` into
the table ``inet shoal-policy_<node>`` inside a network namespace made for it. Timed
``--runs`` times; the rule set's size is reported (isolated pods, chains, rules, set
elements, script bytes, lines of ``nft list table``).

propagation: ``shoal server`` (no agent) holds the same objects, created through the
API, plus two pods whose addresses are real: a web server and a client, each in a
namespace on a bridge in the node's namespace (as pods on ``shoal0``). The enforcer
runs in a process of its own, as on a node, applying into the node's namespace. A
prober in the client's namespace opens a new TCP connection to the web pod every few
milliseconds and stamps each attempt. A trial creates a deny policy for the web pod
(the time from the API write to the first attempt that fails) and deletes it (to the
first attempt that succeeds again): API write, watch, debounce, a full compile of
every policy and one nft transaction.

Prints the figures and writes them to bench/results/netpol.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "netpol.json"
NODE = "bench-node"
Log = Callable[[str], None]
Obj = dict[str, Any]


def sh(*cmd: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), input=stdin, capture_output=True, text=True, check=check)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


# ---- the synthetic cluster -------------------------------------------------------------------
def synthetic(pods: int, policies: int, *, namespaces: int = 20, seed: int = 7) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Namespaces, pods (addresses in 10.250.0.0/16, all on NODE) and policies, as API objects."""
    rnd = random.Random(seed)
    spaces = [{"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": f"npb-{i}", "labels": {"team": f"t{i % 4}", "env": "prod" if i % 2 else "dev"}}}
              for i in range(namespaces)]
    tiers = ("web", "api", "db")
    pod_objs = []
    for k in range(pods):
        ns, m = f"npb-{k % namespaces}", k // namespaces  # m: the pod's index within its namespace
        pod_objs.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p{k}", "namespace": ns, "labels": {"app": f"a{m % 10}", "tier": tiers[m % 3]}},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "x", "ports": [
                {"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "name": "metrics"}]}]},
            "status": {"phase": "Running", "podIP": f"10.250.{k // 250}.{k % 250 + 1}"},
        })

    def shape(i: int) -> Obj:
        app, other = f"a{rnd.randrange(10)}", f"a{rnd.randrange(10)}"
        kind = i % 7
        if kind == 0:
            return {"podSelector": {}, "policyTypes": ["Ingress"]}
        if kind == 1:
            return {"podSelector": {"matchLabels": {"app": app}}, "ingress": [
                {"from": [{"podSelector": {"matchLabels": {"tier": "web"}}}], "ports": [{"port": 8080 + i % 5}]}]}
        if kind == 2:
            return {"podSelector": {"matchLabels": {"tier": "db"}}, "ingress": [{"from": [
                {"namespaceSelector": {"matchLabels": {"team": f"t{i % 4}"}},
                 "podSelector": {"matchLabels": {"tier": "api"}}}], "ports": [{"port": 80}, {"port": 443}]}]}
        if kind == 3:
            return {"podSelector": {"matchLabels": {"app": app}}, "ingress": [{"from": [
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.250.0.0/16", f"10.{i % 200}.0.0/16"]}}],
                "ports": [{"port": 30000, "endPort": 32767}]}]}
        if kind == 4:
            return {"podSelector": {"matchLabels": {"tier": "api"}}, "policyTypes": ["Egress"], "egress": [
                {"to": [{"podSelector": {"matchLabels": {"tier": "db"}}}], "ports": [{"port": "http"}]},
                {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}
        if kind == 5:
            return {"podSelector": {"matchLabels": {"app": app}}, "policyTypes": ["Egress"]}
        return {"podSelector": {"matchLabels": {"app": other}}, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"env": "prod"}}}, {"podSelector": {"matchLabels": {"app": app}}}]}]}

    pol_objs = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": f"np{i}", "namespace": f"npb-{i % namespaces}"}, "spec": shape(i)}
                for i in range(policies)]
    return spaces, pod_objs, pol_objs


# ---- network namespaces --------------------------------------------------------------------------
@dataclass
class Bed:
    node: str
    web: str
    client: str
    web_ip: str
    client_ip: str
    server: subprocess.Popen[bytes] | None = None

    def nft(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.node, "nft")


def make_bed(tag: str, work: Path) -> Bed:
    net = f"10.{random.randint(150, 199)}.{random.randint(0, 255)}"
    node, web, client = f"npb-{tag}", f"npb-{tag}-web", f"npb-{tag}-cli"
    sh("ip", "netns", "add", node)
    for key in ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"):
        sh("ip", "netns", "exec", node, "sh", "-c", f"echo 1 > /proc/sys/{key}")
    sh("ip", "-n", node, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", node, "addr", "add", f"{net}.1/24", "dev", "br0")
    sh("ip", "-n", node, "link", "set", "br0", "up")
    bed = Bed(node, web, client, f"{net}.10", f"{net}.20")
    for ns, ip in ((web, bed.web_ip), (client, bed.client_ip)):
        veth = f"vb{uuid.uuid4().hex[:8]}"
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", node, "link", "set", veth, "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    www = work / "www"
    www.mkdir()
    (www / "index.html").write_text("web\n")
    bed.server = subprocess.Popen(["ip", "netns", "exec", web, "busybox", "httpd", "-f", "-p", f"{bed.web_ip}:80",
                                   "-h", str(www)])
    return bed


def remove_bed(bed: Bed) -> None:
    if bed.server is not None:
        bed.server.terminate()
        bed.server.wait(5)
    for ns in (bed.client, bed.web, bed.node):
        sh("ip", "netns", "del", ns, check=False)


# ---- sync at scale -------------------------------------------------------------------------------
def sync_at_scale(bed: Bed, pods: int, policies: int, runs: int, log: Log) -> dict[str, Any]:
    from shoal.network import policynft
    from shoal.network.policy import compile_node, namespace_view, pod_view, policy_of

    spaces, pod_objs, pol_objs = synthetic(pods, policies)
    ns_views = [namespace_view(n) for n in spaces]
    views = [pv for p in pod_objs if (pv := pod_view(p)) is not None]
    nps = [policy_of(p) for p in pol_objs]
    table = policynft.table_name(NODE)
    compile_s, render_s, apply_s, total_s = [], [], [], []
    script, rules = "", None
    for _ in range(runs):
        t0 = time.perf_counter()
        rules = compile_node(nps, views, ns_views, node=NODE)
        t1 = time.perf_counter()
        script = policynft.render(rules, table)
        t2 = time.perf_counter()
        r = sh(*bed.nft(), "-f", "-", stdin=script, check=False)
        t3 = time.perf_counter()
        if r.returncode != 0:
            raise RuntimeError(f"nft refused the rules: {r.stdout[-500:]}")
        compile_s.append(t1 - t0)
        render_s.append(t2 - t1)
        apply_s.append(t3 - t2)
        total_s.append(t3 - t0)
    assert rules is not None
    listed = sh(*bed.nft(), "list", "table", "inet", table).stdout
    sh(*bed.nft(), "-f", "-", stdin=policynft.render_delete(table))
    out: dict[str, Any] = {"sync_pods": pods, "sync_policies": policies, "sync_runs": runs}
    for name, vals in (("compile", compile_s), ("render", render_s), ("apply", apply_s), ("total", total_s)):
        out[f"sync_{name}_p50_s"] = round(statistics.median(vals), 4)
        out[f"sync_{name}_max_s"] = round(max(vals), 4)
    out.update({f"ruleset_{k}": v for k, v in rules.size().items()})
    out["ruleset_script_bytes"] = len(script)
    out["ruleset_listed_lines"] = len(listed.splitlines())
    log(f"sync of {policies} policies over {pods} pods: p50 {out['sync_total_p50_s']} s "
        f"(compile {out['sync_compile_p50_s']}, render {out['sync_render_p50_s']}, nft {out['sync_apply_p50_s']})")
    return out


# ---- propagation ---------------------------------------------------------------------------------
_PROBER = r'''
import socket, sys, time
ip = sys.argv[1]
while True:
    t = time.monotonic()
    try:
        socket.create_connection((ip, 80), 0.05).close()
        ok = 1
    except OSError:
        ok = 0
    print(f"{t:.6f} {ok}", flush=True)
    time.sleep(0.002)
'''


def enforcer_child(url: str, token: str, ca: str, netns: str) -> None:
    """Run one node's enforcer (as ``shoal agent`` does), applying into ``netns``, until SIGTERM."""
    from shoal.client import ApiClient, InformerFactory
    from shoal.network.policysync import PolicyEnforcer

    async def main() -> None:
        client = ApiClient.http(url, token=token, ca_file=ca)
        factory = InformerFactory(client)
        enforcer = PolicyEnforcer(factory, node_name=NODE, nft=("ip", "netns", "exec", netns, "nft"))
        factory.start()
        await enforcer.start()
        while not enforcer.applied_count:  # the first full sync: every background policy is in the kernel
            await asyncio.sleep(0.01)
        print("synced", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await enforcer.stop()
        await factory.stop()
        await client.close()

    asyncio.run(main())


class Api:
    def __init__(self, srv: RunningServer) -> None:
        self.srv, self.s = srv, srv.session()

    def url(self, obj: Obj) -> str:
        group = "api/v1" if obj["apiVersion"] == "v1" else f"apis/{obj['apiVersion']}"
        plural = {"Namespace": "namespaces", "Pod": "pods", "NetworkPolicy": "networkpolicies"}[obj["kind"]]
        ns = obj["metadata"].get("namespace")
        return f"{self.srv.url}/{group}/" + (f"namespaces/{ns}/" if ns and obj["kind"] != "Namespace" else "") + plural

    def create(self, obj: Obj) -> None:
        body = {k: v for k, v in obj.items() if k != "status"}
        r = self.s.post(self.url(obj), data=json.dumps(body))
        if r.status_code >= 300:
            raise RuntimeError(f"create {obj['kind']} {obj['metadata']['name']}: {r.status_code} {r.text[:300]}")
        if "status" in obj:
            name = obj["metadata"]["name"]
            r = self.s.patch(f"{self.url(obj)}/{name}/status", data=json.dumps({"status": obj["status"]}),
                             headers={"Content-Type": "application/merge-patch+json"})
            if r.status_code >= 300:
                raise RuntimeError(f"status of {name}: {r.status_code} {r.text[:300]}")

    def delete(self, obj: Obj) -> None:
        self.s.delete(f"{self.url(obj)}/{obj['metadata']['name']}")


def propagation(srv: RunningServer, bed: Bed, work: Path, *, pods: int, policies: int, trials: int,
                log: Log) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    api = Api(srv)
    spaces, pod_objs, pol_objs = synthetic(pods, policies)
    app_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "npb-app"}}
    real = [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": name, "namespace": "npb-app", "labels": {"app": name}},
             "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "x"}]},
             "status": {"phase": "Running", "podIP": ip}}
            for name, ip in (("web", bed.web_ip), ("client", bed.client_ip))]
    t0 = time.monotonic()
    for ns in [*spaces, app_ns]:
        api.create(ns)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(api.create, [*pod_objs, *pol_objs, *real]))
    log(f"created {len(pod_objs)} pods and {len(pol_objs)} policies through the API in "
        f"{time.monotonic() - t0:.1f} s")
    child = subprocess.Popen([sys.executable, __file__, "--enforcer-child", srv.url, srv.token, srv.ca, bed.node],
                             stdout=subprocess.PIPE, stderr=open(work / "enforcer.log", "wb"), text=True)  # noqa: SIM115
    prober = subprocess.Popen(["ip", "netns", "exec", bed.client, sys.executable, "-c", _PROBER, bed.web_ip],
                              stdout=subprocess.PIPE, text=True, bufsize=1)
    assert prober.stdout is not None
    lines = prober.stdout

    def first(want: int, after: float, timeout: float = 10.0) -> float | None:
        """Seconds from ``after`` to the first attempt started since then that got ``want`` (1 answered)."""
        while True:
            line = lines.readline()
            if not line:
                raise RuntimeError("the prober stopped")
            t, ok = line.split()
            if float(t) >= after and int(ok) == want:
                return float(t) - after
            if float(t) > after + timeout:
                return None

    deny = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny-web", "namespace": "npb-app"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"]}}
    enforce, lift, missed = [], [], 0
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "synced":  # its first full sync is done
            raise RuntimeError(f"the enforcer never applied its rules:\n{(work / 'enforcer.log').read_text()}")
        if first(1, time.monotonic(), 30) is None:
            raise RuntimeError("the web pod never answered the prober")
        time.sleep(1.0)
        for _ in range(trials):
            t = time.monotonic()
            api.create(deny)
            got = first(0, t)
            t = time.monotonic()
            api.delete(deny)
            back = first(1, t)
            if got is None or back is None:
                missed += 1
                continue
            enforce.append(got)
            lift.append(back)
            time.sleep(0.05)
    finally:
        prober.terminate()
        child.send_signal(signal.SIGTERM)
        child.wait(15)
        prober.wait(5)
    out: dict[str, Any] = {"propagation_trials": trials, "propagation_missed": missed,
                           "propagation_background_pods": pods, "propagation_background_policies": policies}
    for name, vals in (("enforce", enforce), ("lift", lift), ("both", enforce + lift)):
        if vals:
            out[f"{name}_p50_ms"] = round(statistics.median(vals) * 1000, 1)
            out[f"{name}_p99_ms"] = round(pct(vals, 0.99) * 1000, 1)
            out[f"{name}_max_ms"] = round(max(vals) * 1000, 1)
    log(f"policy change -> enforced: p50 {out.get('both_p50_ms')} ms, p99 {out.get('both_p99_ms')} ms "
        f"({missed} missed)")
    return out


def run(*, pods: int, policies: int, runs: int, trials: int, log: Log) -> dict[str, Any]:
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("busybox"):
        raise SystemExit("netpol bench: needs root, nft and busybox (make setup)")
    tag = uuid.uuid4().hex[:5]
    work = Path(tempfile.mkdtemp(prefix="shoal-npbench-"))
    bed = make_bed(tag, work)
    srv: RunningServer | None = None
    results: dict[str, Any] = {"loadavg_before": round(os.getloadavg()[0], 2)}
    try:
        results.update(sync_at_scale(bed, pods, policies, runs, log))
        srv = start_server(work / "server", args=["--disable-scheduler", "--disable-controller-manager"])
        results.update(propagation(srv, bed, work, pods=pods, policies=policies, trials=trials, log=log))
    finally:
        if srv is not None:
            srv.stop()
        remove_bed(bed)
        shutil.rmtree(work, ignore_errors=True)
    results["loadavg_after"] = round(os.getloadavg()[0], 2)
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--enforcer-child":
        enforcer_child(*sys.argv[2:6])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 sync runs, 10 propagation trials")
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--policies", type=int, default=500)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        args.runs, args.trials = 3, 10
    started = time.monotonic()
    res = run(pods=args.pods, policies=args.policies, runs=args.runs, trials=args.trials,
              log=lambda m: print(m, file=sys.stderr, flush=True))
    res.update({"seconds": round(time.monotonic() - started, 1), "quick": args.quick,
                "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "nproc": os.cpu_count()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
