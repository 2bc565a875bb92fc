"""A real Prometheus (Debian's 2.42) scrapes a running shoal: the API server's /metrics (HTTPS, a token) and
a ``shoal agent``'s (simulated runtime, ``--metrics-listen``), and PromQL finds the containers' CPU.

Everything stays on loopback; Prometheus keeps its data in the test's temp dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer, free_port, start_server

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
pytestmark = pytest.mark.skipif(not os.path.exists(PROMETHEUS), reason="Debian's prometheus is not installed")


def wait_for(what: str, fn: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except requests.RequestException as e:
            last = e
        else:
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    root = Path(tmp_path_factory.mktemp("prom"))
    srv = start_server(root / "server")
    token = (srv.data_dir / "node-token").read_text().strip()
    agent_port, prom_port = free_port(), free_port()
    agent = subprocess.Popen(
        [sys.executable, "-m", "shoal", "agent", "--server", srv.url, "--token", token, "--data-dir",
         str(root / "agent"), "--ca-file", srv.ca, "--runtime", "simulated", "--node-name", "prom-node",
         "--lease-interval", "0.5", "--metrics-interval", "0.5", "--metrics-listen", f"127.0.0.1:{agent_port}"],
        stdout=open(root / "agent.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)  # noqa: SIM115
    config = root / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
- job_name: shoal-apiserver
  scheme: https
  tls_config: {{ca_file: {srv.ca}}}
  authorization: {{credentials: {srv.token}}}
  static_configs: [{{targets: ["127.0.0.1:{srv.port}"]}}]
- job_name: shoal-agent
  static_configs: [{{targets: ["127.0.0.1:{agent_port}"]}}]
""")
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={root / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=open(root / "prometheus.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)  # noqa: SIM115
    url = f"http://127.0.0.1:{prom_port}"
    try:
        wait_for("prometheus ready", lambda: requests.get(f"{url}/-/ready", timeout=2).ok)
        yield srv, url
    finally:
        for p in (prom, agent):
            p.terminate()
            p.wait(15)
        srv.stop()


def query(url: str, promql: str) -> list[dict[str, Any]]:
    r = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5)
    r.raise_for_status()
    return list(r.json()["data"]["result"])


def test_promql_over_a_container_metric_returns_data(scraped: tuple[RunningServer, str]) -> None:
    srv, url = scraped
    srv.kubectl("create", "deployment", "web", "--image=x", "--replicas=2")
    found = wait_for("container_cpu_usage_seconds_total of the pods", lambda: query(
        url, 'rate(container_cpu_usage_seconds_total{namespace="default",pod=~"web-.*"}[5s])'))
    assert len(found) == 2 and {r["metric"]["container"] for r in found} == {"x"}
    assert all(float(r["value"][1]) > 0 for r in found)
    assert wait_for("working set", lambda: query(url, 'container_memory_working_set_bytes{pod=~"web-.*"}'))
    assert query(url, 'kube_pod_container_status_restarts_total{pod=~"web-.*"}')


def test_api_scheduler_and_controller_metrics_are_scraped(scraped: tuple[RunningServer, str]) -> None:
    srv, url = scraped
    srv.kubectl("get", "pods")
    checks = {
        'apiserver_request_total{verb="LIST",resource="pods",code="200"}': None,
        'apiserver_request_duration_seconds_count{verb="POST",resource="deployments"}': None,
        'apiserver_current_inflight_requests{request_kind="readOnly"}': None,
        'apiserver_registered_watchers{kind="Pod"}': None,
        'etcd_request_duration_seconds_count{operation="create",type="pods"}': None,
        'scheduler_schedule_attempts_total{result="scheduled"}': None,
        'scheduler_pending_pods{queue="active"}': None,
        'workqueue_depth{name="deployment"}': None,
        'workqueue_queue_duration_seconds_count{name="replicaset"}': None,
    }
    for promql in checks:
        assert wait_for(promql, lambda q=promql: query(url, q)), promql
    attempts = query(url, 'scheduler_schedule_attempts_total{result="scheduled"}')
    assert float(attempts[0]["value"][1]) >= 2  # the web pods (the scheduler runs as its own process)
    r = requests.get(f"{srv.url}/metrics", verify=srv.ca, timeout=5)
    assert r.status_code == 401  # never to anonymous users
