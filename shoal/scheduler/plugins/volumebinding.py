"""VolumeBinding: a pod goes only where its PersistentVolumeClaims can be used (upstream's plugin).

PreFilter reads the pod's claims (``PodInfo.claims``) in the scheduler's
``VolumeState`` and refuses, for every node at once, a pod whose claim does
not exist, is lost, is being deleted, or is unbound in a class that binds at
once (the PV controller must bind it first). The others are split into bound
claims and claims that wait for their first consumer (a WaitForFirstConsumer
class, shoal's default ``local``).

Filter is upstream's FindPodVolumes, as masks over the nodes:

- a bound claim's volume admits the nodes its ``nodeAffinity`` matches
  (``node(s) had volume node affinity conflict``); a volume that does not
  exist admits none (``... bound to non-existent pv(s)``);
- a waiting claim whose node is chosen already (the ``selected-node``
  annotation, or a placement in flight) admits that node only; the others
  take, on each node, the free volume of their class that satisfies them
  (size, access modes, volume mode, selector), is reachable from the node and
  is not taken by another claim of the pod there (fewest access modes, then
  smallest, then by name; claims smallest first, as upstream), or else must
  be provisionable there: the class has a provisioner and its
  ``allowedTopologies`` admit the node (``node(s) didn't find available
  persistent volumes to bind``). ``shoal.io/local`` provisions on any node.

Reserve records the node's choice in ``VolumeState`` (the claim's node, the
volume taken) so the next pod sees it; PreBind writes it: the
``selected-node`` annotation on each claim to provision (the provisioner's
cue), ``claimRef`` on each volume chosen, and then waits, re-checked on every
claim and volume change, until the PV controller has bound them all (upstream's
checkBindings), at most ``bindTimeoutSeconds``; the worker then binds the pod,
or forgets the placement and retries the pod after back-off.

Pods without claims (nearly all) do not run it at all (``needs_claims``: the
core leaves it out for them); called anyway, each point returns at once.
Every rejection is UnschedulableAndUnresolvable, as upstream: no eviction
frees a volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from shoal.api.storage_contract import BOUND_BY_CONTROLLER, NO_PROVISIONER, SELECTED_NODE
from shoal.scheduler.framework import (
    SKIP,
    SUCCESS,
    ClusterEvent,
    Code,
    CycleState,
    FilterResult,
    Mask,
    PreBindHandle,
    Reason,
    Status,
    error,
    unschedulable,
)
from shoal.scheduler.plugins.nodeaffinity import term_mask
from shoal.scheduler.podinfo import PodInfo
from shoal.scheduler.snapshot import ClusterState
from shoal.scheduler.volumes import (
    ClaimInfo,
    ClaimKey,
    ClassInfo,
    VolumeInfo,
    VolumeState,
    resource_version,
)

NODE_CONFLICT = "node(s) had volume node affinity conflict"
BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
DEFAULT_BIND_TIMEOUT = 600.0  # upstream's bindTimeoutSeconds

_CLAIMS = "VolumeBinding/claims"
_MATCHES = "VolumeBinding/matches"
_PLAN = "VolumeBinding/plan"


@dataclass(frozen=True, slots=True)
class PodClaims:
    """A pod's claims that PreFilter let through: bound, and waiting for their first consumer."""

    bound: tuple[ClaimInfo, ...]
    delayed: tuple[ClaimInfo, ...]


@dataclass(frozen=True, slots=True)
class StaticMatch:
    """For one waiting claim: its candidate volumes (in preference order) and, per node, the index of
    the one it takes there (-1: none; it must be provisioned)."""

    claim: ClaimInfo
    volumes: tuple[str, ...]
    choice: npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class VolumePlan:
    """What Reserve decided for the chosen node, for PreBind to write and wait for."""

    node: str
    select: tuple[ClaimInfo, ...]  # claims to annotate with the node (to be provisioned there)
    static: tuple[tuple[ClaimInfo, str], ...]  # (claim, volume): the claims that take an existing volume
    write: tuple[str, ...]  # of those volumes, the ones this pod reserves (claimRef to write on them)
    wait: tuple[ClaimKey, ...]  # every waiting claim of the pod: all must end up bound


