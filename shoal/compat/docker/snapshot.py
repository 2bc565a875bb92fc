"""One read of the cluster, and the Swarm views computed from it.

Each Swarm API request reads what it needs once (``Snapshot.read``: the lists
through ``shoal.client``) and then answers from that snapshot with the pure
translations of ``shoal.formats.swarm``: which workloads are services (those
labelled ``com.docker.swarm.service.name``, and every Deployment and
DaemonSet of the ``default`` namespace, so ``kubectl create deployment`` shows
in ``docker service ls``), which pods are a service's tasks, which Secrets and
ConfigMaps are secrets, configs and networks, and how Docker resolves a
reference (full id, then name, then id prefix).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shoal.api import selectors, views
from shoal.client import ApiClient
from shoal.formats.swarm import data, names, nodes, service, tasks
from shoal.formats.swarm.container import SecretRef
from shoal.formats.swarm.wire import SpecError

Obj = dict[str, Any]
WORKLOADS = (("deployments", "Deployment"), ("daemonsets", "DaemonSet"), ("jobs", "Job"))
REVISION = "deployment.kubernetes.io/revision"
ROLLED_BACK = "swarm.shoal.io/rolled-back"


@dataclass
class Snapshot:
    workloads: list[Obj] = field(default_factory=list)
    services: list[Obj] = field(default_factory=list)
    pods: list[Obj] = field(default_factory=list)
    nodes: list[Obj] = field(default_factory=list)
    secrets: list[Obj] = field(default_factory=list)
    configmaps: list[Obj] = field(default_factory=list)
    replicasets: list[Obj] = field(default_factory=list)
    networkpolicies: list[Obj] = field(default_factory=list)
    local_node: str = ""

    @classmethod
    async def read(cls, client: ApiClient, parts: Iterable[str], *, local_node: str = "") -> Snapshot:
        snap = cls(local_node=local_node)
        for part in parts:
            if part == "workloads":
                for res, kind in WORKLOADS:
                    items, _ = await client.list_all(res)
                    snap.workloads += [{**w, "kind": kind} for w in items if is_service(w, kind)]
            else:
                items, _ = await client.list_all(part)
                setattr(snap, part, items)
        return snap

    # --- nodes ---------------------------------------------------------------------------------
    def node_ids(self) -> dict[str, str]:
        return {names.swarm_id(views.uid(n)): views.name(n) for n in self.nodes}

    def node_id(self, node_name: str) -> str:
        return next((names.swarm_id(views.uid(n)) for n in self.nodes if views.name(n) == node_name), "")

    def node_view(self, n: Obj) -> Obj:
        return nodes.node(n, leader=self.local_node)

    def find_node(self, ref: str) -> Obj:
        return _find(self.nodes, ref, lambda n: (names.swarm_id(views.uid(n)), views.name(n)), "node")

    # --- secrets, configs, networks ------------------------------------------------------------
    def swarm_secrets(self) -> list[Obj]:
        return [s for s in self.secrets if s.get("type", "Opaque") == "Opaque"]

    def swarm_configs(self) -> list[Obj]:
        return [c for c in self.configmaps if not views.labels(c).get(data.NETWORK_LABEL)
                and views.name(c) != "kube-root-ca.crt"]

    def networks(self) -> list[Obj]:
        return [c for c in self.configmaps if views.labels(c).get(data.NETWORK_LABEL)]

    def find_secret(self, ref: str) -> Obj:
        return _find(self.swarm_secrets(), ref, lambda s: (names.swarm_id(views.uid(s)), data.name_of(s)), "secret")

    def find_config(self, ref: str) -> Obj:
        return _find(self.swarm_configs(), ref, lambda s: (names.swarm_id(views.uid(s)), data.name_of(s)), "config")

    def network_names(self) -> dict[str, str]:
        """Every network's name by its id and by its name (the built-in ``ingress`` included)."""
        out = {data.INGRESS_ID: "ingress", "ingress": "ingress"}
        for n in self.networks():
            name = data.name_of(n)
            out[names.swarm_id(views.uid(n))] = out[name] = name
        return out

    def find_network(self, ref: str) -> Obj | None:
        """A network ConfigMap, or None for the built-in ``ingress``."""
        if ref in ("ingress", data.INGRESS_ID):
            return None
        return _find(self.networks(), ref, lambda s: (names.swarm_id(views.uid(s)), data.name_of(s)), "network")

    def refs(self, namespace: str, kind: str) -> dict[str, SecretRef]:
        """A namespace's secrets (kind "secret") or configs by Swarm name and id."""
        objs = self.swarm_secrets() if kind == "secret" else self.swarm_configs()
        out: dict[str, SecretRef] = {}
        for o in objs:
            if views.namespace(o) != namespace:
                continue
            ref = SecretRef(names.swarm_id(views.uid(o)), data.name_of(o), views.name(o), data.key_of(o))
            out[ref.name] = out[ref.id] = ref
        return out

    # --- services ------------------------------------------------------------------------------
    def service_name(self, w: Obj) -> str:
        return views.labels(w).get(names.SERVICE_LABEL) or names.swarm_name(
            views.namespace(w), views.name(w), views.labels(w), views.annotations(w))

    def find_service(self, ref: str) -> Obj:
        return _find(self.workloads, ref, lambda w: (names.swarm_id(views.uid(w)), self.service_name(w)), "service")

    def k8s_services(self, w: Obj) -> list[Obj]:
        """The Services of a workload: its name's, then its published one."""
        ns, name = views.namespace(w), views.name(w)
        by_name = {views.name(s): s for s in self.services if views.namespace(s) == ns}
        return [s for s in (by_name.get(name), by_name.get((name + service.PUBLISHED_SUFFIX)[:63])) if s]

    def pods_of(self, w: Obj) -> list[Obj]:
        try:
            sel = selectors.from_label_selector(views.spec(w).get("selector"))
        except ValueError:
            return []
        if w.get("kind") == "Job":
            uid = views.uid(w)
            return [p for p in self.pods if views.controller_uid(p) == uid]
        return [p for p in self.pods if views.namespace(p) == views.namespace(w) and sel.matches(views.labels(p))]

    def current_hash(self, w: Obj) -> str | None:
        """The pod-template-hash of a Deployment's newest ReplicaSet (None: not a Deployment, or none yet)."""
        if w.get("kind") != "Deployment":
            return None
        uid = views.uid(w)
        owned = [rs for rs in self.replicasets if views.controller_uid(rs) == uid]
        if not owned:
            return None
        newest = max(owned, key=lambda rs: int(views.annotations(rs).get(REVISION, "0") or 0))
        return views.labels(newest).get("pod-template-hash")

    def is_current(self, w: Obj, pod: Obj, current_hash: str | None) -> bool:
        if w.get("kind") == "DaemonSet":
            gen = views.labels(pod).get("pod-template-generation")
            return gen is None or gen == str(views.meta(w).get("generation") or "")
        if current_hash is None:
            return True
        return views.labels(pod).get("pod-template-hash") == current_hash

    def spec_of(self, w: Obj) -> Obj:
        ns = views.namespace(w)
        return service.to_spec(w, self.k8s_services(w), secrets=self.refs(ns, "secret"),
                               configs=self.refs(ns, "config"))

    def service_view(self, w: Obj, *, status: bool = False) -> Obj:
        """A workload as Docker's ``Service`` object."""
        md = views.meta(w)
        spec = self.spec_of(w)
        svcs = self.k8s_services(w)
        view: Obj = {"ID": names.swarm_id(views.uid(w)), "Version": {"Index": int(md.get("generation") or 1)},
                     "CreatedAt": md.get("creationTimestamp") or "", "UpdatedAt": md.get("creationTimestamp") or "",
                     "Spec": spec}
        prev = service.previous_spec(w)
        if prev:
            view["PreviousSpec"] = prev
        endpoint: Obj = {"Spec": spec.get("EndpointSpec") or {}}
        ports = [dict(p) for p in (spec.get("EndpointSpec") or {}).get("Ports") or [] if p.get("PublishedPort")]
        if ports:
            endpoint["Ports"] = ports
        ip = views.cluster_ip(svcs[0]) if svcs else ""
        if ip and ip != "None":
            endpoint["VirtualIPs"] = [{"NetworkID": data.INGRESS_ID, "Addr": f"{ip}/32"}]
        view["Endpoint"] = endpoint
        us = tasks.update_status(w, updated=prev is not None, rolled_back=ROLLED_BACK in views.annotations(w))
        if us:
            view["UpdateStatus"] = us
        if status:
            view["ServiceStatus"] = tasks.service_status(w, self.pods_of(w))
        return view

    def task_views(self, w: Obj) -> list[Obj]:
        sid = names.swarm_id(views.uid(w))
        pods = self.pods_of(w)
        current = self.current_hash(w)
        job = w.get("kind") == "Job"
        slot = tasks.slots(pods) if w.get("kind") != "DaemonSet" else {}
        stack = views.labels(w).get(names.STACK_LABEL)
        out = []
        for p in pods:
            spec = service.to_spec({"kind": w.get("kind"), "spec": {"template": {"spec": views.spec(p)}}})
            t = tasks.task(p, service_id=sid, slot=slot.get(views.uid(p), 0), node_id=self.node_id(views.node_name(p)),
                           current=self.is_current(w, p, current), job=job, spec=spec["TaskTemplate"])
            if stack:
                t["Labels"] = {names.STACK_LABEL: stack}
            out.append(t)
        return out

    def all_tasks(self) -> list[tuple[Obj, Obj]]:
        """(workload, task) for every task of every service."""
        return [(w, t) for w in self.workloads for t in self.task_views(w)]


def is_service(w: Mapping[str, Any], kind: str) -> bool:
    if names.SERVICE_LABEL in views.labels(w):
        return True
    return kind != "Job" and views.namespace(w) == names.DEFAULT_NAMESPACE and not views.controller_ref(w)


def _find(objs: list[Obj], ref: str, key: Any, what: str) -> Obj:
    best, rank = None, 0
    for o in objs:
        id_, name = key(o)
        r = names.matches(ref, id_=id_, name=name)
        if r > rank:
            best, rank = o, r
    if best is None:
        raise SpecError(f"{what} {ref} not found", 404)
    return best
