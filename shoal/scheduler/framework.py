"""The scheduling framework: status codes, extension points, plugin protocols.

As in kube-scheduler, every concern is a small plugin implementing only the
extension points it needs, and every outcome is one of a closed set of codes,
so "does not fit" is never confused with "bug":

- ``SUCCESS``; ``UNSCHEDULABLE`` (does not fit now; preemption may help);
  ``UNSCHEDULABLE_AND_UNRESOLVABLE`` (no eviction can help: a node selector,
  a cordon, a missing label); ``ERROR`` (a bug or bad input; the pod is retried
  with back-off); ``SKIP`` (the plugin has nothing to say about this pod).

Unlike upstream, a filter does not answer per node but for all nodes at once:
it returns a boolean mask over the snapshot's node arrays together with the
failure reasons as masks (``Reason``), which is what makes one decision over
thousands of nodes cost microseconds of numpy rather than a Python loop.
Scores are vectors over the feasible nodes, normalised to 0..100 so weights
combine.

Why a pod was not placed is data, not a sentence (``Diagnosis``, as Nomad's
allocation metrics): per rejecting plugin, how many nodes it turned away for
each reason. The worker writes upstream's message from it; the queue reads
which plugins rejected the pod, and each plugin declares the cluster events
that can undo its rejection (``ClusterEvent``, upstream's EventsToRegister),
so a pod waits for a change that can help it rather than for any change.

After a node is chosen, Reserve plugins record in the cluster state what the
placement takes besides the pod's resources (a claim's node, a volume), pure
and synchronous, and undo it (``unreserve``) if the placement fails; PreBind
plugins then act on it before the binding and may wait for the cluster to
catch up (a volume being provisioned), through a ``PreBindHandle``.

Nothing here does I/O: the binder plugin gets the I/O as a callable from the
async worker (``BindFn``), a PreBind plugin as a handle (``PreBindHandle``).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from shoal.scheduler.podinfo import PodInfo
    from shoal.scheduler.snapshot import ClusterState

Mask = npt.NDArray[np.bool_]
Vector = npt.NDArray[np.float64]

MAX_NODE_SCORE = 100.0


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    SKIP = 4


@dataclass(frozen=True, slots=True)
class Status:
    """An outcome with human reasons (``Insufficient cpu``)."""

    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code in (Code.SUCCESS, Code.SKIP)

    def message(self) -> str:
        return ", ".join(self.reasons)


SUCCESS = Status()
SKIP = Status(Code.SKIP)


def unschedulable(*reasons: str, resolvable: bool = True) -> Status:
    return Status(Code.UNSCHEDULABLE if resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)


def error(message: str) -> Status:
    return Status(Code.ERROR, (message,))


@dataclass(frozen=True, slots=True)
class Reason:
    """Nodes that failed a filter for one human reason; ``resolvable`` if evictions could help."""

    text: str
    failed: Mask
    resolvable: bool = True


@dataclass(frozen=True, slots=True)
class FilterResult:
    """Which nodes pass (``ok``) and why the others do not."""

    ok: Mask
    reasons: tuple[Reason, ...] = ()

    @staticmethod
    def from_reasons(n: int, reasons: list[Reason]) -> FilterResult:
        ok = np.ones(n, dtype=np.bool_)
        for r in reasons:
            ok &= ~r.failed
        return FilterResult(ok, tuple(reasons))


@dataclass(slots=True)
class CycleState:
    """Per-decision scratch space that PreFilter computes and Filter/Score read."""

    data: dict[str, Any] = field(default_factory=dict)

    def read(self, key: str) -> Any:
        return self.data.get(key)

    def write(self, key: str, value: Any) -> None:
        self.data[key] = value


class Plugin(Protocol):
    name: str


@runtime_checkable
class PreFilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> Status: ...


@runtime_checkable
class FilterPlugin(Protocol):
    name: str

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        """``None`` means every node passes (nothing to check for this pod)."""


@runtime_checkable
class ScorePlugin(Protocol):
    """``score`` gets the indices of the feasible nodes and returns one score each (0..100 after
    ``normalize`` if the plugin has one), or ``None`` when it has no preference for this pod."""

    name: str

    def score(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
              nodes: npt.NDArray[np.intp]) -> Vector | None: ...


@runtime_checkable
class NormalizeScorePlugin(Protocol):
    name: str

    def normalize(self, state: CycleState, pod: PodInfo, scores: Vector) -> Vector: ...


@dataclass(frozen=True, slots=True)
class Victims:
    node: str
    pods: tuple[PodInfo, ...]


@dataclass(frozen=True, slots=True)
class PostFilterResult:
    status: Status
    nominated: Victims | None = None


@runtime_checkable
class PostFilterPlugin(Protocol):
    """Runs when no node fits (preemption); gets the per-node failure codes."""

    name: str

    def post_filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
                    failed: npt.NDArray[np.int8], evaluate: Callable[[PodInfo], Mask]) -> PostFilterResult: ...


BindFn = Callable[[str, str, str, str], Awaitable[None]]  # namespace, name, uid, node


@runtime_checkable
class ReservePlugin(Protocol):
    """Runs once a node is chosen: records in ``cluster`` what the placement takes besides the pod's
    resources (``SKIP``: nothing for this pod); ``unreserve`` undoes it when the placement fails."""

    name: str

    def reserve(self, state: CycleState, pod: PodInfo, cluster: ClusterState, node: str) -> Status: ...

    def unreserve(self, state: CycleState, pod: PodInfo, cluster: ClusterState, node: str) -> None: ...


ClusterCheck = Callable[["ClusterState"], "Status | None"]  # None: not yet; a Status: done (ok or not)


class PreBindHandle(Protocol):
    """The I/O a PreBind plugin may do, provided by the async worker."""

    async def patch(self, resource: str, name: str, namespace: str | None,
                    patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch; returns the object as written."""

    async def wait_until(self, check: ClusterCheck, timeout: float) -> Status:
        """Re-evaluate ``check`` against the scheduler's cluster state as it changes until it returns a
        Status, or an error Status after ``timeout`` seconds (or when the pod is deleted)."""


