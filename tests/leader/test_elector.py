"""The elector against a real API server (in process), with a fake monotonic clock where time matters."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shoal.apiserver.inprocess import InProcessTransport
from shoal.client import ApiClient, ApiException
from shoal.leader.elector import LeaderElector
from shoal.leader.lease import ElectionConfig
from tests.client.inprocess import inprocess_api


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w", "namespace": "default"}}


async def test_one_leader_then_takeover_after_the_lease_runs_out(tmp_path: Path) -> None:
    async with inprocess_api(tmp_path) as api:
        clock = FakeClock()
        cfg = ElectionConfig(3, 2, 0.5)
        a = LeaderElector(ApiClient(InProcessTransport(api)), name="kube-scheduler", identity="h_a", config=cfg,
                          clock=clock)
        b = LeaderElector(ApiClient(InProcessTransport(api)), name="kube-scheduler", identity="h_b", config=cfg,
                          clock=clock)
        assert await a.try_once() is True
        assert await b.try_once() is False  # first sight of a's lease: b waits the lease out
        lease = await a.client.get("leases", "kube-scheduler", "kube-system")
        assert lease["spec"]["holderIdentity"] == "h_a" and lease["spec"]["leaseDurationSeconds"] == 3
        # a renews within its deadline: b's clock starts again each time
        for _ in range(5):
            clock.now += 1.5
            assert await a.try_once() is True
            assert await b.try_once() is False
        # a freezes (no renewals); 2 s later it may no longer act, 3 s later b may take over
        fenced = a.fenced(ApiClient(InProcessTransport(api)))
        await fenced.create("configmaps", CM)  # still leading: the write goes through
        clock.now += 1.9
        assert a.leading()
        clock.now += 0.1
        assert not a.leading()
        with pytest.raises(ApiException) as e:
            await fenced.create("configmaps", {**CM, "metadata": {"name": "late", "namespace": "default"}})
        assert e.value.status == 0 and "not the leader" in e.value.message
        assert await fenced.get("configmaps", "w", "default")  # reads still pass
        assert await b.try_once() is False  # 2 s since b saw a's last renewal
        clock.now += 1.0
        assert await b.try_once() is True
        lease = await b.client.get("leases", "kube-scheduler", "kube-system")
        assert lease["spec"]["holderIdentity"] == "h_b" and lease["spec"]["leaseTransitions"] == 1
        # a thaws: its fast-path renewal conflicts, it reads, sees b and stays a follower
        assert await a.try_once() is False
        assert not a.leading()
        with pytest.raises(ApiException):
            await fenced.create("configmaps", {**CM, "metadata": {"name": "late", "namespace": "default"}})
        with pytest.raises(ApiException) as nf:
            await b.client.get("configmaps", "late", "default")
        assert nf.value.not_found


async def test_two_candidates_racing_never_both_lead(tmp_path: Path) -> None:
    async with inprocess_api(tmp_path) as api:
        clock = FakeClock()
        cands = [LeaderElector(ApiClient(InProcessTransport(api)), name="race", identity=f"h_{i}",
                               config=ElectionConfig(3, 2, 0.5), clock=clock) for i in range(4)]
        for _ in range(6):
            results = await asyncio.gather(*(c.try_once() for c in cands))
            assert sum(results) == 1
            clock.now += 0.5


class Recorder:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    async def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


async def test_campaign_runs_the_component_and_a_clean_stop_hands_over_at_once(tmp_path: Path) -> None:
    async with inprocess_api(tmp_path) as api:
        cfg = ElectionConfig(3, 2, 0.1)
        log: list[str] = []
        a = LeaderElector(ApiClient(InProcessTransport(api)), name="cm", identity="h_a", config=cfg)
        b = LeaderElector(ApiClient(InProcessTransport(api)), name="cm", identity="h_b", config=cfg)
        a.start(lambda: Recorder(log, "a"))
        for _ in range(100):
            if log:
                break
            await asyncio.sleep(0.02)
        assert log == ["start a"]
        b.start(lambda: Recorder(log, "b"))
        await asyncio.sleep(0.3)
        assert log == ["start a"] and a.leading() and not b.leading()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await a.stop()  # releases the Lease: b need not wait 3 s
        for _ in range(100):
            if "start b" in log:
                break
            await asyncio.sleep(0.02)
        assert log == ["start a", "stop a", "start b"]
        assert loop.time() - t0 < 1.5
        await b.stop()
        lease = await b.client.get("leases", "cm", "kube-system")
        assert lease["spec"]["holderIdentity"] == ""


async def test_campaign_steps_down_when_renewals_fail(tmp_path: Path) -> None:
    async with inprocess_api(tmp_path) as api:
        log: list[str] = []
        client = ApiClient(InProcessTransport(api))
        a = LeaderElector(client, name="cm", identity="h_a", config=ElectionConfig(1.5, 1.0, 0.1))
        a.start(lambda: Recorder(log, "a"))
        for _ in range(100):
            if log:
                break
            await asyncio.sleep(0.02)
        assert log == ["start a"]

        async def broken(*args: object, **kw: object) -> tuple[int, bytes]:
            raise ConnectionError("the API is unreachable")

        client.transport.request = broken  # type: ignore[method-assign]
        await asyncio.sleep(1.3)
        assert log == ["start a", "stop a"] and not a.leading()
        await a.stop()
