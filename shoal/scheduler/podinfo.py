"""A pod as the scheduler needs it: parsed once, read by every plugin.

Pods arrive as wire dicts. Everything a plugin asks about (summed requests,
host ports, tolerations, node terms, pod affinity terms as compiled label
selectors, spread constraints) is computed here once per pod version, so the
plugins only do array maths. Anything the scheduler cannot interpret (an
unknown operator, a negative or malformed quantity) raises ``PodSpecError``,
which the core turns into an unresolvable "cannot be scheduled" with the
reason, never a crashed scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from shoal.api import podresources
from shoal.api.memo import Memo
from shoal.api.quantity import InvalidQuantity, int_value, milli_value
from shoal.api.selectors import EVERYTHING, Selector, SelectorError, from_label_selector

DEFAULT_SCHEDULER = "default-scheduler"
# upstream's "non-zero" requests used for scoring containers that request nothing
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
NODE_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})


class PodSpecError(ValueError):
    """The pod asks for something the scheduler cannot interpret."""


@dataclass(frozen=True, slots=True)
class NodeRequirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()
    field: bool = False  # a matchFields requirement (only metadata.name)


@dataclass(frozen=True, slots=True)
class NodeTerm:
    """A conjunction of requirements; an empty term matches no node (upstream)."""

    requirements: tuple[NodeRequirement, ...]


@dataclass(frozen=True, slots=True)
class PodTerm:
    """A pod (anti-)affinity term: pods matching ``selector`` in ``namespaces`` (None: all)."""

    selector: Selector
    namespaces: frozenset[str] | None
    topology_key: str

    def matches(self, namespace: str, labels: Mapping[str, str]) -> bool:
        return (self.namespaces is None or namespace in self.namespaces) and self.selector.matches(labels)


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    hard: bool  # whenUnsatisfiable == DoNotSchedule
    selector: Selector
    min_domains: int = 1
    honor_node_affinity: bool = True
    honor_taints: bool = False


@dataclass(slots=True)
class PodInfo:
    uid: str
    namespace: str
    name: str
    labels: dict[str, str]
    priority: int = 0
    preempt_never: bool = False
    scheduler_name: str = DEFAULT_SCHEDULER
    node_name: str = ""
    nominated_node: str = ""
    requests: dict[str, int] = field(default_factory=dict)
    nonzero_cpu: int = DEFAULT_MILLI_CPU
    nonzero_memory: int = DEFAULT_MEMORY
    host_ports: tuple[tuple[str, str, int], ...] = ()  # (protocol, hostIP, port)
    tolerations: tuple[tuple[str, str, str, str], ...] = ()  # (key, operator, value, effect)
    node_selector: dict[str, str] = field(default_factory=dict)
    required_node_terms: tuple[NodeTerm, ...] | None = None
    preferred_node_terms: tuple[tuple[int, NodeTerm], ...] = ()
    affinity: tuple[PodTerm, ...] = ()
    anti_affinity: tuple[PodTerm, ...] = ()
    preferred_affinity: tuple[tuple[int, PodTerm], ...] = ()
    preferred_anti_affinity: tuple[tuple[int, PodTerm], ...] = ()
    spread: tuple[SpreadConstraint, ...] = ()
    claims: tuple[str, ...] = ()  # the PersistentVolumeClaims its volumes name, in order, once each
    has_controller: bool = False
    deleting: bool = False
    error: str = ""  # set instead of raising by ``pod_info_or_error``
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        return any(_tolerates(t, key, value, effect) for t in self.tolerations)


def _tolerates(t: tuple[str, str, str, str], key: str, value: str, effect: str) -> bool:
    tkey, op, tvalue, teffect = t
    if teffect and teffect != effect:
        return False
    if tkey and tkey != key:
        return False
    if op == "Exists":
        return True
    return tvalue == value  # Equal (the default)


# ---- parsing --------------------------------------------------------------------------

_SELECTORS: dict[bytes, Selector] = {}


def compile_selector(raw: Any) -> Selector:
    """A ``metav1.LabelSelector`` as a Selector, cached (pods of one workload share it)."""
    if raw is None:
        return from_label_selector(None)
    try:
        k = msgspec.json.encode(raw)
    except (TypeError, msgspec.EncodeError) as e:
        raise PodSpecError(f"invalid label selector: {e}") from None
    sel = _SELECTORS.get(k)
    if sel is None:
        try:
            sel = from_label_selector(raw)
        except SelectorError as e:
            raise PodSpecError(f"invalid label selector: {e}") from None
        if len(_SELECTORS) > 4096:
            _SELECTORS.clear()
        _SELECTORS[k] = sel
    return sel


def _quantity(name: str, raw: Any) -> int:
    try:
        v = milli_value(raw) if name == "cpu" else int_value(raw)
    except (InvalidQuantity, TypeError, ValueError) as e:
        raise PodSpecError(f"invalid {name} request {raw!r}: {e}") from None
    if v < 0:
        raise PodSpecError(f"{name} request must not be negative (got {raw!r})")
    return v


def _container_requests(c: Mapping[str, Any]) -> dict[str, int]:
    reqs = ((c.get("resources") or {}).get("requests")) or {}
    if not isinstance(reqs, Mapping):
        raise PodSpecError("resources.requests must be an object")
    return {str(k): _quantity(str(k), v) for k, v in reqs.items()}


def pod_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """Effective requests: containers and sidecars summed, against the largest init step, plus overhead
    (``shoal.api.podresources``)."""
    overhead = spec.get("overhead") or {}
    extra = {str(k): _quantity(str(k), v) for k, v in overhead.items()} if isinstance(overhead, Mapping) else {}
    total = podresources.effective(spec, _container_requests, extra)
    return {k: v for k, v in total.items() if v}


def _nonzero(spec: Mapping[str, Any]) -> tuple[int, int]:
    cpu = mem = 0
    for c in spec.get("containers") or []:
        reqs = ((c.get("resources") or {}).get("requests")) or {}
        cpu += _quantity("cpu", reqs["cpu"]) if "cpu" in reqs else DEFAULT_MILLI_CPU
        mem += _quantity("memory", reqs["memory"]) if "memory" in reqs else DEFAULT_MEMORY
    return cpu, mem


def _node_requirement(raw: Mapping[str, Any], *, is_field: bool) -> NodeRequirement:
    key = str(raw.get("key") or "")
    op = str(raw.get("operator") or "")
    values = tuple(str(v) for v in raw.get("values") or [])
    if op not in NODE_OPERATORS:
        raise PodSpecError(f'"{op}" is not a valid node selector operator')
    if op in ("Gt", "Lt"):
        if len(values) != 1:
            raise PodSpecError(f"operator {op} needs exactly one value (key {key!r})")
        try:
            int(values[0])
        except ValueError:
            raise PodSpecError(f"operator {op} needs an integer value, got {values[0]!r}") from None
    if op in ("In", "NotIn") and not values:
        raise PodSpecError(f"operator {op} needs at least one value (key {key!r})")
    if is_field and (key != "metadata.name" or op not in ("In", "NotIn")):
        raise PodSpecError(f"matchFields supports only metadata.name with In or NotIn, got {key} {op}")
    return NodeRequirement(key, op, values, is_field)


def node_term(raw: Mapping[str, Any]) -> NodeTerm:
    reqs = [_node_requirement(r, is_field=False) for r in raw.get("matchExpressions") or []]
    reqs += [_node_requirement(r, is_field=True) for r in raw.get("matchFields") or []]
    return NodeTerm(tuple(reqs))


def _pod_term(raw: Mapping[str, Any], namespace: str) -> PodTerm:
    key = raw.get("topologyKey")
    if not key:
        raise PodSpecError("pod affinity term: topologyKey can not be empty")
    namespaces: frozenset[str] | None
    if raw.get("namespaceSelector") is not None and compile_selector(raw["namespaceSelector"]).empty:
        namespaces = None  # {} selects every namespace
    else:
        namespaces = frozenset(raw.get("namespaces") or []) or frozenset({namespace})
    return PodTerm(compile_selector(raw.get("labelSelector")), namespaces, str(key))


def _weighted(raw: list[Any], namespace: str) -> tuple[tuple[int, PodTerm], ...]:
    return tuple((int(w.get("weight") or 0), _pod_term(w.get("podAffinityTerm") or {}, namespace))
                 for w in raw)


def _spread(raw: Mapping[str, Any], labels: Mapping[str, str]) -> SpreadConstraint:
    key = raw.get("topologyKey")
    if not key:
        raise PodSpecError("topology spread constraint: topologyKey can not be empty")
    skew = int(raw.get("maxSkew") or 0)
    if skew <= 0:
        raise PodSpecError(f"topology spread constraint: maxSkew must be greater than zero, got {skew}")
    when = raw.get("whenUnsatisfiable") or "DoNotSchedule"
    if when not in ("DoNotSchedule", "ScheduleAnyway"):
        raise PodSpecError(f'topology spread constraint: unknown whenUnsatisfiable "{when}"')
    sel = dict(raw.get("labelSelector") or {})
    keys = raw.get("matchLabelKeys") or []
    if keys:
        ml = dict(sel.get("matchLabels") or {})
        ml.update({k: labels[k] for k in keys if k in labels})
        sel["matchLabels"] = ml
    selector = compile_selector(sel) if raw.get("labelSelector") is not None or keys else EVERYTHING
    return SpreadConstraint(
        max_skew=skew, topology_key=str(key), hard=when == "DoNotSchedule", selector=selector,
        min_domains=int(raw.get("minDomains") or 1),
        honor_node_affinity=(raw.get("nodeAffinityPolicy") or "Honor") == "Honor",
        honor_taints=(raw.get("nodeTaintsPolicy") or "Ignore") == "Honor",
    )


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    """Parse a pod dict; raises ``PodSpecError`` on what cannot be interpreted."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ns = str(md.get("namespace") or "default")
    labels = dict(md.get("labels") or {})
    info = PodInfo(
        uid=str(md.get("uid") or f"{ns}/{md.get('name')}"), namespace=ns, name=str(md.get("name") or ""),
        labels=labels, priority=int(spec.get("priority") or 0),
        preempt_never=spec.get("preemptionPolicy") == "Never",
        scheduler_name=str(spec.get("schedulerName") or DEFAULT_SCHEDULER),
        node_name=str(spec.get("nodeName") or ""), nominated_node=str(status.get("nominatedNodeName") or ""),
        has_controller=any(o.get("controller") for o in md.get("ownerReferences") or []),
        deleting=bool(md.get("deletionTimestamp")), raw=dict(pod),
    )
    parts = _spec_parts_memo(spec, ns, labels)
    for f in _SPEC_FIELDS:
        setattr(info, f, getattr(parts, f))
    return info


