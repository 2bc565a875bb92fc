"""The PV controller's decisions: one claim or one volume in, the writes that converge it out.

As upstream's ``pv_controller``, two level-triggered syncs, each idempotent, so
a crash between two writes is healed by the next pass:

``sync_claim`` — an unbound claim is bound to the volume ``volumematch`` picks
(one reserved for it first), or, for a ``shoal.io/local`` class with a node
chosen (``volume.kubernetes.io/selected-node``), has a volume provisioned
(``localprovision``); a claim of a WaitForFirstConsumer class without a node
waits. Binding writes, in this order: the PV's ``claimRef`` (so no other claim
takes it), the PV's phase ``Bound``, the claim's ``volumeName`` with the
``bind-completed`` / ``bound-by-controller`` annotations, the claim's phase
``Bound`` with the volume's capacity and access modes. A bound claim whose
volume is gone is ``Lost``. A bound claim asking for more than its volume has
(its class allows expansion, the admission checked) gets the PV's capacity
raised, ``status.allocatedResources``, ``allocatedResourceStatuses[storage]:
NodeResizePending`` and the ``FileSystemResizePending`` condition; the node's
agent grows the filesystem and then sets ``status.capacity`` and clears both.

``sync_volume`` — a volume with no claim (or reserved by name only) is
``Available``; one whose claim is gone is ``Released`` and reclaimed by its
policy: ``Retain`` keeps it Released (with its claimRef, as upstream, until an
administrator clears it); ``Delete`` deletes the PV if shoal's provisioner made
it (the node agent removes the data, then the ``shoal.io/local-volume``
finalizer), and marks any other PV ``Failed`` (shoal has no deleter for a
volume it did not make); ``Recycle`` is deprecated upstream and ``Failed`` here.
A volume the controller reserved for a claim that bound elsewhere is freed.

Both functions read plain dicts from informer caches and never mutate them;
every write is a fresh copy. ``now`` is injected, so tests replay them.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shoal.api import views
from shoal.api.quantity import canonical_quantity
from shoal.api.storage_contract import (
    BIND_COMPLETED,
    BOUND_BY_CONTROLLER,
    FS_RESIZE_PENDING,
    LOCAL_PROVISIONER,
    NO_PROVISIONER,
    NODE_RESIZE_PENDING,
    PROVISIONED_BY,
    SELECTED_NODE,
)
from shoal.api.views import Body, as_dict, as_list
from shoal.api.volumematch import (
    capacity,
    find_matching_volume,
    is_bound_to,
    mismatch,
    quantity,
    requested,
    storage_class_of,
)
from shoal.controllers.localprovision import claim_reference, plan_local_volume

Resource = Literal["persistentvolumes", "persistentvolumeclaims"]
Verb = Literal["create", "update", "status", "delete"]

WAIT_FOR_CONSUMER = "waiting for first consumer to be created before binding"
NO_CLASS = "no persistent volumes available for this claim and no storage class is set"
CLAIM_LOST = "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"
MISBOUND = "Two claims are bound to the same volume, this one is bound incorrectly"
RESIZE_PENDING_MESSAGE = "Waiting for user to (re-)start a pod to finish file system resize of volume on node."
NODE_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Write:
    resource: Resource
    verb: Verb
    obj: dict[str, Any]  # the body to send: a fresh copy, never a cached object


@dataclass(frozen=True, slots=True)
class Event:
    """An Event about the claim (``on="claim"``) or the volume being synced."""

    on: Literal["claim", "volume"]
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def _fmt(now: dt.datetime) -> str:
    return views.format_time(now)


# --- writes shared by both syncs ---------------------------------------------------------------


def volume_phase(pv: Body, phase: str, now: dt.datetime, *, reason: str = "",
                 message: str = "") -> Write | None:
    """The status write that puts ``pv`` in ``phase`` (None when it is there already)."""
    st = views.status(pv)
    if st.get("phase") == phase and str(st.get("reason") or "") == reason and str(st.get("message") or "") == message:
        return None
    new = copy.deepcopy(dict(pv))
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    status["lastPhaseTransitionTime"] = _fmt(now) if st.get("phase") != phase else st.get("lastPhaseTransitionTime")
    new["status"] = {k: v for k, v in status.items() if v}
    return Write("persistentvolumes", "status", new)


def claim_status(claim: Body, phase: str, pv: Body | None) -> Write | None:
    """The status write that puts ``claim`` in ``phase`` with ``pv``'s access modes (and, on becoming
    Bound, its capacity: later differences are an expansion's, upstream's rule)."""
    cur = views.status(claim)
    st = copy.deepcopy(dict(cur))
    st["phase"] = phase
    if pv is None:
        st.pop("accessModes", None)
        st.pop("capacity", None)
    else:
        pv_spec = views.spec(pv)
        st["accessModes"] = list(pv_spec.get("accessModes") or [])
        if cur.get("phase") != phase:
            st["capacity"] = dict(as_dict(pv_spec.get("capacity")))
    if st == cur:
        return None
    new = copy.deepcopy(dict(claim))
    new["status"] = st
    return Write("persistentvolumeclaims", "status", new)


# --- binding ---------------------------------------------------------------------------------------


def bind(claim: Body, pv: Body, now: dt.datetime) -> Plan:
    """The writes still missing for ``claim`` and ``pv`` to be bound to each other."""
    plan = Plan()
    vol: dict[str, Any] = copy.deepcopy(dict(pv))
    ref = views.claim_ref(pv)
    if ref is None or ref.get("uid") != views.uid(claim):
        if not is_bound_to(pv, claim):  # the controller chose it: say so, as upstream
            vol["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"
        vol["spec"]["claimRef"] = claim_reference(claim)
        plan.writes.append(Write("persistentvolumes", "update", vol))
    w = volume_phase(vol, "Bound", now)
    if w is not None:
        plan.writes.append(w)
    c: dict[str, Any] = copy.deepcopy(dict(claim))
    ann = c["metadata"].setdefault("annotations", {})
    changed = False
    if views.volume_name(claim) != views.name(pv):
        c["spec"]["volumeName"] = views.name(pv)
        ann[BOUND_BY_CONTROLLER] = "yes"
        changed = True
    if ann.get(BIND_COMPLETED) != "yes":
        ann[BIND_COMPLETED] = "yes"
        changed = True
    if changed:
        plan.writes.append(Write("persistentvolumeclaims", "update", c))
    w = claim_status(c, "Bound", vol)
    if w is not None:
        plan.writes.append(w)
    return plan


def _pending(claim: Body, plan: Plan) -> Plan:
    w = claim_status(claim, "Pending", None)
    if w is not None:
        plan.writes.append(w)
    return plan


def _unbound_claim(claim: Body, *, volumes: Mapping[str, Body], classes: Mapping[str, Body],
                   nodes: Mapping[str, Body], now: dt.datetime) -> Plan:
    class_name = storage_class_of(claim)
    sc = classes.get(class_name) if class_name else None
    node_name = views.annotations(claim).get(SELECTED_NODE, "")
    node = nodes.get(node_name) if node_name else None
    delayed = sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"
    target = node if node is not None else ({"metadata": {"name": node_name}} if node_name else None)
    pv = find_matching_volume(claim, volumes.values(), node=target, delay_binding=delayed)
    if pv is not None:
        return bind(claim, pv, now)
    plan = Plan()
    if delayed and not node_name:
        plan.events.append(Event("claim", "Normal", "WaitForFirstConsumer", WAIT_FOR_CONSUMER))
    elif not class_name:
        plan.events.append(Event("claim", "Normal", "FailedBinding", NO_CLASS))
    elif sc is None:
        plan.events.append(Event("claim", "Warning", "ProvisioningFailed",
                                 f'storageclass.storage.k8s.io "{class_name}" not found'))
    elif sc.get("provisioner") == LOCAL_PROVISIONER:
        _provision(claim, sc, node_name, node, plan)
    elif sc.get("provisioner") == NO_PROVISIONER:
        plan.events.append(Event("claim", "Normal", "FailedBinding",
                                 f"no persistent volumes available for this claim, and class {class_name} has no "
                                 "provisioner: create a PersistentVolume that satisfies it"))
    return _pending(claim, plan)


def _provision(claim: Body, sc: Body, node_name: str, node: Body | None,
               plan: Plan) -> None:
    if not node_name:
        plan.events.append(Event("claim", "Warning", "ProvisioningFailed",
                                 f"{LOCAL_PROVISIONER} volumes are made on the node of the pod that uses them: give "
                                 f"the class volumeBindingMode WaitForFirstConsumer, or set the {SELECTED_NODE} "
                                 "annotation on the claim"))
        return
    if node is None:
        plan.events.append(Event("claim", "Warning", "ProvisioningFailed", f'node "{node_name}" not found'))
        plan.requeue_after = NODE_RETRY_SECONDS
        return
    out = plan_local_volume(claim, sc, node)
    if out.pv is None:
        plan.events.append(Event("claim", "Warning", "ProvisioningFailed", out.refused))
        return
    plan.writes.append(Write("persistentvolumes", "create", out.pv))
    plan.events.append(Event("claim", "Normal", "ProvisioningSucceeded",
                             f"Successfully provisioned volume {views.name(out.pv)} on node {node_name}"))


# --- expansion -------------------------------------------------------------------------------------


def _with_condition(conditions: list[dict[str, Any]], cond: dict[str, Any]) -> list[dict[str, Any]]:
    out = [c for c in conditions if c.get("type") != cond["type"]]
    return [*out, cond]


def _expand(claim: Body, pv: Body, sc: Body | None,
            now: dt.datetime) -> Plan:
    """Start the expansion a bound claim asks for (see the module docstring)."""
    plan = Plan()
    want = requested(claim)
    st = views.status(claim)
    have = quantity(as_dict(st.get("capacity")).get("storage"))
    if want is None or have is None or want <= have:
        return plan
    if views.annotations(pv).get(PROVISIONED_BY) != LOCAL_PROVISIONER or sc is None \
            or sc.get("allowVolumeExpansion") is not True:
        plan.events.append(Event("claim", "Warning", "VolumeResizeFailed",
                                 f"only volumes provisioned by {LOCAL_PROVISIONER} with a class that allows volume "
                                 "expansion can be expanded"))
        return plan
    size = canonical_quantity(views.spec(claim)["resources"]["requests"]["storage"])
    pv_cap = capacity(pv)
    if pv_cap is None or pv_cap < want:
        vol: dict[str, Any] = copy.deepcopy(dict(pv))
        vol["spec"]["capacity"] = {**as_dict(vol["spec"].get("capacity")), "storage": size}
        plan.writes.append(Write("persistentvolumes", "update", vol))
    new_st: dict[str, Any] = copy.deepcopy(dict(st))
    new_st["allocatedResources"] = {**as_dict(st.get("allocatedResources")), "storage": size}
    new_st["allocatedResourceStatuses"] = {**as_dict(st.get("allocatedResourceStatuses")),
                                           "storage": NODE_RESIZE_PENDING}
    old_cond = views.condition(claim, FS_RESIZE_PENDING)
    cond = {"type": FS_RESIZE_PENDING, "status": "True", "message": RESIZE_PENDING_MESSAGE,
            "lastProbeTime": None,
            "lastTransitionTime": old_cond.get("lastTransitionTime") if old_cond else _fmt(now)}
    new_st["conditions"] = _with_condition(as_list(st.get("conditions")), {k: v for k, v in cond.items() if v})
    if new_st != st:
        c: dict[str, Any] = copy.deepcopy(dict(claim))
        c["status"] = new_st
        plan.writes.append(Write("persistentvolumeclaims", "status", c))
        if old_cond is None:
            plan.events.append(Event("claim", "Normal", "FileSystemResizeRequired",
                                     "Require file system resize of volume on node"))
    return plan


# --- the two syncs ---------------------------------------------------------------------------------


def sync_claim(claim: Body, *, volumes: Mapping[str, Body], classes: Mapping[str, Body],
               nodes: Mapping[str, Body], now: dt.datetime) -> Plan:
    """What to write for ``claim`` (``volumes`` by name, ``classes`` by name, ``nodes`` by name)."""
    if views.is_terminating(claim):
        return Plan()  # being deleted: nothing new is bound or made for it
    volume_name = views.volume_name(claim)
    if not volume_name:
        return _unbound_claim(claim, volumes=volumes, classes=classes, nodes=nodes, now=now)
    pv = volumes.get(volume_name)
    completed = views.annotations(claim).get(BIND_COMPLETED) == "yes"
    if pv is None:
        if completed or views.storage_phase(claim) in ("Bound", "Lost"):
            plan = Plan()
            if views.storage_phase(claim) != "Lost":
                plan.events.append(Event("claim", "Warning", "ClaimLost", CLAIM_LOST))
            w = claim_status(claim, "Lost", None)
            if w is not None:
                plan.writes.append(w)
            return plan
        return _pending(claim, Plan())  # asks for a volume that does not exist (yet)
    if views.claim_ref(pv) is None:
        why = mismatch(pv, claim)
        if why or views.is_terminating(pv):
            plan = Plan([], [Event("claim", "Warning", "VolumeMismatch",
                                   f'Cannot bind to requested volume "{volume_name}": {why or "it is being deleted"}')])
            return _pending(claim, plan)
        return bind(claim, pv, now)
    if is_bound_to(pv, claim):
        plan = bind(claim, pv, now)
        if not plan.writes and views.storage_phase(claim) == "Bound":
            sc = classes.get(storage_class_of(claim))
            return _expand(claim, pv, sc, now)
        return plan
    # the volume is bound to another claim
    if completed:
        plan = Plan()
        if views.storage_phase(claim) != "Lost":
            plan.events.append(Event("claim", "Warning", "ClaimMisbound", MISBOUND))
        w = claim_status(claim, "Lost", None)
        if w is not None:
            plan.writes.append(w)
        return plan
    return _pending(claim, Plan([], [Event("claim", "Warning", "FailedBinding",
                                           f'volume "{volume_name}" already bound to a different claim.')]))


def _unbind(pv: Body, now: dt.datetime) -> Plan:
    """Free ``pv``: drop the controller's claimRef (or a user's reservation's uid); Available."""
    vol: dict[str, Any] = copy.deepcopy(dict(pv))
    ann = as_dict(vol["metadata"].get("annotations"))
    if BOUND_BY_CONTROLLER in ann:
        del vol["spec"]["claimRef"]
        del ann[BOUND_BY_CONTROLLER]
    else:
        vol["spec"]["claimRef"].pop("uid", None)
    plan = Plan([Write("persistentvolumes", "update", vol)])
    w = volume_phase(vol, "Available", now)
    if w is not None:
        plan.writes.append(w)
    return plan