def pod_claims(pod: PodInfo, vols: VolumeState) -> PodClaims | Status:
    """PreFilter's reading of the pod's claims (upstream's podHasPVCs and GetPodVolumeClaims)."""
    claims = []
    for name in pod.claims:
        c = vols.claims.get((pod.namespace, name))
        if c is None:
            return unschedulable(f'persistentvolumeclaim "{name}" not found', resolvable=False)
        if c.phase == "Lost":
            return unschedulable(f'persistentvolumeclaim "{name}" bound to non-existent persistentvolume '
                                 f'"{c.volume_name}"', resolvable=False)
        if c.deleting:
            return unschedulable(f'persistentvolumeclaim "{name}" is being deleted', resolvable=False)
        claims.append(c)
    bound, delayed = [], []
    for c in claims:
        if c.fully_bound:
            bound.append(c)
        elif vols.delay_binding(c) and not c.volume_name:
            delayed.append(c)
        else:  # an Immediate class (or a claim naming its volume): the PV controller binds it, not us
            return unschedulable(UNBOUND_IMMEDIATE, resolvable=False)
    return PodClaims(tuple(bound), tuple(delayed))


def reach(volume: VolumeInfo, cluster: ClusterState) -> Mask | None:
    """The nodes the volume's node affinity admits (None: every node); kept until it or the nodes change."""
    if volume.affinity is None:
        return None
    cache = cluster.volumes.reach_cache
    hit = cache.get(volume.name)
    if hit is not None and hit[0] is volume and hit[1] == cluster.node_epoch:
        return hit[2]
    mask = np.zeros(cluster.n, dtype=np.bool_)
    for term in volume.affinity:
        mask |= term_mask(term, cluster)
    mask.flags.writeable = False
    cache[volume.name] = (volume, cluster.node_epoch, mask)
    return mask


def provisionable(sc: ClassInfo | None, cluster: ClusterState) -> Mask | None:
    """Where a volume of class ``sc`` can be provisioned (None: every node): nowhere without a
    provisioner; else where ``allowedTopologies`` admit (upstream's checkVolumeProvisions)."""
    if sc is None or not sc.provisioner or sc.provisioner == NO_PROVISIONER:
        return np.zeros(cluster.n, dtype=np.bool_)
    if not sc.topologies:
        return None
    mask = np.zeros(cluster.n, dtype=np.bool_)
    for term in sc.topologies:
        hit = np.ones(cluster.n, dtype=np.bool_)
        for key, values in term:
            hit &= cluster.column(key).isin(values)
        mask |= hit
    return mask


def satisfies(volume: VolumeInfo, claim: ClaimInfo) -> bool:
    """A free volume's shape serves the claim (upstream's FindMatchingVolume checks but the node)."""
    if volume.phase != "Available" or volume.storage_class != claim.storage_class:
        return False
    if claim.bad_selector or (claim.selector is not None and not claim.selector.matches(volume.labels)):
        return False
    if claim.size is None or volume.capacity is None or volume.capacity < claim.size:
        return False
    return claim.access_modes <= volume.access_modes


def candidates(claim: ClaimInfo, vols: VolumeState) -> tuple[list[VolumeInfo], bool]:
    """The volumes the claim may take, best first, and whether one is reserved for it already (then it
    is the only one, wherever it is reachable)."""
    names = set(vols.by_claim.get(claim.key, ()))
    names.update(nm for nm, key in vols.assumed_volumes.items() if key == claim.key)  # by a pod in flight
    reserved = [vols.volumes[nm] for nm in sorted(names) if nm in vols.volumes]
    reserved = [v for v in reserved if not v.deleting and v.volume_mode == claim.volume_mode
                and (v.bound_to(claim) or vols.assumed_volumes.get(v.name) == claim.key)]
    if reserved:
        return reserved[:1], True
    free = [v for v in vols.by_class.get(claim.storage_class, {}).values()
            if not v.deleting and v.volume_mode == claim.volume_mode and not vols.taken(v) and satisfies(v, claim)]
    free.sort(key=lambda v: (len(v.access_modes), v.capacity, v.name))
    return free, False


def _by_size(c: ClaimInfo) -> Fraction:
    return c.size if c.size is not None else Fraction(0)


def match_static(claims: Sequence[ClaimInfo], cluster: ClusterState) -> list[StaticMatch]:
    """For each claim (smallest first), on each node, the volume it takes there: the first candidate
    reachable from the node and not taken there by an earlier claim of the pod (upstream's
    findMatchingVolumes, per node; here one pass of masks over all nodes)."""
    n = cluster.n
    vols = cluster.volumes
    rows: dict[str, int] = {}
    masks: list[Mask | None] = []
    planned: list[tuple[ClaimInfo, list[VolumeInfo], bool]] = []
    for c in sorted(claims, key=_by_size):
        cands, reserved = candidates(c, vols)
        for v in cands:
            if v.name not in rows:
                rows[v.name] = len(masks)
                masks.append(reach(v, cluster))
        planned.append((c, cands, reserved))
    matrix = np.ones((len(masks), n), dtype=np.bool_)
    for i, m in enumerate(masks):
        if m is not None:
            matrix[i] = m
    taken = np.zeros_like(matrix)
    out = []
    for c, cands, reserved in planned:
        if not cands:
            out.append(StaticMatch(c, (), np.full(n, -1, dtype=np.intp)))
            continue
        idx = np.array([rows[v.name] for v in cands], dtype=np.intp)
        avail = matrix[idx] if reserved else matrix[idx] & ~taken[idx]
        has = avail.any(axis=0)
        first = avail.argmax(axis=0)
        choice = np.where(has, first, -1).astype(np.intp)
        if not reserved:
            where = np.flatnonzero(has)
            taken[idx[first[where]], where] = True
        out.append(StaticMatch(c, tuple(v.name for v in cands), choice))
    return out


