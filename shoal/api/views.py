"""Typed views of objects as they travel: plain dicts with a declared shape.

Every component but the API server reads objects straight from JSON (informer
caches, watch events), and converting each one into a msgspec model would cost
more than the work done with it. So, as kopf's ``structs/bodies.py`` does, the
wire dicts stay dicts and this module gives them types: ``TypedDict``s for the
parts components read (metadata, owner references, conditions, pod and node
status), ``Literal``s for the closed sets (phases, restart policies, condition
statuses, container states), and one home for the questions every component
asks (a pod's phase, is it ready, terminating, who controls it, what time a
timestamp says). Two copies of "a pod's phase" once disagreed; there is one now.

The accessors take any ``Mapping`` (a raw dict from JSON or one of the typed
dicts below), never copy and never mutate: what they return may be a part of
a cached object, which callers copy before they change it. Malformed input (a
field of the wrong type, as a fuzzer or an old client may write) reads as
absent rather than raising, because a controller must not crash on one bad
object.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal, TypedDict, cast

# --- closed sets -----------------------------------------------------------------------------

PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
RestartPolicy = Literal["Always", "OnFailure", "Never"]
ConditionStatus = Literal["True", "False", "Unknown"]
ContainerStateName = Literal["waiting", "running", "terminated"]
PropagationPolicy = Literal["Orphan", "Background", "Foreground"]

POD_PHASES: frozenset[str] = frozenset({"Pending", "Running", "Succeeded", "Failed", "Unknown"})
TERMINAL_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed"})

# --- shapes ----------------------------------------------------------------------------------


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    deletionGracePeriodSeconds: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]


class Condition(TypedDict, total=False):
    type: str
    status: ConditionStatus
    reason: str
    message: str
    lastTransitionTime: str
    lastHeartbeatTime: str
    lastProbeTime: str
    lastUpdateTime: str


class ContainerStateWaiting(TypedDict, total=False):
    reason: str
    message: str


class ContainerStateRunning(TypedDict, total=False):
    startedAt: str


class ContainerStateTerminated(TypedDict, total=False):
    exitCode: int
    signal: int
    reason: str
    message: str
    startedAt: str
    finishedAt: str
    containerID: str


class ContainerState(TypedDict, total=False):
    waiting: ContainerStateWaiting
    running: ContainerStateRunning
    terminated: ContainerStateTerminated


class ContainerStatus(TypedDict, total=False):
    name: str
    state: ContainerState
    lastState: ContainerState
    ready: bool
    started: bool
    restartCount: int
    image: str
    imageID: str
    containerID: str


class PodStatus(TypedDict, total=False):
    phase: PodPhase
    conditions: list[Condition]
    message: str
    reason: str
    hostIP: str
    podIP: str
    podIPs: list[dict[str, str]]
    startTime: str
    initContainerStatuses: list[ContainerStatus]
    containerStatuses: list[ContainerStatus]
    qosClass: str
    nominatedNodeName: str


class Taint(TypedDict, total=False):
    key: str
    value: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    timeAdded: str


class NodeAddress(TypedDict):
    type: str
    address: str


class NodeStatus(TypedDict, total=False):
    capacity: dict[str, str]
    allocatable: dict[str, str]
    conditions: list[Condition]
    addresses: list[NodeAddress]


class KubeObject(TypedDict, total=False):
    """Any object: what every kind has in common."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta


class Pod(KubeObject, total=False):
    spec: dict[str, Any]  # the pod spec is wide; read it through the accessors below
    status: PodStatus


class Node(KubeObject, total=False):
    spec: dict[str, Any]
    status: NodeStatus


# Services and their endpoints: what the service proxy, the cluster DNS, the endpoints controller
# and the agent's service environment read (and the endpoints controller writes).

Protocol = Literal["TCP", "UDP", "SCTP"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]


class ServicePort(TypedDict, total=False):
    name: str
    protocol: Protocol
    port: int
    targetPort: int | str
    nodePort: int
    appProtocol: str


