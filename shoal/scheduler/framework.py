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

Nothing here does I/O: the binder plugin gets the I/O as a callable from the
async worker (``BindFn``).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
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
