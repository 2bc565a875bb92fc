"""The Swarm API's cost: ``docker stack deploy`` beside ``kubectl apply`` of the same objects, and a scale to 100.

    .venv/bin/python bench/swarm_bench.py [--rounds 3] [--nodes 3] [--scale 100]

A real ``shoal server`` (no local agent) and a real ``shoal agent --runtime
simulated``. Each round deploys a 5-service stack (four replicated services,
one global) with the real ``docker`` CLI and times it until every task runs
(``docker stack services``: each REPLICAS n/n), then ``kubectl apply``s the
very objects that stack made (read back with kubectl, renamed into another
namespace) and times that until every Deployment and DaemonSet is fully
ready (a published port moved, so both can hold theirs). Last, ``docker service scale
web=N`` (the CLI's own convergence wait) is timed to N/N.

Needs the docker CLI (no Docker daemon). Writes ``bench/results/swarm.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.controllers_bench import start_agent  # noqa: E402
from bench.steps import run, until  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "swarm.json"
STACK = """
services:
  web: {image: registry.local/web:1, ports: ["${PORT}:80"], deploy: {replicas: 3}}
  api: {image: registry.local/api:1, deploy: {replicas: 2}}
  redis: {image: registry.local/redis:7}
  db: {image: registry.local/db:1, deploy: {replicas: 2}}
  agent: {image: registry.local/agent:1, deploy: {mode: global}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--scale", type=int, default=100)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="swarm-bench-") as tmp:
        root = Path(tmp)
        srv: RunningServer = start_server(root / "server")
        agent = start_agent(srv, root, opts.nodes)
        env = {**os.environ, "DOCKER_HOST": f"unix://{srv.data_dir / 'docker.sock'}",
               "DOCKER_CONFIG": str(root / "dc"), "KUBECONFIG": str(srv.kubeconfig), "HOME": str(root)}
        (root / "stack.yml").write_text(STACK)
        try:
            until(lambda: (srv.data_dir / "docker.sock").exists()
                  and len(json.loads(run(["kubectl", "get", "nodes", "-o", "json"], env))["items"]) >= opts.nodes)
            docker_s: list[float] = []
            kubectl_s: list[float] = []
            for i in range(opts.rounds):
                def by_docker(i: int = i) -> float:
                    name = f"d{i}"
                    t0 = time.monotonic()
                    run(["docker", "stack", "deploy", "--resolve-image", "never", "-c", str(root / "stack.yml"),
                         name], {**env, "PORT": str(5000 + i)})  # a published port of its own

                    def converged() -> bool:
                        rows = run(["docker", "stack", "services", name, "--format", "{{.Replicas}}"], env).split()
                        return len(rows) == 5 and all(a == b and a != "0" for a, b in (r.split("/") for r in rows))
                    until(converged)
                    return time.monotonic() - t0

                def by_kubectl(i: int = i) -> float:
                    src = f"d{i}"
                    objs = json.loads(run(["kubectl", "get", "deploy,ds,svc", "-n", src, "-o", "json"], env))["items"]
                    items = []
                    for o in objs:
                        md = o["metadata"]
                        o["metadata"] = {"name": md["name"], "namespace": f"k{i}", "labels": md.get("labels", {})}
                        o.pop("status", None)
                        if o["kind"] == "Service":
                            if o["spec"].get("clusterIP") != "None":
                                o["spec"].pop("clusterIP", None)
                                o["spec"].pop("clusterIPs", None)
                            o["spec"]["ports"] = [
                                {k: v for k, v in p.items() if k != "nodePort"}
                                | ({"port": p["port"] + 100} if o["spec"].get("type") == "LoadBalancer" else {})
                                for p in o["spec"].get("ports") or []]
                        items.append(o)
                    run(["kubectl", "create", "namespace", f"k{i}"], env)
                    manifest = yaml.safe_dump_all(items)
                    t0 = time.monotonic()
                    run(["kubectl", "apply", "-f", "-"], env, manifest)

                    def ready() -> bool:
                        got = json.loads(run(["kubectl", "get", "deploy,ds", "-n", f"k{i}", "-o", "json"], env))
                        ok = 0
                        for o in got["items"]:
                            st = o.get("status") or {}
                            if o["kind"] == "Deployment":
                                ok += st.get("readyReplicas") == o["spec"]["replicas"]
                            else:
                                ok += 0 < st.get("numberReady", 0) == st.get("desiredNumberScheduled", -1)
                        return ok == 5
                    until(ready)
                    return time.monotonic() - t0

                docker_s.append(by_docker())
                kubectl_s.append(by_kubectl())
            t0 = time.monotonic()
            run(["docker", "service", "scale", "--detach", f"d0_web={opts.scale}"], env)
            until(lambda: run(["docker", "service", "inspect", "d0_web", "--format",
                               "{{.ServiceStatus.RunningTasks}}"], env).strip() == str(opts.scale))
            scale_s = time.monotonic() - t0
            rows = run(["docker", "service", "inspect", "d0_web", "--format",
                        "{{.ServiceStatus.RunningTasks}}/{{.ServiceStatus.DesiredTasks}}"], env)
            t0 = time.monotonic()  # and back to 3 the way a user waits: the CLI converges, then watches 5 s
            run(["docker", "service", "scale", "--detach=false", "d0_web=3"], env)
            cli_s = time.monotonic() - t0
            result = {"nodes": opts.nodes, "rounds": opts.rounds,
                      "docker_stack_deploy_s": [round(x, 3) for x in docker_s],
                      "kubectl_apply_s": [round(x, 3) for x in kubectl_s],
                      "ratio_median": round(statistics.median(docker_s) / statistics.median(kubectl_s), 2),
                      "scale_to": opts.scale, "docker_service_scale_s": round(scale_s, 3),
                      "docker_service_scale_down_cli_wait_s": round(cli_s, 3),
                      "replicas_after_scale": rows.strip()}
            print(json.dumps(result, indent=2))
            RESULTS.parent.mkdir(exist_ok=True)
            RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        finally:
            agent.terminate()
            agent.wait(10)
            srv.stop()


if __name__ == "__main__":
    main()