class ServiceSpec(TypedDict, total=False):
    type: ServiceType
    selector: dict[str, str]
    ports: list[ServicePort]
    clusterIP: str
    clusterIPs: list[str]
    externalIPs: list[str]
    externalName: str
    sessionAffinity: Literal["None", "ClientIP"]
    publishNotReadyAddresses: bool


class LoadBalancerIngress(TypedDict, total=False):
    ip: str
    hostname: str


class LoadBalancerStatus(TypedDict, total=False):
    ingress: list[LoadBalancerIngress]


class ServiceStatus(TypedDict, total=False):
    loadBalancer: LoadBalancerStatus


class Service(KubeObject, total=False):
    spec: ServiceSpec
    status: ServiceStatus


class ObjectReference(TypedDict, total=False):
    kind: str
    namespace: str
    name: str
    uid: str


class EndpointAddress(TypedDict, total=False):
    ip: str
    hostname: str
    nodeName: str
    targetRef: ObjectReference


class EndpointPort(TypedDict, total=False):
    name: str
    port: int
    protocol: Protocol


class EndpointSubset(TypedDict, total=False):
    addresses: list[EndpointAddress]
    notReadyAddresses: list[EndpointAddress]
    ports: list[EndpointPort]


class Endpoints(KubeObject, total=False):
    subsets: list[EndpointSubset]


class EndpointConditions(TypedDict, total=False):
    ready: bool
    serving: bool
    terminating: bool


class Endpoint(TypedDict, total=False):
    """One endpoint of an EndpointSlice (``discovery.k8s.io/v1``)."""

    addresses: list[str]
    conditions: EndpointConditions
    hostname: str
    nodeName: str
    targetRef: ObjectReference


class EndpointSlice(KubeObject, total=False):
    addressType: Literal["IPv4", "IPv6", "FQDN"]
    endpoints: list[Endpoint]
    ports: list[EndpointPort]


# Persistent storage: claims, volumes and classes, which the PV controllers, the scheduler's
# VolumeBinding, the node agent and the API server's admission all read.

AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
VolumeMode = Literal["Filesystem", "Block"]
ClaimPhase = Literal["Pending", "Bound", "Lost"]
VolumePhase = Literal["Pending", "Available", "Bound", "Released", "Failed"]
ReclaimPolicy = Literal["Delete", "Recycle", "Retain"]
VolumeBindingMode = Literal["Immediate", "WaitForFirstConsumer"]


class LabelSelector(TypedDict, total=False):
    matchLabels: dict[str, str]
    matchExpressions: list[dict[str, Any]]


class ResourceRequirements(TypedDict, total=False):
    requests: dict[str, str]
    limits: dict[str, str]


class PersistentVolumeClaimSpec(TypedDict, total=False):
    accessModes: list[AccessMode]
    resources: ResourceRequirements
    selector: LabelSelector
    storageClassName: str
    volumeMode: VolumeMode
    volumeName: str


class PersistentVolumeClaimStatus(TypedDict, total=False):
    phase: ClaimPhase
    accessModes: list[AccessMode]
    capacity: dict[str, str]
    allocatedResources: dict[str, str]
    allocatedResourceStatuses: dict[str, str]
    conditions: list[Condition]


class PersistentVolumeClaim(KubeObject, total=False):
    spec: PersistentVolumeClaimSpec
    status: PersistentVolumeClaimStatus


class NodeSelectorRequirement(TypedDict, total=False):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str]


class NodeSelectorTerm(TypedDict, total=False):
    matchExpressions: list[NodeSelectorRequirement]
    matchFields: list[NodeSelectorRequirement]


class NodeSelector(TypedDict, total=False):
    nodeSelectorTerms: list[NodeSelectorTerm]


class VolumeNodeAffinity(TypedDict, total=False):
    required: NodeSelector


class ClaimReference(ObjectReference, total=False):
    """A PV's ``claimRef``: the claim it is bound or reserved for (``uid`` empty when only reserved)."""

    apiVersion: str
    resourceVersion: str


class PathSource(TypedDict, total=False):
    path: str
    type: str