# the fields of PodInfo that its namespace, labels and spec alone decide
_SPEC_FIELDS = ("requests", "nonzero_cpu", "nonzero_memory", "host_ports", "tolerations", "node_selector",
                "required_node_terms", "preferred_node_terms", "affinity", "anti_affinity", "preferred_affinity",
                "preferred_anti_affinity", "spread", "claims")
SPEC_MEMO = 1024
_spec_memo: Memo[bytes, PodInfo] = Memo(SPEC_MEMO)
_encode = msgspec.json.Encoder().encode


def _spec_parts_memo(spec: Mapping[str, Any], ns: str, labels: dict[str, str]) -> PodInfo:
    """``_spec_parts``, remembered for the last ``SPEC_MEMO`` (namespace, labels, spec).

    Why: every pod of a workload is its template's spec, and parsing it (quantities, terms,
    selectors) was most of ``pod_info``. The parts are read-only after parsing, so pods share them.
    A spec that does not encode as JSON is parsed every time; one that raises is not remembered.
    """
    try:
        key = _encode((ns, labels, spec))
    except (TypeError, ValueError, msgspec.EncodeError):
        return _spec_parts(spec, ns, labels)
    hit = _spec_memo.get(key)
    if hit is None:
        hit = _spec_parts(spec, ns, labels)
        _spec_memo.put(key, hit)
    return hit


