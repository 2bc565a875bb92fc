"""What the chaos tests run beside the cluster: a writer that records what was acknowledged, an agent."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from tests.ha.cluster import Cluster

CMS = "/api/v1/namespaces/default/configmaps"


class Writer:
    """Creates ConfigMaps at ``rate`` a second in all, from ``workers`` threads (each its own sessions, paced
    on a schedule, starting at its own server and moving to the next on a failure); every create answered 201
    is recorded as acknowledged, with when. One client back to back reaches ~40 writes/s here (a create is
    ~10-25 ms on a loaded machine), so the issue's 100/s needs several in flight."""

    def __init__(self, cluster: Cluster, *, rate: float = 100.0, prefix: str = "w", workers: int = 4) -> None:
        self.members = list(cluster.members)
        self.rate = rate
        self.prefix = prefix
        self.acked: list[tuple[str, float]] = []  # list.append is atomic: the workers share these
        self.failures: list[tuple[float, int, str]] = []  # (when, status (0: no answer), Retry-After)
        self.halt = threading.Event()
        self.threads = [threading.Thread(target=self._work, args=(k, workers), daemon=True, name=f"writer-{k}")
                        for k in range(workers)]
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for t in self.threads:
            t.start()

    def _work(self, k: int, workers: int) -> None:
        urls = [m.server.url for m in self.members]
        sessions = [m.server.session() for m in self.members]
        current = k % len(urls)
        every = workers / self.rate
        due = time.monotonic() + every * k / workers
        i = 0
        while not self.halt.is_set():
            name = f"{self.prefix}-{k}-{i}"
            i += 1
            try:
                r = sessions[current].post(urls[current] + CMS, timeout=5, json={
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"i": str(i)}})
            except requests.RequestException:
                self.failures.append((time.monotonic(), 0, ""))
                current = (current + 1) % len(urls)
                continue
            if r.status_code == 201:
                self.acked.append((name, time.monotonic()))
            else:
                self.failures.append((time.monotonic(), r.status_code, r.headers.get("Retry-After", "")))
                if r.status_code >= 500:
                    current = (current + 1) % len(urls)
            now = time.monotonic()
            due = max(due + every, now - 1.0)  # catch up on a slow write, but never in a burst of over 1 s
            if due > now:
                time.sleep(due - now)

    def acked_since(self, t: float) -> int:
        return sum(1 for _, at in self.acked if at >= t)

    def rate_between(self, t0: float, t1: float) -> float:
        """Acknowledged writes a second between two monotonic times."""
        return sum(1 for _, at in self.acked if t0 <= at < t1) / max(1e-9, t1 - t0)

    def stop(self) -> None:
        self.halt.set()
        for t in self.threads:
            t.join(15)


def start_agent(cluster: Cluster, root: Path, *, nodes: int = 2) -> subprocess.Popen[bytes]:
    first = cluster.members[0].server
    urls = ",".join(m.server.url for m in cluster.members)
    token = (first.data_dir / "node-token").read_text().strip()
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "agent.log", "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [sys.executable, "-m", "shoal", "agent", "--server", urls, "--token", token, "--runtime", "simulated",
         "--simulate-nodes", str(nodes), "--node-name", "sim", "--data-dir", str(root), "--ca-file", first.ca,
         "--lease-interval", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def wait_until(what: str, check: Any, timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except requests.RequestException as e:
            last = e
            last = None
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def bound_node(s: requests.Session, url: str, name: str) -> str | None:
    """The node the pod ``name`` (default namespace) is bound to; None while unbound or unreadable."""
    r = s.get(f"{url}/api/v1/namespaces/default/pods/{name}", timeout=5)
    return (r.json().get("spec") or {}).get("nodeName") if r.status_code == 200 else None
