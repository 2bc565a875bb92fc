"""The garbage collector's decisions, apart from its I/O. Pure.

The collector asks two questions of every object it is woken for, and both
answers are here, as closed sets of typed actions the collector executes:

* as an **owner** (``plan_owner``): being deleted with ``propagationPolicy:
  Orphan`` (the ``orphan`` finalizer) it has its reference removed from every
  dependent, then the finalizer; being deleted in the ``Foreground`` (the
  ``foregroundDeletion`` finalizer) it waits until no dependent with
  ``blockOwnerDeletion`` is left, then loses the finalizer;
* as a **dependent** (``plan_dependent``), given the state of each of its
  owners (``OwnerState``: ``solid``, ``waiting`` for its own dependents'
  deletion, or ``dangling``: gone, or replaced by a new object of the same
  name): with every owner solid nothing happens; with some solid, the
  references to the others are removed; with none solid it is deleted itself,
  in the foreground when an owner waits for it and it has dependents of its
  own (so the wait propagates down), else with the policy its own finalizers
  ask for (``Orphan``, ``Foreground``, ``Background`` by default).

How an owner's state is found (the cache first, then a live read, so a
dependent seen before its brand-new owner survives) is the collector's I/O;
``owner_state`` is the classification of what it found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shoal.api.views import (
    Body,
    OwnerReference,
    PropagationPolicy,
    finalizers,
    is_terminating,
    owner_references,
    uid,
)

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

OwnerState = Literal["solid", "waiting", "dangling"]


def owner_state(ref: OwnerReference, owner: Body | None) -> OwnerState:
    """The state of the owner ``ref`` points to, given the object found under its name (None: not found)."""
    if owner is None or uid(owner) != ref.get("uid"):
        return "dangling"
    if is_terminating(owner) and FOREGROUND in finalizers(owner):
        return "waiting"
    return "solid"


# --- a dependent ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keep:
    """Nothing to do for now."""

    why: str


@dataclass(frozen=True, slots=True)
class RemoveOwnerReferences:
    """Some owner is still there: drop only the references to the ones that are not."""

    uids: frozenset[str]


@dataclass(frozen=True, slots=True)
class DeleteDependent:
    """Every owner is gone or being deleted in the foreground: delete the object itself."""

    policy: PropagationPolicy


GcAction = Keep | RemoveOwnerReferences | DeleteDependent


def plan_dependent(obj: Body, owners: Sequence[tuple[OwnerReference, OwnerState]], *,
                   has_dependents: bool) -> GcAction:
    """What to do with ``obj`` given the state of each of its owners (upstream's attemptToDeleteItem)."""
    if all(state == "solid" for _, state in owners):
        return Keep("no owner" if not owners else "every owner is there")
    solid = [ref for ref, state in owners if state == "solid"]
    gone = frozenset(str(ref.get("uid")) for ref, state in owners if state != "solid")
    if solid:
        return RemoveOwnerReferences(gone)
    if is_terminating(obj):
        return Keep("already being deleted")
    waiting = any(state == "waiting" for _, state in owners)
    fins = finalizers(obj)
    policy: PropagationPolicy
    if waiting and has_dependents:
        policy = "Foreground"
    elif ORPHAN in fins:
        policy = "Orphan"
    elif FOREGROUND in fins:
        policy = "Foreground"
    else:
        policy = "Background"
    return DeleteDependent(policy)


# --- an owner ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrphanDependents:
    """Remove the owner's reference from every dependent, then its ``orphan`` finalizer."""


@dataclass(frozen=True, slots=True)
class RemoveForegroundFinalizer:
    """No blocking dependent is left: the owner may go."""


@dataclass(frozen=True, slots=True)
class AwaitDependents:
    """Blocking dependents remain: look at each of them (they are deleted as dependents of a waiting owner)."""


OwnerAction = OrphanDependents | RemoveForegroundFinalizer | AwaitDependents


def blocks(dependent: Body, owner_uid: str) -> bool:
    """Whether ``dependent`` holds back the foreground deletion of the owner with ``owner_uid``."""
    return any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion") for r in owner_references(dependent))


def plan_owner(owner: Body, dependents: Sequence[Body]) -> OwnerAction | None:
    """What to do for ``owner``'s deletion, if it is being deleted with a policy that needs the collector."""
    if not is_terminating(owner):
        return None
    fins = finalizers(owner)
    if ORPHAN in fins:
        return OrphanDependents()
    if FOREGROUND in fins:
        owner_uid = uid(owner)
        if not any(blocks(d, owner_uid) for d in dependents):
            return RemoveForegroundFinalizer()
        return AwaitDependents()
    return None
