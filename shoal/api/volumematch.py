"""Which PersistentVolume satisfies which claim: pure questions over wire objects.

The PV controller asks them to bind a claim to an existing volume, and the
scheduler's VolumeBinding plugin asks the same ones for a node (a claim
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

The shape part of that (size, class, volume mode, access modes, selector) is
one function over two small protocols, ``shape_mismatch(volume, claim)``: the
PV controller feeds it ``volume_shape``/``claim_shape`` parsed from the wire
objects, the scheduler its own ``VolumeInfo``/``ClaimInfo`` (parsed once per
informer event, through the same ``claim_shape``/``volume_shape``), so the two
cannot disagree on what fits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

from shoal.api import views
from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.api.selectors import Selector, SelectorError, from_label_selector
from shoal.api.storage_contract import BETA_STORAGE_CLASS
from shoal.api.views import Body, ClaimReference, as_dict, as_list


def storage_class_of(obj: Body) -> str:
    """A claim's or volume's class: the old beta annotation if present, else ``storageClassName``."""
    ann = views.annotations(obj)
    if BETA_STORAGE_CLASS in ann:
        return str(ann[BETA_STORAGE_CLASS])
    name = views.spec(obj).get("storageClassName")
    return name if isinstance(name, str) else ""


def volume_mode(obj: Body) -> str:
    mode = views.spec(obj).get("volumeMode")
    return mode if isinstance(mode, str) and mode else "Filesystem"


def quantity(raw: object) -> Fraction | None:
    if raw is None or isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        return parse_quantity(raw)
    except InvalidQuantity:
        return None


def requested_raw(claim: Body) -> object:
    """The size a claim asks for as written (``spec.resources.requests.storage``; None when absent)."""
    return as_dict(as_dict(views.spec(claim).get("resources")).get("requests")).get("storage")


def requested(claim: Body) -> Fraction | None:
    """The size a claim asks for (``spec.resources.requests.storage``)."""
    return quantity(requested_raw(claim))


def capacity(pv: Body) -> Fraction | None:
    """A volume's size (``spec.capacity.storage``)."""
    return quantity(as_dict(views.spec(pv).get("capacity")).get("storage"))


def access_modes(obj: Body) -> frozenset[str]:
    """The access modes a claim asks for or a volume offers."""
    return frozenset(str(m) for m in as_list(views.spec(obj).get("accessModes")))


def access_modes_satisfy(claim: Body, pv: Body) -> bool:
    return access_modes(claim) <= access_modes(pv)


def claim_ref(pv: Body) -> ClaimReference | None:
    return views.claim_ref(pv)


def is_bound_to(pv: Body, claim: Body) -> bool:
    """Whether ``pv`` is bound or reserved for ``claim`` (same namespace and name, uid empty or equal)."""
    ref = claim_ref(pv)
    md = views.meta(claim)
    if ref is None or ref.get("name") != md.get("name") or ref.get("namespace") != md.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == md.get("uid")


# --- the static shape check, shared with the scheduler's VolumeBinding ---------------------------


class ClaimWants(Protocol):
    """What a claim asks of a volume's shape (the scheduler's ``ClaimInfo`` is one too)."""

    @property
    def storage_class(self) -> str: ...
    @property
    def size(self) -> Fraction | None: ...
    @property
    def access_modes(self) -> frozenset[str]: ...
    @property
    def volume_mode(self) -> str: ...
    @property
    def selector(self) -> Selector | None: ...
    @property
    def bad_selector(self) -> bool: ...