def claim_reference(claim: ClaimInfo) -> dict[str, Any]:
    return {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": claim.namespace,
            "name": claim.name, "uid": claim.uid}


def check_bindings(plan: VolumePlan, written: dict[str, int], cluster: ClusterState) -> Status | None:
    """Whether the PV controller has finished what PreBind asked (upstream's checkBindings): SUCCESS when
    every claim is bound on the node, None while it is not yet, an error when it can no longer be
    (provisioning failed: the provisioner took the node off the claim; a volume's claimRef reset)."""
    vols = cluster.volumes
    i = cluster.index.get(plan.node)
    if i is None:
        return error(f'failed to get node "{plan.node}"')
    static = {c.key: pv for c, pv in plan.static}
    for key in plan.wait:
        claim = vols.claims.get(key)
        if claim is None:
            return error(f'persistentvolumeclaim "{key[1]}" not found')
        if claim.resource_version < written.get(f"pvc/{key[0]}/{key[1]}", 0):
            return None  # our write has not reached the informer yet
        pv_name = static.get(key)
        if pv_name is not None:
            pv = vols.volumes.get(pv_name)
            if pv is None:
                return error(f'persistentvolume "{pv_name}" not found')
            if pv.resource_version < written.get(f"pv/{pv_name}", 0):
                return None
            if pv.claim_ref is None or not pv.claim_ref[2]:
                if vols.assumed_volumes.get(pv_name) == key:
                    return None  # another pod of the claim is writing it
                return error(f'ClaimRef got reset for pv "{pv_name}"')
        elif claim.selected_node != plan.node:
            return error(f'provisioning failed for PVC "{claim.name}"')
        if claim.volume_name:
            pv = vols.volumes.get(claim.volume_name)
            if pv is None:
                return None  # not seen yet
            m = reach(pv, cluster)
            if m is not None and not m[i]:
                return error(f'pv "{pv.name}" node affinity doesn\'t match node "{plan.node}"')
        if not claim.fully_bound:
            return None
    return SUCCESS


