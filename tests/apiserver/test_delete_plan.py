"""plan_delete: what a DELETE does, decided over the object, the options and an injected clock.

Table tests against the real strategies' deletion rules (a generic kind, a pod, a
namespace); no store, no server.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from shoal.api import kinds
from shoal.apiserver.deleteplan import (
    Conflict,
    DeleteOptions,
    DeletePlan,
    DeleteRules,
    MarkTerminating,
    RemoveNow,
    Unchanged,
    finishes_deletion,
    plan_delete,
    propagated_finalizers,
)
from shoal.apiserver.strategies.base import DefaultStrategy
from shoal.apiserver.strategies.namespace import NamespaceStrategy
from shoal.apiserver.strategies.pod import PodStrategy

NOW = dt.datetime(2026, 12, 2, 10, 0, 0, 500_000, tzinfo=dt.UTC)
STAMP_NOW = "2026-12-02T10:00:00Z"
STAMP_30 = "2026-12-02T10:00:30Z"
EARLIER = "2026-12-02T09:59:00Z"


def _info(plural: str, group: str = "") -> Any:
    info = kinds.lookup(group, "v1", plural)
    assert info is not None
    return info


GENERIC: DeleteRules = DefaultStrategy(_info("configmaps"))
POD: DeleteRules = PodStrategy(_info("pods"), classes=None)  # type: ignore[arg-type]  # admission unused here
NAMESPACE: DeleteRules = NamespaceStrategy(_info("namespaces"))


def obj(*, uid: str = "u1", rv: str = "7", finalizers: list[str] | None = None, terminating: str | None = None,
        grace: int | None = None, spec: dict[str, Any] | None = None, phase: str | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": "x", "uid": uid, "resourceVersion": rv}
    if finalizers is not None:
        md["finalizers"] = finalizers
    if terminating is not None:
        md["deletionTimestamp"] = terminating
        md["deletionGracePeriodSeconds"] = grace if grace is not None else 0
    o: dict[str, Any] = {"metadata": md, "spec": spec or {}}
    if phase is not None:
        o["status"] = {"phase": phase}
    return o


def bound_pod(**kw: Any) -> dict[str, Any]:
    return obj(spec={"nodeName": "n1"}, **kw)


def mark(*, finalizers: tuple[str, ...] | None = None, stamp: str | None = STAMP_NOW, grace: int = 0,
         phase: str | None = None) -> MarkTerminating:
    return MarkTerminating(finalizers=finalizers, deletion_timestamp=stamp, grace_seconds=grace, phase=phase)


CASES: list[tuple[str, DeleteRules, dict[str, Any], DeleteOptions, DeletePlan]] = [
    # preconditions
    ("uid precondition fails", GENERIC, obj(), DeleteOptions(precondition_uid="u2"),
     Conflict("Precondition failed: UID in precondition: u2, UID in object meta: u1")),
    ("rv precondition fails", GENERIC, obj(), DeleteOptions(precondition_rv="6"), Conflict()),
    ("preconditions hold", GENERIC, obj(), DeleteOptions(precondition_uid="u1", precondition_rv="7"), RemoveNow()),
    # nothing holds it
    ("generic kind goes at once", GENERIC, obj(), DeleteOptions(), RemoveNow()),
    ("grace asked of a generic kind is ignored", GENERIC, obj(), DeleteOptions(grace_seconds=30), RemoveNow()),
    ("background on an object without finalizers", GENERIC, obj(), DeleteOptions(propagation="Background"),
     RemoveNow()),
    # finalizers
    ("finalizers mark it", GENERIC, obj(finalizers=["a"]), DeleteOptions(), mark()),
    ("already terminating, nothing new", GENERIC, obj(finalizers=["a"], terminating=EARLIER), DeleteOptions(),
     Unchanged()),
    ("already terminating, grace 0 asked again", GENERIC, obj(finalizers=["a"], terminating=EARLIER),
     DeleteOptions(grace_seconds=0), Unchanged()),
    ("orphan adds its finalizer", GENERIC, obj(), DeleteOptions(propagation="Orphan"),
     mark(finalizers=("orphan",))),
    ("foreground replaces orphan", GENERIC, obj(finalizers=["a", "orphan"]), DeleteOptions(propagation="Foreground"),
     mark(finalizers=("a", "foregroundDeletion"))),
    ("background removes the collector's finalizers; others still hold it", GENERIC,
     obj(finalizers=["a", "orphan"], terminating=EARLIER), DeleteOptions(propagation="Background"),
     mark(finalizers=("a",), stamp=None)),
    ("background removes the last finalizer of a terminating object", GENERIC,
     obj(finalizers=["orphan"], terminating=EARLIER), DeleteOptions(propagation="Background"), RemoveNow()),
    ("policy already in place, terminating", GENERIC, obj(finalizers=["orphan"], terminating=EARLIER),
     DeleteOptions(propagation="Orphan"), Unchanged()),
    # pods
    ("unbound pod goes at once", POD, obj(), DeleteOptions(), RemoveNow()),
    ("bound pod gets the default grace", POD, bound_pod(), DeleteOptions(), mark(stamp=STAMP_30, grace=30)),
    ("bound pod with its own grace", POD, obj(spec={"nodeName": "n1", "terminationGracePeriodSeconds": 5}),
     DeleteOptions(), mark(stamp="2026-12-02T10:00:05Z", grace=5)),
    ("the request's grace wins", POD, bound_pod(), DeleteOptions(grace_seconds=10),
     mark(stamp="2026-12-02T10:00:10Z", grace=10)),
    ("negative grace is 0", POD, bound_pod(), DeleteOptions(grace_seconds=-5), RemoveNow()),
    ("force delete of a stopping pod", POD, bound_pod(terminating=EARLIER, grace=30), DeleteOptions(grace_seconds=0),
     RemoveNow()),
    ("a shorter grace moves the deadline", POD, bound_pod(terminating=EARLIER, grace=30),
     DeleteOptions(grace_seconds=10), mark(stamp="2026-12-02T10:00:10Z", grace=10)),
    ("a longer grace changes nothing", POD, bound_pod(terminating=EARLIER, grace=30),
     DeleteOptions(grace_seconds=60), Unchanged()),
    ("the same delete again changes nothing", POD, bound_pod(terminating=EARLIER, grace=30), DeleteOptions(),
     Unchanged()),
    ("finished pod goes at once", POD, bound_pod(phase="Succeeded"), DeleteOptions(), RemoveNow()),
    ("finished pod with a finalizer is marked without grace", POD, bound_pod(phase="Failed", finalizers=["f"]),
     DeleteOptions(), mark()),
    ("grace of centuries stays within datetime", POD, bound_pod(), DeleteOptions(grace_seconds=2**62),
     mark(stamp="2126-11-08T10:00:00Z", grace=2**62)),
    # namespaces
    ("namespace held by its spec", NAMESPACE, obj(spec={"finalizers": ["kubernetes"]}), DeleteOptions(),
     mark(phase="Terminating")),
    ("namespace terminating already", NAMESPACE,
     obj(spec={"finalizers": ["kubernetes"]}, terminating=EARLIER, phase="Terminating"), DeleteOptions(),
     Unchanged()),
    ("empty namespace without finalizers goes", NAMESPACE, obj(), DeleteOptions(), RemoveNow()),
]


@pytest.mark.parametrize(("rules", "o", "options", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_delete(rules: DeleteRules, o: dict[str, Any], options: DeleteOptions, want: DeletePlan) -> None:
    before = copy.deepcopy(o)
    assert plan_delete(o, options, NOW, rules=rules) == want
    assert o == before  # planning reads the object only


def test_mark_terminating_applies_its_marks() -> None:
    o = obj(finalizers=["orphan", "a"], phase="Active")
    got = mark(finalizers=("a",), stamp=STAMP_30, grace=30, phase="Terminating").apply(o)
    assert got is o
    assert o["metadata"]["finalizers"] == ["a"]
    assert (o["metadata"]["deletionTimestamp"], o["metadata"]["deletionGracePeriodSeconds"]) == (STAMP_30, 30)
    assert o["status"]["phase"] == "Terminating"
    o = obj(finalizers=["orphan"], terminating=EARLIER, grace=0)
    mark(finalizers=(), stamp=None).apply(o)
    assert "finalizers" not in o["metadata"] and o["metadata"]["deletionTimestamp"] == EARLIER


@pytest.mark.parametrize(("finalizers", "policy", "want"), [
    ([], None, None),
    (["a"], None, None),
    ([], "Orphan", ("orphan",)),
    (["orphan"], "Orphan", None),
    (["foregroundDeletion", "a"], "Orphan", ("a", "orphan")),
    (["a"], "Background", None),
    (["orphan", "foregroundDeletion"], "Background", ()),
])
def test_propagated_finalizers(finalizers: list[str], policy: Any, want: tuple[str, ...] | None) -> None:
    assert propagated_finalizers(finalizers, policy) == want


@pytest.mark.parametrize(("rules", "o", "want"), [
    (GENERIC, obj(), False),  # not terminating
    (GENERIC, obj(terminating=EARLIER), True),
    (GENERIC, obj(terminating=EARLIER, finalizers=["a"]), False),
    (POD, bound_pod(terminating=EARLIER, grace=30), False),  # its node removes it once stopped
    (POD, bound_pod(terminating=EARLIER, grace=0), True),
    (NAMESPACE, obj(terminating=EARLIER, spec={"finalizers": ["kubernetes"]}), False),
    (NAMESPACE, obj(terminating=EARLIER, spec={"finalizers": []}), True),
])
def test_finishes_deletion(rules: DeleteRules, o: dict[str, Any], want: bool) -> None:
    assert finishes_deletion(o, rules) is want
