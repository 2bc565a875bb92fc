"""Swarm overlay networks as isolation: pod labels and NetworkPolicies. Pure.

Pods share one flat cluster network, so a Swarm network is a *label* and a
*policy*. A service attached to network ``vote_back`` gets the pod-template
label ``net.swarm.shoal.io/vote_back: "true"`` (a name longer than a label
key's 63 characters is cut and suffixed with a hash), and every namespace
with such pods gets one NetworkPolicy per network its services use,
``swarm-net-<network>``: it selects the pods with that label and lets in
only pods with the same label, from *any* namespace (``namespaceSelector:
{}``), so an attachable network shared by two stacks joins them. A pod on
several networks is selected by several policies and, as NetworkPolicy
unions what selects a pod, is reachable from each of them — Swarm's
semantics. Egress is left open (the cluster DNS, the outside world).

Swarm's routing mesh reaches a published port from anywhere. The
connection is judged after the service's DNAT, with the client's address
(masquerading happens later, at postrouting), so a second policy per
isolated service, ``swarm-published-<service>``, lets in any IPv4 address
(``ipBlock 0.0.0.0/0``) on the target ports of its ingress-published and
host-mode ports. Traffic from a node itself is never filtered (the policy
table has no ``output`` hook), so probes and ``curl node:port`` on a node
work whatever the policy.

A service attached to no network (``docker service create`` without
``--network``, a Deployment made with kubectl) carries no label: no policy
selects it and it stays open, as any pod without a policy. A Compose
service without ``networks`` is on ``<stack>_default``, so a stack that
declares no networks talks freely inside itself, and isolation follows
``networks`` where the file declares them.

``policies`` derives a namespace's policies from what is stored (the
workloads' template labels and their published Services), so creating,
updating and removing a service all end with one ``plan`` against the
policies that exist: a policy no workload needs any more is deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shoal.formats.swarm.names import SERVICE_LABEL, STACK_LABEL, fold
from shoal.formats.swarm.wire import SpecError

LABEL_PREFIX = "net.swarm.shoal.io/"
POLICY_LABEL = "swarm.shoal.io/policy"  # network | published: the policies this module owns
NETWORK_POLICY_PREFIX = "swarm-net-"
PUBLISHED_POLICY_PREFIX = "swarm-published-"
PUBLISHED_SUFFIX = "-published"  # the published Service's suffix (``service.PUBLISHED_SUFFIX``)
INGRESS = "ingress"
_MAX_NAME = 63


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]  # noqa: S324 - a name, not a secret


def label_key(network: str) -> str:
    """The pod label of a network: ``net.swarm.shoal.io/<name>`` (a long name cut, with its hash)."""
    if len(network) <= _MAX_NAME:
        return LABEL_PREFIX + network
    return f"{LABEL_PREFIX}{network[:_MAX_NAME - 9]}-{_hash(network)}"


def targets(spec: Mapping[str, Any]) -> list[str]:
    """The networks a (canonical) ServiceSpec attaches to, as sent (names or ids), in order, once each."""
    tt = spec.get("TaskTemplate") or {}
    out: list[str] = []
    for i, att in enumerate([*(tt.get("Networks") or []), *(spec.get("Networks") or [])]):
        target = att.get("Target") if isinstance(att, dict) else None
        if not isinstance(target, str) or not target:
            raise SpecError(f"invalid Networks[{i}]: a Target is required")
        if target not in out:
            out.append(target)
    return out


def resolve(refs: Iterable[str], known: Mapping[str, str] | None) -> list[str]:
    """Network names of references; ``known`` maps ids and names to names (None: the references are names).

    The built-in ``ingress`` network is every service's routing mesh, not a network to isolate by."""
    out: list[str] = []
    for ref in refs:
        name = ref if known is None else known.get(ref)
        if name is None:
            raise SpecError(f"network {ref} not found", 404)
        if name != INGRESS and name not in out:
            out.append(name)
    return out


def template_labels(networks: Iterable[str]) -> dict[str, str]:
    return {label_key(n): "true" for n in networks}


def network_labels(labels: Mapping[str, str]) -> list[str]:
    """The network label keys among a pod's (or pod template's) labels, sorted."""
    return sorted(k for k in labels if k.startswith(LABEL_PREFIX))


