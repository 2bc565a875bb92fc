"""Chaos on loopback: three servers with embedded etcd members, a simulated-node agent that knows all three,
a Deployment, and a client writing 100 ConfigMaps a second (four threads) that records what was acknowledged.

Each test starts its own cluster (about 15 s here) and is bounded in time.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.etcd_fixture import etcd_available
from tests.ha.chaos import CMS, Writer, bound_node, deployment, pod, start_agent, wait_until
from tests.ha.cluster import Cluster, Member
from tests.ha.linearizability import Op, linearizable

pytestmark = [pytest.mark.skipif(not etcd_available(), reason="etcd is not installed"), pytest.mark.timeout(240)]

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def agent(cluster: Cluster, tmp_path: Path) -> Iterator[None]:
    proc = start_agent(cluster, tmp_path / "agent")
    try:
        s, url = cluster.members[0].server.session(), cluster.members[0].server.url
        wait_until("two Ready simulated nodes", lambda: len([
            n for n in s.get(url + "/api/v1/nodes", timeout=5).json()["items"]
            if n["metadata"]["name"].startswith("sim")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]) == 2,
            timeout=30)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except Exception:
            proc.kill()


def api(m: Member) -> tuple[requests.Session, str]:
    return m.server.session(), m.server.url


def ready_replicas(s: requests.Session, url: str, name: str) -> int:
    d = s.get(f"{url}{DEPLOY}/{name}", timeout=5).json()
    return int((d.get("status") or {}).get("readyReplicas") or 0)


def pods_of(s: requests.Session, url: str, app: str) -> list[dict[str, Any]]:
    return list(s.get(url + PODS, params={"labelSelector": f"app={app}"}, timeout=5).json()["items"])


def create(s: requests.Session, url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    def attempt() -> dict[str, Any] | None:
        r = s.post(url + path, json=body, timeout=5)
        if r.status_code == 409:
            return dict(s.get(f"{url}{path}/{body['metadata']['name']}", timeout=5).json())
        return dict(r.json()) if r.status_code == 201 else None
    return dict(wait_until(f"creating {body['metadata']['name']}", attempt, timeout=20))


def freeze(m: Member, sig: int) -> list[int]:
    pids = m.all_pids()
    for pid in pids:
        os.kill(pid, sig)
    return pids


def test_kill_the_leader(cluster: Cluster, agent: None) -> None:
    s0, u0 = api(cluster.members[0])
    create(s0, u0, DEPLOY, deployment("web", 4))
    wait_until("4 ready replicas", lambda: ready_replicas(s0, u0, "web") == 4, timeout=30)
    writer = Writer(cluster)
    writer.start()
    try:
        time.sleep(2.0)
        undisturbed = writer.rate_between(writer.started + 0.5, time.monotonic())
        leader = wait_until("the scheduler's leader", lambda: cluster.leader_of("kube-scheduler"), timeout=10)
        old = cluster.lease_holder("kube-scheduler")
        leader.server.proc.kill()  # kill -9: its etcd member goes with it (pdeathsig), its scheduler follows
        t0 = time.monotonic()
        survivor = next(m for m in cluster.members if m is not leader)
        s, u = api(survivor)
        create(s, u, PODS, pod("after-kill"))
        bound = wait_until("the new leader's first binding", lambda: bound_node(s, u, "after-kill"), timeout=20,
                           every=0.05)
        took = time.monotonic() - t0
        print(f"kill -9 of the leader -> first binding by the new one: {took:.2f} s")
        assert bound.startswith("sim")
        assert cluster.lease_holder("kube-scheduler") not in ("", old)
        assert took <= 5.0, f"the new leader acted after {took:.1f} s"
        # the controllers carry on too: scale up, replicas converge
        patch = s.patch(f"{u}{DEPLOY}/web", json={"spec": {"replicas": 6}}, timeout=10,
                        headers={"Content-Type": "application/merge-patch+json"})
        assert patch.status_code == 200, patch.text
        wait_until("6 ready replicas", lambda: ready_replicas(s, u, "web") == 6, timeout=30)
        assert writer.acked_since(t0) > 0, "no write was acknowledged after the kill"
        time.sleep(1.0)
    finally:
        writer.stop()
    # every acknowledged write is readable afterwards
    names = {cm["metadata"]["name"] for cm in s.get(u + CMS, timeout=30).json()["items"]}
    lost = [n for n, _ in writer.acked if n not in names]
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
    whole = len(writer.acked) / (writer.acked[-1][1] - writer.started)
    print(f"{len(writer.acked)} writes acknowledged ({undisturbed:.0f}/s before the kill, {whole:.0f}/s over the "
          f"test), {len(writer.failures)} failed or unanswered")
    # no pod twice: exactly the replicas, each bound once to a node, and no surplus pod ever deleted
    pods = pods_of(s, u, "web")
    assert len(pods) == 6 and all(p["spec"].get("nodeName") for p in pods)
    events = s.get("/".join([u, "api/v1/namespaces/default/events"]), timeout=10).json()["items"]
    surplus = [e for e in events if e.get("reason") == "SuccessfulDelete"]
    assert not surplus, [e.get("message") for e in surplus]
    sched = {}
    for e in events:
        if e.get("reason") == "Scheduled":
            key = e["involvedObject"]["name"]
            sched[key] = sched.get(key, 0) + int(e.get("count") or 1)
    assert all(v == 1 for v in sched.values()), sched


def test_frozen_leader_steps_down_without_acting(cluster: Cluster, agent: None) -> None:
    """SIGSTOP the leader (server, scheduler, etcd member) for 20 s: another takes over; thawed, the old one
    finds its renew deadline long past and stops, its writes refused by the fence, not sent."""
    lease = "kube-scheduler"
    leader = wait_until("the scheduler's leader", lambda: cluster.leader_of(lease), timeout=10)
    old = cluster.lease_holder(lease)
    survivor = next(m for m in cluster.members if m is not leader)
    s, u = api(survivor)
    freeze(leader, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        # work the frozen leader would have done: pods it saw nothing of
        create(s, u, PODS, pod("during-freeze"))
        wait_until("a binding by the new leader", lambda: bound_node(s, u, "during-freeze"), timeout=20)
        new = cluster.lease_holder(lease)
        assert new not in ("", old)
        time.sleep(max(0.0, 20 - (time.monotonic() - t0)))
        # just before the thaw: pods created while it sleeps, which a thawed scheduler would race to bind
        for i in range(5):
            create(s, u, PODS, pod(f"at-thaw-{i}"))
    finally:
        log_at_thaw = len(leader.server.log())  # read while frozen: the thawed process may log at once
        freeze(leader, signal.SIGCONT)
    for i in range(5):
        wait_until(f"at-thaw-{i} bound", lambda i=i: bound_node(s, u, f"at-thaw-{i}"), timeout=20)
    time.sleep(3.0)  # the thawed server has had its turn
    after = leader.server.log()[log_at_thaw:]
    assert cluster.lease_holder(lease) == new, "leadership moved again after the thaw"
    # it stepped down, and never said it leads again
    assert "could not renew" in after and "stepping down" in after, after[-2000:]
    assert f"{old} is the leader" not in after
    # each pod bound once, by the one leader: one Scheduled event each
    events = s.get(f"{u}/api/v1/namespaces/default/events", timeout=10).json()["items"]
    counts: dict[str, int] = {}
    for e in events:
        if e.get("reason") == "Scheduled" and e["involvedObject"]["name"].startswith(("at-thaw", "during")):
            counts[e["involvedObject"]["name"]] = counts.get(e["involvedObject"]["name"], 0) + int(e.get("count") or 1)
    assert counts == {"during-freeze": 1, **{f"at-thaw-{i}": 1 for i in range(5)}}, counts
    # the Lease says who acted: the new holder's term began while the old one was frozen, and holds
    lease_obj = s.get(f"{u}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}", timeout=5).json()
    assert lease_obj["spec"]["holderIdentity"] == new and lease_obj["spec"]["leaseTransitions"] >= 1


def cm_write(s: requests.Session, url: str, name: str, timeout: float = 5.0) -> tuple[int, float, str]:
    """One ConfigMap create: (status (0: no answer), seconds, Retry-After)."""
    t = time.monotonic()
    try:
        r = s.post(url + CMS, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}},
                   timeout=timeout)
    except requests.RequestException:
        return 0, time.monotonic() - t, ""
    return r.status_code, time.monotonic() - t, r.headers.get("Retry-After", "")


def test_etcd_members_lost_and_back(cluster: Cluster) -> None:
    s0, u0 = api(cluster.members[0])
    m1, m2 = cluster.members[1], cluster.members[2]
    assert cm_write(s0, u0, "before")[0] == 201
    frozen: list[int] = []
    try:
        # one member killed: writes go on (its server starts it again)
        pid = m2.etcd_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        statuses = [cm_write(s0, u0, f"one-killed-{i}")[0] for i in range(20)]
        assert statuses.count(201) >= 18, statuses
        wait_until("m2's etcd member back", lambda: m2.etcd_pid() not in (None, pid), timeout=10)
        # one member down for good (frozen): writes go on
        pid2 = m2.etcd_pid()
        assert pid2 is not None
        os.kill(pid2, signal.SIGSTOP)
        frozen.append(pid2)
        statuses = [cm_write(s0, u0, f"one-down-{i}")[0] for i in range(20)]
        assert statuses.count(201) >= 18, statuses
        # two down: no quorum; a write answers 503 with Retry-After within 2 s, /readyz fails naming etcd
        pid1 = m1.etcd_pid()
        assert pid1 is not None
        os.kill(pid1, signal.SIGSTOP)
        frozen.append(pid1)
        t0 = time.monotonic()
        status, took, retry_after = cm_write(s0, u0, "no-quorum")
        print(f"a write after losing quorum answered {status} in {took:.2f} s")
        assert status == 503 and retry_after, (status, retry_after)
        assert took <= 2.0
        status, took, _ = cm_write(s0, u0, "no-quorum-2")
        assert status == 503 and took <= 2.0
        r = requests.get(u0 + "/readyz", params={"verbose": "1"}, verify=cluster.members[0].server.ca, timeout=5)
        assert r.status_code == 500 and "[-]etcd failed" in r.text, r.text
        kubectl = cluster.members[0].server.kubectl("get", "--raw", "/readyz?verbose", check=False)
        assert kubectl.returncode != 0 and "etcd" in kubectl.stdout + kubectl.stderr
        # reads go to etcd too (lists are not served from the watch cache): they also answer at once
        t_read = time.monotonic()
        listed = s0.get(u0 + CMS, params={"resourceVersion": "0"}, timeout=5)
        assert listed.status_code == 503 and time.monotonic() - t_read <= 2.0
        assert time.monotonic() - t0 < 15
        # one comes back: writes and readiness recover
        os.kill(pid1, signal.SIGCONT)
        frozen.remove(pid1)
        t1 = time.monotonic()
        wait_until("writes again", lambda: cm_write(s0, u0, f"back-{time.monotonic()}")[0] == 201, timeout=20,
                   every=0.2)
        print(f"writes accepted again {time.monotonic() - t1:.2f} s after a member came back")
        wait_until("/readyz again", lambda: requests.get(u0 + "/readyz", verify=cluster.members[0].server.ca,
                                                         timeout=5).status_code == 200, timeout=10)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)


class CasClient(threading.Thread):
    """Reads the register and compare-and-swaps it (a PUT with the resourceVersion read), recording each
    operation with its outcome; a write that did not come back has an unknown outcome."""

    def __init__(self, n: int, cluster: Cluster, halt: threading.Event) -> None:
        super().__init__(daemon=True)
        self.n = n
        self.urls = [m.server.url for m in cluster.members]
        self.sessions = cluster.sessions()
        self.current = n % len(self.urls)
        self.halt = halt
        self.ops: list[Op] = []

    def _next(self) -> None:
        self.current = (self.current + 1) % len(self.urls)

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            s, u = self.sessions[self.current], self.urls[self.current]
            t = time.monotonic()
            try:
                r = s.get(f"{u}{CMS}/reg", timeout=3)
            except requests.RequestException:
                self._next()
                continue
            if r.status_code != 200:
                self._next()
                time.sleep(0.1)
                continue
            obj = r.json()
            seen = obj["data"]["v"]
            self.ops.append(Op("read", t, time.monotonic(), value=seen, client=self.n))
            new = f"c{self.n}-{i}"
            i += 1
            obj["data"]["v"] = new
            t = time.monotonic()
            try:
                w = s.put(f"{u}{CMS}/reg", json=obj, timeout=3)
                status = w.status_code
            except requests.RequestException:
                status = 0
            if status == 200:
                self.ops.append(Op("cas", t, time.monotonic(), expected=seen, new=new, ok=True, client=self.n))
            elif status == 409:
                self.ops.append(Op("cas", t, time.monotonic(), expected=seen, new=new, ok=False, client=self.n))
            else:  # no answer, or 5xx: it may have been applied
                self.ops.append(Op("cas", t, math.inf, expected=seen, new=new, ok=None, client=self.n))
                self._next()
            time.sleep(0.1)


def test_cas_register_is_linearizable_under_faults(cluster: Cluster) -> None:
    s0, u0 = api(cluster.members[0])
    create(s0, u0, CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "reg"}, "data": {"v": "init"}})
    halt = threading.Event()
    clients = [CasClient(n, cluster, halt) for n in range(3)]
    for c in clients:
        c.start()
    frozen: list[int] = []
    try:
        time.sleep(3)
        cluster.members[2].server.proc.kill()  # a server and its etcd member, with -9
        time.sleep(3)
        pid = cluster.members[1].etcd_pid()  # and another member frozen: no quorum
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        frozen.append(pid)
        time.sleep(3)
        os.kill(pid, signal.SIGCONT)
        frozen.remove(pid)
        time.sleep(4)
    finally:
        halt.set()
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        for c in clients:
            c.join(10)
    history = [op for c in clients for op in c.ops]
    done = [op for op in history if op.kind == "cas" and op.ok]
    unknown = [op for op in history if op.kind == "cas" and op.ok is None]
    print(f"history: {len(history)} operations, {len(done)} successful CAS, {len(unknown)} unknown outcomes")
    assert len(done) >= 10
    assert linearizable(history, "init")
    # the checker is not vacuous on this very history: a read of an old value put after the end fails it
    last_ret = max(op.ret for op in history if op.ret != math.inf)
    assert not linearizable([*history, Op("read", last_ret + 1, last_ret + 2, value="init")], "init")