def _reclaim(pv: Body, now: dt.datetime) -> Plan:
    """A volume whose claim is gone: Released, then its reclaim policy."""
    plan = Plan()
    phase = views.storage_phase(pv)
    policy = views.spec(pv).get("persistentVolumeReclaimPolicy") or "Retain"
    current: Body = pv
    if phase not in ("Released", "Failed"):
        w = volume_phase(pv, "Released", now)
        if w is not None:
            plan.writes.append(w)
            current = w.obj
    if policy == "Retain":
        return plan
    if policy == "Delete" and views.annotations(pv).get(PROVISIONED_BY) == LOCAL_PROVISIONER:
        plan.writes.append(Write("persistentvolumes", "delete", dict(current)))
        return plan
    if policy == "Delete":
        message = (f"shoal deletes only the volumes its provisioner ({LOCAL_PROVISIONER}) made: delete this "
                   "volume's data and the PersistentVolume by hand, or set its reclaim policy to Retain")
        reason = "VolumeFailedDelete"
    else:
        message = "the Recycle reclaim policy is deprecated and not supported: use Delete or Retain"
        reason = "VolumeFailedRecycle"
    w = volume_phase(current, "Failed", now, reason=reason, message=message)
    if w is not None:
        plan.writes = [x for x in plan.writes if x.verb != "status"] + [w]
        plan.events.append(Event("volume", "Warning", reason, message))
    return plan


def sync_volume(pv: Body, *, claim: Body | None, now: dt.datetime) -> Plan:
    """What to write for ``pv``; ``claim``: the claim its ``claimRef`` names, if it exists."""
    if views.is_terminating(pv):
        return Plan()
    ref = views.claim_ref(pv)
    if ref is None or not ref.get("uid"):
        w = volume_phase(pv, "Available", now)
        return Plan([w] if w is not None else [])
    if claim is None or views.uid(claim) != ref.get("uid"):
        return _reclaim(pv, now)
    volume_name = views.volume_name(claim)
    if not volume_name or volume_name == views.name(pv):
        w = volume_phase(pv, "Bound", now)
        return Plan([w] if w is not None else [])
    # the claim is bound to another volume
    if views.annotations(pv).get(PROVISIONED_BY) and views.spec(pv).get("persistentVolumeReclaimPolicy") == "Delete":
        return _reclaim(pv, now)  # made for that claim, which needs it no more
    return _unbind(pv, now)
