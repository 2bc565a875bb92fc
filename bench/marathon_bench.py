"""The Marathon API's cost: an app POSTed to ``/marathon/v2/apps`` until all its instances are healthy, beside
the same Deployment through ``kubectl apply`` until all its replicas are ready, in the same run.

    .venv/bin/python bench/marathon_bench.py [--rounds 5] [--nodes 3] [--instances 10]

A real ``shoal server`` (no local agent) and a real ``shoal agent --runtime
simulated``. Each round POSTs an app of ``--instances`` instances with a TCP
health check (1 s interval) and polls ``GET /v2/apps/<id>`` until
``tasksHealthy`` is the instance count and no deployment runs; then it reads
back the Deployment that app made (kubectl), renames it into a namespace of
its own (no Marathon label or annotation), ``kubectl apply``s it and polls
``GET .../deployments/<name>`` on the same HTTP session until
``readyReplicas`` is the count and the rollout is observed. Both sides poll
every 20 ms with one HTTP session, so neither is favoured by its client.
Writes ``bench/results/marathon.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.controllers_bench import start_agent  # noqa: E402
from bench.steps import until  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "marathon.json"


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    p = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, input=stdin, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {p.stderr}")
    return p.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--instances", type=int, default=10)
    opts = parser.parse_args()
    n = opts.instances
    with tempfile.TemporaryDirectory(prefix="marathon-bench-") as tmp:
        root = Path(tmp)
        srv: RunningServer = start_server(root / "server")
        agent = start_agent(srv, root, opts.nodes)
        env = {**os.environ, "KUBECONFIG": str(srv.kubeconfig), "HOME": str(root)}
        s = srv.session()
        try:
            until(lambda: len(s.get(srv.url + "/api/v1/nodes").json().get("items") or []) >= opts.nodes, step=0.2)
            marathon_s: list[float] = []
            kubectl_s: list[float] = []
            for i in range(opts.rounds):
                app = {"id": f"/bench/app{i}", "cmd": "sleep 100000", "instances": n, "cpus": 0.01, "mem": 16,
                       "portDefinitions": [{"port": 8000 + i}],
                       "healthChecks": [{"protocol": "TCP", "intervalSeconds": 1, "portIndex": 0}]}
                t0 = time.monotonic()
                r = s.post(srv.url + "/marathon/v2/apps", json=app)
                if r.status_code != 201:
                    raise RuntimeError(r.text)

                def healthy(i: int = i) -> bool:
                    a = s.get(srv.url + f"/marathon/v2/apps/bench/app{i}").json()["app"]
                    return a["tasksHealthy"] == n and not a["deployments"]
                until(healthy, step=0.02)
                marathon_s.append(time.monotonic() - t0)

                d = json.loads(kubectl(env, "get", "deploy", f"app{i}-bench", "-n", "marathon", "-o", "json"))
                d["metadata"] = {"name": f"app{i}", "namespace": f"k{i}"}
                d.pop("status", None)
                kubectl(env, "create", "namespace", f"k{i}")
                t0 = time.monotonic()
                kubectl(env, "apply", "-f", "-", stdin=json.dumps(d))

                def ready(i: int = i) -> bool:
                    o = s.get(srv.url + f"/apis/apps/v1/namespaces/k{i}/deployments/app{i}").json()
                    st = o.get("status") or {}
                    return st.get("readyReplicas") == n and st.get("updatedReplicas") == n and \
                        st.get("observedGeneration", 0) >= o["metadata"].get("generation", 1)
                until(ready, step=0.02)
                kubectl_s.append(time.monotonic() - t0)
            result = {"nodes": opts.nodes, "rounds": opts.rounds, "instances": n,
                      "marathon_post_to_healthy_s": [round(x, 3) for x in marathon_s],
                      "kubectl_apply_to_ready_s": [round(x, 3) for x in kubectl_s],
                      "marathon_median_s": round(statistics.median(marathon_s), 3),
                      "kubectl_median_s": round(statistics.median(kubectl_s), 3),
                      "ratio_median": round(statistics.median(marathon_s) / statistics.median(kubectl_s), 2)}
            print(json.dumps(result, indent=2))
            RESULTS.parent.mkdir(exist_ok=True)
            RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        finally:
            agent.terminate()
            agent.wait(10)
            srv.stop()


if __name__ == "__main__":
    main()
