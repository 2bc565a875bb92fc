"""NodeResourcesFit and NodeResourcesBalancedAllocation: requests against allocatable.

Fit: a pod fits a node when, for every resource it requests (cpu, memory,
ephemeral-storage, extended resources such as ``nvidia.com/gpu``) plus one pod
slot, the node's allocatable minus what its pods already request is enough.
One (nodes x resources) subtraction and one comparison per requested resource.
Reasons are upstream's: ``Insufficient cpu``, ``Too many pods``.

Scoring strategies (``scoringStrategy.type`` in the plugin args):
``LeastAllocated`` (default: spread load), ``MostAllocated`` (bin-pack: fill
nodes so others stay empty, the utilisation argument of the Borg/Omega papers)
and ``RequestedToCapacityRatio`` (a shape of utilisation -> score points).
Scores use upstream's "non-zero" requests (100m CPU, 200Mi memory for a
container that requests nothing) so that empty requests still spread.
BalancedAllocation prefers nodes whose cpu and memory fractions stay close.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shoal.scheduler.framework import (
    MAX_NODE_SCORE,
    ClusterEvent,
    CycleState,
    FilterResult,
    Reason,
    Vector,
)
from shoal.scheduler.podinfo import PodInfo
from shoal.scheduler.snapshot import (
    ALLOC_CPU,
    INV_CPU,
    LOAD_CPU,
    LOAD_MEMORY,
    PODS,
    ClusterState,
)

STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")


class ArgsError(ValueError):
    """Plugin arguments that make no sense."""


def _resources(args: dict[str, Any]) -> list[tuple[str, float]]:
    raw = args.get("resources") or [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]
    out = []
    for r in raw:
        w = float(r.get("weight", 1))
        if w <= 0 or not r.get("name"):
            raise ArgsError(f"scoringStrategy.resources: each needs a name and a positive weight, got {r!r}")
        out.append((str(r["name"]), w))
    return out


def _requested_after(pod: PodInfo, cluster: ClusterState, nodes: npt.NDArray[np.intp],
                     resource: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(requested including the pod, allocatable) on ``nodes`` for ``resource``; non-zero cpu/memory."""
    if resource == "cpu":
        req = cluster.load[LOAD_CPU, nodes] + pod.nonzero_cpu
    elif resource == "memory":
        req = cluster.load[LOAD_MEMORY, nodes] + pod.nonzero_memory
    else:
        j = cluster.res_index.get(resource)
        if j is None:
            z = np.zeros(len(nodes))
            return z, z
        req = (cluster.requested[nodes, j] + pod.requests.get(resource, 0)).astype(np.float64)
    j = cluster.res_index[resource]
    return req, cluster.allocatable[nodes, j].astype(np.float64)


