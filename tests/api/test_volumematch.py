"""The static shape check the PV controller and the scheduler's VolumeBinding share (table tests).

``shape_mismatch``/``shape_satisfies`` judge a volume against a claim; each case is run through
both readings, the wire objects' (``volume_shape``/``claim_shape``, the PV controller's) and the
scheduler's (``VolumeInfo``/``ClaimInfo``), which must agree.
"""

from __future__ import annotations

from typing import Any

import pytest

from shoal.api.storage_contract import BETA_STORAGE_CLASS
from shoal.api.volumematch import (
    claim_shape,
    mismatch,
    shape_mismatch,
    shape_satisfies,
    volume_shape,
)
from shoal.scheduler.volumes import claim_info, volume_info


def pv(size: str = "10Gi", *, modes: tuple[str, ...] = ("ReadWriteOnce",), sc: str = "fast",
       mode: str | None = None, labels: dict[str, str] | None = None, beta: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": sc}
    if mode is not None:
        spec["volumeMode"] = mode
    md: dict[str, Any] = {"name": "pv1", "labels": labels or {}}
    if beta is not None:
        md["annotations"] = {BETA_STORAGE_CLASS: beta}
    return {"metadata": md, "spec": spec, "status": {"phase": "Available"}}


def pvc(size: object = "5Gi", *, modes: tuple[str, ...] = ("ReadWriteOnce",), sc: str | None = "fast",
        mode: str | None = None, selector: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"resources": {"requests": {"storage": size}}, "accessModes": list(modes)}
    if sc is not None:
        spec["storageClassName"] = sc
    if mode is not None:
        spec["volumeMode"] = mode
    if selector is not None:
        spec["selector"] = selector
    return {"metadata": {"name": "c", "namespace": "ns", "uid": "u"}, "spec": spec}


CASES = [
    # (id, volume, claim, mismatch reason, satisfies)
    ("fits", pv(), pvc(), "", True),
    ("exactly the size", pv("5Gi"), pvc("5Gi"), "", True),
    ("units differ", pv("5368709120"), pvc("5Gi"), "", True),
    ("too small", pv("1Gi"), pvc("5Gi"), "requested PV is too small", False),
    ("claim size unreadable", pv(), pvc("lots"), "requested PV is too small", False),
    ("claim asks no size", pv(), pvc(None), "requested PV is too small", False),
    ("volume size unreadable", pv("big"), pvc(), "requested PV is too small", False),
    ("other class", pv(sc="slow"), pvc(), "storageClassName does not match", False),
    ("no class on either", pv(sc=""), pvc(sc=""), "", True),
    ("claim without class vs classed volume", pv(), pvc(sc=None), "storageClassName does not match", False),
    ("beta annotation wins", pv(sc="slow", beta="fast"), pvc(), "", True),
    ("block vs filesystem", pv(mode="Block"), pvc(), "incompatible volumeMode", False),
    ("filesystem is the default", pv(mode="Filesystem"), pvc(), "", True),
    ("block both", pv(mode="Block"), pvc(mode="Block"), "", True),
    ("missing access mode", pv(), pvc(modes=("ReadWriteMany",)), "incompatible accessMode", False),
    ("subset of access modes", pv(modes=("ReadWriteOnce", "ReadOnlyMany")), pvc(modes=("ReadOnlyMany",)), "", True),
    ("size checked before class", pv("1Gi", sc="slow"), pvc(), "requested PV is too small", False),
    ("selector matches", pv(labels={"tier": "db"}), pvc(selector={"matchLabels": {"tier": "db"}}), "", True),
    ("selector does not match", pv(labels={"tier": "web"}), pvc(selector={"matchLabels": {"tier": "db"}}),
     "", False),
    ("selector expression", pv(labels={"tier": "db"}),
     pvc(selector={"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db", "cache"]}]}), "", True),
    ("empty selector matches all", pv(), pvc(selector={}), "", True),
    ("unreadable selector matches nothing", pv(labels={"tier": "db"}),
     pvc(selector={"matchExpressions": [{"key": "tier", "operator": "Near"}]}), "", False),
    ("selector of the wrong type", pv(), pvc(selector=["tier"]), "", False),
]


@pytest.mark.parametrize(("volume", "claim", "reason", "ok"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_shape_check_both_readings(volume: dict[str, Any], claim: dict[str, Any], reason: str, ok: bool) -> None:
    wire = (volume_shape(volume), claim_shape(claim))
    sched = (volume_info(volume), claim_info(claim))
    for v, c in (wire, sched):
        assert shape_mismatch(v, c) == reason
        assert shape_satisfies(v, c) is ok
    assert mismatch(volume, claim) == reason  # the PV controller's entry point over wire objects


def test_scheduler_reads_the_same_shape() -> None:
    volume, claim = pv("2Gi", modes=("ReadOnlyMany",), labels={"a": "b"}), pvc("1Gi", modes=("ReadOnlyMany",))
    v, c = volume_info(volume), claim_info(claim)
    vs, cs = volume_shape(volume), claim_shape(claim)
    assert (v.storage_class, v.capacity, v.access_modes, v.volume_mode, dict(v.labels)) == (
        vs.storage_class, vs.capacity, vs.access_modes, vs.volume_mode, dict(vs.labels))
    assert (c.storage_class, c.size, c.access_modes, c.volume_mode, c.bad_selector) == (
        cs.storage_class, cs.size, cs.access_modes, cs.volume_mode, cs.bad_selector)
