"""The real AWS CLI (``aws ecs``) against ``shoal server``'s ECS API (simulated nodes, no Docker daemon).

One server without a local node and one ``shoal agent`` with two hollow
nodes; every command is what an ECS user types, with ``--endpoint-url
https://127.0.0.1:PORT/ecs``, keys from ``shoal ecs credentials`` and the
cluster CA as ``AWS_CA_BUNDLE``. What it makes is checked with kubectl too,
and kubectl's edits are read back through the ECS API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, simulated_agent, start_server

AWS = str(Path(sys.executable).parent / "aws")
pytestmark = pytest.mark.skipif(not Path(AWS).exists(), reason="the AWS CLI is not installed in the venv")

TASKDEF = {"family": "web", "networkMode": "awsvpc",
           "containerDefinitions": [{
               "name": "app", "image": "nginx:1.27", "cpu": 256, "memory": 256, "memoryReservation": 128,
               "portMappings": [{"containerPort": 80}], "environment": [{"name": "MODE", "value": "prod"}],
               "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "interval": 10}}]}


class Cluster:
    def __init__(self, srv: RunningServer, root: Path, creds: dict[str, str]) -> None:
        self.srv = srv
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update(creds)
        self.env.update({"AWS_CA_BUNDLE": srv.ca, "HOME": str(root), "AWS_CONFIG_FILE": str(root / "aws-config"),
                         "AWS_SHARED_CREDENTIALS_FILE": str(root / "aws-credentials"), "AWS_MAX_ATTEMPTS": "1"})
        self.endpoint = f"{srv.url}/ecs"

    def aws(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([AWS, "ecs", *args, "--endpoint-url", self.endpoint, "--output", "json"],
                           capture_output=True, text=True, env={**self.env, **(env or {})}, timeout=60, cwd=self.root)
        if check and p.returncode != 0:
            raise AssertionError(f"aws ecs {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}\n"
                                 f"{self.srv.log()[-3000:]}")
        return p

    def j(self, *args: str) -> Any:
        return json.loads(self.aws(*args).stdout or "null")

    def kj(self, *args: str) -> Any:
        return json.loads(self.srv.kubectl(*args, "-o", "json").stdout)

    def file(self, name: str, doc: Any) -> str:
        path = self.root / name
        path.write_text(json.dumps(doc))
        return f"file://{path}"


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def shoal(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shoal", *args], capture_output=True, text=True, timeout=60,
                          input=input)


def credentials(srv: RunningServer, *extra: str) -> dict[str, str]:
    p = shoal("ecs", "credentials", "--data-dir", str(srv.data_dir), *extra)
    assert p.returncode == 0, p.stderr
    out = {}
    for line in p.stdout.splitlines():
        k, _, v = line.removeprefix("export ").partition("=")
        out[k] = v
    assert out["AWS_ACCESS_KEY_ID"].startswith("AKIA") and len(out["AWS_SECRET_ACCESS_KEY"]) >= 40
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = Path(tmp_path_factory.mktemp("ecs"))
    srv = start_server(root / "server", args=["--docker-socket", "none"])
    try:
        with simulated_agent(srv, root, 2, extra=["--labels", "topology.kubernetes.io/zone=us-east-1a"]):
            c = Cluster(srv, root, credentials(srv))
            wait_for("two nodes", lambda: len(c.kj("get", "nodes")["items"]) >= 2)
            yield c
    finally:
        srv.stop()


def error_of(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode != 0, p.stdout
    return p.stderr


def test_signatures_are_checked(cluster: Cluster) -> None:
    c = cluster
    assert c.j("list-clusters")["clusterArns"] == ["arn:aws:ecs:us-east-1:000000000000:cluster/default"]
    bad = c.aws("list-clusters", check=False, env={"AWS_SECRET_ACCESS_KEY": "x" * 40})
    assert "(InvalidSignatureException)" in error_of(bad) and "signature we calculated does not match" in bad.stderr
    unknown = c.aws("list-clusters", check=False, env={"AWS_ACCESS_KEY_ID": "AKIANOTAKEYATALL0000"})
    assert "(UnrecognizedClientException)" in error_of(unknown)
    # a refused request creates nothing
    refused = c.aws("create-cluster", "--cluster-name", "nope", check=False, env={"AWS_SECRET_ACCESS_KEY": "y" * 40})
    assert "(InvalidSignatureException)" in error_of(refused)
    assert c.srv.kubectl("get", "namespace", "nope", check=False).returncode != 0


def test_a_key_acts_as_its_user_through_rbac(cluster: Cluster) -> None:
    c = cluster
    viewer = credentials(c.srv, "--user", "ecs-viewer")
    c.srv.kubectl("create", "clusterrole", "ecs-read", "--verb=get,list", "--resource=namespaces,deployments,pods,nodes")
    c.srv.kubectl("create", "clusterrolebinding", "ecs-read", "--clusterrole=ecs-read", "--user=ecs-viewer")
    assert c.aws("list-clusters", env=viewer).returncode == 0
    denied = c.aws("create-cluster", "--cluster-name", "viewers", check=False, env=viewer)
    assert "(AccessDeniedException)" in error_of(denied) and "ecs-viewer" in denied.stderr
    assert c.srv.kubectl("get", "namespace", "viewers", check=False).returncode != 0
    td = c.aws("register-task-definition", "--cli-input-json", c.file("v.json", TASKDEF), check=False, env=viewer)
    assert "(AccessDeniedException)" in error_of(td)


def test_clusters_are_namespaces(cluster: Cluster) -> None:
    c = cluster
    made = c.j("create-cluster", "--cluster-name", "Prod_EU")["cluster"]
    assert made["clusterName"] == "Prod_EU" and made["status"] == "ACTIVE"
    assert made["registeredContainerInstancesCount"] == 2
    ns = c.kj("get", "namespace", "prod-eu")
    assert ns["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "shoal-ecs"
    arns = c.j("list-clusters")["clusterArns"]
    assert "arn:aws:ecs:us-east-1:000000000000:cluster/Prod_EU" in arns
    assert not any(a.endswith(("/kube-system", "/shoal-ecs")) for a in arns)
    d = c.j("describe-clusters", "--clusters", "Prod_EU", "missing")
    assert [x["clusterName"] for x in d["clusters"]] == ["Prod_EU"]
    assert d["failures"] == [{"arn": "arn:aws:ecs:us-east-1:000000000000:cluster/missing", "reason": "MISSING"}]
    nf = c.aws("list-services", "--cluster", "missing", check=False)
    assert "(ClusterNotFoundException)" in error_of(nf) and "Cluster not found." in nf.stderr


def test_task_definitions_register_describe_list_deregister(cluster: Cluster) -> None:
    c = cluster
    r1 = c.j("register-task-definition", "--cli-input-json", c.file("td.json", TASKDEF))["taskDefinition"]
    assert r1["family"] == "web" and r1["status"] == "ACTIVE" and r1["revision"] >= 1
    cd = r1["containerDefinitions"][0]
    assert cd["essential"] is True and cd["portMappings"] == [{"containerPort": 80, "protocol": "tcp",
                                                               "hostPort": 80}]
    r2 = c.j("register-task-definition", "--family", "web", "--network-mode", "awsvpc", "--container-definitions",
             json.dumps([{"name": "app", "image": "nginx:1.28", "memory": 128}]))["taskDefinition"]
    assert r2["revision"] == r1["revision"] + 1
    latest = c.j("describe-task-definition", "--task-definition", "web")["taskDefinition"]
    assert latest["revision"] == r2["revision"] and latest["containerDefinitions"][0]["image"] == "nginx:1.28"
    arns = c.j("list-task-definitions", "--family-prefix", "web")["taskDefinitionArns"]
    assert arns[-2:] == [r1["taskDefinitionArn"], r2["taskDefinitionArn"]]
    assert "web" in c.j("list-task-definition-families")["families"]
    gone = c.j("deregister-task-definition", "--task-definition", f"web:{r2['revision']}")["taskDefinition"]
    assert gone["status"] == "INACTIVE"
    assert c.j("describe-task-definition", "--task-definition", "web")["taskDefinition"]["revision"] == r1["revision"]
    assert r2["taskDefinitionArn"] in c.j("list-task-definitions", "--status", "INACTIVE")["taskDefinitionArns"]
    # stored as ConfigMaps, labelled as the ECS API's
    cms = c.kj("get", "configmaps", "-n", "shoal-ecs", "-l", "ecs.shoal.io/family=web")["items"]
    assert len(cms) >= 2 and all(m["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "shoal-ecs" for m in cms)


@pytest.mark.parametrize(("doc", "message"), [
    ({"family": "bad", "containerDefinitions": [{"name": "a", "image": "", "memory": 64}]},
     "Container.image should not be null or empty."),
    ({"family": "bad", "containerDefinitions": [{"name": "a", "image": "x"}]},
     "At least one of 'memory' or 'memoryReservation' must be specified."),
    ({"family": "bad", "containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "essential": False}]},
     "at least one essential container"),
    ({"family": "bad", "networkMode": "awsvpc", "containerDefinitions": [
        {"name": "a", "image": "x", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 8080}]}]},
     "host ports and container ports in port mappings must match"),
    ({"family": "bad", "containerDefinitions": [
        {"name": "a", "image": "x", "memory": 64, "dependsOn": [{"containerName": "b", "condition": "START"}]}]},
     "which is not defined"),
])
def test_bad_task_definitions_are_refused_and_store_nothing(cluster: Cluster, doc: dict[str, Any],
                                                            message: str) -> None:
    p = cluster.aws("register-task-definition", "--cli-input-json", cluster.file("bad.json", doc), check=False)
    assert "(ClientException)" in error_of(p) and message in p.stderr
    assert cluster.kj("get", "configmaps", "-n", "shoal-ecs", "-l", "ecs.shoal.io/family=bad")["items"] == []


def running(c: Cluster, name: str, n: int) -> Any:
    s = c.j("describe-services", "--cluster", "default", "--services", name)["services"][0]
    return s if s["runningCount"] == n and len(s["deployments"]) == 1 and \
        s["deployments"][0]["rolloutState"] == "COMPLETED" else None


def test_service_lifecycle_with_kubectl_edits_visible(cluster: Cluster) -> None:
    c = cluster
    c.j("register-task-definition", "--cli-input-json", c.file("svc-td.json", {**TASKDEF, "family": "api"}))
    made = c.j("create-service", "--cluster", "default", "--service-name", "api", "--task-definition", "api",
               "--desired-count", "3", "--placement-constraints", json.dumps([
                   {"type": "memberOf", "expression": "attribute:ecs.availability-zone in [us-east-1a]"}]),
               "--placement-strategy", "type=spread,field=instanceId",
               "--deployment-configuration", "maximumPercent=150,minimumHealthyPercent=50,"
                                             "deploymentCircuitBreaker={enable=true,rollback=true}",
               "--load-balancers", "targetGroupArn=arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/api/1,"
                                   "containerName=app,containerPort=80")["service"]
    assert made["serviceName"] == "api" and made["desiredCount"] == 3 and made["status"] == "ACTIVE"
    s = wait_for("api running 3", lambda: running(c, "api", 3))
    assert s["deployments"][0]["status"] == "PRIMARY" and s["deployments"][0]["id"].startswith("ecs-svc/")
    assert any("has reached a steady state." in e["message"] for e in s["events"])
    assert sum("has started 1 tasks" in e["message"] for e in s["events"]) == 3
    d = c.kj("get", "deploy", "api")
    assert d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "shoal-ecs"
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "50%", "maxUnavailable": "50%"}
    assert d["metadata"]["annotations"]["shoal.io/auto-rollback"] == "true"
    pod = d["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "250m", "memory": "128Mi"},
                                                 "limits": {"memory": "256Mi"}}
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]}]}]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    svc = c.kj("get", "service", "api")
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["selector"] == {"ecs.shoal.io/service": "api"}
    # tasks
    arns = c.j("list-tasks", "--cluster", "default", "--service-name", "api")["taskArns"]
    assert len(arns) == 3
    tasks = c.j("describe-tasks", "--cluster", "default", "--tasks", *arns)["tasks"]
    assert {t["lastStatus"] for t in tasks} == {"RUNNING"} and {t["group"] for t in tasks} == {"service:api"}
    assert all(t["containerInstanceArn"] and t["availabilityZone"] == "us-east-1a" for t in tasks)
    # kubectl scale is what DescribeServices reports; ECS's update is what kubectl sees
    c.srv.kubectl("scale", "deploy/api", "--replicas=2")
    wait_for("api running 2", lambda: running(c, "api", 2))
    c.aws("update-service", "--cluster", "default", "--service", "api", "--desired-count", "1")
    assert c.kj("get", "deploy", "api")["spec"]["replicas"] == 1
    wait_for("api running 1", lambda: running(c, "api", 1))
    # a new revision rolls out
    c.j("register-task-definition", "--cli-input-json",
        c.file("svc-td2.json", {**TASKDEF, "family": "api", "containerDefinitions": [
            {**TASKDEF["containerDefinitions"][0], "image": "nginx:1.28"}]}))
    up = c.j("update-service", "--cluster", "default", "--service", "api", "--task-definition", "api")["service"]
    assert up["taskDefinition"].endswith("task-definition/api:2")
    s = wait_for("api on revision 2", lambda: (x := running(c, "api", 1)) and
                 x["deployments"][0]["taskDefinition"].endswith("api:2") and x)
    assert c.kj("get", "deploy", "api")["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    # kubectl rollout undo is visible as the service's task definition
    c.srv.kubectl("rollout", "undo", "deploy/api")
    wait_for("api back on revision 1", lambda: (x := running(c, "api", 1)) and x["taskDefinition"].endswith("api:1"))
    # delete: refused while scaled above 0, then forced
    refused = c.aws("delete-service", "--cluster", "default", "--service", "api", check=False)
    assert "(InvalidParameterException)" in error_of(refused) and "scaled above 0" in refused.stderr
    gone = c.j("delete-service", "--cluster", "default", "--service", "api", "--force")["service"]
    assert gone["status"] == "DRAINING"
    wait_for("the deployment gone", lambda: c.srv.kubectl("get", "deploy", "api", check=False).returncode != 0)
    assert c.j("describe-services", "--cluster", "default", "--services", "api")["failures"][0]["reason"] == "MISSING"


def test_bad_service_requests_create_nothing(cluster: Cluster) -> None:
    c = cluster
    cases = [
        (["--service-name", "x1", "--task-definition", "no-such-family", "--desired-count", "1"],
         "(ClientException)", "TaskDefinition not found."),
        (["--service-name", "x2", "--task-definition", "web", "--desired-count", "1", "--placement-constraints",
          json.dumps([{"type": "memberOf", "expression": "attribute:ecs.os-type =="}])],
         "(InvalidParameterException)", "Invalid expression"),
        (["--service-name", "x3", "--task-definition", "web", "--desired-count", "1", "--placement-strategy",
          "type=binpack,field=disk"], "(InvalidParameterException)", "Invalid field for binpack"),
        (["--service-name", "x4", "--task-definition", "web", "--desired-count", "1", "--deployment-configuration",
          "maximumPercent=100,minimumHealthyPercent=100"], "(InvalidParameterException)", "cannot proceed"),
        (["--service-name", "x5", "--task-definition", "web", "--desired-count", "1", "--load-balancers",
          "targetGroupArn=t,containerName=app,containerPort=8080"], "(InvalidParameterException)",
         "did not have a container port 8080"),
    ]
    for args, type_, message in cases:
        p = c.aws("create-service", "--cluster", "default", *args, check=False)
        assert type_ in error_of(p) and message in p.stderr, p.stderr
    names = {d["metadata"]["name"] for d in c.kj("get", "deploy")["items"]}
    assert not names & {"x1", "x2", "x3", "x4", "x5"}
    c.j("create-service", "--service-name", "dup", "--task-definition", "web", "--desired-count", "0")
    again = c.aws("create-service", "--service-name", "dup", "--task-definition", "web", "--desired-count", "0",
                  check=False)
    assert "(InvalidParameterException)" in error_of(again) and "not idempotent" in again.stderr
    nf = c.aws("update-service", "--service", "nosuch", "--desired-count", "1", check=False)
    assert "(ServiceNotFoundException)" in error_of(nf)


def test_run_task_essential_exit_and_stop_task(cluster: Cluster) -> None:
    c = cluster
    c.j("register-task-definition", "--cli-input-json", c.file("job.json", {
        "family": "job", "containerDefinitions": [
            {"name": "main", "image": "busybox", "memory": 64, "command": ["sh", "-c", "echo done"]},
            {"name": "sidecar", "image": "busybox", "memory": 32, "essential": False}]}))
    # two tasks no node may take (so no agent writes their status): the test plays the node and says that
    # the essential container exited while the other runs on; the ECS API stops the task, as ECS does
    ran = c.j("run-task", "--cluster", "default", "--task-definition", "job", "--count", "2", "--started-by", "ci",
              "--placement-constraints", json.dumps([{"type": "memberOf", "expression": "ec2InstanceId == nowhere"}]),
              "--overrides", json.dumps({"containerOverrides": [{"name": "main", "environment": [
                  {"name": "RUN", "value": "1"}]}]}))
    assert ran["failures"] == [] and len(ran["tasks"]) == 2
    assert {t["lastStatus"] for t in ran["tasks"]} == {"PROVISIONING"}
    arns = [t["taskArn"] for t in ran["tasks"]]
    assert c.j("list-tasks", "--started-by", "ci")["taskArns"] == sorted(arns)
    pods = c.kj("get", "pods", "-l", "ecs.shoal.io/standalone=true")["items"]
    assert len(pods) == 2 and pods[0]["spec"]["restartPolicy"] == "Never"
    assert {"name": "RUN", "value": "1"} in pods[0]["spec"]["containers"][0]["env"]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for pod in pods:
        status = {"status": {"phase": "Running", "startTime": now, "containerStatuses": [
            {"name": "main", "image": "busybox", "imageID": "", "ready": False, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": now}}},
            {"name": "sidecar", "image": "busybox", "imageID": "", "ready": True, "restartCount": 0,
             "state": {"running": {"startedAt": now}}}]}}
        c.srv.kubectl("patch", "pod", pod["metadata"]["name"], "--subresource=status", "--type=merge",
                      "-p", json.dumps(status))

    def stopping() -> Any:
        ts = c.j("describe-tasks", "--tasks", *arns)["tasks"]
        return ts if all(t["desiredStatus"] == "STOPPED" for t in ts) else None

    ts = wait_for("both tasks told to stop", stopping)
    assert {t["stopCode"] for t in ts} == {"EssentialContainerExited"}
    assert all("Essential container in task exited: main (exit code 0)" in t["stoppedReason"] for t in ts)
    assert all(p["spec"]["activeDeadlineSeconds"] == 1
               for p in c.kj("get", "pods", "-l", "ecs.shoal.io/standalone=true")["items"])
    assert sorted(c.j("list-tasks", "--desired-status", "STOPPED", "--family", "job")["taskArns"]) == sorted(arns)
    # StopTask
    one = c.j("run-task", "--task-definition", "job")["tasks"][0]
    wait_for("running", lambda: c.j("describe-tasks", "--tasks", one["taskArn"])["tasks"][0]["lastStatus"] == "RUNNING")
    stop = c.j("stop-task", "--task", one["taskArn"], "--reason", "enough")["task"]
    assert stop["desiredStatus"] == "STOPPED" and stop["stoppedReason"] == "enough"
    t = wait_for("stopped", lambda: (x := c.j("describe-tasks", "--tasks", one["taskArn"])["tasks"][0])
                 ["lastStatus"] == "STOPPED" and x)
    assert t["stopCode"] == "UserInitiated"
    missing = c.j("describe-tasks", "--tasks", "0" * 32)
    assert missing["failures"][0]["reason"] == "MISSING"
    bad = c.aws("run-task", "--task-definition", "job", "--count", "11", check=False)
    assert "(InvalidParameterException)" in error_of(bad)


def test_depends_on_healthy_starts_the_dependent_once_its_dependency_is_healthy(cluster: Cluster) -> None:
    c = cluster
    hc = {"command": ["CMD-SHELL", "pg_isready"], "interval": 5, "startPeriod": 3}  # first checked 3 s in
    c.j("register-task-definition", "--cli-input-json", c.file("ordered.json", {
        "family": "ordered", "containerDefinitions": [
            {"name": "web", "image": "nginx", "memory": 64,
             "dependsOn": [{"containerName": "db", "condition": "HEALTHY"},
                           {"containerName": "log_router", "condition": "START"}]},
            {"name": "db", "image": "postgres", "memory": 64, "healthCheck": hc},
            {"name": "log_router", "image": "fluent-bit", "memory": 32, "essential": False}]}))
    arn = c.j("run-task", "--task-definition", "ordered")["tasks"][0]["taskArn"]
    pod = c.kj("get", "pods", "-l", "ecs.shoal.io/standalone=true,ecs.shoal.io/family=ordered")["items"][0]
    assert pod["metadata"]["annotations"]["shoal.io/start-after"] == "web=db:HEALTHY,web=log-router:START"
    name = pod["metadata"]["name"]

    def running(p: Any) -> dict[str, str]:
        return {s["name"]: s["state"]["running"]["startedAt"] for s in p["status"].get("containerStatuses") or []
                if "running" in s["state"]}

    pod = wait_for("web running", lambda: (p := c.kj("get", "pod", name)) and "web" in running(p) and p)
    started = {n: time.mktime(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ")) for n, t in running(pod).items()}
    assert started["web"] - started["db"] >= 3, started  # not before db's first health check passed
    assert started["log-router"] - started["db"] <= 1, started  # no dependency: at once
    task = wait_for("RUNNING", lambda: (t := c.j("describe-tasks", "--tasks", arn)["tasks"][0])
                    ["lastStatus"] == "RUNNING" and t)
    assert {x["name"]: x["lastStatus"] for x in task["containers"]} == {
        "web": "RUNNING", "db": "RUNNING", "log_router": "RUNNING"}
    c.j("stop-task", "--task", arn)


def test_an_essential_container_held_for_good_stops_the_task(cluster: Cluster) -> None:
    c = cluster
    hc = {"command": ["CMD", "pg_isready"], "interval": 5}
    c.j("register-task-definition", "--cli-input-json", c.file("held.json", {
        "family": "held", "containerDefinitions": [
            {"name": "web", "image": "nginx", "memory": 64, "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
            {"name": "db", "image": "postgres", "memory": 64, "essential": False, "healthCheck": hc}]}))
    # a task no node takes: the test plays the node, whose agent holds web for good after db exited unhealthy
    arn = c.j("run-task", "--task-definition", "held", "--placement-constraints",
              json.dumps([{"type": "memberOf", "expression": "ec2InstanceId == nowhere"}]))["tasks"][0]["taskArn"]
    pod = c.kj("get", "pods", "-l", "ecs.shoal.io/standalone=true,ecs.shoal.io/family=held")["items"][0]
    name = pod["metadata"]["name"]
    bound = c.srv.session().post(f"{c.srv.url}/api/v1/namespaces/default/pods/{name}/binding", json={
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
        "target": {"kind": "Node", "name": "nowhere"}})  # bound, to a node no agent runs: PENDING
    assert bound.status_code == 201, bound.text
    why = "container db exited with code 1 before it was healthy and will not be restarted, so web will not start"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"status": {"phase": "Pending", "startTime": now, "containerStatuses": [
        {"name": "db", "image": "postgres", "imageID": "", "ready": False, "restartCount": 0,
         "state": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": now}}},
        {"name": "web", "image": "nginx", "imageID": "", "ready": False, "restartCount": 0,
         "state": {"waiting": {"reason": "DependencyFailed", "message": why}}}]}}
    c.srv.kubectl("patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps(status))
    assert c.j("describe-tasks", "--tasks", arn)["tasks"][0]["lastStatus"] == "PENDING"
    t = wait_for("told to stop", lambda: (x := c.j("describe-tasks", "--tasks", arn)["tasks"][0])
                 ["desiredStatus"] == "STOPPED" and x)
    assert t["stoppedReason"] == f"Essential container in task cannot start: web ({why})"


def test_container_instances_are_nodes(cluster: Cluster) -> None:
    c = cluster
    arns = c.j("list-container-instances")["containerInstanceArns"]
    assert len(arns) == 2
    found = c.j("list-container-instances", "--filter", "ec2InstanceId == hollow-0")["containerInstanceArns"]
    assert len(found) == 1
    zone = c.j("list-container-instances", "--filter", "attribute:ecs.availability-zone =~ us-east-.*")
    assert len(zone["containerInstanceArns"]) == 2
    ci = c.j("describe-container-instances", "--container-instances", *arns)["containerInstances"]
    assert {x["ec2InstanceId"] for x in ci} == {"hollow-0", "hollow-1"}
    assert all(x["agentConnected"] and x["status"] == "ACTIVE" for x in ci)
    cpu = next(r for r in ci[0]["registeredResources"] if r["name"] == "CPU")
    assert cpu["integerValue"] > 0
    bad = c.aws("list-container-instances", "--filter", "attribute:x ==", check=False)
    assert "(InvalidParameterException)" in error_of(bad)


def test_shoal_apply_recognises_ecs_files(cluster: Cluster) -> None:
    c = cluster
    td = c.root / "applied-td.json"
    td.write_text(json.dumps({**TASKDEF, "family": "applied"}))
    p = shoal("apply", "-f", str(td), "--data-dir", str(c.srv.data_dir))
    assert p.returncode == 0 and "task definition applied:1 registered" in p.stdout, p.stderr
    p = shoal("apply", "-f", str(td), "--data-dir", str(c.srv.data_dir))
    assert "applied:1 unchanged" in p.stdout
    svc = c.root / "applied-svc.json"
    svc.write_text(json.dumps({"cluster": "default", "serviceName": "applied", "taskDefinition": "applied",
                               "desiredCount": 1}))
    p = shoal("apply", "-f", str(svc), "--data-dir", str(c.srv.data_dir))
    assert p.returncode == 0 and "service applied created" in p.stdout, p.stderr
    svc.write_text(json.dumps({"cluster": "default", "serviceName": "applied", "taskDefinition": "applied",
                               "desiredCount": 2}))
    p = shoal("apply", "-f", str(svc), "--data-dir", str(c.srv.data_dir))
    assert "service applied configured" in p.stdout, p.stderr
    assert c.kj("get", "deploy", "applied")["spec"]["replicas"] == 2
    bad = c.root / "bad.json"
    bad.write_text(json.dumps({"family": "applied", "containerDefinitions": [{"name": "a", "image": ""}]}))
    p = shoal("apply", "-f", str(bad), "--data-dir", str(c.srv.data_dir))
    assert p.returncode == 1 and "ClientException: Container.image should not be null or empty." in p.stderr
