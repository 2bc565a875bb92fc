"""Table tests of the Rollout step machine (pure, with an injected clock)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shoal.api.patch_merge import apply_merge_patch
from shoal.ingress import rolloutplan as rp

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ANALYSIS = {"maxErrorRate": 0.05, "maxLatencyMs": 500, "minRequests": 20, "interval": "5s"}
SPEC = {"replicas": 2, "strategy": {"canary": {
    "stableService": "web", "canaryService": "web-canary", "analysis": ANALYSIS,
    "steps": [{"setWeight": 20}, {"pause": {"duration": "10s"}}, {"setWeight": 50}, {"pause": {}},
              {"analysis": {"duration": "30s"}}]}}}
OK = rp.Metrics(100, 1, 20.0)


def at(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def run(status: dict[str, Any], *, t: float = 0, h: str = "v2", ready: bool = True, metrics: rp.Metrics | None = OK,
        promote: bool = False, abort: bool = False, spec: dict[str, Any] = SPEC) -> rp.Decision:
    return rp.plan(spec, status, rp.Observed(h, ready, promote, abort, metrics), at(t))


def test_first_version_is_stable_at_once() -> None:
    d = run({}, h="v1")
    assert d.status["stableHash"] == "v1" and d.status["phase"] == "Healthy" and d.status["canaryWeight"] == 0


def test_a_canary_walks_its_steps() -> None:
    st: dict[str, Any] = {"stableHash": "v1"}
    d = run(st, ready=False)
    assert (d.status["phase"], d.status["canaryHash"], d.status["canaryWeight"]) == ("Progressing", "v2", 0)
    d = run(d.status, t=1)  # ready: setWeight 20
    assert d.status["canaryWeight"] == 20 and d.status["currentStepIndex"] == 1
    d = run(d.status, t=2)  # pause 10s
    assert d.status["phase"] == "Paused" and d.requeue_after == pytest.approx(9)
    d = run(d.status, t=11.5)  # paused long enough: setWeight 50
    assert d.status["canaryWeight"] == 50 and d.status["currentStepIndex"] == 3
    d = run(d.status, t=12)
    assert d.status["phase"] == "Paused" and "until promoted" in d.status["message"] and d.requeue_after is None
    d = run(d.status, t=100, promote=True)
    assert d.consumed == (rp.PROMOTE,) and d.status["currentStepIndex"] == 4 and d.status["phase"] == "Progressing"
    d = run(d.status, t=120)
    assert "analysing" in d.status["message"]
    d = run(d.status, t=131)
    assert d.status["phase"] == "Healthy" and d.status["stableHash"] == "v2" and d.status["canaryWeight"] == 0
    assert "canaryHash" not in d.status and ("Promoted", "canary v2 is now stable") in d.events


@pytest.mark.parametrize(("metrics", "why"), [
    (rp.Metrics(100, 30, 20.0), "5xx rate 0.300 over 0.05"),
    (rp.Metrics(100, 0, 900.0), "latency 900 ms over 500 ms"),
])
def test_bad_canary_aborts_and_stays_aborted(metrics: rp.Metrics, why: str) -> None:
    st = {"stableHash": "v1", "canaryHash": "v2", "canaryWeight": 20, "currentStepIndex": 1,
          "stepStartedAt": "2026-01-01T00:00:00Z"}
    d = run(st, t=3, metrics=metrics)
    assert d.status["phase"] == "Degraded" and d.status["canaryWeight"] == 0 and d.status["abortedHash"] == "v2"
    assert why in d.status["message"] and d.events[0][0] == "Aborted"
    assert rp.replicas(SPEC, d.status) == {"v1": 2}  # the canary's pods go
    again = run(d.status, t=60)
    assert again.status["phase"] == "Degraded" and again.status["canaryWeight"] == 0
    fixed = run(d.status, t=70, h="v3", ready=False)  # a new template starts again
    assert fixed.status["canaryHash"] == "v3" and fixed.status["phase"] == "Progressing"


def test_too_few_requests_do_not_abort() -> None:
    st = {"stableHash": "v1", "canaryHash": "v2", "canaryWeight": 20, "currentStepIndex": 1,
          "stepStartedAt": "2026-01-01T00:00:00Z"}
    assert run(st, t=3, metrics=rp.Metrics(10, 10, 5.0)).status["phase"] == "Paused"


def test_unreadable_metrics_pause_never_promote() -> None:
    st = {"stableHash": "v1", "canaryHash": "v2", "canaryWeight": 50, "currentStepIndex": 4,
          "stepStartedAt": "2026-01-01T00:00:00Z"}
    for t in (10, 100, 1000):
        d = run(st, t=t, metrics=None)
        assert d.status["phase"] == "Paused" and "cannot read" in d.status["message"]
        assert d.status.get("stableHash") == "v1"


def test_abort_by_hand_and_revert_to_stable() -> None:
    st = {"stableHash": "v1", "canaryHash": "v2", "canaryWeight": 50, "currentStepIndex": 3}
    d = run(st, abort=True)
    assert d.status["phase"] == "Degraded" and d.consumed == (rp.ABORT,)
    back = run(d.status, h="v1")  # template reverted: healthy on stable
    assert back.status["phase"] == "Healthy" and back.status["canaryWeight"] == 0


def test_split_and_services() -> None:
    st = {"stableHash": "v1", "canaryHash": "v2", "canaryWeight": 30}
    assert rp.split(SPEC, st) == ("web", (("web", 70), ("web-canary", 30)))
    assert rp.service_hashes(SPEC, st) == {"web": "v1", "web-canary": "v2"}
    assert rp.service_hashes(SPEC, {"stableHash": "v1"}) == {"web": "v1", "web-canary": "v1"}


BG = {"replicas": 3, "strategy": {"blueGreen": {"activeService": "web", "previewService": "web-preview",
                                                "autoPromotionEnabled": False, "scaleDownDelaySeconds": 30}}}


def test_blue_green_preview_promote_scale_down_delay() -> None:
    d = run({}, h="blue", spec=BG)
    assert d.status["activeHash"] == "blue"
    d = run(d.status, h="green", ready=False, spec=BG)
    assert d.status["previewHash"] == "green" and d.status["phase"] == "Progressing"
    assert rp.service_hashes(BG, d.status) == {"web": "blue", "web-preview": "green"}
    d = run(d.status, t=5, h="green", spec=BG)
    assert d.status["phase"] == "Paused"
    d = run(d.status, t=10, h="green", promote=True, spec=BG)
    assert d.status["activeHash"] == "green" and d.status["previousHash"] == "blue"
    assert rp.service_hashes(BG, d.status) == {"web": "green", "web-preview": "green"}
    assert rp.replicas(BG, d.status) == {"green": 3, "blue": 3}  # old kept warm
    assert rp.split(BG, d.status) is None
    later = run(d.status, t=41, h="green", spec=BG)
    assert rp.replicas(BG, later.status) == {"green": 3}


def test_blue_green_auto_promotion() -> None:
    bg = {k: v for k, v in BG["strategy"]["blueGreen"].items() if k != "autoPromotionEnabled"}
    spec = {**BG, "strategy": {"blueGreen": {**bg, "autoPromotionSeconds": 20}}}
    st = run({"activeHash": "blue"}, t=0, h="green", spec=spec).status
    assert run(st, t=10, h="green", spec=spec).status["activeHash"] == "blue"
    assert run(st, t=21, h="green", spec=spec).status["activeHash"] == "green"


def test_blue_green_promotes_when_ready_unless_auto_promotion_is_off() -> None:
    """Argo Rollouts' default (``autoPromotionEnabled`` true, no ``autoPromotionSeconds``): promoted as soon
    as the preview is ready; ``autoPromotionEnabled: false`` is a manual gate even with seconds set."""
    bg = {k: v for k, v in BG["strategy"]["blueGreen"].items() if k != "autoPromotionEnabled"}
    default = {**BG, "strategy": {"blueGreen": bg}}
    st = run({"activeHash": "blue"}, t=0, h="green", ready=False, spec=default).status
    assert st["activeHash"] == "blue" and st["phase"] == "Progressing"
    d = run(st, t=1, h="green", spec=default)
    assert d.status["activeHash"] == "green" and d.status["previousHash"] == "blue"
    gated = {**BG, "strategy": {"blueGreen": {**bg, "autoPromotionEnabled": False, "autoPromotionSeconds": 5}}}
    st = run({"activeHash": "blue"}, t=0, h="green", spec=gated).status
    later = run(st, t=600, h="green", spec=gated)
    assert later.status["activeHash"] == "blue" and later.status["phase"] == "Paused"
    assert run(st, t=601, h="green", promote=True, spec=gated).status["activeHash"] == "green"
    assert [rp.promotion_wait(b, 3.0) for b in ({}, {"autoPromotionSeconds": 10}, {"autoPromotionEnabled": False},
                                               {"autoPromotionEnabled": True, "autoPromotionSeconds": 2})] == \
        [0.0, 7.0, None, -1.0]


def test_the_status_patch_drops_what_the_plan_dropped() -> None:
    """The controller writes status as a merge patch: what the plan removed must go from the stored status
    too, or a blue-green abort kept the aborted preview's pods (``replicas`` reads ``previewHash``) and
    every pass rewrote the status (the stored one never equals the plan's)."""
    def stored_after(status: dict[str, Any], d: rp.Decision) -> dict[str, Any]:
        return apply_merge_patch({"status": status}, {"status": rp.status_patch(status, d.status)})["status"]

    st = run({"activeHash": "blue"}, h="green", spec=BG).status
    assert st["previewHash"] == "green"
    aborted = run(st, t=5, h="green", abort=True, spec=BG)
    st = stored_after(st, aborted)
    assert st == aborted.status and "previewHash" not in st
    assert rp.replicas(BG, st) == {"blue": 3} and rp.service_hashes(BG, st) == {"web": "blue", "web-preview": "blue"}
    promoted = run({"activeHash": "blue", "previewHash": "green"}, t=10, h="green", promote=True, spec=BG)
    st = stored_after({"activeHash": "blue", "previewHash": "green"}, promoted)
    later = run(st, t=41, h="green", spec=BG)
    st = stored_after(st, later)
    assert st == later.status and "previousHash" not in st
    assert run(st, t=42, h="green", spec=BG).status == st  # settled: nothing more to write
    assert rp.status_patch({"a": 1, "b": 2}, {"a": 3}) == {"a": 3, "b": None}


@pytest.mark.parametrize(("text", "secs"), [("30s", 30), ("1m", 60), ("500ms", 0.5), ("2h", 7200), (5, 5),
                                            ("junk", 0)])
def test_durations(text: object, secs: float) -> None:
    assert rp.seconds(text) == secs