class PersistentVolumeSpec(TypedDict, total=False):
    capacity: dict[str, str]
    accessModes: list[AccessMode]
    claimRef: ClaimReference
    persistentVolumeReclaimPolicy: ReclaimPolicy
    storageClassName: str
    volumeMode: VolumeMode
    mountOptions: list[str]
    nodeAffinity: VolumeNodeAffinity
    local: PathSource
    hostPath: PathSource


class PersistentVolumeStatus(TypedDict, total=False):
    phase: VolumePhase
    reason: str
    message: str
    lastPhaseTransitionTime: str


class PersistentVolume(KubeObject, total=False):
    spec: PersistentVolumeSpec
    status: PersistentVolumeStatus


class TopologySelectorRequirement(TypedDict, total=False):
    key: str
    values: list[str]


class TopologySelectorTerm(TypedDict, total=False):
    matchLabelExpressions: list[TopologySelectorRequirement]


class StorageClass(KubeObject, total=False):
    provisioner: str
    parameters: dict[str, str]
    reclaimPolicy: ReclaimPolicy
    volumeBindingMode: VolumeBindingMode
    allowVolumeExpansion: bool
    mountOptions: list[str]
    allowedTopologies: list[TopologySelectorTerm]


Body = Mapping[str, Any]  # what an accessor accepts: a wire dict or any typed dict above

# --- metadata --------------------------------------------------------------------------------


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def as_dict(value: object) -> dict[str, Any]:
    """A nested field that should be an object: itself, or an empty dict when absent or malformed
    (``as_dict(spec(pv).get("capacity")).get("storage")`` instead of a chain of ``or {}``)."""
    return _dict(value)


def as_list(value: object) -> list[Any]:
    """A nested field that should be a list: itself, or an empty list when absent or malformed."""
    return _list(value)


def meta(obj: Body) -> ObjectMeta:
    """The object's metadata (an empty mapping when absent or malformed)."""
    return cast(ObjectMeta, _dict(obj.get("metadata")))


def name(obj: Body) -> str:
    return _str(meta(obj).get("name"))


def namespace(obj: Body) -> str:
    return _str(meta(obj).get("namespace"))


def uid(obj: Body) -> str:
    return _str(meta(obj).get("uid"))


def resource_version(obj: Body) -> str:
    return _str(meta(obj).get("resourceVersion"))


def key(obj: Body) -> str:
    """``namespace/name`` for namespaced objects, ``name`` otherwise (client-go's MetaNamespaceKeyFunc)."""
    ns = namespace(obj)
    return f"{ns}/{name(obj)}" if ns else name(obj)


def labels(obj: Body) -> dict[str, str]:
    return cast(dict[str, str], _dict(meta(obj).get("labels")))


def annotations(obj: Body) -> dict[str, str]:
    return cast(dict[str, str], _dict(meta(obj).get("annotations")))


def finalizers(obj: Body) -> list[str]:
    return cast(list[str], _list(meta(obj).get("finalizers")))


def is_terminating(obj: Body) -> bool:
    """Deletion has begun (a deletionTimestamp is set); finalizers or a grace period hold it."""
    return bool(meta(obj).get("deletionTimestamp"))


def spec(obj: Body) -> dict[str, Any]:
    return _dict(obj.get("spec"))


def status(obj: Body) -> dict[str, Any]:
    return _dict(obj.get("status"))


# --- owner references ------------------------------------------------------------------------


def owner_references(obj: Body) -> list[OwnerReference]:
    return [cast(OwnerReference, r) for r in _list(meta(obj).get("ownerReferences")) if isinstance(r, dict)]


def controller_ref(obj: Body) -> OwnerReference | None:
    """The ownerReference with ``controller: true``, if any (at most one is valid)."""
    for ref in owner_references(obj):
        if ref.get("controller"):
            return ref
    return None


def controller_uid(obj: Body) -> str | None:
    ref = controller_ref(obj)
    return str(ref["uid"]) if ref and ref.get("uid") else None


def is_controlled_by(obj: Body, owner: Body) -> bool:
    ref = controller_ref(obj)
    return ref is not None and bool(ref.get("uid")) and ref.get("uid") == uid(owner)