class VolumeBinding:
    name = "VolumeBinding"
    needs_claims = True  # the core runs it only for pods with claims
    # a claim created or bound, a volume created or freed, a class created, a node that may reach a volume
    events_to_register = (ClusterEvent.PVC_ADD | ClusterEvent.PVC_UPDATE | ClusterEvent.PV_ADD
                          | ClusterEvent.PV_UPDATE | ClusterEvent.STORAGE_CLASS_ADD
                          | ClusterEvent.NODE_ADD | ClusterEvent.NODE_LABEL)

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        args = args or {}
        timeout = args.get("bindTimeoutSeconds", DEFAULT_BIND_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise ValueError(f"bindTimeoutSeconds: must be a non-negative number, got {timeout!r}")
        self.bind_timeout = float(timeout)

    # ---- PreFilter and Filter ---------------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> Status:
        if not pod.claims:
            return SKIP
        pc = pod_claims(pod, cluster.volumes)
        if isinstance(pc, Status):
            return pc
        state.write(_CLAIMS, pc)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        if not pod.claims:
            return None
        pc = state.read(_CLAIMS)
        if not isinstance(pc, PodClaims):  # PreFilter disabled in this profile: read the claims here
            got = pod_claims(pod, cluster.volumes)
            if isinstance(got, Status):
                return FilterResult.from_reasons(cluster.n, [
                    Reason(got.message(), np.ones(cluster.n, dtype=np.bool_), resolvable=False)])
            pc = got
            state.write(_CLAIMS, pc)
        n = cluster.n
        reasons: list[Reason] = []
        if pc.bound:
            reasons += self._bound(pc.bound, cluster)
        if pc.delayed:
            ok = self._delayed(state, pc.delayed, cluster)
            if ok is not None:
                reasons.append(Reason(BIND_CONFLICT, ~ok, resolvable=False))
        if not reasons:
            return None
        return FilterResult.from_reasons(n, reasons)

    @staticmethod
    def _bound(claims: tuple[ClaimInfo, ...], cluster: ClusterState) -> list[Reason]:
        """Each node is judged by the claims in order until one fails it, as upstream's checkBoundClaims."""
        n = cluster.n
        undecided = np.ones(n, dtype=np.bool_)
        conflict = np.zeros(n, dtype=np.bool_)
        missing = np.zeros(n, dtype=np.bool_)
        for c in claims:
            pv = cluster.volumes.volumes.get(c.volume_name)
            if pv is None:
                missing = undecided
                break
            m = reach(pv, cluster)
            if m is not None:
                conflict |= undecided & ~m
                undecided = undecided & m
        out = []
        if conflict.any():
            out.append(Reason(NODE_CONFLICT, conflict, resolvable=False))
        if missing.any():
            out.append(Reason(PV_NOT_EXIST, missing, resolvable=False))
        return out

    @staticmethod
    def _delayed(state: CycleState, claims: tuple[ClaimInfo, ...], cluster: ClusterState) -> Mask | None:
        """The nodes where every waiting claim can be bound or provisioned (None: all of them)."""
        vols = cluster.volumes
        ok: Mask | None = None
        to_match = []
        for c in claims:
            node = vols.selected_node(c)
            if not node:
                to_match.append(c)
                continue
            there = np.zeros(cluster.n, dtype=np.bool_)
            i = cluster.index.get(node)
            if i is not None:
                there[i] = True
            prov = provisionable(vols.classes.get(c.storage_class), cluster)
            here = there if prov is None else there & prov
            ok = here if ok is None else ok & here
        matches = match_static(to_match, cluster) if to_match else []
        state.write(_MATCHES, matches)
        for mt in matches:
            prov = provisionable(vols.classes.get(mt.claim.storage_class), cluster)
            if prov is None:
                continue
            here = (mt.choice >= 0) | prov
            ok = here if ok is None else ok & here
        if ok is None or ok.all():
            return None
        return ok

    # ---- Reserve ------------------------------------------------------------------------------
    def reserve(self, state: CycleState, pod: PodInfo, cluster: ClusterState, node: str) -> Status:
        if not pod.claims:
            return SKIP
        pc = state.read(_CLAIMS)
        if not isinstance(pc, PodClaims) or not pc.delayed:
            return SKIP  # every claim bound: nothing to write, nothing to wait for
        vols = cluster.volumes
        i = cluster.index.get(node)
        chosen: dict[ClaimKey, str] = {}
        for mt in state.read(_MATCHES) or ():
            if i is not None and mt.choice[i] >= 0:
                chosen[mt.claim.key] = mt.volumes[int(mt.choice[i])]
        select, static, write = [], [], []
        for c in pc.delayed:
            if vols.selected_node(c):
                continue  # on its way to a node already (Filter admitted only that one)
            pv = chosen.get(c.key)
            if pv is None:
                select.append(c)
                vols.assumed_nodes[c.key] = node
                continue
            static.append((c, pv))
            if not vols.volumes[pv].bound_to(c) and vols.assumed_volumes.get(pv) != c.key:
                write.append(pv)
                vols.assumed_volumes[pv] = c.key
        state.write(_PLAN, VolumePlan(node, tuple(select), tuple(static), tuple(write),
                                      tuple(c.key for c in pc.delayed)))
        return SUCCESS

    def unreserve(self, state: CycleState, pod: PodInfo, cluster: ClusterState, node: str) -> None:
        plan = state.read(_PLAN)
        if not isinstance(plan, VolumePlan):
            return
        vols = cluster.volumes
        for c in plan.select:
            if vols.assumed_nodes.get(c.key) == node:
                del vols.assumed_nodes[c.key]
        for c, pv in plan.static:
            if pv in plan.write and vols.assumed_volumes.get(pv) == c.key:
                del vols.assumed_volumes[pv]

    # ---- PreBind ------------------------------------------------------------------------------
    async def pre_bind(self, state: CycleState, pod: PodInfo, node: str, handle: PreBindHandle) -> Status:
        plan = state.read(_PLAN)
        if not isinstance(plan, VolumePlan):
            return SKIP
        written: dict[str, int] = {}
        for c in plan.select:
            got = await handle.patch("persistentvolumeclaims", c.name, c.namespace,
                                     {"metadata": {"annotations": {SELECTED_NODE: node}}})
            written[f"pvc/{c.namespace}/{c.name}"] = resource_version(got)
        for c, pv in plan.static:
            if pv not in plan.write:
                continue
            got = await handle.patch("persistentvolumes", pv, None, {
                "metadata": {"annotations": {BOUND_BY_CONTROLLER: "yes"}}, "spec": {"claimRef": claim_reference(c)}})
            written[f"pv/{pv}"] = resource_version(got)
        st = await handle.wait_until(partial(check_bindings, plan, written), self.bind_timeout)
        if st.code in (Code.SUCCESS, Code.SKIP):
            return SUCCESS
        return error(f"binding volumes: {st.message()}")
