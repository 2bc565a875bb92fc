"""Roles and bindings in memory, indexed by subject: what RBAC answers from.

Upstream's RBAC authorizer resolves a request from informer caches of the four
kinds; so does this, kept by the same feeds as the namespace cache
(``shoal.apiserver.nscache``): the server's own RBAC writes the moment the
store acknowledges them (a binding just created applies to the very next
request), the watch cache for everyone else's, a full list at start. Every
entry carries the revision it is from, so an older answer never replaces a
newer one.

Bindings are indexed by subject (``u:alice``, ``g:dev``; a service account is
the user ``system:serviceaccount:NS:NAME``) and by the namespace they apply in
(``""`` for a ClusterRoleBinding), so resolving a user's rules never scans the
bindings of others. The resolved rules of a (user, groups, namespace) are
cached until any RBAC object changes; with 1,000 Roles and 1,000 RoleBindings
in place, a request by a bound user is one dict lookup and a few rule matches.
A binding whose role does not exist grants nothing (and starts granting when
the role appears).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from shoal.api import kinds
from shoal.api.registry import ResourceInfo
from shoal.apiserver import rawobj
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz.rules import Rule, compile_rules
from shoal.store.base import Store

log = logging.getLogger(__name__)

GROUP = "rbac.authorization.k8s.io"
SA_PREFIX = "system:serviceaccount:"
_CACHE_LIMIT = 50_000


def _info(plural: str) -> ResourceInfo:
    info = kinds.lookup(GROUP, "v1", plural)
    assert info is not None, plural
    return info


ROLES = _info("roles")
CLUSTER_ROLES = _info("clusterroles")
ROLE_BINDINGS = _info("rolebindings")
CLUSTER_ROLE_BINDINGS = _info("clusterrolebindings")
INFOS = (ROLES, CLUSTER_ROLES, ROLE_BINDINGS, CLUSTER_ROLE_BINDINGS)


@dataclass(frozen=True, slots=True)
class BindingView:
    namespace: str  # "" for a ClusterRoleBinding
    role_kind: str
    role_name: str
    subjects: tuple[str, ...]  # subject keys


def subject_keys(subjects: Any, namespace: str) -> tuple[str, ...]:
    """The index keys of a binding's subjects (a service account without a namespace is in the binding's)."""
    out: list[str] = []
    for s in subjects if isinstance(subjects, list) else ():
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            continue
        kind = s.get("kind")
        if kind == "User":
            out.append(f"u:{s['name']}")
        elif kind == "Group":
            out.append(f"g:{s['name']}")
        elif kind == "ServiceAccount":
            out.append(f"u:{SA_PREFIX}{s.get('namespace') or namespace}:{s['name']}")
    return tuple(dict.fromkeys(out))


def user_keys(user: User) -> Iterator[str]:
    yield f"u:{user.name}"
    for g in user.groups:
        yield f"g:{g}"


def _split(key: str, info: ResourceInfo) -> tuple[str, str]:
    """(namespace, name) of a store key under ``info``."""
    rest = key[len(info.storage_prefix):]
    if info.namespaced:
        ns, _, name = rest.partition("/")
        return ns, name
    return "", rest


class RbacIndex:
    """The four RBAC kinds in memory; ``rules_for`` is what the authorizer asks."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._revs: dict[str, int] = {}
        self.roles: dict[tuple[str, str], tuple[Rule, ...]] = {}
        self.cluster_roles: dict[str, tuple[Rule, ...]] = {}
        self.cluster_role_objects: dict[str, dict[str, Any]] = {}  # for aggregation
        self._bindings: dict[str, BindingView] = {}
        # subject key -> namespace ("" cluster-wide) -> binding store keys
        self._by_subject: dict[str, dict[str, set[str]]] = {}
        self._cache: dict[tuple[str, tuple[str, ...], str], tuple[Rule, ...]] = {}
        self.generation = 0
        self.cluster_roles_changed: list[Callable[[], None]] = []  # callables told when a ClusterRole changes
        self.loaded = False

    # ---- feeding ------------------------------------------------------------------------------
    async def load(self) -> None:
        for info in INFOS:
            kvs, _, _ = await self.store.list(info.storage_prefix)
            for kv in kvs:
                self.observe(kv.key, kv.mod_revision, kv.value)
        self.loaded = True

    def observe(self, key: str, rev: int, value: bytes | None) -> None:
        """A write of ``key`` at ``rev`` (``None``: deleted); older than what is known is ignored."""
        if rev <= self._revs.get(key, 0):
            return
        self._revs[key] = rev
        obj = rawobj.decode(value) if value is not None else None
        self.generation += 1
        self._cache.clear()
        if key.startswith(ROLES.storage_prefix):
            ns, name = _split(key, ROLES)
            if obj is None:
                self.roles.pop((ns, name), None)
            else:
                self.roles[(ns, name)] = compile_rules(obj.get("rules"))
        elif key.startswith(CLUSTER_ROLES.storage_prefix):
            _, name = _split(key, CLUSTER_ROLES)
            if obj is None:
                self.cluster_roles.pop(name, None)
                self.cluster_role_objects.pop(name, None)
            else:
                self.cluster_roles[name] = compile_rules(obj.get("rules"))
                self.cluster_role_objects[name] = obj
            for fn in self.cluster_roles_changed:
                fn()
        elif key.startswith(ROLE_BINDINGS.storage_prefix):
            ns, _ = _split(key, ROLE_BINDINGS)
            self._set_binding(key, ns, obj)
        elif key.startswith(CLUSTER_ROLE_BINDINGS.storage_prefix):
            self._set_binding(key, "", obj)

    def observe_event(self, ev: Any) -> None:
        """A watch-cache event; ``None`` (the watch was reset) keeps what is known until the next writes."""
        if ev is not None:
            self.observe(ev.key, ev.rev, None if ev.type == "DELETED" else ev.raw)

    def _set_binding(self, key: str, ns: str, obj: dict[str, Any] | None) -> None:
        old = self._bindings.pop(key, None)
        if old is not None:
            for s in old.subjects:
                by_ns = self._by_subject.get(s, {})
                keys = by_ns.get(old.namespace)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del by_ns[old.namespace]
                if not by_ns:
                    self._by_subject.pop(s, None)
        if obj is None:
            return
        ref = obj.get("roleRef") or {}
        view = BindingView(ns, str(ref.get("kind") or ""), str(ref.get("name") or ""),
                           subject_keys(obj.get("subjects"), ns))
        self._bindings[key] = view
        for s in view.subjects:
            self._by_subject.setdefault(s, {}).setdefault(ns, set()).add(key)

    # ---- asking -------------------------------------------------------------------------------
    def cluster_role_revision(self, name: str) -> int:
        """The revision of the ClusterRole ``name`` the index holds (0: none)."""
        return self._revs.get(f"{CLUSTER_ROLES.storage_prefix}{name}", 0)

    def role_rules(self, kind: str, name: str, namespace: str) -> tuple[Rule, ...] | None:
        """The rules of a role reference (``None`` if the role does not exist)."""
        if kind == "ClusterRole":
            return self.cluster_roles.get(name)
        if kind == "Role":
            return self.roles.get((namespace, name))
        return None

    def rules_for(self, user: User, namespace: str) -> tuple[Rule, ...]:
        """Every rule bound to ``user`` that applies in ``namespace`` ("" : cluster-wide only)."""
        ck = (user.name, user.groups, namespace)
        hit = self._cache.get(ck)
        if hit is not None:
            return hit
        rules: list[Rule] = []
        seen: set[str] = set()
        for s in user_keys(user):
            by_ns = self._by_subject.get(s)
            if not by_ns:
                continue
            for where in ("", namespace) if namespace else ("",):
                for key in by_ns.get(where, ()):
                    if key in seen:
                        continue
                    seen.add(key)
                    b = self._bindings[key]
                    rules.extend(self.role_rules(b.role_kind, b.role_name, b.namespace) or ())
        out = tuple(dict.fromkeys(rules))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[ck] = out
        return out
