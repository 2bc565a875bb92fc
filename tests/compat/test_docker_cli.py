"""The real ``docker`` CLI against ``shoal server``'s Swarm API (simulated nodes, no Docker daemon).

One server without a local node (``--no-agent``) and one ``shoal agent`` with
two hollow nodes; every command is the CLI a Swarm user types, with
``DOCKER_HOST=unix://<data-dir>/docker.sock``, and the objects it makes are
checked with kubectl as well.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, simulated_agent, start_server

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")


class Cluster:
    def __init__(self, srv: RunningServer, root: Path) -> None:
        self.srv = srv
        self.root = root
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{srv.data_dir / 'docker.sock'}",
                    "DOCKER_CONFIG": str(root / "docker-config"), "DOCKER_CLI_HINTS": "false"}
        self.env.pop("DOCKER_CONTEXT", None)

    def docker(self, *args: str, check: bool = True, input: str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(["docker", *args], capture_output=True, text=True, env=self.env, input=input,
                           timeout=timeout, cwd=self.root)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}\n"
                                 f"{self.srv.log()[-3000:]}")
        return p

    def kj(self, *args: str) -> Any:
        return json.loads(self.srv.kubectl(*args, "-o", "json").stdout)


def wait_for(what: str, cond: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = Path(tmp_path_factory.mktemp("swarm"))
    srv = start_server(root / "server")
    try:
        with simulated_agent(srv, root, 2):
            c = Cluster(srv, root)
            wait_for("two nodes", lambda: len(c.kj("get", "nodes")["items"]) >= 2)
            wait_for("the Swarm API socket", lambda: (srv.data_dir / "docker.sock").exists())
            yield c
    finally:
        srv.stop()


def service_ls(c: Cluster) -> dict[str, dict[str, str]]:
    out = c.docker("service", "ls", "--format", "{{json .}}").stdout
    return {row["Name"]: row for row in map(json.loads, out.splitlines())}


def test_version_info_and_ping_say_swarm_manager(cluster: Cluster) -> None:
    v = json.loads(cluster.docker("version", "--format", "{{json .Server}}").stdout)
    assert v["ApiVersion"] == "1.51" and v["MinAPIVersion"] == "1.41"
    info = json.loads(cluster.docker("info", "--format", "{{json .Swarm}}").stdout)
    assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is True and info["Nodes"] == 2
    # an older client version is served, one out of range refused in Docker's words
    old = cluster.docker("service", "ls", check=False)
    assert old.returncode == 0
    env = {**cluster.env, "DOCKER_API_VERSION": "1.40"}
    p = subprocess.run(["docker", "service", "ls"], capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode != 0 and "is too old. Minimum supported API version is 1.41" in p.stderr


def test_service_lifecycle_scale_update_rollback(cluster: Cluster) -> None:
    c = cluster
    c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "web", "--replicas", "2",
             "-p", "5080:80", "--label", "tier=front", "registry.local/web:1")
    rows = wait_for("web 2/2", lambda: (r := service_ls(c).get("web")) and r["Replicas"] == "2/2" and r)
    assert rows["Ports"] == "*:5080->80/tcp" and rows["Mode"] == "replicated"
    d = c.kj("get", "deploy", "web")
    assert d["metadata"]["labels"]["com.docker.swarm.service.name"] == "web"
    assert d["metadata"]["labels"]["tier"] == "front"
    svc = c.kj("get", "svc", "web-published")
    assert svc["spec"]["type"] == "LoadBalancer" and svc["spec"]["ports"][0]["port"] == 5080
    # ps: one task a slot, named as Swarm names them
    ps = c.docker("service", "ps", "web", "--format", "{{.Name}} {{.DesiredState}} {{.CurrentState}}").stdout
    assert sorted(line.split()[0] for line in ps.splitlines()) == ["web.1", "web.2"]
    # scale (the CLI waits for convergence through tasks and nodes)
    c.docker("service", "scale", "web=4", timeout=90)
    assert service_ls(c)["web"]["Replicas"] == "4/4"
    assert c.kj("get", "deploy", "web")["spec"]["replicas"] == 4
    # kubectl edits show in docker
    c.srv.kubectl("scale", "deploy/web", "--replicas=3")
    wait_for("3/3", lambda: service_ls(c)["web"]["Replicas"] == "3/3")
    # update: a new ReplicaSet; rollback: back to the old one (no third ReplicaSet)
    c.docker("service", "update", "--detach", "--no-resolve-image", "--image", "registry.local/web:2", "web")
    wait_for("rollout", lambda: c.kj("get", "deploy", "web")["status"].get("updatedReplicas") == 3
             and c.kj("get", "deploy", "web")["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2"))
    insp = json.loads(c.docker("service", "inspect", "web").stdout)[0]
    assert insp["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "registry.local/web:1"
    c.docker("service", "rollback", "--detach", "web")
    wait_for("rolled back", lambda: service_ls(c)["web"]["Image"] == "registry.local/web:1")
    assert len(c.kj("get", "rs", "-l", "com.docker.swarm.service.name=web")["items"]) == 2
    insp = json.loads(c.docker("service", "inspect", "web").stdout)[0]
    wait_for("rollback_completed", lambda: json.loads(c.docker("service", "inspect", "web").stdout)[0]
             ["UpdateStatus"]["State"] == "rollback_completed")
    logs = c.docker("service", "logs", "web").stdout
    assert "web." in logs and "@hollow-" in logs
    c.docker("service", "rm", "web")
    wait_for("gone", lambda: not c.kj("get", "deploy,svc", "-l", "com.docker.swarm.service.name=web")["items"])


def test_global_service_constraints_and_drain(cluster: Cluster) -> None:
    c = cluster
    c.docker("node", "update", "--label-add", "disk=ssd", "hollow-1")
    c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "agent", "--mode", "global",
             "registry.local/agent:1")
    c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "db", "--replicas", "2",
             "--constraint", "node.labels.disk==ssd", "registry.local/db:1")
    wait_for("agent 2/2", lambda: service_ls(c)["agent"]["Replicas"] == "2/2")
    wait_for("db 2/2", lambda: service_ls(c)["db"]["Replicas"] == "2/2")
    nodes_of = c.docker("service", "ps", "db", "--format", "{{.Node}}").stdout.split()
    assert set(nodes_of) == {"hollow-1"}
    d = c.kj("get", "deploy", "db")["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    term = d["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [{"key": "disk", "operator": "In", "values": ["ssd"]}]
    assert c.kj("get", "ds", "agent")["status"]["desiredNumberScheduled"] == 2
    # pause: cordoned, tasks stay
    c.docker("node", "update", "--availability", "pause", "hollow-0")
    assert c.kj("get", "node", "hollow-0")["spec"]["unschedulable"] is True
    ls = c.docker("node", "ls", "--format", "{{.Hostname}} {{.Availability}}").stdout
    assert "hollow-0 Pause" in ls
    # drain: its tasks leave (the global service's too) and come back elsewhere
    c.docker("node", "update", "--availability", "active", "hollow-0")
    c.docker("node", "update", "--label-add", "disk=ssd", "hollow-0")
    c.docker("node", "update", "--availability", "drain", "hollow-1")
    wait_for("no running task on hollow-1", lambda: "hollow-1" not in c.docker(
        "service", "ps", "db", "--filter", "desired-state=running", "--format", "{{.Node}}").stdout)
    wait_for("db 2/2 on hollow-0", lambda: service_ls(c)["db"]["Replicas"] == "2/2")
    wait_for("agent 1/1", lambda: service_ls(c)["agent"]["Replicas"] == "1/1")
    c.docker("node", "update", "--availability", "active", "hollow-1")
    assert "swarm.shoal.io/drain" not in json.dumps(c.kj("get", "node", "hollow-1")["spec"])
    c.docker("service", "rm", "agent", "db")


def test_secrets_and_configs(cluster: Cluster) -> None:
    c = cluster
    sid = c.docker("secret", "create", "api_key", "-", input="t0ps3cret").stdout.strip()
    dup = c.docker("secret", "create", "api_key", "-", input="x", check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    insp = json.loads(c.docker("secret", "inspect", "api_key").stdout)[0]
    assert insp["ID"] == sid and "Data" not in insp["Spec"]
    sec = c.kj("get", "secret", "api-key")
    assert sec["data"]["data"] == "dDBwczNjcmV0"
    c.docker("config", "create", "app_conf", "-", input="color=blue\n")
    cfg = json.loads(c.docker("config", "inspect", "app_conf").stdout)[0]
    assert cfg["Spec"]["Data"] == "Y29sb3I9Ymx1ZQo="
    c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "app", "--secret", "api_key",
             "--config", "src=app_conf,target=/etc/app.conf", "registry.local/app:1")
    spec = c.kj("get", "deploy", "app")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert set(mounts) == {"/run/secrets/api_key", "/etc/app.conf"}
    inspected = json.loads(c.docker("service", "inspect", "app").stdout)[0]["Spec"]["TaskTemplate"]
    assert inspected["ContainerSpec"]["Secrets"][0]["SecretName"] == "api_key"
    assert inspected["ContainerSpec"]["Configs"][0]["File"]["Name"] == "/etc/app.conf"
    in_use = c.docker("secret", "rm", "api_key", check=False)
    assert in_use.returncode != 0 and "in use" in in_use.stderr
    c.docker("service", "rm", "app")
    c.docker("secret", "rm", "api_key")
    c.docker("config", "rm", "app_conf")
    assert "api_key" not in c.docker("secret", "ls").stdout


STACK = """
version: "3.8"
services:
  redis:
    image: registry.local/redis:7
    networks: [back]
  web:
    image: registry.local/web:1
    ports: ["5300:80"]
    networks: [front, back]
    secrets: [token]
    healthcheck:
      test: ["CMD", "true"]
      interval: 5s
    deploy:
      replicas: 2
      update_config: {parallelism: 1, order: start-first}
      resources:
        limits: {cpus: "0.5", memory: 64M}
  agent:
    image: registry.local/agent:1
    deploy:
      mode: global
