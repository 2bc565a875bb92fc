"""The names a Swarm service answers to on each network, as a Service annotation. Pure.

On Swarm a service is found, on every network it is attached to, by its full
name (``vote_web``) and by the ``Aliases`` of that attachment (Compose adds
the short name ``web`` and the file's ``networks: {front: {aliases: [api]}}``).
In shoal a stack is a namespace and the service's Kubernetes Service is named
by its short name, so only ``web`` resolved, and only in the stack's own
namespace. The other names cannot be Services of their own: ``vote_web`` is
not a valid Service name (underscores are not allowed in a DNS label), an
alias may equal another service's name (a second Service would fight over
it) and an alias on a shared network must be found from other stacks'
namespaces, where a Service of this stack cannot be.

So the names are data for the cluster DNS: the service's own (internal)
Service carries the annotation ``swarm.shoal.io/dns-names``, a JSON object
``{"<network>": ["vote_web", "web", "api"], ...}`` (lower case, each network
and name once, in order), and the DNS server (``shoal.network.dnsaliases``)
answers a name that is no Service of the asking namespace from the services
that carry it on a network that namespace is on. A service on no network
(other than ``ingress``) carries no annotation, as Swarm gives it no name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from shoal.formats.swarm.networks import INGRESS, resolve
from shoal.formats.swarm.wire import SpecError

ANNOTATION = "swarm.shoal.io/dns-names"


def _attachments(spec: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(target, aliases) of every network attachment of a (canonical) ServiceSpec, in order."""
    tt = spec.get("TaskTemplate") or {}
    out: list[tuple[str, list[str]]] = []
    for i, att in enumerate([*(tt.get("Networks") or []), *(spec.get("Networks") or [])]):
        target = att.get("Target") if isinstance(att, dict) else None
        if not isinstance(target, str) or not target:
            raise SpecError(f"invalid Networks[{i}]: a Target is required")
        aliases = att.get("Aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
            raise SpecError(f"invalid Networks[{i}].Aliases: expected a list of names")
        out.append((target, aliases))
    return out


def dns_names(spec: Mapping[str, Any], known: Mapping[str, str] | None) -> dict[str, list[str]]:
    """Network name -> the names the service answers to there (its full name first, then its aliases).

    ``known`` maps network ids and names to names (None: the spec names them), as ``networks.resolve``."""
    name = str(spec.get("Name") or "")
    out: dict[str, list[str]] = {}
    for target, aliases in _attachments(spec):
        [net] = resolve([target], known) or [INGRESS]
        if net == INGRESS:
            continue
        names = out.setdefault(net, [])
        for n in (name, *aliases):
            if n.lower() not in names:
                names.append(n.lower())
    return out


def encode(names: Mapping[str, Iterable[str]]) -> str:
    return json.dumps({net: list(ns) for net, ns in names.items()}, separators=(",", ":"))


def decode(value: str | None) -> dict[str, list[str]]:
    """The annotation's networks and names; anything malformed (someone edited it) counts as none."""
    try:
        raw = json.loads(value or "{}")
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(net): [n.lower() for n in names if isinstance(n, str) and n]
            for net, names in raw.items() if isinstance(names, list)}
