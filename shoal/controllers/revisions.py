"""A StatefulSet's history as ControllerRevisions (upstream's ``controller/history``). Pure.

Each template a StatefulSet has had is one ControllerRevision, owned by the
set. Its ``data`` is exactly the patch ``kubectl rollout undo`` applies to go
back to it, ``{"spec": {"template": {..., "$patch": "replace"}}}`` (the shape
upstream's controller writes and kubectl's ``StatefulSetRollbacker`` reads),
its ``revision`` a number that grows with every change, its name
``<set>-<hash>`` where the hash is of the data (and of
``status.collisionCount``, bumped to step around a name another object took).
Its labels are the template's (kubectl finds a set's revisions by the set's
selector) plus ``controller.kubernetes.io/hash``; the set's annotations are
copied on, so ``kubernetes.io/change-cause`` shows in ``rollout history``.

Pods carry the name of the revision they were made from in
``controller-revision-hash``; ``status.currentRevision`` and
``status.updateRevision`` name revisions too.

``resolve`` is upstream's ``getStatefulSetRevisions``: the update revision is
the newest revision when it equals the set's template; an older equal one
(a rollback) is renumbered to come last; otherwise a new one is made.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shoal.api import views
from shoal.api.views import (
    Body,
    as_dict,
    meta,
    name,
    namespace,
    owner_reference,
    owner_references,
    spec,
    uid,
)
from shoal.api.views import annotations as annotations_of
from shoal.controllers.hashing import canonical, fnv1a_32, safe_encode

HASH_LABEL = "controller.kubernetes.io/hash"
PATCH_DIRECTIVE = "$patch"
MAX_PREFIX = 223  # upstream's ControllerRevisionName: keeps <prefix>-<hash> within a name's 253 characters


def patch_of(sts: Body) -> dict[str, Any]:
    """The revision data of the set's current template."""
    template = copy.deepcopy(as_dict(spec(sts).get("template")))
    template[PATCH_DIRECTIVE] = "replace"
    return {"spec": {"template": template}}


def template_of(revision: Body) -> dict[str, Any]:
    """The pod template a revision holds (without the patch directive)."""
    tmpl = as_dict(spec(as_dict(revision.get("data"))).get("template"))
    return {k: v for k, v in tmpl.items() if k != PATCH_DIRECTIVE}


def revision_hash(data: Any, collision_count: int | None) -> str:
    h = fnv1a_32(canonical(data))
    if collision_count:
        h = fnv1a_32(str(collision_count).encode(), h)
    return safe_encode(str(h))


def revision_name(parent: str, hash_: str) -> str:
    return f"{parent[:MAX_PREFIX]}-{hash_}"


def number(revision: Body) -> int:
    n = revision.get("revision")
    return n if isinstance(n, int) and not isinstance(n, bool) else 0


def ordered(revisions: Iterable[Body]) -> list[Body]:
    """Oldest first: by revision number, then creation time, then name (upstream's SortControllerRevisions)."""
    return sorted(revisions, key=lambda r: (number(r), str(meta(r).get("creationTimestamp") or ""), name(r)))


def next_number(revisions: Sequence[Body]) -> int:
    return max((number(r) for r in revisions), default=0) + 1


def new_revision(sts: Body, revision: int, collision_count: int | None) -> dict[str, Any]:
    """The ControllerRevision of the set's current template (not yet created)."""
    data = patch_of(sts)
    h = revision_hash(data, collision_count)
    tmpl_labels = dict(views.labels(as_dict(spec(sts).get("template"))))
    md: dict[str, Any] = {"name": revision_name(name(sts), h), "namespace": namespace(sts),
               "labels": {**tmpl_labels, HASH_LABEL: h},
               "ownerReferences": [owner_reference(sts, api_version="apps/v1", kind="StatefulSet")]}
    if annotations_of(sts):
        md["annotations"] = dict(annotations_of(sts))
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": md, "data": data,
            "revision": revision}


def equal(a: Body, b: Body) -> bool:
    """Two revisions hold the same state (upstream's EqualRevision compares the data)."""
    return canonical(a.get("data")) == canonical(b.get("data"))


@dataclass(frozen=True, slots=True)
class Resolution:
    """The set's current and update revisions, and what must be written to have them."""

    current: Body
    update: Body
    create: dict[str, Any] | None = None  # a new revision to create (it is ``update``)
    renumber: Body | None = None  # an older revision that becomes the update one (``update`` has its new number)
    collision_count: int = 0


def resolve(sts: Body, revisions: Sequence[Body], collision_count: int, current_name: str) -> Resolution:
    """Upstream's getStatefulSetRevisions over the set's (owned) revisions."""
    revs = ordered(revisions)
    by_name = {name(r): r for r in revs}
    count = collision_count
    candidate = new_revision(sts, next_number(revs), count)
    create: dict[str, Any] | None = None
    renumber: Body | None = None
    equals = [r for r in revs if equal(r, candidate)]
    if equals and revs and name(revs[-1]) == name(equals[-1]):
        update: Body = revs[-1]
    elif equals:
        renumber = equals[-1]
        update = {**equals[-1], "revision": number(candidate)}
    else:
        # a name already held by another revision of this set (a hash collision): try the next count
        while name(candidate) in by_name:
            count += 1
            candidate = new_revision(sts, next_number(revs), count)
        update = create = candidate
    current = by_name.get(current_name) or update
    return Resolution(current, update, create, renumber, count)


def to_prune(revisions: Sequence[Body], live: set[str], limit: int) -> list[Body]:
    """Revisions beyond ``revisionHistoryLimit`` that no pod and neither status revision uses, oldest first."""
    history = [r for r in ordered(revisions) if name(r) not in live]
    excess = len(history) - max(0, limit)
    return history[:excess] if excess > 0 else []


def is_owned_by(revision: Body, sts: Body) -> bool:
    return any(r.get("controller") and r.get("uid") == uid(sts) for r in owner_references(revision))