def owner_reference(owner: Body, *, api_version: str | None = None, kind: str | None = None,
                    block: bool = True) -> OwnerReference:
    """A controller reference to ``owner``, as a controller puts on what it creates or adopts."""
    md = meta(owner)
    return {"apiVersion": str(api_version or owner.get("apiVersion") or ""),
            "kind": str(kind or owner.get("kind") or ""),
            "name": str(md.get("name") or ""), "uid": str(md.get("uid") or ""),
            "controller": True, "blockOwnerDeletion": block}


# --- conditions ------------------------------------------------------------------------------


def conditions(obj: Body) -> list[Condition]:
    return [cast(Condition, c) for c in _list(status(obj).get("conditions")) if isinstance(c, dict)]


def condition(obj: Body, type_: str) -> Condition | None:
    for c in conditions(obj):
        if c.get("type") == type_:
            return c
    return None


def condition_true(obj: Body, type_: str) -> bool:
    c = condition(obj, type_)
    return c is not None and c.get("status") == "True"


# --- pods ------------------------------------------------------------------------------------


def phase(pod: Body) -> PodPhase:
    """The pod's phase; ``Pending`` when not yet set (the API server sets it on create)."""
    p = status(pod).get("phase")
    return cast(PodPhase, p) if p in POD_PHASES else "Pending"


def is_terminal(pod: Body) -> bool:
    """Succeeded or Failed: its containers will not run again."""
    return status(pod).get("phase") in TERMINAL_PHASES


def is_active(pod: Body) -> bool:
    """Neither finished nor on its way out: what a controller counts as running its work."""
    return not is_terminal(pod) and not is_terminating(pod)


def is_ready(pod: Body) -> bool:
    return condition_true(pod, "Ready")


def node_name(pod: Body) -> str:
    """The node the pod is bound to ('' while unscheduled)."""
    return _str(spec(pod).get("nodeName"))


def pod_ip(pod: Body) -> str:
    return _str(status(pod).get("podIP"))


def restart_policy(pod: Body) -> RestartPolicy:
    p = spec(pod).get("restartPolicy")
    return cast(RestartPolicy, p) if p in ("Always", "OnFailure", "Never") else "Always"


def container_statuses(pod: Body, *, init: bool = False) -> list[ContainerStatus]:
    field = "initContainerStatuses" if init else "containerStatuses"
    return [cast(ContainerStatus, c) for c in _list(status(pod).get(field)) if isinstance(c, dict)]


def containers(pod: Body, *, init: bool = False) -> list[dict[str, Any]]:
    """The pod's container specs (``initContainers`` with ``init``), in order; malformed entries skipped."""
    return [c for c in _list(spec(pod).get("initContainers" if init else "containers")) if isinstance(c, dict)]


def ephemeral_containers(pod: Body) -> list[dict[str, Any]]:
    """The pod's ephemeral containers (``kubectl debug``), in the order they were added."""
    return [c for c in _list(spec(pod).get("ephemeralContainers")) if isinstance(c, dict)]


def waiting_reason(cs: ContainerStatus) -> str:
    """The reason a container status says it is waiting ('' when it is not waiting)."""
    return str(_dict(_dict(cs.get("state")).get("waiting")).get("reason") or "")


_STATE_ORDER: tuple[ContainerStateName, ...] = ("running", "terminated", "waiting")


def container_state(cs: ContainerStatus) -> ContainerStateName | None:
    """Which of waiting / running / terminated the status reports (None when it reports none)."""
    state = _dict(cs.get("state"))
    for s in _STATE_ORDER:
        if isinstance(state.get(s), dict):
            return s
    return None


def restart_count(pod: Body) -> int:
    """Restarts of all the pod's containers, init containers included."""
    return sum(int(c.get("restartCount") or 0)
               for c in (*container_statuses(pod, init=True), *container_statuses(pod)))


def max_restarts(pod: Body) -> int:
    """The most restarts any one (app) container had: upstream's ranking for scale-down."""
    return max((int(c.get("restartCount") or 0) for c in container_statuses(pod)), default=0)


# --- nodes -----------------------------------------------------------------------------------


