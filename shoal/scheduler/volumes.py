"""Claims, volumes and classes as the scheduler sees them: typed views, parsed once, kept current.

The VolumeBinding plugin asks, for a pod's claims, which nodes can use them:
a bound claim's volume may be pinned to nodes (``nodeAffinity``); a claim of a
WaitForFirstConsumer class may take a free volume reachable from the node, or
have one provisioned there. Those questions read a few fields of
PersistentVolumeClaims, PersistentVolumes and StorageClasses; the worker's
informers hand each object to ``VolumeState`` as it changes, which parses it
into a frozen view (``ClaimInfo``, ``VolumeInfo``, ``ClassInfo``) and keeps
the indexes the plugin reads (volumes by class and by the claim they are
reserved for), so a decision touches only the volumes that can matter.

A placement in flight is *assumed* here as upstream's assume cache does: the
node chosen for a claim (``assumed_nodes``) and the volume chosen for it
(``assumed_volumes``) count before the API says so, so the next pod sharing
the claim goes to the same node and the next claim does not take the same
volume. An assumption ends when the informer shows the write, or when the
placement fails (the plugin's ``unreserve``).

Each view says what changed as a ``ClusterEvent`` (a claim added or updated,
...) for the scheduling queue; an update that changes nothing the plugin reads
is no event. Pure: no I/O, imports only ``shoal.api`` (and numpy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.api.selectors import Selector, SelectorError, from_label_selector
from shoal.api.storage_contract import BETA_STORAGE_CLASS, BIND_COMPLETED, SELECTED_NODE
from shoal.scheduler.framework import ClusterEvent
from shoal.scheduler.podinfo import NodeTerm, PodSpecError, node_term

ClaimKey = tuple[str, str]  # namespace, name
Mask = npt.NDArray[np.bool_]


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _class_of(obj: Mapping[str, Any]) -> str:
    """A claim's or volume's class: the old beta annotation if present, else ``storageClassName``."""
    ann = _dict(_dict(obj.get("metadata")).get("annotations"))
    if BETA_STORAGE_CLASS in ann:
        return str(ann[BETA_STORAGE_CLASS])
    name = _dict(obj.get("spec")).get("storageClassName")
    return name if isinstance(name, str) else ""


def _size(raw: object) -> Fraction | None:
    if raw is None or isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        return parse_quantity(raw)
    except InvalidQuantity:
        return None


def _rv(md: Mapping[str, Any]) -> int:
    try:
        return int(md.get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def resource_version(obj: Mapping[str, Any]) -> int:
    """An object's resourceVersion as a number (shoal's is the store's revision; 0 if unreadable)."""
    return _rv(_dict(obj.get("metadata")))


@dataclass(frozen=True, slots=True)
class ClaimInfo:
    namespace: str
    name: str
    uid: str = ""
    storage_class: str = ""
    volume_name: str = ""  # spec.volumeName: the volume it is (being) bound to
    bind_completed: bool = False  # the PV controller finished the binding
    phase: str = "Pending"
    deleting: bool = False
    selected_node: str = ""  # volume.kubernetes.io/selected-node
    size: Fraction | None = None
    access_modes: frozenset[str] = frozenset()
    volume_mode: str = "Filesystem"
    selector: Selector | None = None  # spec.selector (None: any volume)
    bad_selector: bool = False  # a selector that cannot be read matches no volume
    resource_version: int = field(default=0, compare=False)

    @property
    def key(self) -> ClaimKey:
        return (self.namespace, self.name)

    @property
    def fully_bound(self) -> bool:
        """Bound as upstream's scheduler counts it: a volume named and the binding completed."""
        return bool(self.volume_name) and self.bind_completed


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    name: str
    storage_class: str = ""
    capacity: Fraction | None = None
    access_modes: frozenset[str] = frozenset()
    volume_mode: str = "Filesystem"
    phase: str = ""
    deleting: bool = False
    claim_ref: tuple[str, str, str] | None = None  # namespace, name, uid ("" when only reserved by name)
    labels: Mapping[str, str] = field(default_factory=dict)
    affinity: tuple[NodeTerm, ...] | None = None  # required node terms, ORed (None: every node)
    resource_version: int = field(default=0, compare=False)

    def bound_to(self, claim: ClaimInfo) -> bool:
        """Bound or reserved for ``claim`` (same namespace and name; uid empty or equal)."""
        ref = self.claim_ref
        return (ref is not None and ref[0] == claim.namespace and ref[1] == claim.name
                and (not ref[2] or ref[2] == claim.uid))


