"""Table tests for ``gcplan``: what the garbage collector does with an owner and with a dependent. No I/O."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.api.views import OwnerReference
from shoal.controllers import gcplan
from shoal.controllers.gcplan import (
    AwaitDependents,
    DeleteDependent,
    Keep,
    OrphanDependents,
    OwnerState,
    RemoveForegroundFinalizer,
    RemoveOwnerReferences,
)


def obj(uid: str, *, finalizers: list[str] | None = None, terminating: bool = False,
        owners: list[OwnerReference] | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": uid, "namespace": "ns", "uid": uid, "finalizers": finalizers or [],
                          "ownerReferences": owners or []}
    if terminating:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": md}


def ref(uid: str, *, block: bool = False) -> OwnerReference:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": uid, "uid": uid, "controller": True,
            "blockOwnerDeletion": block}


# --- classifying an owner ---------------------------------------------------------------------------

@pytest.mark.parametrize(("found", "state"), [
    (None, "dangling"),                                                   # not found
    (obj("other"), "dangling"),                                           # a new object of the same name
    (obj("a"), "solid"),
    (obj("a", terminating=True), "solid"),                                # background deletion: not waiting
    (obj("a", terminating=True, finalizers=[gcplan.FOREGROUND]), "waiting"),
    (obj("a", finalizers=[gcplan.FOREGROUND]), "solid"),                  # the finalizer alone is not deletion
])
def test_owner_state(found: dict[str, Any] | None, state: OwnerState) -> None:
    assert gcplan.owner_state(ref("a"), found) == state


# --- a dependent --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dependent", "owners", "has_dependents", "action"), [
    (obj("d"), [], False, Keep("no owner")),
    (obj("d"), [(ref("a"), "solid"), (ref("b"), "solid")], False, Keep("every owner is there")),
    (obj("d"), [(ref("a"), "solid"), (ref("b"), "dangling")], False, RemoveOwnerReferences(frozenset({"b"}))),
    (obj("d"), [(ref("a"), "solid"), (ref("b"), "waiting"), (ref("c"), "dangling")], True,
     RemoveOwnerReferences(frozenset({"b", "c"}))),
    (obj("d"), [(ref("a"), "dangling")], False, DeleteDependent("Background")),
    (obj("d"), [(ref("a"), "dangling"), (ref("b"), "dangling")], True, DeleteDependent("Background")),
    (obj("d"), [(ref("a"), "waiting")], False, DeleteDependent("Background")),     # nothing below it to wait for
    (obj("d"), [(ref("a"), "waiting")], True, DeleteDependent("Foreground")),      # the wait propagates down
    (obj("d", finalizers=[gcplan.ORPHAN]), [(ref("a"), "dangling")], False, DeleteDependent("Orphan")),
    (obj("d", finalizers=[gcplan.FOREGROUND]), [(ref("a"), "dangling")], False, DeleteDependent("Foreground")),
    (obj("d", finalizers=[gcplan.ORPHAN]), [(ref("a"), "waiting")], True, DeleteDependent("Foreground")),
    (obj("d", terminating=True), [(ref("a"), "dangling")], False, Keep("already being deleted")),
    (obj("d", terminating=True), [(ref("a"), "solid"), (ref("b"), "dangling")], False,
     RemoveOwnerReferences(frozenset({"b"}))),
])
def test_plan_dependent(dependent: dict[str, Any], owners: list[tuple[OwnerReference, OwnerState]],
                        has_dependents: bool, action: gcplan.GcAction) -> None:
    assert gcplan.plan_dependent(dependent, owners, has_dependents=has_dependents) == action


# --- an owner --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("owner", "dependents", "action"), [
    (obj("o"), [obj("d", owners=[ref("o", block=True)])], None),                         # not being deleted
    (obj("o", terminating=True), [obj("d", owners=[ref("o", block=True)])], None),       # background
    (obj("o", terminating=True, finalizers=[gcplan.ORPHAN]), [obj("d", owners=[ref("o", block=True)])],
     OrphanDependents()),
    (obj("o", terminating=True, finalizers=[gcplan.ORPHAN, gcplan.FOREGROUND]), [], OrphanDependents()),
    (obj("o", terminating=True, finalizers=[gcplan.FOREGROUND]), [], RemoveForegroundFinalizer()),
    (obj("o", terminating=True, finalizers=[gcplan.FOREGROUND]), [obj("d", owners=[ref("o")])],
     RemoveForegroundFinalizer()),                                                        # not blocking
    (obj("o", terminating=True, finalizers=[gcplan.FOREGROUND]), [obj("d", owners=[ref("x", block=True)])],
     RemoveForegroundFinalizer()),                                                        # blocks someone else
    (obj("o", terminating=True, finalizers=[gcplan.FOREGROUND]),
     [obj("d1", owners=[ref("o")]), obj("d2", owners=[ref("o", block=True)])], AwaitDependents()),
])
def test_plan_owner(owner: dict[str, Any], dependents: list[dict[str, Any]],
                    action: gcplan.OwnerAction | None) -> None:
    assert gcplan.plan_owner(owner, dependents) == action