def policy_name(label: str) -> str:
    """``swarm-net-<network>`` for a network's label key (a hash added where folding changed the name)."""
    part = label[len(LABEL_PREFIX):]
    folded = fold(part)
    return NETWORK_POLICY_PREFIX + (folded if folded == part else f"{folded}-{_hash(part)}")


def _template_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    tmpl = (workload.get("spec") or {}).get("template") or {}
    return dict((tmpl.get("metadata") or {}).get("labels") or {})


def _policy(namespace: str, name: str, kind: str, stack: str, spec: dict[str, Any]) -> dict[str, Any]:
    labels = {POLICY_LABEL: kind, **({STACK_LABEL: stack} if stack else {})}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {**spec, "policyTypes": ["Ingress"]}}


def _published_ports(workload: Mapping[str, Any], services: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """(protocol, target port) of a workload's ingress-published ports (its ``-published`` Service) and
    host-mode ports (hostPorts), as policy ports."""
    name = str((workload.get("metadata") or {}).get("name") or "")
    seen: dict[tuple[str, int], None] = {}
    for svc in services:
        if (svc.get("metadata") or {}).get("name") != (name + PUBLISHED_SUFFIX)[:63]:
            continue
        for p in (svc.get("spec") or {}).get("ports") or []:
            target = p.get("targetPort", p.get("port"))
            if isinstance(target, int):
                seen[(str(p.get("protocol") or "TCP"), target)] = None
    tmpl = (workload.get("spec") or {}).get("template") or {}
    for c in (tmpl.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort") and isinstance(p.get("containerPort"), int):
                seen[(str(p.get("protocol") or "TCP"), p["containerPort"])] = None
    return [{"protocol": proto, "port": port} for proto, port in seen]


def policies(namespace: str, workloads: Sequence[Mapping[str, Any]],
             services: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The NetworkPolicies a namespace's Swarm services need (``workloads`` and ``services``: its own)."""
    nets: dict[str, str] = {}  # label key -> stack
    published: list[dict[str, Any]] = []
    for w in sorted(workloads, key=lambda w: str((w.get("metadata") or {}).get("name") or "")):
        tl = _template_labels(w)
        keys = network_labels(tl)
        if not keys:
            continue  # on no network: open, as any pod no policy selects
        stack = tl.get(STACK_LABEL, "")
        for key in keys:
            nets.setdefault(key, stack)
        ports = _published_ports(w, services)
        if ports and tl.get(SERVICE_LABEL):
            name = str((w.get("metadata") or {}).get("name") or "")
            published.append(_policy(namespace, PUBLISHED_POLICY_PREFIX + name, "published", stack, {
                "podSelector": {"matchLabels": {SERVICE_LABEL: tl[SERVICE_LABEL]}},
                "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": ports}]}))
    out = [_policy(namespace, policy_name(key), "network", stack, {
        "podSelector": {"matchLabels": {key: "true"}},
        "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {key: "true"}}}]}]})
        for key, stack in sorted(nets.items())]
    return out + published


def owned(policy: Mapping[str, Any]) -> bool:
    return POLICY_LABEL in ((policy.get("metadata") or {}).get("labels") or {})


def plan(desired: Sequence[dict[str, Any]], existing: Sequence[Mapping[str, Any]]
         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Mapping[str, Any]]]:
    """(to create, to update, to delete) to turn the namespace's owned ``existing`` policies into ``desired``.

    A policy someone else made (without ``swarm.shoal.io/policy``) is never touched; one of ours with the
    name of a desired one is updated only if its spec or labels differ."""
    mine = {str((p.get("metadata") or {}).get("name")): p for p in existing if owned(p)}
    others = {str((p.get("metadata") or {}).get("name")) for p in existing if not owned(p)}
    create, update = [], []
    for d in desired:
        name = d["metadata"]["name"]
        old = mine.get(name)
        if name in others:
            continue
        if old is None:
            create.append(d)
        elif old.get("spec") != d["spec"] or (old.get("metadata") or {}).get("labels") != d["metadata"]["labels"]:
            md = dict(old.get("metadata") or {})
            md["labels"] = d["metadata"]["labels"]
            update.append({**old, "metadata": md, "spec": d["spec"]})
    wanted = {d["metadata"]["name"] for d in desired}
    delete = [p for name, p in sorted(mine.items()) if name not in wanted]
    return create, update, delete