@dataclass(frozen=True, slots=True)
class ClassInfo:
    name: str
    provisioner: str = ""
    wait_for_consumer: bool = False  # volumeBindingMode: WaitForFirstConsumer
    # allowedTopologies: terms ORed, each (key, values) requirements ANDed; () means anywhere
    topologies: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = ()


def claim_info(obj: Mapping[str, Any]) -> ClaimInfo:
    md = _dict(obj.get("metadata"))
    spec = _dict(obj.get("spec"))
    ann = _dict(md.get("annotations"))
    selector: Selector | None = None
    bad = False
    if spec.get("selector") is not None:
        try:
            selector = from_label_selector(spec["selector"])
        except (SelectorError, TypeError, ValueError, AttributeError):
            bad = True
    mode = spec.get("volumeMode")
    return ClaimInfo(
        namespace=str(md.get("namespace") or "default"), name=str(md.get("name") or ""), uid=str(md.get("uid") or ""),
        storage_class=_class_of(obj), volume_name=str(spec.get("volumeName") or ""),
        bind_completed=BIND_COMPLETED in ann, phase=str(_dict(obj.get("status")).get("phase") or "Pending"),
        deleting=bool(md.get("deletionTimestamp")), selected_node=str(ann.get(SELECTED_NODE) or ""),
        size=_size(_dict(_dict(spec.get("resources")).get("requests")).get("storage")),
        access_modes=frozenset(str(m) for m in _list(spec.get("accessModes"))),
        volume_mode=mode if isinstance(mode, str) and mode else "Filesystem",
        selector=selector, bad_selector=bad, resource_version=_rv(md),
    )


def _affinity(spec: Mapping[str, Any]) -> tuple[NodeTerm, ...] | None:
    required = _dict(spec.get("nodeAffinity")).get("required")
    if not isinstance(required, Mapping):
        return None
    try:
        return tuple(node_term(t) for t in _list(required.get("nodeSelectorTerms")) if isinstance(t, Mapping))
    except (PodSpecError, TypeError, ValueError, AttributeError):
        return ()  # an affinity that cannot be read admits no node (upstream: CheckNodeAffinity fails)


def volume_info(obj: Mapping[str, Any]) -> VolumeInfo:
    md = _dict(obj.get("metadata"))
    spec = _dict(obj.get("spec"))
    ref = spec.get("claimRef")
    claim_ref = None
    if isinstance(ref, Mapping):
        claim_ref = (str(ref.get("namespace") or ""), str(ref.get("name") or ""), str(ref.get("uid") or ""))
    mode = spec.get("volumeMode")
    return VolumeInfo(
        name=str(md.get("name") or ""), storage_class=_class_of(obj),
        capacity=_size(_dict(spec.get("capacity")).get("storage")),
        access_modes=frozenset(str(m) for m in _list(spec.get("accessModes"))),
        volume_mode=mode if isinstance(mode, str) and mode else "Filesystem",
        phase=str(_dict(obj.get("status")).get("phase") or ""), deleting=bool(md.get("deletionTimestamp")),
        claim_ref=claim_ref, labels={str(k): str(v) for k, v in _dict(md.get("labels")).items()},
        affinity=_affinity(spec), resource_version=_rv(md),
    )


def class_info(obj: Mapping[str, Any]) -> ClassInfo:
    md = _dict(obj.get("metadata"))
    terms = []
    for t in _list(obj.get("allowedTopologies")):
        reqs = tuple((str(r.get("key") or ""), tuple(str(v) for v in _list(r.get("values"))))
                     for r in _list(_dict(t).get("matchLabelExpressions")) if isinstance(r, Mapping))
        terms.append(reqs)
    return ClassInfo(name=str(md.get("name") or ""), provisioner=str(obj.get("provisioner") or ""),
                     wait_for_consumer=obj.get("volumeBindingMode") == "WaitForFirstConsumer",
                     topologies=tuple(terms))


