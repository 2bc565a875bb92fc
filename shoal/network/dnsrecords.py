"""Cluster DNS records, computed from Services, Endpoints and Pods. Pure.

Names as Kubernetes' DNS specification has them, in the cluster domain
(``cluster.local``):

* ``<svc>.<ns>.svc.<domain>``: A = the ClusterIP; for a headless Service, the
  ready endpoint addresses;
* ``<hostname>.<svc>.<ns>.svc.<domain>``: A for an endpoint with a hostname;
* ``_<port>._<proto>.<svc>.<ns>.svc.<domain>``: SRV for each named port;
* ``<a-b-c-d>.<ns>.pod.<domain>``: A for a pod IP;
* ``<name>.<ns>.svc.<domain>`` where ``<ns>`` has no Service ``<name>`` (and
  no other record answers): a network-scoped name of a Swarm service, its
  aliases and ``<stack>_<service>`` (``dnsaliases``), answered as its Service;
* anything else inside the domain: NXDOMAIN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shoal.api import views as v
from shoal.api.views import Body, EndpointAddress
from shoal.network.dnsaliases import AliasTable


@dataclass(frozen=True, slots=True)
class Srv:
    port: int
    target: str
    priority: int = 0
    weight: int = 100


@dataclass
class Answer:
    exists: bool
    a: list[str] = field(default_factory=list)
    srv: list[Srv] = field(default_factory=list)


class RecordIndex:
    """Answers queries from the current objects; rebuilt cheaply per change."""

    def __init__(self, domain: str = "cluster.local") -> None:
        self.domain = domain.strip(".").lower()
        self.services: dict[tuple[str, str], Body] = {}
        self.endpoints: dict[tuple[str, str], Body] = {}
        self.aliases = AliasTable()

    def in_domain(self, qname: str) -> bool:
        q = qname.strip(".").lower()
        return q == self.domain or q.endswith("." + self.domain)

    def set_service(self, svc: Body) -> None:
        key = (v.namespace(svc), v.name(svc))
        self.services[key] = svc
        self.aliases.set(key, v.annotations(svc))

    def del_service(self, svc: Body) -> None:
        key = (v.namespace(svc), v.name(svc))
        self.services.pop(key, None)
        self.aliases.remove(key)

    def set_endpoints(self, ep: Body) -> None:
        self.endpoints[(v.namespace(ep), v.name(ep))] = ep

    def del_endpoints(self, ep: Body) -> None:
        self.endpoints.pop((v.namespace(ep), v.name(ep)), None)

    def _ready(self, ns: str, name: str) -> list[EndpointAddress]:
        ep = self.endpoints.get((ns, name))
        out: list[EndpointAddress] = []
        for s in v.subsets(ep) if ep is not None else ():
            out += s.get("addresses") or []
        return out

    def lookup(self, qname: str) -> Answer:
        answer = self._lookup(qname)
        if answer.exists:
            return answer
        return self._alias(qname)

    def _alias(self, qname: str) -> Answer:
        """``<name>.<ns>.svc.<domain>`` as a network-scoped name (``name`` may hold dots and ``_``)."""
        q = qname.strip(".").lower()
        suffix = ".svc." + self.domain
        if not q.endswith(suffix):
            return Answer(False)
        name, _, ns = q[: -len(suffix)].rpartition(".")
        if not name or (ns, name) in self.services:
            return Answer(False)
        a: set[str] = set()
        found = False
        for target_ns, target in self.aliases.resolve(ns, name):
            answer = self._service(target_ns, target)
            found = found or answer.exists
            a.update(answer.a)
        return Answer(found, a=sorted(a))

    def _lookup(self, qname: str) -> Answer:
        q = qname.strip(".").lower()
        if not self.in_domain(q):
            return Answer(False)
        rel = q[: -len(self.domain)].strip(".")
        labels = rel.split(".") if rel else []
        if len(labels) >= 2 and labels[-1] == "pod":
            return self._pod(labels[:-1])
        if not labels or labels[-1] != "svc":
            return Answer(False)
        labels = labels[:-1]
        if len(labels) == 1:  # <ns>.svc: exists as a name, no records
            return Answer(any(k[0] == labels[0] for k in self.services))
        if len(labels) == 2:
            return self._service(labels[1], labels[0])
        if len(labels) == 3:
            if labels[0].startswith("_") and labels[1].startswith("_"):
                return Answer(False)
            return self._endpoint_host(labels[2], labels[1], labels[0])
        if len(labels) == 4 and labels[0].startswith("_") and labels[1].startswith("_"):
            return self._srv(labels[3], labels[2], labels[0][1:], labels[1][1:])
        return Answer(False)

    def _service(self, ns: str, name: str) -> Answer:
        svc = self.services.get((ns, name))
        if svc is None:
            return Answer(False)
        if v.service_spec(svc).get("type") == "ExternalName":
            return Answer(True)
        ip = v.cluster_ip(svc)
        if ip and ip != "None":
            return Answer(True, a=[ip])
        return Answer(True, a=sorted({a["ip"] for a in self._ready(ns, name) if a.get("ip")}))

    def _endpoint_host(self, ns: str, svc: str, host: str) -> Answer:
        if (ns, svc) not in self.services:
            return Answer(False)
        ips = [a["ip"] for a in self._ready(ns, svc)
               if a.get("hostname") == host or (a.get("ip") or "").replace(".", "-") == host]
        return Answer(bool(ips), a=ips)

    def _srv(self, ns: str, name: str, port_name: str, proto: str) -> Answer:
        svc = self.services.get((ns, name))
        if svc is None:
            return Answer(False)
        headless = v.cluster_ip(svc) == "None"
        target = f"{name}.{ns}.svc.{self.domain}."
        out: list[Srv] = []
        for p in v.service_ports(svc):
            if p.get("name") == port_name and v.port_protocol(p).lower() == proto:
                if headless:
                    for a in self._ready(ns, name):
                        host = a.get("hostname") or (a.get("ip") or "").replace(".", "-")
                        out.append(Srv(int(p.get("port") or 0), f"{host}.{target}"))
                else:
                    out.append(Srv(int(p.get("port") or 0), target))
        return Answer(bool(out), srv=out)

    def _pod(self, labels: list[str]) -> Answer:
        if len(labels) != 2:
            return Answer(False)
        parts = labels[0].split("-")
        if len(parts) != 4 or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts):
            return Answer(False)
        return Answer(True, a=[".".join(parts)])