networks:
  front:
  back:
secrets:
  token:
    file: ./token.txt
"""


def test_stack_deploy_redeploy_and_rm(cluster: Cluster) -> None:
    c = cluster
    (c.root / "token.txt").write_text("abc")
    (c.root / "stack.yml").write_text(STACK)
    # something that is not the stack's, to see that stack rm leaves it alone
    c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "bystander", "registry.local/b:1")
    out = c.docker("stack", "deploy", "--resolve-image", "never", "-c", "stack.yml", "vote").stdout
    assert "Creating service vote_web" in out and "Creating network vote_front" in out
    wait_for("vote_web 2/2", lambda: service_ls(c).get("vote_web", {}).get("Replicas") == "2/2")
    assert service_ls(c)["vote_web"]["Ports"] == "*:5300->80/tcp"
    stacks = c.docker("stack", "ls", "--format", "{{.Name}} {{.Services}}").stdout
    assert "vote 3" in stacks
    # the stack is a namespace; services are Deployments/DaemonSets there, selectable by the stack label
    objs = c.kj("get", "deploy,ds,svc", "-n", "vote", "-l", "com.docker.stack.namespace=vote")["items"]
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
    assert ("DaemonSet", "agent") in kinds and ("Deployment", "web") in kinds and ("Service", "redis") in kinds
    web = c.kj("get", "deploy", "web", "-n", "vote")
    assert web["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert web["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "500m",
                                                                                      "memory": "64Mi"}
    # networks: a pod label each, a NetworkPolicy each, and one for web's published port
    assert {k for k in web["spec"]["template"]["metadata"]["labels"] if k.startswith("net.")} == {
        "net.swarm.shoal.io/vote_front", "net.swarm.shoal.io/vote_back"}
    pols = {p["metadata"]["name"]: p for p in c.kj("get", "netpol", "-n", "vote")["items"]}
    assert sorted(pols) == ["swarm-net-vote-back-9174902f", "swarm-net-vote-default-02693e76",
                            "swarm-net-vote-front-04c6b898", "swarm-published-web"]
    assert pols["swarm-published-web"]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 80}]
    # a re-deploy of the same file changes nothing; a changed service alone rolls out
    rs_before = {r["metadata"]["name"] for r in c.kj("get", "rs", "-n", "vote")["items"]}
    c.docker("stack", "deploy", "--resolve-image", "never", "-c", "stack.yml", "vote")
    time.sleep(1)
    assert {r["metadata"]["name"] for r in c.kj("get", "rs", "-n", "vote")["items"]} == rs_before
    assert {p["metadata"]["name"]: p["metadata"]["resourceVersion"]
            for p in c.kj("get", "netpol", "-n", "vote")["items"]} == {
        n: p["metadata"]["resourceVersion"] for n, p in pols.items()}
    (c.root / "stack.yml").write_text(STACK.replace("registry.local/redis:7", "registry.local/redis:8"))
    c.docker("stack", "deploy", "--resolve-image", "never", "-c", "stack.yml", "vote")
    after = {r["metadata"]["name"] for r in c.kj("get", "rs", "-n", "vote")["items"]}
    new = after - rs_before
    assert len(new) == 1 and next(iter(new)).startswith("redis-")
    ps = c.docker("stack", "ps", "vote", "--format", "{{.Name}}").stdout.split()
    assert "vote_web.1" in ps and "vote_redis.1" in ps
    c.docker("stack", "rm", "vote")
    wait_for("stack gone", lambda: not c.docker("stack", "ls", "--format", "{{.Name}}").stdout.strip())
    assert not c.kj("get", "deploy,ds,svc,secret,cm", "-n", "vote", "-l", "com.docker.stack.namespace=vote")["items"]
    assert not c.kj("get", "netpol", "-n", "vote")["items"]  # the services' policies went with them
    assert "bystander" in service_ls(c)
    c.docker("service", "rm", "bystander")


def test_errors_in_dockers_shape(cluster: Cluster) -> None:
    c = cluster
    missing = c.docker("service", "inspect", "nope", check=False)
    assert missing.returncode != 0 and "no such service: nope" in missing.stderr.lower()
    bad = c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "bad",
                   "--constraint", "node.labels.x~=y", "registry.local/x:1", check=False)
    assert bad.returncode != 0 and "invalid constraint" in bad.stderr
    bad_port = c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "bad",
                        "-p", "70000:80", "registry.local/x:1", check=False)
    assert bad_port.returncode != 0
    assert not c.kj("get", "deploy", "-l", "com.docker.swarm.service.name=bad")["items"]
    # a published port another service holds (here web's 5080 from the lifecycle test is gone; take one)
    c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "holder", "-p", "5090:80",
             "registry.local/x:1")
    taken = c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "taker", "-p", "5090:81",
                     "registry.local/x:1", check=False)
    assert taken.returncode != 0 and "port '5090' is already in use by service 'holder'" in taken.stderr
    c.docker("service", "rm", "holder")
    # a stale version: Docker's "update out of sequence"
    c.docker("service", "create", "--detach", "--no-resolve-image", "--name", "seq", "registry.local/x:1")
    insp = json.loads(c.docker("service", "inspect", "seq").stdout)[0]
    c.docker("service", "update", "--detach", "--no-resolve-image", "--image", "registry.local/x:2", "seq")
    stale = {**insp["Spec"], "Labels": {"x": "y"}}
    status, body = raw(c, "POST", f"/v1.50/services/{insp['ID']}/update?version={insp['Version']['Index']}", stale)
    assert status == 409 and body == {"message": "rpc error: code = Unknown desc = update out of sequence"}
    # bad input to the API: Docker's shape, never a 500
    for method, path, payload in [
        ("POST", "/v1.50/services/create", b"{not json"),
        ("POST", "/v1.50/services/create", {"Name": "x"}),
        ("POST", "/v1.50/services/create", {"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": 5}}}),
        ("POST", "/v1.50/services/create", {"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "i"}},
                                            "Mode": {"Replicated": {"Replicas": -1}}}),
        ("POST", "/v1.50/services/create", []),
        ("POST", "/v1.50/secrets/create", {"Name": "s", "Data": "not base64!"}),
        ("POST", "/v1.50/nodes/hollow-0/update?version=1", {"Availability": "sideways"}),
        ("GET", "/v1.50/services?filters={bad", None),
        ("GET", "/v1.50/services?filters=" + '{"colour":{"red":true}}', None),
        ("GET", "/v1.99/services", None),
        ("GET", "/v1.50/nodes/nope", None),
        ("DELETE", "/v1.50/networks/nope", None),
    ]:
        status, body = raw(c, method, path, payload)
        assert 400 <= status < 500, (path, payload, status, body)
        assert isinstance(body, dict) and body.get("message"), (path, body)
    # case-insensitive field names, as Go decodes them
    status, body = raw(c, "POST", "/v1.50/services/create", {"name": "lower", "taskTemplate": {
        "containerSpec": {"image": "registry.local/x:1"}}, "mode": {"replicated": {"replicas": 2}}})
    assert status == 201, body
    assert c.kj("get", "deploy", "lower")["spec"]["replicas"] == 2
    c.docker("service", "rm", "seq", "lower")


def raw(c: Cluster, method: str, path: str, payload: Any) -> tuple[int, Any]:
    """One request on the Docker socket, as an SDK would send it."""
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(c.srv.data_dir / "docker.sock"))

    conn = Conn("localhost", timeout=30)
    data = payload if isinstance(payload, bytes) or payload is None else json.dumps(payload).encode()
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    return resp.status, json.loads(text) if text.strip() else None


def shoal_stack(c: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "shoal", "stack", *args, "--kubeconfig", str(c.srv.kubeconfig)],
                       capture_output=True, text=True, cwd=c.root, timeout=60,
                       env={**os.environ, "HOME": str(c.root)})
    if check and p.returncode != 0:
        raise AssertionError(f"shoal stack {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")
    return p


def test_shoal_stack_makes_what_docker_stack_makes(cluster: Cluster) -> None:
    """``shoal stack deploy`` reads the file as ``docker stack deploy`` does: the same objects, either tool."""
    c = cluster
    (c.root / "token.txt").write_text("abc")
    (c.root / "stack.yml").write_text(STACK.replace("5300:80", "${WEB_PORT:-5400}:80"))
    (c.root / "stack-d.yml").write_text(STACK.replace("5300:80", "5401:80"))  # a port of its own
    c.docker("stack", "deploy", "--resolve-image", "never", "-c", "stack-d.yml", "bydocker")
    out = shoal_stack(c, "deploy", "-c", "stack.yml", "byshoal").stdout
    assert "Creating service byshoal_web" in out and "Creating secret byshoal_token" in out

    def norm(ns: str, kind: str, name: str) -> Any:
        o = c.kj("get", kind, name, "-n", ns)
        tmpl = o["spec"]["template"]
        text = json.dumps({"spec": {k: v for k, v in o["spec"].items() if k not in ("template", "selector")},
                           "template": tmpl["spec"]})
        return json.loads(text.replace("bydocker", "S").replace("byshoal", "S"))

    for kind, name in (("deploy", "web"), ("deploy", "redis"), ("ds", "agent")):
        assert norm("bydocker", kind, name) == norm("byshoal", kind, name), (kind, name)
    wait_for("byshoal_web 2/2", lambda: service_ls(c).get("byshoal_web", {}).get("Replicas") == "2/2")
    assert service_ls(c)["byshoal_web"]["Ports"] == "*:5400->80/tcp"
    assert "byshoal " in shoal_stack(c, "ls").stdout
    ps = shoal_stack(c, "ps", "byshoal").stdout
    assert "byshoal_web.1" in ps and "Running" in ps
    # a re-deploy changes nothing; docker sees and removes what shoal made, and the other way round
    before = {r["metadata"]["name"] for r in c.kj("get", "rs", "-n", "byshoal")["items"]}
    shoal_stack(c, "deploy", "-c", "stack.yml", "byshoal")
    assert {r["metadata"]["name"] for r in c.kj("get", "rs", "-n", "byshoal")["items"]} == before
    assert "byshoal_web" in c.docker("stack", "services", "byshoal").stdout
    shoal_stack(c, "rm", "bydocker")
    c.docker("stack", "rm", "byshoal")
    wait_for("stacks gone", lambda: not c.docker("stack", "ls", "--format", "{{.Name}}").stdout.strip())
    # a bad file is refused before anything is created, with its line
    (c.root / "bad.yml").write_text("services:\n  web:\n    image: x\n    ports: ['99999:80']\n")
    bad = shoal_stack(c, "deploy", "-c", "bad.yml", "bad", check=False)
    assert bad.returncode == 1 and "bad.yml:4" in bad.stderr and "out of range" in bad.stderr
    assert not c.kj("get", "ns", "-l", "com.docker.stack.namespace=bad")["items"]
