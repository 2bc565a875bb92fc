"""Which requests a webhook or a policy concerns: upstream's rule, namespace and object matchers, pure.

A rule matches an operation (or ``*``), a group, a version (any version under
``matchPolicy: Equivalent``: shoal serves each resource in one version, so an
equivalent request is the same one), a resource as ``resource``,
``resource/subresource``, ``resource/*``, ``*`` (no subresource) or ``*/*``,
and a scope. A ``namespaceSelector`` never excludes a cluster-scoped object
other than a Namespace; for a Namespace it reads the Namespace's own labels.
An ``objectSelector`` matches when the new or the old object's labels match.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shoal.api import selectors
from shoal.apiserver.webhooks.attributes import Attributes


def _split(res: str) -> tuple[str, str]:
    parts = res.split("/", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "")


def rule_matches(rule: dict[str, Any], attrs: Attributes, *, exact: bool = False) -> bool:
    ops = rule.get("operations") or []
    if "*" not in ops and attrs.operation not in ops:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.group not in groups:
        return False
    versions = rule.get("apiVersions") or []
    if exact and "*" not in versions and attrs.version not in versions:
        return False
    if not versions:
        return False
    scope = rule.get("scope") or "*"
    if scope == "Cluster" and attrs.namespace:
        return False
    if scope == "Namespaced" and not attrs.namespace:
        return False
    for res in rule.get("resources") or []:
        r, s = _split(res)
        if (r == "*" or r == attrs.resource) and (s == "*" or s == attrs.subresource):
            return True
    return False


def rules_match(rules: Iterable[dict[str, Any]], attrs: Attributes, *, match_policy: str | None) -> bool:
    exact = match_policy == "Exact"
    return any(rule_matches(r, attrs, exact=exact) for r in rules)


def named_rules_match(rules: Iterable[dict[str, Any]], attrs: Attributes, *, match_policy: str | None) -> bool:
    """A policy's ``resourceRules``: as ``rules_match``, and ``resourceNames`` (when given) holds the name."""
    exact = match_policy == "Exact"
    for r in rules:
        names = r.get("resourceNames") or []
        if names and attrs.name not in names:
            continue
        if rule_matches(r, attrs, exact=exact):
            return True
    return False


def needs_namespace(attrs: Attributes) -> bool:
    """Whether a namespaceSelector reads a namespace's labels for this request (else it matches)."""
    return bool(attrs.namespace) or attrs.resource == "namespaces"


def namespace_of_request(attrs: Attributes) -> tuple[str, dict[str, str] | None]:
    """The namespace whose labels a selector reads, and those labels when the request carries them
    (a Namespace's own write: its new or old labels); (name, None) when they must be looked up."""
    if attrs.resource == "namespaces" and not attrs.subresource:
        new, old = attrs.labels()
        labels = new if new is not None else old
        return attrs.name, labels
    return attrs.namespace, None


def selector_matches(selector: Any, labels: dict[str, str] | None) -> bool:
    try:
        sel = selectors.from_label_selector_or_everything(selector)
    except selectors.SelectorError:
        return False
    return sel.matches(labels or {})


def selector_empty(selector: Any) -> bool:
    return selector is None or (isinstance(selector, dict) and not selector.get("matchLabels")
                                and not selector.get("matchExpressions"))


def object_matches(selector: Any, attrs: Attributes) -> bool:
    if selector_empty(selector):
        return True
    new, old = attrs.labels()
    return (new is not None and selector_matches(selector, new)) or (old is not None and selector_matches(selector, old))


def namespace_matches(selector: Any, attrs: Attributes, ns_labels: dict[str, str] | None) -> bool:
    """``ns_labels``: the namespace's labels (only read when ``needs_namespace``)."""
    if selector_empty(selector) or not needs_namespace(attrs):
        return True
    return selector_matches(selector, ns_labels)