class VolumeOffers(Protocol):
    """What a volume's shape offers (the scheduler's ``VolumeInfo`` is one too)."""

    @property
    def storage_class(self) -> str: ...
    @property
    def capacity(self) -> Fraction | None: ...
    @property
    def access_modes(self) -> frozenset[str]: ...
    @property
    def volume_mode(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class ClaimShape:
    storage_class: str = ""
    size: Fraction | None = None
    access_modes: frozenset[str] = frozenset()
    volume_mode: str = "Filesystem"
    selector: Selector | None = None  # spec.selector (None: any volume)
    bad_selector: bool = False  # a selector that cannot be read matches no volume


@dataclass(frozen=True, slots=True)
class VolumeShape:
    storage_class: str = ""
    capacity: Fraction | None = None
    access_modes: frozenset[str] = frozenset()
    volume_mode: str = "Filesystem"
    labels: Mapping[str, str] = field(default_factory=dict)


def claim_shape(claim: Body) -> ClaimShape:
    """What ``claim`` asks of a volume, parsed once (its selector too)."""
    raw = views.spec(claim).get("selector")
    selector: Selector | None = None
    bad = False
    if raw is not None:
        try:
            selector = from_label_selector(raw)
        except (SelectorError, TypeError, ValueError, AttributeError):
            bad = True
    return ClaimShape(storage_class_of(claim), requested(claim), access_modes(claim), volume_mode(claim),
                      selector, bad)


def volume_shape(pv: Body) -> VolumeShape:
    """What ``pv`` offers, parsed once."""
    return VolumeShape(storage_class_of(pv), capacity(pv), access_modes(pv), volume_mode(pv),
                       {str(k): str(v) for k, v in views.labels(pv).items()})


def shape_mismatch(volume: VolumeOffers, claim: ClaimWants) -> str:
    """Why the volume cannot serve the claim by its shape ("" when it can): upstream's checkVolumeSatisfyClaim
    (size, class, volume mode, access modes; the selector is not checked, as upstream's is not)."""
    if claim.size is None or volume.capacity is None or volume.capacity < claim.size:
        return "requested PV is too small"
    if volume.storage_class != claim.storage_class:
        return "storageClassName does not match"
    if volume.volume_mode != claim.volume_mode:
        return "incompatible volumeMode"
    if not claim.access_modes <= volume.access_modes:
        return "incompatible accessMode"
    return ""


def selector_admits(volume: VolumeOffers, claim: ClaimWants) -> bool:
    """The claim's selector (if any) matches the volume's labels; an unreadable one matches nothing."""
    if claim.bad_selector:
        return False
    return claim.selector is None or claim.selector.matches(volume.labels)


def shape_satisfies(volume: VolumeOffers, claim: ClaimWants) -> bool:
    """A free volume's shape serves the claim: ``shape_mismatch`` finds nothing and the selector admits it."""
    return selector_admits(volume, claim) and not shape_mismatch(volume, claim)


def _requirement(req: Mapping[str, Any], value: str | None) -> bool:
    op = req.get("operator")
    values = [v for v in as_list(req.get("values")) if isinstance(v, str)]
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
    exprs = [r for r in as_list(term.get("matchExpressions")) if isinstance(r, Mapping)]
    fields = [r for r in as_list(term.get("matchFields")) if isinstance(r, Mapping)]
    if not exprs and not fields:
        return False
    for r in exprs:
        if not _requirement(r, labels.get(str(r.get("key")))):
            return False
    for r in fields:
        if r.get("key") != "metadata.name" or not _requirement(r, node_name):
            return False
    return True


def node_affinity_allows(pv: Body, node: Body) -> bool:
    """Whether ``node`` may use ``pv``: it matches one of the PV's required terms (or there are none)."""
    required = as_dict(as_dict(views.spec(pv).get("nodeAffinity")).get("required"))
    terms = [t for t in as_list(required.get("nodeSelectorTerms")) if isinstance(t, Mapping)]
    if not required:
        return True
    labels = {str(k): str(v) for k, v in views.labels(node).items()}
    return any(node_selector_term_matches(t, labels, views.name(node)) for t in terms)


def mismatch(pv: Body, claim: Body) -> str:
    """Why ``pv`` cannot serve ``claim`` by its shape ("" when it can): see ``shape_mismatch``."""
    return shape_mismatch(volume_shape(pv), claim_shape(claim))


def find_matching_volume(claim: Body, volumes: Iterable[Body], *, node: Body | None = None,
                         delay_binding: bool = False) -> Body | None:
    """The volume to bind ``claim`` to, or None (upstream's FindMatchingVolume).

    A volume already reserved for the claim wins (if reachable from ``node``). Otherwise, with
    ``delay_binding`` (a WaitForFirstConsumer class) and no ``node``, nothing is chosen: binding
    waits for the scheduler to pick the node.
    """
    wants = claim_shape(claim)
    candidates: list[tuple[int, Fraction, str, Body]] = []
    for pv in volumes:
        if views.is_terminating(pv) or volume_mode(pv) != wants.volume_mode:
            continue
        reachable = node is None or node_affinity_allows(pv, node)
        if is_bound_to(pv, claim):
            return pv if reachable else None
        if node is None and delay_binding:
            continue
        if claim_ref(pv) is not None or not reachable:
            continue
        offers = volume_shape(pv)
        if not shape_satisfies(offers, wants):
            continue
        assert offers.capacity is not None  # shape_mismatch() checked it
        candidates.append((len(offers.access_modes), offers.capacity, views.name(pv), pv))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[:3])[3]