def taints(node: Body) -> list[Taint]:
    return [cast(Taint, t) for t in _list(spec(node).get("taints")) if isinstance(t, dict)]


def is_unschedulable(node: Body) -> bool:
    return bool(spec(node).get("unschedulable"))


def node_address(node: Body, type_: str = "InternalIP") -> str:
    for a in _list(status(node).get("addresses")):
        if isinstance(a, dict) and a.get("type") == type_:
            return _str(a.get("address"))
    return ""


def pod_cidrs(node: Body) -> list[str]:
    """A Node's pod address ranges: ``spec.podCIDRs``, else ``spec.podCIDR`` (as written, unchecked)."""
    sp = spec(node)
    many = [c for c in _list(sp.get("podCIDRs")) if isinstance(c, str) and c]
    if many:
        return many
    one = sp.get("podCIDR")
    return [one] if isinstance(one, str) and one else []


# --- services and endpoints ------------------------------------------------------------------


def service_spec(svc: Body) -> ServiceSpec:
    return cast(ServiceSpec, spec(svc))


def service_ports(svc: Body) -> list[ServicePort]:
    return [cast(ServicePort, p) for p in _list(spec(svc).get("ports")) if isinstance(p, dict)]


def cluster_ip(svc: Body) -> str:
    """The Service's ClusterIP: an address, ``None`` for a headless Service, '' before one is allocated."""
    return _str(spec(svc).get("clusterIP"))


def load_balancer_ingress(svc: Body) -> list[LoadBalancerIngress]:
    lb = _dict(status(svc).get("loadBalancer"))
    return [cast(LoadBalancerIngress, i) for i in _list(lb.get("ingress")) if isinstance(i, dict)]


def subsets(endpoints: Body) -> list[EndpointSubset]:
    """The subsets of an Endpoints object."""
    return [cast(EndpointSubset, s) for s in _list(endpoints.get("subsets")) if isinstance(s, dict)]


def port_protocol(port: Mapping[str, Any]) -> Protocol:
    """A Service, Endpoints or container port's protocol as written, ``TCP`` when unset (the API's default)."""
    return cast(Protocol, str(port.get("protocol") or "TCP"))


# --- persistent storage ------------------------------------------------------------------------


def claim_spec(claim: Body) -> PersistentVolumeClaimSpec:
    return cast(PersistentVolumeClaimSpec, spec(claim))


def claim_status(claim: Body) -> PersistentVolumeClaimStatus:
    return cast(PersistentVolumeClaimStatus, status(claim))


def volume_spec(pv: Body) -> PersistentVolumeSpec:
    return cast(PersistentVolumeSpec, spec(pv))


def volume_name(claim: Body) -> str:
    """The volume a claim is (being) bound to: ``spec.volumeName`` ('' while unbound)."""
    return _str(spec(claim).get("volumeName"))


def storage_phase(obj: Body) -> str:
    """A claim's or volume's ``status.phase`` as written ('' when unset: unlike a pod's, no default)."""
    return _str(status(obj).get("phase"))


def claim_ref(pv: Body) -> ClaimReference | None:
    """The claim a PV is bound or reserved for (None when it is free)."""
    ref = spec(pv).get("claimRef")
    return cast(ClaimReference, ref) if isinstance(ref, dict) else None


# --- time ------------------------------------------------------------------------------------


def parse_time(value: object) -> dt.datetime | None:
    """An RFC 3339 timestamp (with or without fractional seconds) as an aware UTC datetime.

    None for anything that is not one, so a malformed timestamp never stops a controller (or a table).
    Surrounding blanks and a lower-case ``z`` are tolerated, as RFC 3339 allows; a time without an
    offset is read as UTC."""
    if not isinstance(value, str) or not (text := value.strip()):
        return None
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)


def format_time(t: dt.datetime) -> str:
    """Kubernetes' ``metav1.Time``: whole seconds, UTC, ``Z``."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro(t: dt.datetime) -> str:
    """Kubernetes' ``metav1.MicroTime``: microseconds, UTC, ``Z`` (Events, Leases)."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