class VolumeState:
    """Claims, volumes and classes by key, with the indexes and assumptions described above."""

    def __init__(self) -> None:
        self.claims: dict[ClaimKey, ClaimInfo] = {}
        self.volumes: dict[str, VolumeInfo] = {}
        self.classes: dict[str, ClassInfo] = {}
        self.by_class: dict[str, dict[str, VolumeInfo]] = {}  # class -> volume name -> volume
        self.by_claim: dict[ClaimKey, set[str]] = {}  # claimRef -> volumes reserved or bound for it
        self.assumed_nodes: dict[ClaimKey, str] = {}  # a node chosen for a claim, not yet seen on it
        self.assumed_volumes: dict[str, ClaimKey] = {}  # a volume chosen for a claim, not yet seen on it
        # a volume's node-affinity mask, kept while the volume and the nodes are the same (the plugin's)
        self.reach_cache: dict[str, tuple[VolumeInfo, int, Mask | None]] = {}

    # ---- claims ---------------------------------------------------------------------------
    def set_claim(self, obj: Mapping[str, Any]) -> ClusterEvent:
        c = claim_info(obj)
        old = self.claims.get(c.key)
        self.claims[c.key] = c
        if c.selected_node or c.volume_name:
            self.assumed_nodes.pop(c.key, None)  # the write is seen (or the claim bound meanwhile)
        if old is None:
            return ClusterEvent.PVC_ADD
        return ClusterEvent.PVC_UPDATE if old != c else ClusterEvent(0)

    def remove_claim(self, obj: Mapping[str, Any]) -> None:
        md = _dict(obj.get("metadata"))
        key = (str(md.get("namespace") or "default"), str(md.get("name") or ""))
        self.claims.pop(key, None)
        self.assumed_nodes.pop(key, None)

    def selected_node(self, claim: ClaimInfo) -> str:
        """The node the claim is provisioned for: written on it, or chosen by a placement in flight."""
        return claim.selected_node or self.assumed_nodes.get(claim.key, "")

    # ---- volumes --------------------------------------------------------------------------
    def set_volume(self, obj: Mapping[str, Any]) -> ClusterEvent:
        v = volume_info(obj)
        old = self._drop_volume(v.name)
        self.volumes[v.name] = v
        self.by_class.setdefault(v.storage_class, {})[v.name] = v
        if v.claim_ref is not None:
            self.by_claim.setdefault((v.claim_ref[0], v.claim_ref[1]), set()).add(v.name)
            self.assumed_volumes.pop(v.name, None)
        if old is None:
            return ClusterEvent.PV_ADD
        return ClusterEvent.PV_UPDATE if old != v else ClusterEvent(0)

    def remove_volume(self, obj: Mapping[str, Any]) -> None:
        name = str(_dict(obj.get("metadata")).get("name") or "")
        self._drop_volume(name)
        self.assumed_volumes.pop(name, None)
        self.reach_cache.pop(name, None)

    def _drop_volume(self, name: str) -> VolumeInfo | None:
        old = self.volumes.pop(name, None)
        if old is None:
            return None
        same = self.by_class.get(old.storage_class)
        if same is not None:
            same.pop(name, None)
            if not same:
                del self.by_class[old.storage_class]
        if old.claim_ref is not None:
            key = (old.claim_ref[0], old.claim_ref[1])
            names = self.by_claim.get(key)
            if names is not None:
                names.discard(name)
                if not names:
                    del self.by_claim[key]
        return old

    def taken(self, volume: VolumeInfo) -> bool:
        """Reserved or bound for some claim, or chosen for one by a placement in flight."""
        return volume.claim_ref is not None or volume.name in self.assumed_volumes

    # ---- classes --------------------------------------------------------------------------
    def set_class(self, obj: Mapping[str, Any]) -> ClusterEvent:
        sc = class_info(obj)
        old = self.classes.get(sc.name)
        self.classes[sc.name] = sc
        return ClusterEvent.STORAGE_CLASS_ADD if old is None else ClusterEvent(0)

    def remove_class(self, obj: Mapping[str, Any]) -> None:
        self.classes.pop(str(_dict(obj.get("metadata")).get("name") or ""), None)

    def delay_binding(self, claim: ClaimInfo) -> bool:
        """Whether the claim's class waits for the first consumer (no class, or an unknown one: no)."""
        sc = self.classes.get(claim.storage_class) if claim.storage_class else None
        return sc is not None and sc.wait_for_consumer
