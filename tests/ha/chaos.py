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


class Writer(threading.Thread):
    """Creates ConfigMaps at up to ``rate`` a second through the servers in turn (the next on a failure);
    every create answered 201 is recorded as acknowledged, with when."""

    def __init__(self, cluster: Cluster, *, rate: float = 100.0, prefix: str = "w") -> None:
        super().__init__(daemon=True)
        self.urls = [m.server.url for m in cluster.members]
        self.sessions = cluster.sessions()
        self.rate = rate
        self.prefix = prefix
        self.acked: list[tuple[str, float]] = []
        self.failures: list[tuple[float, int, str]] = []  # (when, status (0: no answer), Retry-After)
        self.halt = threading.Event()
        self.current = 0

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            t = time.monotonic()
            name = f"{self.prefix}-{i}"
            i += 1
            idx = self.current
            try:
                r = self.sessions[idx].post(self.urls[idx] + CMS, timeout=5, json={
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"i": str(i)}})
            except requests.RequestException:
                self.failures.append((time.monotonic(), 0, ""))
                self.current = (idx + 1) % len(self.urls)
                continue
            if r.status_code == 201:
                self.acked.append((name, time.monotonic()))
            else:
                self.failures.append((time.monotonic(), r.status_code, r.headers.get("Retry-After", "")))
                if r.status_code >= 500:
                    self.current = (idx + 1) % len(self.urls)
            spare = 1 / self.rate - (time.monotonic() - t)
            if spare > 0:
                time.sleep(spare)

    def acked_since(self, t: float) -> int:
        return sum(1 for _, at in self.acked if at >= t)

    def stop(self) -> None:
        self.halt.set()
        self.join(15)


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