def cpu_memory_fractions(state: CycleState, pod: PodInfo, cluster: ClusterState,
                         nodes: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Rows (cpu, memory): non-zero requested including the pod over allocatable, on ``nodes``.

    inf where a node has none of it allocatable (nan if the pod asks for none either). Both
    scorers read it; it is computed once per decision (kept in the cycle state for these nodes).
    """
    cached = state.read(_FRACTIONS)
    if cached is not None and cached[0] is nodes:
        frac: npt.NDArray[np.float64] = cached[1]
        return frac
    block = cluster.load.take(nodes, axis=1)  # C order; ``load[:, nodes]`` is Fortran order, 8x slower to read
    block[LOAD_CPU] += pod.nonzero_cpu
    block[LOAD_MEMORY] += pod.nonzero_memory
    if pod.nonzero_cpu > 0 and pod.nonzero_memory > 0:  # requested > 0 everywhere: never 0 * inf
        frac = block[LOAD_CPU:ALLOC_CPU] * block[INV_CPU:]
    else:
        with np.errstate(invalid="ignore"):
            frac = block[LOAD_CPU:ALLOC_CPU] * block[INV_CPU:]
    state.write(_FRACTIONS, (nodes, frac))
    return frac


_FRACTIONS = "NodeResources/fractions"
_CPU_MEMORY = (("cpu", 1.0), ("memory", 1.0))


class NodeResourcesFit:
    name = "NodeResourcesFit"
    # room made: a node added, more allocatable, a pod gone
    events_to_register = ClusterEvent.NODE_ADD | ClusterEvent.NODE_ALLOCATABLE | ClusterEvent.POD_DELETE

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        args = args or {}
        strategy = args.get("scoringStrategy") or {}
        self.strategy = str(strategy.get("type") or "LeastAllocated")
        if self.strategy not in STRATEGIES:
            raise ArgsError(f'scoringStrategy.type: unsupported value "{self.strategy}", '
                            f"expected one of {', '.join(STRATEGIES)}")
        self.resources = _resources(strategy)
        self._default_shape = self.strategy == "LeastAllocated" and tuple(self.resources) == _CPU_MEMORY
        self.ignored = frozenset(args.get("ignoredResources") or [])
        shape = ((strategy.get("requestedToCapacityRatio") or {}).get("shape")
                 or [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}])
        self.shape_x = np.array([float(p["utilization"]) for p in shape])
        self.shape_y = np.array([float(p["score"]) * 10 for p in shape])  # 0..10 -> 0..100
        if len(self.shape_x) < 1 or np.any(np.diff(self.shape_x) <= 0):
            raise ArgsError("requestedToCapacityRatio.shape: utilization must increase")

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        wanted = [(res, want) for res, want in sorted(pod.requests.items(), key=_resource_order)
                  if res not in self.ignored and want > 0]
        if cluster.fits_everywhere(PODS, 1) and all(
                (j := cluster.res_index.get(res)) is not None and cluster.fits_everywhere(j, want)
                for res, want in wanted):
            return None  # every node has room: no per-node work at all
        reasons = []
        too_many = cluster.free[PODS] < 1
        if too_many.any():
            reasons.append(Reason("Too many pods", too_many))
        for res, want in wanted:
            j = cluster.res_index.get(res)
            if j is None:  # no node offers it at all
                failed = np.ones(cluster.n, dtype=np.bool_)
            else:
                failed = cluster.free[j] < want
            if failed.any():
                reasons.append(Reason(f"Insufficient {res}", failed))
        if not reasons:
            return None
        return FilterResult.from_reasons(cluster.n, reasons)

    def score(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
              nodes: npt.NDArray[np.intp]) -> Vector | None:
        if self._default_shape:  # LeastAllocated over cpu and memory, equal weights: in a few ops
            frac = cpu_memory_fractions(state, pod, cluster, nodes)
            free = np.fmax(1.0 - frac, 0.0)  # nan (none allocatable, none asked) -> 0, as below
            out: Vector = (free[0] + free[1]) * (MAX_NODE_SCORE / 2)
            return out
        total = np.zeros(len(nodes))
        weights = 0.0
        for res, w in self.resources:
            req, alloc = _requested_after(pod, cluster, nodes, res)
            safe = np.where(alloc > 0, alloc, 1.0)
            if self.strategy == "LeastAllocated":
                s = np.where((alloc > 0) & (req <= alloc), (alloc - req) * MAX_NODE_SCORE / safe, 0.0)
            elif self.strategy == "MostAllocated":
                s = np.where(alloc > 0, np.minimum(req, alloc) * MAX_NODE_SCORE / safe, 0.0)
            else:
                util = np.where(alloc > 0, np.minimum(req / safe, 1.0) * 100.0, 100.0)
                s = np.interp(util, self.shape_x, self.shape_y)
            total += w * s
            weights += w
        return total / weights if weights else None


def _resource_order(item: tuple[str, int]) -> tuple[int, str]:
    order = {"cpu": 0, "memory": 1, "ephemeral-storage": 2}
    return order.get(item[0], 3), item[0]


class NodeResourcesBalancedAllocation:
    name = "NodeResourcesBalancedAllocation"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        self.resources = [r for r, _ in _resources(args or {})]

    def score(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
              nodes: npt.NDArray[np.intp]) -> Vector | None:
        if len(self.resources) < 2:
            return None
        if self.resources == ["cpu", "memory"]:  # the default: the std of two is half their distance
            both = np.fmin(cpu_memory_fractions(state, pod, cluster, nodes), 1.0)  # inf, nan -> 1
            out: Vector = (1.0 - np.abs(both[0] - both[1]) / 2) * MAX_NODE_SCORE
            return out
        fractions = []
        for res in self.resources:
            req, alloc = _requested_after(pod, cluster, nodes, res)
            fractions.append(np.where(alloc > 0, np.minimum(req / np.where(alloc > 0, alloc, 1.0), 1.0), 1.0))
        f = np.vstack(fractions)
        std: npt.NDArray[np.float64] = f.std(axis=0)
        return (1.0 - std) * MAX_NODE_SCORE
