"""The ECS API's cost: create-service of 3 tasks to runningCount 3, beside the same Deployment through kubectl.

    .venv/bin/python bench/ecs_bench.py [--rounds 3] [--nodes 3] [--tasks 3]

A real ``shoal server`` (no local agent) and a real ``shoal agent --runtime
simulated``; one task definition registered first. Each round, in this order:

- ``aws ecs create-service`` (the real AWS CLI), then ``aws ecs
  describe-services`` until ``runningCount`` is 3: what a user's script does,
  each call paying the CLI's own start (~0.5 s of Python);
- the same two calls through boto3 in one process (the same SigV4 and JSON 1.1
  requests, without the CLI's start): the API's own cost;
- ``kubectl apply`` of the Deployment the ECS API made (read back with
  kubectl, renamed), then ``kubectl get`` until 3 replicas are ready.

All three poll every 50 ms. Last, one ``aws ecs list-clusters`` is timed
alone (the CLI's start plus one request). Writes ``bench/results/ecs.json``.
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
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.controllers_bench import start_agent  # noqa: E402
from bench.steps import run, until  # noqa: E402
from tests.server_fixture import RunningServer, start_server  # noqa: E402

RESULTS = REPO / "bench" / "results" / "ecs.json"
AWS = str(Path(sys.executable).parent / "aws")
TASKDEF = {"family": "bench", "networkMode": "awsvpc", "containerDefinitions": [
    {"name": "app", "image": "registry.local/web:1", "cpu": 128, "memory": 128,
     "portMappings": [{"containerPort": 80}]}]}


def credentials(srv: RunningServer) -> dict[str, str]:
    out = run([sys.executable, "-m", "shoal", "ecs", "credentials", "--data-dir", str(srv.data_dir)], dict(os.environ))
    return dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=3)
    opts = parser.parse_args()
    n = opts.tasks
    with tempfile.TemporaryDirectory(prefix="ecs-bench-") as tmp:
        root = Path(tmp)
        srv: RunningServer = start_server(root / "server", args=["--docker-socket", "none"])
        agent = start_agent(srv, root, opts.nodes)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(credentials(srv))
        env.update({"KUBECONFIG": str(srv.kubeconfig), "HOME": str(root), "AWS_CA_BUNDLE": srv.ca,
                    "AWS_CONFIG_FILE": str(root / "aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(root / "aws-c")})
        endpoint = f"{srv.url}/ecs"
        import boto3

        ecs = boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1", verify=srv.ca,
                           aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])

        def aws(*args: str) -> Any:
            return json.loads(run([AWS, "ecs", *args, "--endpoint-url", endpoint, "--output", "json"], env) or "null")

        try:
            until(lambda: len(json.loads(run(["kubectl", "get", "nodes", "-o", "json"], env))["items"]) >= opts.nodes)
            (root / "td.json").write_text(json.dumps(TASKDEF))
            aws("register-task-definition", "--cli-input-json", f"file://{root / 'td.json'}")
            cli_s: list[float] = []
            sdk_s: list[float] = []
            kubectl_s: list[float] = []
            for i in range(opts.rounds):
                t0 = time.monotonic()
                aws("create-service", "--service-name", f"cli{i}", "--task-definition", "bench", "--desired-count",
                    str(n))
                until(lambda i=i: aws("describe-services", "--services", f"cli{i}")["services"][0]["runningCount"] == n)
                cli_s.append(time.monotonic() - t0)

                t0 = time.monotonic()
                ecs.create_service(serviceName=f"sdk{i}", taskDefinition="bench", desiredCount=n)
                until(lambda i=i: ecs.describe_services(services=[f"sdk{i}"])["services"][0]["runningCount"] == n)
                sdk_s.append(time.monotonic() - t0)

                d = json.loads(run(["kubectl", "get", "deploy", f"cli{i}", "-o", "json"], env))
                d["metadata"] = {"name": f"kube{i}", "namespace": "default"}
                d["spec"]["selector"] = {"matchLabels": {"app": f"kube{i}"}}
                d["spec"]["template"]["metadata"]["labels"] = {"app": f"kube{i}"}
                d.pop("status", None)
                manifest = yaml.safe_dump(d)
                t0 = time.monotonic()
                run(["kubectl", "apply", "-f", "-"], env, manifest)
                until(lambda i=i: run(["kubectl", "get", "deploy", f"kube{i}", "-o",
                                       "jsonpath={.status.readyReplicas}"], env).strip() == str(n))
                kubectl_s.append(time.monotonic() - t0)
            one_call = []
            for _ in range(3):
                t0 = time.monotonic()
                aws("list-clusters")
                one_call.append(time.monotonic() - t0)
            result = {"nodes": opts.nodes, "rounds": opts.rounds, "tasks": n,
                      "aws_cli_one_call_s": round(statistics.median(one_call), 3),
                      "aws_cli_create_service_to_running_s": [round(x, 3) for x in cli_s],
                      "boto3_create_service_to_running_s": [round(x, 3) for x in sdk_s],
                      "kubectl_apply_to_ready_s": [round(x, 3) for x in kubectl_s],
                      "ratio_aws_cli_median": round(statistics.median(cli_s) / statistics.median(kubectl_s), 2),
                      "ratio_boto3_median": round(statistics.median(sdk_s) / statistics.median(kubectl_s), 2)}
            print(json.dumps(result, indent=2))
            RESULTS.parent.mkdir(exist_ok=True)
            RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        finally:
            agent.terminate()
            agent.wait(10)
            srv.stop()


if __name__ == "__main__":
    main()
