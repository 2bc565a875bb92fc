"""The real kubectl v1.32 driving rollouts: apply, set image, rollout status/history/undo/pause/resume/restart.

kubectl runs in a thread so the controllers (in this test's event loop) keep
working while it waits, as they would in the server.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

from shoal.client import ApiClient
from shoal.controllers.history import REVISION
from tests.controllers.conftest import FakeKubelet, ManagerFactory
from tests.controllers.test_deployment import image_of, replica_sets, rolled_out
from tests.eventually import eventually
from tests.server_fixture import RunningServer

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubernetes.io/change-cause: "first: nginx 1"
spec:
  replicas: 3
  revisionHistoryLimit: 5
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1
"""


class K:
    def __init__(self, srv: RunningServer, ns: str) -> None:
        self.srv = srv
        self.ns = ns

    async def __call__(self, *args: str, input: str | None = None, check: bool = True,
                       timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(self.srv.kubectl, "-n", self.ns, *args, input=input, check=check,
                                       timeout=timeout)

    async def json(self, *args: str) -> Any:
        return json.loads((await self(*args, "-o", "json")).stdout)


async def test_rollout_lifecycle_with_kubectl(server: RunningServer, client: ApiClient, ns: str,
                                              kubelet: FakeKubelet, controllers: ManagerFactory) -> None:
    await controllers("replicaset", "deployment")
    k = K(server, ns)
    await k("apply", "-f", "-", input=MANIFEST)
    out = (await k("rollout", "status", "deploy/web", "--timeout=20s")).stdout
    assert 'deployment "web" successfully rolled out' in out

    # set image, record why, and wait with rollout status
    await k("set", "image", "deploy/web", "web=nginx:2")
    await k("annotate", "deploy/web", "kubernetes.io/change-cause=second: nginx 2", "--overwrite")
    out = (await k("rollout", "status", "deploy/web", "--timeout=20s")).stdout
    assert "successfully rolled out" in out
    await eventually(lambda: _causes(client, ns, {"1": "first: nginx 1", "2": "second: nginx 2"}))
    hist = (await k("rollout", "history", "deploy/web")).stdout
    assert "1         first: nginx 1" in hist and "2         second: nginx 2" in hist, hist
    rev1 = (await k("rollout", "history", "deploy/web", "--revision=1")).stdout
    assert "nginx:1" in rev1 and "pod-template-hash" in rev1

    # undo: back to revision 1's template, which becomes revision 3
    out = (await k("rollout", "undo", "deploy/web")).stdout
    assert "rolled back" in out
    await k("rollout", "status", "deploy/web", "--timeout=20s")
    d = await k.json("get", "deploy/web")
    assert image_of(d) == "nginx:1" and d["metadata"]["annotations"][REVISION] == "3"
    assert d["metadata"]["annotations"]["kubernetes.io/change-cause"] == "first: nginx 1"
    revs = [(image_of(rs), rs["metadata"]["annotations"][REVISION],
             rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision-history"))
            for rs in await replica_sets(client, ns)]
    assert revs == [("nginx:2", "2", None), ("nginx:1", "3", "1")]

    # undo to a named revision
    await k("rollout", "undo", "deploy/web", "--to-revision=2")
    await k("rollout", "status", "deploy/web", "--timeout=20s")
    assert image_of(await k.json("get", "deploy/web")) == "nginx:2"
    bad = await k("rollout", "undo", "deploy/web", "--to-revision=42", check=False)
    assert bad.returncode != 0 and "unable to find specified revision 42" in bad.stderr

    # pause: template changes wait; resume: they roll out
    await k("rollout", "pause", "deploy/web")
    await k("set", "image", "deploy/web", "web=nginx:3")
    await asyncio.sleep(0.5)
    assert "nginx:3" not in {image_of(rs) for rs in await replica_sets(client, ns)}
    d = await k.json("get", "deploy/web")
    prog = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert (prog["status"], prog["reason"]) == ("Unknown", "DeploymentPaused")
    await k("rollout", "resume", "deploy/web")
    await k("rollout", "status", "deploy/web", "--timeout=20s")
    assert image_of(await k.json("get", "deploy/web")) == "nginx:3"

    # restart: same image, new pods
    before = {p["metadata"]["name"] for p in (await client.list("pods", ns))["items"]}
    await k("rollout", "restart", "deploy/web")
    await k("rollout", "status", "deploy/web", "--timeout=20s")
    await eventually(lambda: rolled_out(client, ns, "web", "nginx:3"))
    after = await eventually(lambda: _settled_pods(client, ns, 3))
    assert not (after & before)
    d = await k.json("get", "deploy/web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]

    # kubectl get/describe show what happened
    table = (await k("get", "deploy/web")).stdout
    assert "3/3" in table, table
    desc = (await k("describe", "deploy/web")).stdout
    assert "ScalingReplicaSet" in desc and "NewReplicaSetAvailable" in desc, desc


async def _causes(client: ApiClient, ns: str, want: dict[str, str]) -> bool:
    got = {rs["metadata"]["annotations"][REVISION]: rs["metadata"]["annotations"].get("kubernetes.io/change-cause")
           for rs in await replica_sets(client, ns)}
    return got == want


async def _settled_pods(client: ApiClient, ns: str, n: int) -> set[str]:
    pods = [p for p in (await client.list("pods", ns))["items"] if not p["metadata"].get("deletionTimestamp")]
    names = {p["metadata"]["name"] for p in (await client.list("pods", ns))["items"]}
    return {p["metadata"]["name"] for p in pods} if len(pods) == n and len(names) == n else set()


async def test_rollout_status_reports_a_stuck_rollout(server: RunningServer, client: ApiClient, ns: str,
                                                      kubelet: FakeKubelet, controllers: ManagerFactory) -> None:
    await controllers("replicaset", "deployment")
    k = K(server, ns)
    await k("apply", "-f", "-", input=MANIFEST.replace("revisionHistoryLimit: 5", "progressDeadlineSeconds: 2"))
    await k("rollout", "status", "deploy/web", "--timeout=20s")
    await k("set", "image", "deploy/web", "web=crash:2")
    p = await k("rollout", "status", "deploy/web", "--timeout=20s", check=False)
    assert p.returncode != 0
    assert 'deployment "web" exceeded its progress deadline' in p.stderr, (p.stdout, p.stderr)
    # the old pods keep serving: at most maxUnavailable of them went
    d = await k.json("get", "deploy/web")
    assert d["status"]["availableReplicas"] >= 2


async def test_kubectl_rejects_bad_deployments(server: RunningServer, ns: str) -> None:
    k = K(server, ns)
    zero = MANIFEST.replace("{maxSurge: 1, maxUnavailable: 1}", "{maxSurge: 0, maxUnavailable: 0}")
    p = await k("apply", "-f", "-", input=zero, check=False)
    assert p.returncode != 0 and "spec.strategy.rollingUpdate.maxUnavailable" in p.stderr, p.stderr
    mismatch = MANIFEST.replace("matchLabels: {app: web}", "matchLabels: {app: other}")
    p = await k("apply", "-f", "-", input=mismatch, check=False)
    assert p.returncode != 0 and "selector" in p.stderr and "does not match template" in p.stderr, p.stderr
