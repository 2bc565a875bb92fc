"""Validation of scheduling.k8s.io PriorityClass objects, with upstream's rules and messages.

Two classes are the system's own (``system-node-critical`` and ``system-cluster-critical``,
which the API server creates at start); every other name with the ``system-`` prefix is
reserved, and a class of one's own may not rank above ``HIGHEST_USER_DEFINABLE_PRIORITY``, so
nothing a user defines outranks what keeps the cluster running. A class's value and
preemption policy are fixed once written: pods already carry them.
"""

from __future__ import annotations

from shoal.api.models.scheduling import PriorityClass
from shoal.api.validation_base import FieldError, forbidden, immutable, invalid, one_of

SYSTEM_PRIORITY_CLASS_PREFIX = "system-"
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
# name -> value, as upstream's scheduling.SystemPriorityClasses
SYSTEM_PRIORITY_CLASSES: dict[str, int] = {
    "system-node-critical": 2_000_001_000,
    "system-cluster-critical": 2_000_000_000,
}
SYSTEM_PRIORITY_CLASS_DESCRIPTIONS: dict[str, str] = {
    "system-node-critical": "Used for system critical pods that must not be moved from their current node.",
    "system-cluster-critical": "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
}
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")
_INT32 = (-(2**31), 2**31 - 1)


def _system_class_error(pc: PriorityClass, name: str) -> str:
    """Why ``pc`` is not the known system class ``name`` claims to be ("" when it is)."""
    known = SYSTEM_PRIORITY_CLASSES.get(name)
    if known is None:
        return f"{name!r} is not a known system priority class"
    if pc.value != known:
        return f"value of {name} PriorityClass must be {known}"
    if pc.global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


def validate_priority_class(pc: PriorityClass) -> list[FieldError]:
    errs: list[FieldError] = []
    name = pc.metadata.name if pc.metadata is not None and pc.metadata.name else ""
    value = pc.value if pc.value is not None else 0
    if not _INT32[0] <= value <= _INT32[1]:
        errs.append(invalid("value", value, "must be a 32-bit integer"))
    if name.startswith(SYSTEM_PRIORITY_CLASS_PREFIX):
        why = _system_class_error(pc, name)
        if why:
            errs.append(forbidden("metadata.name", f"priority class names with {SYSTEM_PRIORITY_CLASS_PREFIX!r} "
                                                   f"prefix are reserved for system use only. error: {why}"))
    elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errs.append(forbidden("value", f"maximum allowed value of a user defined priority is "
                                       f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))
    errs += one_of("preemptionPolicy", pc.preemption_policy, PREEMPTION_POLICIES)
    return errs


def validate_priority_class_update(new: PriorityClass, old: PriorityClass) -> list[FieldError]:
    errs: list[FieldError] = []
    if (new.value or 0) != (old.value or 0):
        errs.append(forbidden("value", "may not be changed in an update."))
    errs += immutable("preemptionPolicy", new.preemption_policy, old.preemption_policy)
    return errs
