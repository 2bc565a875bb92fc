"""Which PersistentVolume satisfies which claim: pure questions over wire objects.

The PV controller asks them to bind a claim to an existing volume, and the
scheduler's VolumeBinding plugin will ask the same ones for a node (a claim
waiting for its first consumer may only take a volume reachable from the node
the pod goes to), so they live here, below both, as upstream shares
``FindMatchingVolume`` between its PV controller and its scheduler.

A volume satisfies a claim when it is not being deleted, is free (no
``claimRef``) or reserved for that claim, is of the claim's class (both "" for
no class), of its volume mode, offers every access mode the claim asks for,
is at least as large, carries labels the claim's selector matches, and (given a
node) is reachable from it. Of those, the chosen one offers the fewest access
modes, then is the smallest, then comes first by name: upstream's preference,
made total so a replayed decision is the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.api.selectors import SelectorError, from_label_selector
from shoal.api.storage_contract import BETA_STORAGE_CLASS

Obj = Mapping[str, Any]


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def storage_class_of(obj: Obj) -> str:
    """A claim's or volume's class: the old beta annotation if present, else ``storageClassName``."""
    ann = _dict(_dict(obj.get("metadata")).get("annotations"))
    if BETA_STORAGE_CLASS in ann:
        return str(ann[BETA_STORAGE_CLASS])
    name = _dict(obj.get("spec")).get("storageClassName")
    return name if isinstance(name, str) else ""


def volume_mode(obj: Obj) -> str:
    mode = _dict(obj.get("spec")).get("volumeMode")
    return mode if isinstance(mode, str) and mode else "Filesystem"


def quantity(raw: object) -> Fraction | None:
    if raw is None or isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        return parse_quantity(raw)
    except InvalidQuantity:
        return None


def requested(claim: Obj) -> Fraction | None:
    """The size a claim asks for (``spec.resources.requests.storage``)."""
    return quantity(_dict(_dict(_dict(claim.get("spec")).get("resources")).get("requests")).get("storage"))


def capacity(pv: Obj) -> Fraction | None:
    """A volume's size (``spec.capacity.storage``)."""
    return quantity(_dict(_dict(pv.get("spec")).get("capacity")).get("storage"))


def access_modes_satisfy(claim: Obj, pv: Obj) -> bool:
    offered = set(_list(_dict(pv.get("spec")).get("accessModes")))
    return set(_list(_dict(claim.get("spec")).get("accessModes"))) <= offered


def claim_ref(pv: Obj) -> Mapping[str, Any] | None:
    ref = _dict(pv.get("spec")).get("claimRef")
    return ref if isinstance(ref, Mapping) else None


def is_bound_to(pv: Obj, claim: Obj) -> bool:
    """Whether ``pv`` is bound or reserved for ``claim`` (same namespace and name, uid empty or equal)."""
    ref = claim_ref(pv)
    md = _dict(claim.get("metadata"))
    if ref is None or ref.get("name") != md.get("name") or ref.get("namespace") != md.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == md.get("uid")


def _requirement(req: Mapping[str, Any], value: str | None) -> bool:
    op = req.get("operator")
    values = [v for v in _list(req.get("values")) if isinstance(v, str)]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, bound = int(value), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def node_selector_term_matches(term: Mapping[str, Any], labels: Mapping[str, str], node_name: str) -> bool:
    """One ``NodeSelectorTerm``: every requirement holds; a term with none matches no node."""
    exprs = [r for r in _list(term.get("matchExpressions")) if isinstance(r, Mapping)]
    fields = [r for r in _list(term.get("matchFields")) if isinstance(r, Mapping)]
    if not exprs and not fields:
        return False
    for r in exprs:
        if not _requirement(r, labels.get(str(r.get("key")))):
            return False
    for r in fields:
        if r.get("key") != "metadata.name" or not _requirement(r, node_name):
            return False
    return True


def node_affinity_allows(pv: Obj, node: Obj) -> bool:
    """Whether ``node`` may use ``pv``: it matches one of the PV's required terms (or there are none)."""
    required = _dict(_dict(_dict(pv.get("spec")).get("nodeAffinity")).get("required"))
    terms = [t for t in _list(required.get("nodeSelectorTerms")) if isinstance(t, Mapping)]
    if not required:
        return True
    md = _dict(node.get("metadata"))
    labels = {str(k): str(v) for k, v in _dict(md.get("labels")).items()}
    return any(node_selector_term_matches(t, labels, str(md.get("name") or "")) for t in terms)


def mismatch(pv: Obj, claim: Obj) -> str:
    """Why ``pv`` cannot serve ``claim`` by its shape ("" when it can): upstream's checkVolumeSatisfyClaim."""
    want, have = requested(claim), capacity(pv)
    if want is None or have is None or have < want:
        return "requested PV is too small"
    if storage_class_of(pv) != storage_class_of(claim):
        return "storageClassName does not match"
    if volume_mode(pv) != volume_mode(claim):
        return "incompatible volumeMode"
    if not access_modes_satisfy(claim, pv):
        return "incompatible accessMode"
    return ""


def _selector_matches(claim: Obj, pv: Obj) -> bool:
    selector = _dict(claim.get("spec")).get("selector")
    if selector is None:
        return True
    try:
        labels = {str(k): str(v) for k, v in _dict(_dict(pv.get("metadata")).get("labels")).items()}
        return from_label_selector(selector).matches(labels)
    except SelectorError:
        return False


def find_matching_volume(claim: Obj, volumes: Iterable[Obj], *, node: Obj | None = None,
                         delay_binding: bool = False) -> Obj | None:
    """The volume to bind ``claim`` to, or None (upstream's FindMatchingVolume).

    A volume already reserved for the claim wins (if reachable from ``node``). Otherwise, with
    ``delay_binding`` (a WaitForFirstConsumer class) and no ``node``, nothing is chosen: binding
    waits for the scheduler to pick the node.
    """
    candidates: list[tuple[int, Fraction, str, Obj]] = []
    for pv in volumes:
        md = _dict(pv.get("metadata"))
        if md.get("deletionTimestamp") or volume_mode(pv) != volume_mode(claim):
            continue
        reachable = node is None or node_affinity_allows(pv, node)
        if is_bound_to(pv, claim):
            return pv if reachable else None
        if node is None and delay_binding:
            continue
        if claim_ref(pv) is not None or not reachable or not _selector_matches(claim, pv):
            continue
        if mismatch(pv, claim):
            continue
        size = capacity(pv)
        assert size is not None  # mismatch() checked it
        modes = len(set(_list(_dict(pv.get("spec")).get("accessModes"))))
        candidates.append((modes, size, str(md.get("name") or ""), pv))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[:3])[3]
