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

from dataclasses import dataclass, field
from typing import Any

from shoal.api.selectors import Selector
from shoal.client import ApiClient, ApiException, Informer
from shoal.controllers.base import ensure_index

Obj = dict[str, Any]
CONTROLLER_INDEX = "controller"
ORPHAN_INDEX = "orphans"


def meta(o: Obj) -> Obj:
    md = o.get("metadata")
    return md if isinstance(md, dict) else {}


def controller_ref(obj: Obj) -> Obj | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def controller_uid(obj: Obj) -> str | None:
    ref = controller_ref(obj)
    return str(ref["uid"]) if ref and ref.get("uid") else None


def owner_reference(owner: Obj, *, api_version: str, kind: str) -> Obj:
    """The controller reference an owner puts on what it creates or adopts."""
    md = meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def index_by_controller(obj: Obj) -> list[str]:
    uid = controller_uid(obj)
    return [uid] if uid else []


def index_orphans(obj: Obj) -> list[str]:
    if controller_ref(obj) is not None:
        return []
    return [str(meta(obj).get("namespace") or "")]


def add_ownership_indexes(informer: Informer) -> None:
    ensure_index(informer, CONTROLLER_INDEX, index_by_controller)
    ensure_index(informer, ORPHAN_INDEX, index_orphans)


def owned_and_orphans(informer: Informer, owner: Obj) -> list[Obj]:
    """Candidates for ``plan_claims``: what ``owner`` controls plus the orphans of its namespace."""
    md = meta(owner)
    return [*informer.by_index(CONTROLLER_INDEX, str(md.get("uid") or "")),
            *informer.by_index(ORPHAN_INDEX, str(md.get("namespace") or ""))]


@dataclass
class Claims:
    owned: list[Obj] = field(default_factory=list)    # ours, and still matching (after adoption)
    adopt: list[Obj] = field(default_factory=list)    # orphans to take
    release: list[Obj] = field(default_factory=list)  # ours, no longer matching


def plan_claims(owner: Obj, selector: Selector, candidates: list[Obj]) -> Claims:
    """Decide ownership as upstream's ``ControllerRefManager.ClaimObject`` does.

    An owner being deleted adopts nothing (and still releases); an object being
    deleted is never adopted.
    """
    uid = meta(owner).get("uid")
    owner_deleting = bool(meta(owner).get("deletionTimestamp"))
    out = Claims()
    seen: set[str] = set()
    for obj in candidates:
        md = meta(obj)
        key = str(md.get("uid") or md.get("name"))
        if key in seen:
            continue
        seen.add(key)
        ref = controller_ref(obj)
        matches = selector.matches(md.get("labels") or {})
        if ref is not None:
            if ref.get("uid") != uid:
                continue  # someone else's
            if matches:
                out.owned.append(obj)
            elif not owner_deleting:
                out.release.append(obj)
            continue
        if owner_deleting or not matches or md.get("deletionTimestamp"):
            continue
        out.adopt.append(obj)
    return out


async def adopt(client: ApiClient, resource: str, obj: Obj, ref: Obj) -> Obj | None:
    """Add ``ref`` as the controller reference of ``obj``; None if it is gone.

    A 409 (the object changed since the cache saw it) propagates: the caller must
    not count the object either way, so it should plan again from a fresh cache.
    """
    md = meta(obj)
    refs = [r for r in md.get("ownerReferences") or [] if r.get("uid") != ref["uid"]]
    patch = {"metadata": {"ownerReferences": [*refs, ref], "uid": md.get("uid"),
                          "resourceVersion": md.get("resourceVersion")}}
    try:
        return await client.patch(resource, md["name"], patch, md.get("namespace"))
    except ApiException as e:
        if e.status in (404, 422):
            return None
        raise


async def release(client: ApiClient, resource: str, obj: Obj, owner_uid: str) -> None:
    """Remove ``owner_uid``'s reference from ``obj`` (gone or changed meanwhile is fine)."""
    md = meta(obj)
    refs = [r for r in md.get("ownerReferences") or [] if r.get("uid") != owner_uid]
    patch = {"metadata": {"ownerReferences": refs or None, "uid": md.get("uid"),
                          "resourceVersion": md.get("resourceVersion")}}
    try:
        await client.patch(resource, md["name"], patch, md.get("namespace"))
    except ApiException as e:
        if e.status not in (404, 409, 422):
            raise
