"""upstream's audit Policy (``audit.k8s.io/v1``) and its evaluation. Pure.

A policy is an ordered list of rules; the first rule that matches a request
gives its level and the stages to leave out (the rule's ``omitStages`` added
to the policy's). A request no rule matches is not logged (level None), as
upstream. Matching is upstream's ``checker.go``, rule by rule:

- ``users`` / ``userGroups``: the user's name / one of its groups is listed;
- ``verbs``: the request's verb (``get``, ``list``, ``watch``, ``create``...);
- ``namespaces`` or ``resources`` set: only resource requests match; a
  non-namespaced object's namespace is ``""``; a ``resources`` entry names a
  group and resources, where ``pods/log`` matches the subresource, ``*`` any,
  ``*/scale`` a subresource of any resource and ``pods/*`` any of a resource's
  subresources (and its ``resourceNames`` narrow it to names);
- ``nonResourceURLs``: only non-resource requests, a path equal to the entry,
  or under it when the entry ends in ``*``.

One rule of shoal's on top of upstream (issue 20: "Secret bodies never
logged"): a request for ``secrets`` is never logged above Metadata, whatever
the policy says (``effective_level``), so no Secret's data reaches the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from shoal.apiserver.authz.attributes import Attributes

API_VERSIONS = ("audit.k8s.io/v1",)
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")


class Level(IntEnum):
    NONE = 0
    METADATA = 1
    REQUEST = 2
    REQUEST_RESPONSE = 3

    @property
    def text(self) -> str:
        return _LEVEL_NAMES[self]


_LEVEL_NAMES = {Level.NONE: "None", Level.METADATA: "Metadata", Level.REQUEST: "Request",
                Level.REQUEST_RESPONSE: "RequestResponse"}
_LEVELS = {v: k for k, v in _LEVEL_NAMES.items()}
# resources whose bodies are never logged (their requests are capped at Metadata)
NEVER_BODIES = frozenset({("", "secrets")})


class PolicyError(ValueError):
    """A policy file upstream's apiserver would refuse to start with."""


@dataclass(frozen=True, slots=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    level: Level
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[Rule, ...]
    omit_stages: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Decision:
    """What to log of one request: its level and the stages left out."""

    level: Level
    omit_stages: frozenset[str] = frozenset()


NOTHING = Decision(Level.NONE)


def _strings(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    v = raw.get(key)
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise PolicyError(f"{where}.{key}: must be a list of strings")
    return tuple(v)


def _stages(raw: Mapping[str, Any], where: str) -> frozenset[str]:
    stages = _strings(raw, "omitStages", where)
    for s in stages:
        if s not in STAGES:
            raise PolicyError(f'{where}.omitStages: Unsupported value: "{s}": supported values: '
                              + ", ".join(f'"{x}"' for x in STAGES))
    return frozenset(stages)


def _rule(raw: Any, i: int) -> Rule:
    where = f"rules[{i}]"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: must be an object")
    level_name = raw.get("level")
    if level_name not in _LEVELS:
        raise PolicyError(f'{where}.level: Unsupported value: "{level_name}": supported values: '
                          + ", ".join(f'"{x}"' for x in _LEVELS))
    groups: list[GroupResources] = []
    for j, gr in enumerate(raw.get("resources") or []):
        if not isinstance(gr, dict):
            raise PolicyError(f"{where}.resources[{j}]: must be an object")
        gw = f"{where}.resources[{j}]"
        names = _strings(gr, "resourceNames", gw)
        res = _strings(gr, "resources", gw)
        if names and any("*" in r for r in res):
            raise PolicyError(f"{gw}.resourceNames: Invalid value: resourceNames require exact resources")
        groups.append(GroupResources(str(gr.get("group") or ""), res, names))
    urls = _strings(raw, "nonResourceURLs", where)
    if urls and (groups or raw.get("namespaces")):
        raise PolicyError(f"{where}: rules cannot apply to both regular resources and non-resource URLs")
    for u in urls:
        if not u.startswith("/") and u != "*":
            raise PolicyError(f'{where}.nonResourceURLs: Invalid value: "{u}": non-resource URLs must start with "/"')
    return Rule(level=_LEVELS[level_name], users=_strings(raw, "users", where),
                user_groups=_strings(raw, "userGroups", where), verbs=_strings(raw, "verbs", where),
                resources=tuple(groups), namespaces=_strings(raw, "namespaces", where),
                non_resource_urls=urls, omit_stages=_stages(raw, where))


def parse(doc: Any) -> Policy:
    """A Policy object (a policy file, decoded) as a ``Policy``; ``PolicyError`` says what is wrong."""
    if not isinstance(doc, dict):
        raise PolicyError("not a Policy object")
    if doc.get("kind") != "Policy" or doc.get("apiVersion") not in API_VERSIONS:
        raise PolicyError(f"expected kind Policy of apiVersion audit.k8s.io/v1, got kind {doc.get('kind')!r} "
                          f"of {doc.get('apiVersion')!r}")
    rules = doc.get("rules")
    if not isinstance(rules, list):
        raise PolicyError("rules: must be a list")
    return Policy(rules=tuple(_rule(r, i) for i, r in enumerate(rules)), omit_stages=_stages(doc, "policy"))


def _path_matches(path: str, spec: str) -> bool:
    if spec in ("*", path):
        return True
    return spec.endswith("*") and path.startswith(spec.rstrip("*"))


def _resource_matches(rule: Rule, a: Attributes) -> bool:
    if not a.resource_request:
        return False
    if rule.namespaces and a.namespace not in rule.namespaces:
        return False
    if not rule.resources:
        return True
    combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    for gr in rule.resources:
        if gr.group != a.group:
            continue
        if not gr.resources:
            return True
        if gr.resource_names and a.name not in gr.resource_names:
            continue
        for res in gr.resources:
            if res in (combined, "*"):
                return True
            if a.subresource and res.startswith("*/") and res[2:] == a.subresource:
                return True
            if res.endswith("/*") and res[:-2] == a.resource:
                return True
    return False


def matches(rule: Rule, a: Attributes) -> bool:
    """Whether ``rule`` applies to the request ``a`` (upstream's ``ruleMatches``)."""
    if rule.users and a.user.name not in rule.users:
        return False
    if rule.user_groups and not any(g in rule.user_groups for g in a.user.groups):
        return False
    if rule.verbs and a.verb not in rule.verbs:
        return False
    if rule.namespaces or rule.resources:
        return _resource_matches(rule, a)
    if rule.non_resource_urls:
        return not a.resource_request and any(_path_matches(a.path, s) for s in rule.non_resource_urls)
    return True


def evaluate(policy: Policy, a: Attributes) -> Decision:
    """The level of ``a`` and the stages not logged: the first matching rule's, else None."""
    for rule in policy.rules:
        if matches(rule, a):
            return Decision(effective_level(rule.level, a), policy.omit_stages | rule.omit_stages)
    return NOTHING


def effective_level(level: Level, a: Attributes) -> Level:
    """``level``, capped at Metadata for the resources whose bodies are never logged."""
    if level > Level.METADATA and a.resource_request and (a.group, a.resource) in NEVER_BODIES:
        return Level.METADATA
    return level


def everything(level: Level) -> Policy:
    """A policy of one rule: every request at ``level`` (benchmarks, tests)."""
    return Policy(rules=(Rule(level=level),))


def stages_logged(decision: Decision) -> Sequence[str]:
    return [s for s in STAGES if s not in decision.omit_stages]
