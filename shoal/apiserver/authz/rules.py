"""Policy rules as typed values, and whether one allows a request (upstream's RuleAllows). Pure.

A stored rule (``{"verbs": [...], "apiGroups": [...], "resources": [...],
"resourceNames": [...], "nonResourceURLs": [...]}``) is compiled once, when
the index reads its role, into a ``Rule`` of frozensets, so that matching a
request is a few set lookups. The matching is upstream's, to the letter:

* a verb matches if the rule lists it or ``*``;
* a resource request matches a rule's groups (or ``*``), its resources
  (``*``, the exact ``resource`` or ``resource/subresource``, or
  ``*/subresource``) and, if the rule names objects, the request's object name;
* a non-resource request matches ``*``, the exact path, or a ``prefix*``.

``covers`` is the escalation check's half: whether a set of rules grants
everything another rule grants (upstream's ``Covers``, over the rule broken
down into one verb, group, resource and name at a time).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shoal.apiserver.authz.attributes import Attributes

ALL = "*"


def _set(values: Any) -> frozenset[str]:
    if not isinstance(values, list):
        return frozenset()
    return frozenset(v for v in values if isinstance(v, str))


@dataclass(frozen=True, slots=True)
class Rule:
    verbs: frozenset[str]
    groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Rule:
        return Rule(_set(d.get("verbs")), _set(d.get("apiGroups")), _set(d.get("resources")),
                    _set(d.get("resourceNames")), _set(d.get("nonResourceURLs")))

    def to_dict(self) -> dict[str, list[str]]:
        """The stored form, each list sorted (the order of a list in a rule means nothing)."""
        out: dict[str, list[str]] = {"verbs": sorted(self.verbs)}
        for key, values in (("apiGroups", self.groups), ("resources", self.resources),
                            ("resourceNames", self.names), ("nonResourceURLs", self.urls)):
            if values:
                out[key] = sorted(values)
        return out


def compile_rules(rules: Any) -> tuple[Rule, ...]:
    """The typed rules of a role's ``rules`` list (anything not a dict is skipped)."""
    if not isinstance(rules, list):
        return ()
    return tuple(Rule.from_dict(r) for r in rules if isinstance(r, dict))


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    res = rule.resources
    if ALL in res:
        return True
    if not subresource:
        return resource in res
    return f"{resource}/{subresource}" in res or f"*/{subresource}" in res


def url_matches(rule: Rule, path: str) -> bool:
    for url in rule.urls:
        if url in (ALL, path) or url.endswith("*") and path.startswith(url[:-1]):
            return True
    return False


def allows(rule: Rule, a: Attributes) -> bool:
    """Whether ``rule`` allows the request ``a`` (upstream's RuleAllows)."""
    if a.verb not in rule.verbs and ALL not in rule.verbs:
        return False
    if not a.resource_request:
        return url_matches(rule, a.path)
    if a.group not in rule.groups and ALL not in rule.groups:
        return False
    if not resource_matches(rule, a.resource, a.subresource):
        return False
    return not rule.names or a.name in rule.names


def any_allows(rules: Iterable[Rule], a: Attributes) -> bool:
    return any(allows(r, a) for r in rules)


# ---- covering (escalation) ------------------------------------------------------------------


def _breakdown(rule: Rule) -> list[Rule]:
    """``rule`` as rules of one verb, group, resource and name (or one verb and URL) each."""
    out: list[Rule] = []
    if rule.urls:
        for verb in rule.verbs:
            for url in rule.urls:
                out.append(Rule(frozenset({verb}), urls=frozenset({url})))
        return out
    for group in rule.groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.names:
                    for name in rule.names:
                        out.append(Rule(frozenset({verb}), frozenset({group}), frozenset({resource}),
                                        frozenset({name})))
                else:
                    out.append(Rule(frozenset({verb}), frozenset({group}), frozenset({resource})))
    return out


def _has(values: frozenset[str], wanted: frozenset[str]) -> bool:
    return ALL in values or wanted <= values


def _resources_cover(owner: frozenset[str], wanted: frozenset[str]) -> bool:
    if ALL in owner:
        return True
    for w in wanted:
        if w in owner:
            continue
        resource, sep, sub = w.partition("/")
        if sep and (f"*/{sub}" in owner or f"{resource}/*" in owner):
            continue
        return False
    return True


def _urls_cover(owner: frozenset[str], wanted: frozenset[str]) -> bool:
    for w in wanted:
        if not any(o in (ALL, w) or o.endswith("*") and w.startswith(o[:-1]) for o in owner):
            return False
    return True


def _rule_covers(owner: Rule, sub: Rule) -> bool:
    if not _has(owner.verbs, sub.verbs):
        return False
    if sub.urls:
        return _urls_cover(owner.urls, sub.urls)
    if not _has(owner.groups, sub.groups) or not _resources_cover(owner.resources, sub.resources):
        return False
    # an owner limited to some names covers only requests for those names
    return not owner.names or (bool(sub.names) and sub.names <= owner.names)


def uncovered(owner: Sequence[Rule], wanted: Iterable[Rule]) -> list[Rule]:
    """The pieces of ``wanted`` that no rule of ``owner`` grants (empty: ``owner`` covers them all)."""
    missing: list[Rule] = []
    for rule in wanted:
        for piece in _breakdown(rule):
            if not any(_rule_covers(o, piece) for o in owner):
                missing.append(piece)
    return missing


def go_quote_list(values: Iterable[str]) -> str:
    """A list of strings as Go's ``%q`` prints a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def compact_string(rule: Rule) -> str:
    """Upstream's ``CompactString``: ``{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}``."""
    parts: list[str] = []
    for label, values in (("APIGroups", rule.groups), ("Resources", rule.resources),
                          ("NonResourceURLs", rule.urls), ("ResourceNames", rule.names), ("Verbs", rule.verbs)):
        if values:
            parts.append(f"{label}:{go_quote_list(sorted(values))}")
    return "{" + ", ".join(parts) + "}"
