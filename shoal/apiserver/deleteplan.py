"""What a DELETE does to an object, decided without the store: ``plan_delete`` is pure.

Deleting a Kubernetes object is rarely "remove the key". The request's
preconditions (uid, resourceVersion) may refuse it; its propagation policy hands
the garbage collector a finalizer (``Orphan`` -> ``orphan``, ``Foreground`` ->
``foregroundDeletion``, ``Background`` -> neither); an object held by finalizers
(or, for a namespace, by ``spec.finalizers``) is only marked: it gets a
``deletionTimestamp`` and stays until the last finalizer goes; a pod bound to a
node gets a grace period and its node agent removes it once it has stopped; and
a second DELETE of an object already terminating changes nothing unless it
shortens the grace period or changes the policy.

``plan_delete(obj, options, now, rules=...)`` makes that decision over the object
as read, the request's options and an injected clock, and answers with one of a
closed set of plans; ``Resource.delete`` only carries it out (and writes nothing
for a dry run). The per-kind parts (how long a kind's deletion may take, what
else holds it, the status a terminating object shows) come from ``rules``, which
each kind's strategy provides. This module imports no store and no HTTP
(an import-linter contract says so), so every case is a table test.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from shoal.apiserver.clock import fmt_time

# the finalizers through which the garbage collector carries out a deletion's propagation policy
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
_GC_FINALIZERS = (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)
# a grace period of centuries is legal (int64) but beyond datetime's range
MAX_GRACE_SECONDS = 100 * 365 * 86400

Propagation = Literal["Orphan", "Foreground", "Background"]


class DeleteRules(Protocol):
    """The per-kind part of deletion (a kind's ``Strategy`` provides it)."""

    def graceful_seconds(self, obj: dict[str, Any], requested: int | None) -> int:
        """How long the deletion may take (0: at once); ``requested`` is the request's gracePeriodSeconds."""
        ...

    def held_by_spec(self, obj: dict[str, Any]) -> bool:
        """Whether something besides ``metadata.finalizers`` holds the object (a namespace's spec.finalizers)."""
        ...

    @property
    def terminating_phase(self) -> str | None:
        """The ``status.phase`` a terminating object shows (a namespace's "Terminating"), if any."""
        ...


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    """The parts of a request's DeleteOptions that decide what happens (dry run only skips the writes)."""

    grace_seconds: int | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    propagation: Propagation | None = None


@dataclass(frozen=True, slots=True)
class Conflict:
    """A precondition failed (409); ``why`` is None for upstream's "the object has been modified"."""

    why: str | None = None


@dataclass(frozen=True, slots=True)
class Unchanged:
    """Nothing to write: the object already terminates as asked; answer it as it is."""


@dataclass(frozen=True, slots=True)
class RemoveNow:
    """Nothing holds the object and it needs no grace: remove it from the store."""


@dataclass(frozen=True, slots=True)
class MarkTerminating:
    """Keep the object, marked for deletion; each field None is left as the object has it."""

    finalizers: tuple[str, ...] | None  # metadata.finalizers after the propagation policy
    deletion_timestamp: str | None  # with deletionGracePeriodSeconds = grace_seconds
    grace_seconds: int
    phase: str | None  # status.phase

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Write the marks into ``obj`` (in place) and return it."""
        md = obj["metadata"]
        if self.finalizers is not None:
            if self.finalizers:
                md["finalizers"] = list(self.finalizers)
            else:
                md.pop("finalizers", None)
        if self.deletion_timestamp is not None:
            md["deletionTimestamp"] = self.deletion_timestamp
            md["deletionGracePeriodSeconds"] = self.grace_seconds
        if self.phase is not None:
            obj.setdefault("status", {})["phase"] = self.phase
        return obj


DeletePlan = Conflict | Unchanged | RemoveNow | MarkTerminating


def propagated_finalizers(finalizers: list[str], policy: Propagation | None) -> tuple[str, ...] | None:
    """``finalizers`` with the garbage collector's finalizer for ``policy``, as upstream sets them
    before deleting; None when the policy changes nothing (no policy keeps what is there)."""
    if policy is None:
        return None
    fins = [f for f in finalizers if f not in _GC_FINALIZERS]
    if policy == "Orphan":
        fins.append(ORPHAN_FINALIZER)
    elif policy == "Foreground":
        fins.append(FOREGROUND_FINALIZER)
    return None if fins == finalizers else tuple(fins)


def plan_delete(obj: dict[str, Any], options: DeleteOptions, now: dt.datetime, *, rules: DeleteRules) -> DeletePlan:
    """What deleting ``obj`` (as read, with its resourceVersion) under ``options`` at ``now`` does."""
    md = obj.get("metadata") or {}
    uid = options.precondition_uid
    if uid and uid != md.get("uid"):
        return Conflict(f"Precondition failed: UID in precondition: {uid}, UID in object meta: {md.get('uid')}")
    if options.precondition_rv and options.precondition_rv != md.get("resourceVersion"):
        return Conflict()
    grace = rules.graceful_seconds(obj, options.grace_seconds)
    current = list(md.get("finalizers") or [])
    finalizers = propagated_finalizers(current, options.propagation)
    held = bool(current if finalizers is None else finalizers) or rules.held_by_spec(obj)
    terminating = bool(md.get("deletionTimestamp"))
    if terminating and options.grace_seconds is None and held and finalizers is None:
        return Unchanged()  # already terminating, and this request asks nothing new
    if not held and grace <= 0:
        return RemoveNow()
    stamp = None
    if not terminating or grace < int(md.get("deletionGracePeriodSeconds") or 0):
        stamp = fmt_time(now + dt.timedelta(seconds=min(grace, MAX_GRACE_SECONDS)))
    phase = rules.terminating_phase
    if finalizers is None and stamp is None and phase is None:
        return Unchanged()  # e.g. a pod deleted again with the grace period it already has
    return MarkTerminating(finalizers=finalizers, deletion_timestamp=stamp, grace_seconds=grace, phase=phase)


def finishes_deletion(obj: dict[str, Any], rules: DeleteRules) -> bool:
    """Whether a write leaves a terminating object with nothing holding it, so the write removes it.

    An object given a grace period (a pod on a node) stays even then: whoever stops it (the node
    agent) removes it with a DELETE of grace 0. Other kinds are only ever marked with grace 0.
    """
    md = obj["metadata"]
    return (bool(md.get("deletionTimestamp")) and not md.get("finalizers") and not rules.held_by_spec(obj)
            and not md.get("deletionGracePeriodSeconds"))
