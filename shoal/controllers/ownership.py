"""Who controls what: controller ownerReferences, adoption and release by labels.

A controller owns the objects whose controller ownerReference carries its uid.
It *adopts* an orphan (no controller reference) that its selector matches and
*releases* an object it owns that the selector no longer matches (someone
relabelled it), so ``kubectl label pod p app-`` takes a pod out of a
ReplicaSet, which then makes a replacement. ``plan_claims`` is the pure
decision; ``adopt`` and ``release`` are the writes, each guarded by the
object's uid and resourceVersion so a stale cache never clobbers a newer write.

The informer indexes ``controller`` (by controller uid) and ``orphans`` (by
namespace) make "what do I own, what could I adopt" a lookup, not a scan.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from shoal.api.selectors import Selector
from shoal.api.views import (
    Body,
    ObjectMeta,
    OwnerReference,
    Pod,
    controller_ref,
    controller_uid,
    finalizers,
    is_terminating,
    labels,
    meta,
    namespace,
    owner_reference,
    owner_references,
    uid,
)
from shoal.api.views import (
    annotations as annotations_of,
)
from shoal.client import ApiClient, ApiException, Informer
from shoal.controllers.base import ensure_index

CONTROLLER_INDEX = "controller"
ORPHAN_INDEX = "orphans"


def index_by_controller(obj: Body) -> list[str]:
    owner = controller_uid(obj)
    return [owner] if owner else []


def index_orphans(obj: Body) -> list[str]:
    if controller_ref(obj) is not None:
        return []
    return [namespace(obj)]


def add_ownership_indexes(informer: Informer) -> None:
    ensure_index(informer, CONTROLLER_INDEX, index_by_controller)
    ensure_index(informer, ORPHAN_INDEX, index_orphans)


def owned_and_orphans(informer: Informer, owner: Body) -> list[Body]:
    """Candidates for ``plan_claims``: what ``owner`` controls plus the orphans of its namespace."""
    return [*informer.by_index(CONTROLLER_INDEX, uid(owner)), *informer.by_index(ORPHAN_INDEX, namespace(owner))]


@dataclass
class Claims:
    owned: list[Body] = field(default_factory=list)    # ours, and still matching (after adoption)
    adopt: list[Body] = field(default_factory=list)    # orphans to take
    release: list[Body] = field(default_factory=list)  # ours, no longer matching


def plan_claims(owner: Body, selector: Selector, candidates: list[Body]) -> Claims:
    """Decide ownership as upstream's ``ControllerRefManager.ClaimObject`` does.

    An owner being deleted adopts nothing (and still releases); an object being
    deleted is never adopted.
    """
    owner_uid = uid(owner)
    owner_deleting = is_terminating(owner)
    out = Claims()
    seen: set[str] = set()
    for obj in candidates:
        md = meta(obj)
        key = str(md.get("uid") or md.get("name"))
        if key in seen:
            continue
        seen.add(key)
        ref = controller_ref(obj)
        matches = selector.matches(labels(obj))
        if ref is not None:
            if ref.get("uid") != owner_uid:
                continue  # someone else's
            if matches:
                out.owned.append(obj)
            elif not owner_deleting:
                out.release.append(obj)
            continue
        if owner_deleting or not matches or is_terminating(obj):
            continue
        out.adopt.append(obj)
    return out


async def adopt(client: ApiClient, resource: str, obj: Body, ref: OwnerReference) -> Body | None:
    """Add ``ref`` as the controller reference of ``obj``; None if it is gone.

    A 409 (the object changed since the cache saw it) propagates: the caller must
    not count the object either way, so it should plan again from a fresh cache.
    """
    md = meta(obj)
    refs = [r for r in owner_references(obj) if r.get("uid") != ref.get("uid")]
    patch = {"metadata": {"ownerReferences": [*refs, ref], "uid": md.get("uid"),
                          "resourceVersion": md.get("resourceVersion")}}
    try:
        return await client.patch(resource, md["name"], patch, md.get("namespace"))
    except ApiException as e:
        if e.status in (404, 422):
            return None
        raise


async def release(client: ApiClient, resource: str, obj: Body, owner_uid: str) -> None:
    """Remove ``owner_uid``'s reference from ``obj`` (gone or changed meanwhile is fine)."""
    md = meta(obj)
    refs = [r for r in owner_references(obj) if r.get("uid") != owner_uid]
    patch = {"metadata": {"ownerReferences": refs or None, "uid": md.get("uid"),
                          "resourceVersion": md.get("resourceVersion")}}
    try:
        await client.patch(resource, md["name"], patch, md.get("namespace"))
    except ApiException as e:
        if e.status not in (404, 409, 422):
            raise


def pod_from_template(template: Body, *, owner: Body, generate_name: str, namespace: str) -> Pod:
    """A new pod for ``owner`` from a pod template: labels, annotations, finalizers and spec copied.

    The controller reference blocks the owner's foreground deletion, as upstream's controllers set it."""
    tm = meta(template)
    md: ObjectMeta = {"generateName": generate_name, "namespace": namespace,
                      "ownerReferences": [owner_reference(owner)]}
    if tm.get("labels"):
        md["labels"] = dict(labels(template))
    if tm.get("annotations"):
        md["annotations"] = dict(annotations_of(template))
    if tm.get("finalizers"):
        md["finalizers"] = list(finalizers(template))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": copy.deepcopy(dict(template.get("spec") or {}))}
