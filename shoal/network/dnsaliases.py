"""Network-scoped names for the cluster DNS: Swarm's aliases and full service names. Pure.

A Service annotated ``swarm.shoal.io/dns-names`` (``shoal.formats.swarm.aliases``:
``{"<network>": ["vote_web", "web", "api"]}``) is also found by those names
from every namespace *on* one of those networks — a namespace is on a network
when one of its Services carries it in that annotation. A pod asks with its
search path, so ``api`` from a pod of stack ``shop`` arrives as
``api.shop.svc.<domain>``; the record index asks this table for (``shop``,
``api``) only when ``shop`` has no Service named ``api``.

Precedence, decided once (docs/decisions.md):

* a Service of the asking namespace with the name always wins — an alias never
  takes over a Service, so what ``kubectl get svc`` shows stays true;
* otherwise every Service that carries the name on a network the asking
  namespace is on answers, the union of their addresses — what Swarm's
  resolver does with a name several services share on a network (it returns
  every address it holds for the name), and how a service of another stack on
  a shared attachable network is found by its bare name or alias.

Visibility is per namespace, not per pod: a stack whose services are on
``front`` and ``back`` sees the names of both from each of its pods (Swarm:
only those of the asking task's networks). Connections still follow the
networks (``swarm-net-*`` NetworkPolicies), so a name seen from the wrong
network resolves but cannot be connected to, as the short names already did.

The table is rebuilt lazily after a change (one dict per network), so a query
costs two dict lookups per network of the asking namespace.
"""

from __future__ import annotations

from shoal.formats.swarm.aliases import ANNOTATION, decode

Key = tuple[str, str]  # (namespace, Service name)


class AliasTable:
    """The annotated Services' names per network, and the networks each namespace is on."""

    def __init__(self) -> None:
        self._names: dict[Key, dict[str, list[str]]] = {}
        self._by_net: dict[str, dict[str, list[Key]]] | None = None
        self._nets_of: dict[str, set[str]] = {}

    def set(self, key: Key, annotations: dict[str, str]) -> None:
        names = decode(annotations.get(ANNOTATION))
        if names == self._names.get(key, {}):
            return
        if names:
            self._names[key] = names
        else:
            self._names.pop(key, None)
        self._by_net = None

    def remove(self, key: Key) -> None:
        if self._names.pop(key, None) is not None:
            self._by_net = None

    def _build(self) -> dict[str, dict[str, list[Key]]]:
        by_net: dict[str, dict[str, list[Key]]] = {}
        nets_of: dict[str, set[str]] = {}
        for key in sorted(self._names):
            for net, names in self._names[key].items():
                nets_of.setdefault(key[0], set()).add(net)
                table = by_net.setdefault(net, {})
                for n in names:
                    if key not in table.setdefault(n, []):
                        table[n].append(key)
        self._by_net, self._nets_of = by_net, nets_of
        return by_net

    def resolve(self, namespace: str, name: str) -> list[Key]:
        """The Services answering ``name`` asked from ``namespace`` (sorted), on the networks it is on."""
        by_net = self._by_net if self._by_net is not None else self._build()
        out: set[Key] = set()
        for net in self._nets_of.get(namespace, ()):
            out.update(by_net.get(net, {}).get(name.lower(), ()))
        return sorted(out)