def _spec_parts(spec: Mapping[str, Any], ns: str, labels: dict[str, str]) -> PodInfo:
    """A PodInfo with only its ``_SPEC_FIELDS`` parsed from ``spec``; raises ``PodSpecError``."""
    info = PodInfo(uid="", namespace=ns, name="", labels=labels)
    info.requests = pod_requests(spec)
    info.nonzero_cpu, info.nonzero_memory = _nonzero(spec)
    ports = []
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            hp = int(p.get("hostPort") or 0)
            if hp < 0 or hp > 65535:
                raise PodSpecError(f"hostPort {hp} is out of range")
            if hp:
                ports.append((str(p.get("protocol") or "TCP"), str(p.get("hostIP") or "0.0.0.0"), hp))
    info.host_ports = tuple(ports)
    info.tolerations = tuple(
        (str(t.get("key") or ""), str(t.get("operator") or "Equal"), str(t.get("value") or ""),
         str(t.get("effect") or ""))
        for t in spec.get("tolerations") or [])
    info.node_selector = {str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()}
    aff = spec.get("affinity") or {}
    na = aff.get("nodeAffinity") or {}
    req = na.get("requiredDuringSchedulingIgnoredDuringExecution")
    if req is not None:
        info.required_node_terms = tuple(node_term(t) for t in req.get("nodeSelectorTerms") or [])
    info.preferred_node_terms = tuple(
        (int(p.get("weight") or 0), node_term(p.get("preference") or {}))
        for p in na.get("preferredDuringSchedulingIgnoredDuringExecution") or [])
    pa = aff.get("podAffinity") or {}
    paa = aff.get("podAntiAffinity") or {}
    info.affinity = tuple(_pod_term(t, ns) for t in pa.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    info.anti_affinity = tuple(_pod_term(t, ns) for t in paa.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    info.preferred_affinity = _weighted(pa.get("preferredDuringSchedulingIgnoredDuringExecution") or [], ns)
    info.preferred_anti_affinity = _weighted(paa.get("preferredDuringSchedulingIgnoredDuringExecution") or [], ns)
    info.spread = tuple(_spread(c, labels) for c in spec.get("topologySpreadConstraints") or [])
    info.claims = _claims(spec)
    return info


def _claims(spec: Mapping[str, Any]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for v in spec.get("volumes") or []:
        ref = v.get("persistentVolumeClaim") if isinstance(v, Mapping) else None
        if isinstance(ref, Mapping) and ref.get("claimName"):
            names[str(ref["claimName"])] = None
    return tuple(names)


_CONTAINER_KEEP = ("name", "resources", "ports", "restartPolicy")
_STATUS_KEEP = ("phase", "conditions", "nominatedNodeName")
_META_DROP = frozenset({"annotations", "managedFields"})


def scheduling_view(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod with only what the scheduler reads, for its pod informer's transform.

    Why: the scheduler caches every pod it has seen, and ``PodInfo.raw`` keeps the version it
    parsed. Measured with the benchmark's pod: the cache and the parsed pods took 11.8 KB a pod
    whole and 7.7 KB as this view, and the scheduler process's garbage collection in a
    30,000-pod run fell from 2.2-2.4 s to 1.2-1.3 s. Kept: metadata but for annotations and
    managedFields (events name the pod by it), the spec but for what a container is besides
    its name, requests, ports and restart policy (``pod_requests`` reads sidecars'), and the
    status's phase, conditions and nominated node. A value of the wrong shape is kept as it
    is, so ``pod_info`` still refuses it with the same reason.
    """
    out = {k: v for k, v in pod.items() if k not in ("metadata", "spec", "status")}
    md = pod.get("metadata")
    if "metadata" in pod:
        out["metadata"] = {k: v for k, v in md.items() if k not in _META_DROP} if isinstance(md, dict) else md
    spec = pod.get("spec")
    if isinstance(spec, dict):
        slim = {k: v for k, v in spec.items() if k not in ("containers", "initContainers", "ephemeralContainers")}
        for key in ("containers", "initContainers"):
            cs = spec.get(key)
            if cs is not None:
                slim[key] = [{k: c[k] for k in _CONTAINER_KEEP if k in c} if isinstance(c, dict) else c
                             for c in cs] if isinstance(cs, list) else cs
        out["spec"] = slim
    elif "spec" in pod:
        out["spec"] = spec
    status = pod.get("status")
    if "status" in pod:
        out["status"] = {k: status[k] for k in _STATUS_KEEP if k in status} if isinstance(status, dict) else status
    return out


def pod_info_or_error(pod: Mapping[str, Any]) -> PodInfo:
    """Like ``pod_info`` but never raises: a pod it cannot read carries ``error``."""
    try:
        return pod_info(pod)
    except (PodSpecError, TypeError, ValueError, AttributeError) as e:
        md = pod.get("metadata")
        md = md if isinstance(md, Mapping) else {}
        spec = pod.get("spec")
        spec = spec if isinstance(spec, Mapping) else {}
        ns = str(md.get("namespace") or "default")
        priority = spec.get("priority")
        return PodInfo(
            uid=str(md.get("uid") or f"{ns}/{md.get('name')}"), namespace=ns, name=str(md.get("name") or ""),
            labels=dict(md.get("labels") or {}) if isinstance(md.get("labels"), dict) else {},
            priority=priority if isinstance(priority, int) else 0,
            scheduler_name=str(spec.get("schedulerName") or DEFAULT_SCHEDULER),
            node_name=str(spec.get("nodeName") or ""), error=str(e) or type(e).__name__, raw=dict(pod),
            deleting=bool(md.get("deletionTimestamp")),
        )
