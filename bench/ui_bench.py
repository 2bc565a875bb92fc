"""The web UI in headless chromium: first meaningful paint with 1,000 pods and 100 nodes, and how long a
pod's status change takes to appear on screen.

    .venv/bin/python bench/ui_bench.py [--pods N] [--nodes N] [--rounds R] [--changes C] [--quick]

One ``shoal server`` (the API alone, SQLite) holds ``--nodes`` simulated nodes
(Ready, with capacity) and ``--pods`` pods bound to them with requests and a
Running status, and some Warning events, all created straight through the
API. Debian's chromium (through Playwright, the flags the tests use) opens the
UI with the admin token already in the tab's session (as after signing in); then:

- *first meaningful paint*: the time from navigation start to the moment every
  panel of the page shows its first data (the UI's ``shoal:<page>`` mark: the
  overview's 100 node rows with bars, the pods counted by phase and the recent
  warnings; the pods page's 1,000 rows). ``cold`` is a new browser context
  (empty cache), ``warm`` a reload (the assets cached, as a returning user);
  medians over ``--rounds``. Target <= 1 s.
- *status change*: with the pods page open, a pod's status is written through
  the API (a container's waiting reason, unique per change); the figure is the
  wall-clock time from just before the write to the frame in which the row's
  STATUS cell shows it (read in the page at each animation frame). Median and
  max over ``--changes``. Target <= 1 s.

Prints a JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.api_bench import API_ONLY  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
NOW = "2026-01-01T00:00:00Z"


def _check(r: Any, what: str) -> None:
    if r.status_code >= 300:
        raise RuntimeError(f"{what}: {r.status_code} {r.text[:300]}")


def node_body(i: int) -> dict[str, Any]:
    cap = {"cpu": "8", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"sim-{i:03d}", "labels": {"shoal.io/simulated": "true"}},
            "status": {"capacity": cap, "allocatable": cap, "nodeInfo": {"kubeletVersion": "v1.32.0-shoal"},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "lastHeartbeatTime": NOW, "lastTransitionTime": NOW}]}}


def populate(srv: RunningServer, *, nodes: int, pods: int, namespaces: int = 10) -> None:
    s = srv.session()
    url = srv.url
    for n in range(namespaces):
        _check(s.post(f"{url}/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                        "metadata": {"name": f"app-{n}"}}), "namespace")

    def make_node(i: int) -> None:
        b = node_body(i)
        _check(s.post(f"{url}/api/v1/nodes", json=b), "node")
        cur = s.get(f"{url}/api/v1/nodes/{b['metadata']['name']}").json()
        cur["status"] = b["status"]
        _check(s.put(f"{url}/api/v1/nodes/{b['metadata']['name']}/status", json=cur), "node status")

    def make_pod(i: int) -> None:
        ns, name = f"app-{i % namespaces}", f"pod-{i:05d}"
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": f"a{i % 50}"}},
                "spec": {"nodeName": f"sim-{i % nodes:03d}", "containers": [
                    {"name": "main", "image": "busybox", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}
        r = s.post(f"{url}/api/v1/namespaces/{ns}/pods", json=body)
        _check(r, "pod")
        pod = r.json()
        pod["status"] = running_status(i)
        _check(s.put(f"{url}/api/v1/namespaces/{ns}/pods/{name}/status", json=pod), "pod status")

    with ThreadPoolExecutor(8) as ex:
        list(ex.map(make_node, range(nodes)))
        list(ex.map(make_pod, range(pods)))
    for i in range(30):
        ns = f"app-{i % namespaces}"
        _check(s.post(f"{url}/api/v1/namespaces/{ns}/events", json={
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"warn-{i}"}, "type": "Warning",
            "reason": "BackOff", "message": f"Back-off restarting failed container main in pod pod-{i:05d}",
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": f"pod-{i:05d}"}, "count": 1,
            "firstTimestamp": NOW, "lastTimestamp": NOW, "source": {"component": "bench"}}), "event")


def running_status(i: int, waiting: str | None = None) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": NOW}}
    return {"phase": "Running", "podIP": f"10.42.{i // 250}.{i % 250 + 2}", "startTime": NOW,
            "conditions": [{"type": "Ready", "status": "False" if waiting else "True"}],
            "containerStatuses": [{"name": "main", "ready": not waiting, "restartCount": 0, "image": "busybox",
                                   "imageID": "", "state": state}]}


def paint_ms(page: Any, mark: str) -> float:
    page.wait_for_selector(f"body[data-painted={mark}]", timeout=30000)
    return float(page.evaluate(f"performance.getEntriesByName('shoal:{mark}')[0].startTime"))


def check_overview(page: Any, nodes: int, pods: int) -> None:
    rows = page.eval_on_selector_all("#overview-nodes tbody tr[data-key]", "els => els.length")
    total = page.inner_text("#pod-total")
    if rows != nodes or total != f"{pods} pods":
        raise RuntimeError(f"the overview shows {rows} nodes and {total!r}, not {nodes} and {pods}")


def measure_paint(browser: Any, srv: RunningServer, *, rounds: int, nodes: int, pods: int) -> dict[str, Any]:
    cold_overview, cold_pods, warm_overview, warm_pods = [], [], [], []
    for _ in range(rounds):
        # cold: a fresh context, token in place before any script runs, nothing cached
        ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
        ctx.add_init_script(f"sessionStorage.setItem('shoal.token', {json.dumps(srv.token)})")
        page = ctx.new_page()
        page.goto(srv.url + "/ui/#/overview")
        cold_overview.append(paint_ms(page, "overview"))
        check_overview(page, nodes, pods)
        page.goto(srv.url + "/ui/#/pods")
        page.reload()
        cold_pods.append(paint_ms(page, "pods"))
        # warm: reloads with the assets cached
        page.goto(srv.url + "/ui/#/overview")
        page.reload()
        warm_overview.append(paint_ms(page, "overview"))
        check_overview(page, nodes, pods)
        page.goto(srv.url + "/ui/#/pods")
        page.reload()
        warm_pods.append(paint_ms(page, "pods"))
        n = page.eval_on_selector_all("#pod-list tbody tr[data-key]", "els => els.length")
        if n != pods:
            raise RuntimeError(f"the pods page shows {n} rows, not {pods}")
        ctx.close()
    med = statistics.median
    return {"overview_cold_ms": round(med(cold_overview)), "overview_warm_ms": round(med(warm_overview)),
            "pods_cold_ms": round(med(cold_pods)), "pods_warm_ms": round(med(warm_pods)),
            "overview_all_ms": [round(x) for x in cold_overview + warm_overview]}


WATCH_CELL = """([key, want]) => {
  window.__seen = null;
  const loop = () => {
    const td = document.querySelector(`#pod-list tr[data-key="${key}"] td:nth-child(4)`);
    if (td && td.textContent === want) window.__seen = performance.timeOrigin + performance.now();
    else requestAnimationFrame(loop);
  };
  loop();
}"""


def measure_changes(browser: Any, srv: RunningServer, *, changes: int, pods: int) -> dict[str, Any]:
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    ctx.add_init_script(f"sessionStorage.setItem('shoal.token', {json.dumps(srv.token)})")
    page = ctx.new_page()
    page.goto(srv.url + "/ui/#/pods")
    paint_ms(page, "pods")
    s = srv.session()
    lat: list[float] = []
    for c in range(changes):
        i = (c * 37) % pods
        ns, name = f"app-{i % 10}", f"pod-{i:05d}"
        reason = f"BenchWait{c}"
        page.evaluate(WATCH_CELL, [f"{ns}/{name}", reason])
        pod = s.get(f"{srv.url}/api/v1/namespaces/{ns}/pods/{name}").json()
        pod["status"] = running_status(i, waiting=reason)
        t0 = time.time() * 1000
        _check(s.put(f"{srv.url}/api/v1/namespaces/{ns}/pods/{name}/status", json=pod), "status change")
        deadline = time.monotonic() + 10
        seen = None
        while seen is None and time.monotonic() < deadline:
            seen = page.evaluate("window.__seen")
            if seen is None:
                time.sleep(0.01)
        if seen is None:
            raise RuntimeError(f"the status of {ns}/{name} never showed {reason}")
        lat.append(float(seen) - t0)
        time.sleep(0.2)
    ctx.close()
    return {"status_change_median_ms": round(statistics.median(lat)), "status_change_max_ms": round(max(lat)),
            "status_change_all_ms": [round(x) for x in lat]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5, help="page loads per figure")
    ap.add_argument("--changes", type=int, default=20, help="status changes timed")
    ap.add_argument("--quick", action="store_true", help="2 rounds, 5 changes: a smoke run")
    args = ap.parse_args()
    rounds, changes = (2, 5) if args.quick else (args.rounds, args.changes)
    exe = shutil.which("chromium")
    if exe is None:
        raise SystemExit("ui_bench: Debian's chromium is not installed (make setup installs it)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="shoal-ui-bench-") as tmp:
        srv = start_server(Path(tmp) / "data", args=list(API_ONLY))
        try:
            t0 = time.monotonic()
            populate(srv, nodes=args.nodes, pods=args.pods)
            print(f"{args.nodes} nodes and {args.pods} pods in {time.monotonic() - t0:.1f}s", file=sys.stderr)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=exe, args=FLAGS)
                try:
                    paint = measure_paint(browser, srv, rounds=rounds, nodes=args.nodes, pods=args.pods)
                    change = measure_changes(browser, srv, changes=changes, pods=args.pods)
                finally:
                    browser.close()
        finally:
            srv.stop()
    out = {"nodes": args.nodes, "pods": args.pods, "rounds": rounds, **paint, **change, "target_ms": 1000,
           "met": max(paint["overview_cold_ms"], paint["overview_warm_ms"], change["status_change_max_ms"]) <= 1000}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