@runtime_checkable
class PreBindPlugin(Protocol):
    """Runs after Reserve, before the binding, only for pods a Reserve plugin reserved something for."""

    name: str

    async def pre_bind(self, state: CycleState, pod: PodInfo, node: str, handle: PreBindHandle) -> Status: ...


@runtime_checkable
class BindPlugin(Protocol):
    name: str

    async def bind(self, pod: PodInfo, node: str, do_bind: BindFn) -> Status: ...


def default_normalize(scores: Vector, *, reverse: bool = False) -> Vector:
    """Scale to 0..100 by the maximum (upstream's DefaultNormalizeScore)."""
    if scores.size == 0:
        return scores
    top = float(scores.max())
    if top <= 0:
        return np.full_like(scores, MAX_NODE_SCORE if reverse else 0.0)
    out = scores * (MAX_NODE_SCORE / top)
    return MAX_NODE_SCORE - out if reverse else out


def min_max_normalize(scores: Vector) -> Vector:
    """Scale ``min..max`` to ``0..100`` (scores that may be negative, e.g. anti-affinity)."""
    if scores.size == 0:
        return scores
    lo, hi = float(scores.min()), float(scores.max())
    if hi == lo:
        return np.zeros_like(scores)
    return (scores - lo) * (MAX_NODE_SCORE / (hi - lo))


PluginFactory = Callable[[dict[str, Any]], Any]


# ---- why a pod was not placed, and what could change that ---------------------------------

class ClusterEvent(enum.IntFlag):
    """A change in the cluster that can make a rejected pod schedulable (upstream's ClusterEvent:
    a resource and an action). Plugins declare the ones that can undo their rejections."""

    NODE_ADD = enum.auto()
    NODE_DELETE = enum.auto()
    NODE_ALLOCATABLE = enum.auto()  # a node's allocatable resources changed
    NODE_LABEL = enum.auto()
    NODE_TAINT = enum.auto()  # its taints or its cordon (spec.unschedulable), as upstream's UpdateNodeTaint
    POD_ADD = enum.auto()  # a pod placed on a node (bound, or assumed by this scheduler)
    POD_DELETE = enum.auto()  # a placed pod deleted or finished: its resources, ports and terms are gone
    POD_LABEL = enum.auto()  # a placed pod's labels changed
    PVC_ADD = enum.auto()  # a PersistentVolumeClaim created
    PVC_UPDATE = enum.auto()  # a claim changed (bound, its node selected, being deleted)
    PV_ADD = enum.auto()  # a PersistentVolume created
    PV_UPDATE = enum.auto()  # a volume changed (bound, released, its node affinity)
    STORAGE_CLASS_ADD = enum.auto()  # a StorageClass created (classes are immutable but for metadata)

    ALL = (NODE_ADD | NODE_DELETE | NODE_ALLOCATABLE | NODE_LABEL | NODE_TAINT
           | POD_ADD | POD_DELETE | POD_LABEL | PVC_ADD | PVC_UPDATE | PV_ADD | PV_UPDATE | STORAGE_CLASS_ADD)


NO_EVENTS = ClusterEvent(0)


@runtime_checkable
class EnqueueExtensions(Protocol):
    """A plugin that says which events can make a pod it rejected fit (a plugin that does not
    say is taken to care about every event, as upstream)."""

    name: str
    events_to_register: ClusterEvent


def needs_claims(plugin: object) -> bool:
    """A plugin that only concerns pods with PersistentVolumeClaims (``needs_claims = True``): the core
    leaves it out of the decision for a pod without any, so the hot path does not pay for it."""
    return bool(getattr(plugin, "needs_claims", False))


def events_of(plugin: object) -> ClusterEvent:
    return plugin.events_to_register if isinstance(plugin, EnqueueExtensions) else ClusterEvent.ALL


@dataclass(frozen=True, slots=True)
class Rejection:
    """A PreFilter plugin turned the pod away before any node was looked at."""

    plugin: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Why no node took the pod, as counts (Nomad's AllocMetric, kube-scheduler's Diagnosis).

    ``filtered``: for each filter plugin that rejected nodes (each node is charged to the first
    plugin that rejects it), how many nodes it rejected for each reason; a node may count under
    several reasons of its plugin (``Insufficient cpu`` and ``Insufficient memory``).
    ``unresolvable``: how many nodes were rejected for a reason no eviction can fix.
    Only one of ``filtered``, ``pre_filter``, ``invalid_spec``, ``unknown_profile`` explains a
    decision; ``post_filter`` is what preemption said about it, if it ran.
    """

    nodes_evaluated: int
    filtered: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    unresolvable: int = 0
    pre_filter: Rejection | None = None
    invalid_spec: str = ""  # the pod's spec cannot be evaluated (the parse error)
    unknown_profile: str = ""  # spec.schedulerName names no profile of this scheduler
    post_filter: str = ""

    @property
    def plugins(self) -> frozenset[str]:
        """The plugins that rejected the pod: the events they registered can make it fit."""
        names = frozenset(self.filtered)
        return names | {self.pre_filter.plugin} if self.pre_filter is not None else names

    def reason_counts(self) -> dict[str, int]:
        """Nodes per reason over every plugin (the histogram of the user's message)."""
        out: dict[str, int] = {}
        for reasons in self.filtered.values():
            for text, count in reasons.items():
                out[text] = out.get(text, 0) + count
        return out
