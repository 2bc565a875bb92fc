"""A Deployment's ReplicaSets as its revision history.

Each template a Deployment has had is one ReplicaSet, named after the
template's hash. Which one is "new" is decided by comparing templates (not
names), so ``kubectl rollout undo`` (which copies an old ReplicaSet's template
back into the Deployment) makes that old ReplicaSet the new one again, with the
next revision number; its earlier numbers are kept in
``deployment.kubernetes.io/revision-history``. The Deployment's annotations are
copied onto its new ReplicaSet (so ``kubernetes.io/change-cause`` shows in
``kubectl rollout history``), except the ones that describe the Deployment
itself. Everything here is pure.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from shoal.api.views import Body, KubeObject, is_terminating, meta, owner_reference, spec, status
from shoal.api.views import annotations as annotations_of
from shoal.controllers.hashing import HASH_LABEL, equal_ignore_hash, pod_template_hash


class ReplicaSet(KubeObject, total=False):
    """A ReplicaSet the Deployment controller builds or changes (a copy, never the cached object)."""

    spec: dict[str, Any]
    status: dict[str, Any]


T = TypeVar("T", bound=Body)

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
CHANGE_CAUSE = "kubernetes.io/change-cause"
FULLY_AVAILABLE = "shoal.io/fully-available"  # on a ReplicaSet: this revision once served every replica
MAX_HISTORY_CHARS = 2000

# annotations of the Deployment that are not copied to its ReplicaSets
SKIP_COPY = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO,
                       FULLY_AVAILABLE})


def revision(rs: Body) -> int:
    try:
        return int(annotations_of(rs).get(REVISION) or 0)
    except ValueError:
        return 0


def max_revision(rss: Iterable[Body]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def template(o: Body) -> dict[str, Any]:
    """``spec.template``: the pod template of a Deployment or ReplicaSet ({} when absent)."""
    t = spec(o).get("template")
    return t if isinstance(t, dict) else {}


def creation_key(rs: Body) -> tuple[str, str]:
    return (str(meta(rs).get("creationTimestamp") or ""), str(meta(rs).get("name") or ""))


def find_new_and_old(d: Body, rss: Sequence[T]) -> tuple[T | None, list[T]]:
    """The ReplicaSet whose template equals the Deployment's (the oldest, if several), and the rest."""
    new: T | None = None
    old: list[T] = []
    for rs in sorted(rss, key=creation_key):
        if new is None and equal_ignore_hash(template(rs), template(d)):
            new = rs
        else:
            old.append(rs)
    return new, old


def int_annotation(o: Body, key: str) -> int | None:
    raw = annotations_of(o).get(key)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def set_replicas_annotations(rs: ReplicaSet, desired: int, max_replicas: int) -> bool:
    """Record the Deployment's size on the ReplicaSet (to tell scaling from rolling out)."""
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(k) != v:
            ann[k] = v
            changed = True
    return changed


def replicas_annotations_need_update(rs: Body, desired: int, max_replicas: int) -> bool:
    ann = annotations_of(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_replicas)


def copy_deployment_annotations(d: Body, rs: ReplicaSet) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    changed = False
    for k, v in annotations_of(d).items():
        if k in SKIP_COPY or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    return changed


def set_new_rs_annotations(d: Body, rs: ReplicaSet, new_revision: int, *, exists: bool, desired: int,
                           max_replicas: int) -> bool:
    """Upstream's ``SetNewReplicaSetAnnotations`` on a (copied) ReplicaSet; True if it changed."""
    changed = copy_deployment_annotations(d, rs)
    ann = rs["metadata"].setdefault("annotations", {})
    had = REVISION in ann
    old = revision(rs)
    if old < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if had:  # rolled back to this ReplicaSet: keep its earlier numbers
            hist = [h for h in (ann.get(REVISION_HISTORY) or "").split(",") if h]
            hist.append(str(old))
            while len(",".join(hist)) > MAX_HISTORY_CHARS and len(hist) > 1:
                hist.pop(0)
            ann[REVISION_HISTORY] = ",".join(hist)
    if not exists and set_replicas_annotations(rs, desired, max_replicas):
        changed = True
    return changed


def build_new_replica_set(d: Body, *, revision_: int, replicas: int, max_replicas: int,
                          collision_count: int | None) -> ReplicaSet:
    """The ReplicaSet for the Deployment's current template (not yet created)."""
    md = meta(d)
    dspec = spec(d)
    h = pod_template_hash(template(d), collision_count)
    tmpl = copy.deepcopy(template(d))
    tmd = tmpl.setdefault("metadata", {})
    tmd["labels"] = {**(tmd.get("labels") or {}), HASH_LABEL: h}
    sel = copy.deepcopy(dspec.get("selector") or {})
    sel["matchLabels"] = {**(sel.get("matchLabels") or {}), HASH_LABEL: h}
    rs: ReplicaSet = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": f"{md['name']}-{h}", "namespace": md.get("namespace", ""),
            "labels": dict(tmd["labels"]),
            "ownerReferences": [owner_reference(d, api_version="apps/v1", kind="Deployment")],
        },
        "spec": {"replicas": replicas, "minReadySeconds": int(dspec.get("minReadySeconds") or 0),
                 "selector": sel, "template": tmpl},
    }
    set_new_rs_annotations(d, rs, revision_, exists=False, desired=int(dspec.get("replicas") or 0),
                           max_replicas=max_replicas)
    return rs


def history_to_clean(d: Body, old: Sequence[T]) -> list[T]:
    """Old ReplicaSets beyond ``revisionHistoryLimit`` that are scaled to zero and settled."""
    limit = spec(d).get("revisionHistoryLimit")
    if limit is None:
        return []
    alive = [rs for rs in old if not is_terminating(rs)]
    diff = len(alive) - int(limit)
    if diff <= 0:
        return []
    out = []
    for rs in sorted(alive, key=lambda r: (revision(r), creation_key(r)))[:diff]:
        st = status(rs)
        if int(st.get("replicas") or 0) != 0 or int(spec(rs).get("replicas") or 0) != 0:
            continue
        if int(meta(rs).get("generation") or 0) > int(st.get("observedGeneration") or 0):
            continue
        out.append(rs)
    return out
