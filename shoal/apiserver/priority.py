"""Priority admission: a pod's ``priorityClassName`` becomes its ``spec.priority``, as upstream.

Kubernetes users give pods a priority by naming a PriorityClass; the scheduler's queue and
preemption read the integer. Upstream's ``Priority`` admission plugin does the translation on
every pod create, and shoal does the same, with the same refusals (403 Forbidden):

* a class that does not exist (``no PriorityClass with name high was found``);
* a ``spec.priority`` or ``spec.preemptionPolicy`` in the body that differs from the class's
  (the class is the authority; a pod cannot claim a priority of its own);
* the two system classes outside ``kube-system``.

A pod that names no class gets the ``globalDefault`` class (the lowest value if, through a race,
several claim it), or priority 0 and ``PreemptLowerPriority`` when there is none. For the classes
themselves: only one may be the global default, and the system classes, which the server creates
at start, cannot be deleted.

Every pod create asks for the default class, so the classes are answered from memory: a
``PriorityClassCache`` holds all of them, loaded from the store once and kept current by this
server's own writes (``nscache.WriteThrough``) and by the priorityclasses watch cache for anyone
else's. ``resolve`` is the pure decision; ``admit_pod``, ``check_one_default`` and
``check_deletable`` do the lookups, for the pods' and priorityclasses' strategies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shoal.api.validation_scheduling import (
    SYSTEM_PRIORITY_CLASS_DESCRIPTIONS,
    SYSTEM_PRIORITY_CLASSES,
)
from shoal.apiserver import errors, rawobj
from shoal.apiserver.nscache import NamespaceCache

SYSTEM_NAMESPACE = "kube-system"
DEFAULT_PRIORITY = 0  # upstream's DefaultPriorityWhenNoDefaultClassExists
DEFAULT_POLICY = "PreemptLowerPriority"
_UNKNOWN: Any = object()


class Refused(Exception):
    """Why a pod's priority cannot be admitted (the text of upstream's Forbidden)."""


@dataclass(frozen=True, slots=True)
class Resolved:
    class_name: str  # "" when no class applies
    priority: int
    preemption_policy: str


def resolve(namespace: str, class_name: str, named: dict[str, Any] | None, default: dict[str, Any] | None,
            asked_priority: Any, asked_policy: Any) -> Resolved:
    """The priority a pod is admitted with, or ``Refused``.

    ``class_name``: the pod's ``spec.priorityClassName`` ("" for none); ``named``: that class as
    stored (``None`` if it does not exist); ``default``: the global default class, if any;
    ``asked_*``: ``spec.priority`` and ``spec.preemptionPolicy`` as the client sent them (``None``
    when absent).
    """
    if class_name:
        if class_name in SYSTEM_PRIORITY_CLASSES and namespace != SYSTEM_NAMESPACE:
            raise Refused(f"pods with {class_name} priorityClass is not permitted in {namespace} namespace")
        if named is None:
            raise Refused(f"no PriorityClass with name {class_name} was found")
        pc: dict[str, Any] | None = named
    else:
        pc = default
    if pc is None:
        out = Resolved("", DEFAULT_PRIORITY, DEFAULT_POLICY)
    else:
        out = Resolved(str(pc["metadata"]["name"]), int(pc.get("value") or 0),
                       str(pc.get("preemptionPolicy") or DEFAULT_POLICY))
    if asked_priority is not None and asked_priority != out.priority:
        raise Refused(f"the integer value of priority ({asked_priority}) must not be provided in pod spec; "
                      f"priority admission controller computed {out.priority} from the given PriorityClass name")
    if asked_policy is not None and asked_policy != out.preemption_policy:
        raise Refused(f"the string value of PreemptionPolicy ({asked_policy}) must not be provided in pod spec; "
                      f"priority admission controller computed {out.preemption_policy} from the given "
                      "PriorityClass name")
    return out


def default_class(classes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The class pods without one get: of those marked ``globalDefault``, the lowest value (then name)."""
    marked = [c for c in classes if c.get("globalDefault") is True]
    if not marked:
        return None
    return min(marked, key=lambda c: (int(c.get("value") or 0), str(c["metadata"]["name"])))


class PriorityClassCache(NamespaceCache):
    """Every PriorityClass by name, complete once ``load`` has run (and again after a reset).

    The namespace cache's rules hold (entries carry their store revision, a miss reads the store);
    on top, the set is known whole, so "which class is the default" needs no store read.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._complete = False
        self._default: Any = _UNKNOWN

    def observe(self, key: str, rev: int, value: bytes | None) -> None:
        super().observe(key, rev, value)
        self._default = _UNKNOWN

    def reset(self) -> None:
        super().reset()
        self._complete = False
        self._default = _UNKNOWN

    async def load(self) -> None:
        """Read every class from the store; forget those deleted while nobody told the cache."""
        prefix = self.info.prefix(None)
        kvs, rev, _ = await self.store.list(prefix)
        listed = set()
        for kv in kvs:
            self.observe(kv.key, kv.mod_revision, kv.value)
            listed.add(kv.key)
        for key in [k for k in self._live if k not in listed and self._revs.get(k, 0) <= rev]:
            # gone by ``rev``: deleted while the watch that would have said so was down
            self._live.pop(key, None)
            self._decoded.pop(key, None)
            self._revs[key] = rev
        self._default = _UNKNOWN
        self._complete = True

    async def default(self) -> dict[str, Any] | None:
        if not self._complete:
            await self.load()
        if self._default is _UNKNOWN:
            self._default = default_class([rawobj.decode(raw) for raw in self._live.values()])
        result: dict[str, Any] | None = self._default
        return result


async def admit_pod(classes: PriorityClassCache, ns: str | None, obj: dict[str, Any], data: dict[str, Any]) -> None:
    """A pod create's priority admission: resolve the priority, write it into the pod (403 if refused)."""
    spec = obj.setdefault("spec", {})
    raw_spec = data.get("spec")
    asked: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    name = str(spec.get("priorityClassName") or "")
    named = await classes.get(name) if name else None
    default = None if name else await classes.default()
    try:
        out = resolve(ns or "", name, named, default, asked.get("priority"), asked.get("preemptionPolicy"))
    except Refused as e:
        raise errors.forbidden_object("pods", obj["metadata"]["name"], "", str(e)) from None
    if out.class_name:
        spec["priorityClassName"] = out.class_name
    spec["priority"] = out.priority
    spec["preemptionPolicy"] = out.preemption_policy


async def check_one_default(classes: PriorityClassCache, obj: dict[str, Any]) -> None:
    """A PriorityClass write: refuse a second global default (403)."""
    if obj.get("globalDefault") is not True:
        return
    current = await classes.default()
    name = obj["metadata"]["name"]
    if current is not None and current["metadata"]["name"] != name:
        raise errors.forbidden_object(
            "priorityclasses", name, "scheduling.k8s.io",
            f"PriorityClass {current['metadata']['name']} is already marked as default. Only one default can exist")


def check_deletable(obj: dict[str, Any]) -> None:
    """A PriorityClass delete: the system classes stay (403)."""
    name = obj["metadata"]["name"]
    if name in SYSTEM_PRIORITY_CLASSES:
        raise errors.forbidden_object("priorityclasses", name, "scheduling.k8s.io",
                                      "this is a system priority class and cannot be deleted")


def system_classes() -> list[dict[str, Any]]:
    """The bodies of the classes the server creates at start, as upstream's bootstrap does."""
    return [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
             "value": value, "description": SYSTEM_PRIORITY_CLASS_DESCRIPTIONS[name]}
            for name, value in SYSTEM_PRIORITY_CLASSES.items()]
