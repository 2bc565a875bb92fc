"""What the Swarm API does to the cluster: reads, creates, updates and deletes through ``shoal.client``.

``SwarmBackend`` is shared by the HTTP surface (``app``) and ``shoal stack``:
one method per Swarm operation, each reading a ``Snapshot`` and writing the
objects ``shoal.formats.swarm`` computes. Errors leave as ``SpecError`` with
Docker's status and message (404 ``service x not found``, 409 for a name
taken, ``update out of sequence`` for a stale version); an API error the
cluster returns for a write is passed on with its status, never as a 500.

A service update is optimistic twice over: the ``version`` Docker sends must
be the workload's ``metadata.generation`` (its spec's version: status writes
do not move it, so a rollout in progress does not make every update stale),
and the write itself carries the resourceVersion it read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from shoal.api import views
from shoal.client import ApiClient, ApiException
from shoal.compat.docker import filters as flt
from shoal.compat.docker.snapshot import ROLLED_BACK, Obj, Snapshot
from shoal.formats.swarm import data, names, networks, nodes, placement, service
from shoal.formats.swarm.wire import SpecError, canonical

log = logging.getLogger("shoal.compat.docker")

SERVICE_FILTERS = frozenset({"id", "label", "mode", "name"})
TASK_FILTERS = frozenset({"desired-state", "id", "label", "name", "node", "service", "_up-to-date"})
NODE_FILTERS = frozenset({"id", "label", "membership", "name", "node.label", "role"})
DATA_FILTERS = frozenset({"id", "label", "name", "names"})
NETWORK_FILTERS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})
_RESOURCE = {"Deployment": "deployments", "DaemonSet": "daemonsets", "Job": "jobs"}


def _api_error(e: ApiException) -> SpecError:
    status = e.status if 400 <= e.status < 500 else 503
    return SpecError(e.message or str(e), status)


class SwarmBackend:
    def __init__(self, client: ApiClient, *, local_node: str = "") -> None:
        self.client = client
        self.local_node = local_node

    async def ensure_manager(self, *, attempts: int = 600) -> None:
        """Label the node this API runs beside a manager (``node.role==manager``), once it has registered."""
        for _ in range(attempts):
            try:
                n = await self.client.get("nodes", self.local_node)
            except ApiException:
                await asyncio.sleep(0.5)
                continue
            if nodes.role(n) != "manager":
                await self._write(self.client.patch("nodes", self.local_node, {
                    "metadata": {"labels": {placement.MANAGER_LABEL: "true"}}}))
            return

    async def snap(self, *parts: str) -> Snapshot:
        try:
            return await Snapshot.read(self.client, parts, local_node=self.local_node)
        except ApiException as e:
            raise _api_error(e) from e

    async def _write(self, coro: Any) -> Any:
        try:
            return await coro
        except ApiException as e:
            raise _api_error(e) from e

    # --- services ------------------------------------------------------------------------------
    async def list_services(self, raw_filters: str | None, *, status: bool) -> list[Obj]:
        f = flt.parse(raw_filters, SERVICE_FILTERS)
        snap = await self.snap("workloads", "services", "pods", "secrets", "configmaps", "replicasets")
        out = []
        for w in snap.workloads:
            name = snap.service_name(w)
            mode = {"Deployment": "replicated", "DaemonSet": "global", "Job": "replicated-job"}[str(w["kind"])]
            view = snap.service_view(w, status=status)
            if flt.match(f, {"id": flt.prefix(view["ID"]), "name": flt.prefix(name), "mode": flt.equals(mode)},
                         view["Spec"].get("Labels") or {}):
                out.append(view)
        return out

    async def inspect_service(self, ref: str) -> Obj:
        snap = await self.snap("workloads", "services", "pods", "secrets", "configmaps", "replicasets")
        return snap.service_view(snap.find_service(ref), status=True)

    async def _objects(self, snap: Snapshot, spec: Obj) -> service.Objects:
        nets = snap.network_names()
        probe = service.to_objects(_without_refs(spec), node_ids=snap.node_ids(),  # where it lives, to resolve refs
                                   network_names=nets)
        return service.to_objects(spec, secrets=snap.refs(probe.namespace, "secret"),
                                  configs=snap.refs(probe.namespace, "config"), node_ids=snap.node_ids(),
                                  network_names=nets)

    async def create_service(self, body: Any) -> Obj:
        spec = canonical(body)
        if not isinstance(spec, dict):
            raise SpecError("invalid service spec: expected an object")
        snap = await self.snap("workloads", "secrets", "configmaps", "nodes", "services", "networkpolicies")
        objs = await self._objects(snap, spec)
        _check_ports(snap, objs)
        name = spec["Name"]
        if any(snap.service_name(w) == name for w in snap.workloads):
            raise SpecError(f"rpc error: code = AlreadyExists desc = name conflicts with an existing object: "
                            f"service {name} already exists", 409)
        await self._ensure_namespace(objs.namespace, spec.get("Labels") or {})
        await self._ensure_claims(objs)
        for svc in objs.services:
            await self._apply_service(svc)
        created = await self._write(self.client.create(_RESOURCE[objs.kind], objs.workload))
        await self._sync_policies(snap, objs.namespace, workload=created, services=objs.services)
        return {"ID": names.swarm_id(views.uid(created)), "Warnings": None}

    async def update_service(self, ref: str, version: str | None, body: Any, *, rollback: bool) -> Obj:
        """Swarm's version is the workload's generation, which its controller's status writes leave
        alone; so a 409 from the API (a status write between our read and our write) is read again
        and retried, and only a changed generation is "update out of sequence"."""
        for attempt in range(5):
            try:
                return await self._update_service(ref, version, body, rollback=rollback)
            except ApiException as e:
                if e.status != 409 or attempt == 4:
                    raise _api_error(e) from e
        raise AssertionError("unreachable")

    async def _update_service(self, ref: str, version: str | None, body: Any, *, rollback: bool) -> Obj:
        snap = await self.snap("workloads", "services", "secrets", "configmaps", "nodes", "networkpolicies")
        w = snap.find_service(ref)
        if version is None or not version.isdigit():
            raise SpecError("invalid service version: a number is required" if version else "version is required")
        if int(version) != int(views.meta(w).get("generation") or 1):
            raise SpecError("rpc error: code = Unknown desc = update out of sequence", 409)
        current = snap.spec_of(w)
        if rollback:
            prev = service.previous_spec(w)
            if prev is None:
                raise SpecError(f"service {snap.service_name(w)} does not have a previous spec", 400)
            spec = prev
        else:
            spec = canonical(body)
            if not isinstance(spec, dict):
                raise SpecError("invalid service spec: expected an object")
        if spec.get("Name") != snap.service_name(w):
            raise SpecError("rpc error: code = Unimplemented desc = renaming services is not supported", 400)
        objs = await self._objects(snap, spec)
        _check_ports(snap, objs)
        if objs.kind != w["kind"]:
            raise SpecError("rpc error: code = Unimplemented desc = service mode change is not allowed", 400)
        await self._ensure_claims(objs)
        new = service.updated(w, objs.workload, previous=current)
        ann = views.annotations(new)
        if rollback:
            ann[ROLLED_BACK] = "true"
        else:
            ann.pop(ROLLED_BACK, None)
        new.pop("status", None)
        written = await self.client.update(_RESOURCE[objs.kind], new)  # a 409 is retried by update_service
        await self._sync_services(snap.k8s_services(w), objs)
        await self._sync_policies(snap, objs.namespace, workload={**written, "kind": objs.kind},
                                  services=objs.services, replaces=w)
        return {"Warnings": None}

    async def delete_service(self, ref: str) -> None:
        snap = await self.snap("workloads", "services", "networkpolicies")
        w = snap.find_service(ref)
        await self._write(self.client.delete(_RESOURCE[str(w["kind"])], views.name(w), views.namespace(w),
                                             propagation_policy="Background"))
        for s in snap.k8s_services(w):
            await self._delete_quietly("services", s)
        await self._sync_policies(snap, views.namespace(w), workload=None, services=[], replaces=w)

    async def _sync_policies(self, snap: Snapshot, ns: str, *, workload: Obj | None, services: list[Obj],
                             replaces: Obj | None = None) -> None:
        """Make the namespace's Swarm NetworkPolicies (``networks``) what its services now need: the
        snapshot's workloads and Services with this write's applied (``replaces``: the workload it
        changed or removed), so the policies never wait for a cache to see our own write."""
        gone = {(str(o["kind"]), views.name(o)) for o in (replaces, workload) if o is not None}
        old_svcs = {views.name(s) for s in snap.k8s_services(replaces)} if replaces is not None else set()
        workloads = [w for w in snap.workloads if views.namespace(w) == ns
                     and (str(w["kind"]), views.name(w)) not in gone] + ([workload] if workload else [])
        new_svcs = {views.name(s) for s in services}
        svcs = [s for s in snap.services if views.namespace(s) == ns
                and views.name(s) not in old_svcs | new_svcs] + services
        create, update, delete = networks.plan(networks.policies(ns, workloads, svcs),
                                               [p for p in snap.networkpolicies if views.namespace(p) == ns])
        for p in create:
            try:
                await self.client.create("networkpolicies", p)
            except ApiException as e:
                if e.status != 409:
                    raise _api_error(e) from e
                old = await self._write(self.client.get("networkpolicies", views.name(p), ns))
                if networks.owned(old):
                    await self._write(self.client.update("networkpolicies", {**old, "spec": p["spec"]}))
        for changed in update:
            await self._write(self.client.update("networkpolicies", changed))
        for unused in delete:
            await self._delete_quietly("networkpolicies", dict(unused))

    async def _sync_services(self, existing: list[Obj], objs: service.Objects) -> None:
        by_name = {views.name(s): s for s in existing}
        wanted = {views.name(s) for s in objs.services}
        for svc in objs.services:
            old = by_name.get(views.name(svc))
            if old is None:
                await self._apply_service(svc)
            elif (old.get("spec") or {}).get("type", "ClusterIP") != (svc["spec"].get("type") or "ClusterIP") or (
                    (views.spec(old).get("clusterIP") == "None") != (svc["spec"].get("clusterIP") == "None")):
                await self._delete_quietly("services", old)  # type and headlessness cannot change in place
                await self._wait_gone("services", old)
                await self._apply_service(svc)
            else:
                new = service.updated(old, svc, previous=None)
                new.pop("status", None)
                await self._write(self.client.update("services", new))
        for name, old in by_name.items():
            if name not in wanted:
                await self._delete_quietly("services", old)

    async def _apply_service(self, svc: Obj) -> None:
        try:
            await self.client.create("services", svc)
        except ApiException as e:
            if e.status != 409:
                raise _api_error(e) from e
            md = svc["metadata"]
            old = await self._write(self.client.get("services", md["name"], md["namespace"]))
            new = service.updated(old, svc, previous=None)
            new.pop("status", None)
            await self._write(self.client.update("services", new))

    async def _wait_gone(self, res: str, obj: Obj) -> None:
        for _ in range(100):
            try:
                await self.client.get(res, views.name(obj), views.namespace(obj))
            except ApiException as e:
                if e.not_found:
                    return
                raise _api_error(e) from e
            await asyncio.sleep(0.05)

    async def _delete_quietly(self, res: str, obj: Obj) -> None:
        try:
            await self.client.delete(res, views.name(obj), views.namespace(obj) or None)
        except ApiException as e:
            if not e.not_found:
                raise _api_error(e) from e

    async def _ensure_namespace(self, ns: str, labels: dict[str, str]) -> None:
        if ns == names.DEFAULT_NAMESPACE:
            return
        stack = {names.STACK_LABEL: labels[names.STACK_LABEL]} if names.STACK_LABEL in labels else {}
        try:
            await self.client.create("namespaces", {"metadata": {"name": ns, "labels": stack}})
        except ApiException as e:
            if e.status != 409:
                raise _api_error(e) from e

    async def _ensure_claims(self, objs: service.Objects) -> None:
        for claim in objs.claims:
            body = {"metadata": {"name": claim, "namespace": objs.namespace,
                                 "labels": {k: v for k, v in views.labels(objs.workload).items()
                                            if k == names.STACK_LABEL}},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
            try:
                await self.client.create("persistentvolumeclaims", body)
            except ApiException as e:
                if e.status != 409:
                    raise _api_error(e) from e

    # --- tasks ---------------------------------------------------------------------------------
    async def list_tasks(self, raw_filters: str | None) -> list[Obj]:
        f = flt.parse(raw_filters, TASK_FILTERS)
        snap = await self.snap("workloads", "pods", "nodes", "replicasets")
        out = []
        for w, t in snap.all_tasks():
            sname = snap.service_name(w)
            node = next((n for n in snap.nodes if names.swarm_id(views.uid(n)) == t["NodeID"]), None)
            name = f"{sname}.{t.get('Slot') or t['NodeID']}"
            checks: dict[str, Callable[[str], bool]] = {"id": flt.prefix(t["ID"]), "service": flt.one_of(t["ServiceID"], sname),
                      "node": flt.one_of(t["NodeID"], views.name(node) if node else t["NodeID"]),
                      "desired-state": flt.equals(t["DesiredState"]), "name": flt.prefix(name),
                      "_up-to-date": flt.up_to_date(t["DesiredState"] != "shutdown")}
            if flt.match(f, checks, t.get("Labels") or {}):
                out.append(t)
        return out

    async def inspect_task(self, ref: str) -> Obj:
        snap = await self.snap("workloads", "pods", "nodes", "replicasets")
        found = [t for _, t in snap.all_tasks() if names.matches(ref, id_=t["ID"], name="") > 0]
        if not found:
            raise SpecError(f"No such task: {ref}", 404)
        return next((t for t in found if t["ID"] == ref), found[0])

    # --- nodes ---------------------------------------------------------------------------------
    async def list_nodes(self, raw_filters: str | None) -> list[Obj]:
        f = flt.parse(raw_filters, NODE_FILTERS)
        snap = await self.snap("nodes")
        out = []
        for n in snap.nodes:
            v = snap.node_view(n)
            checks = {"id": flt.prefix(v["ID"]), "name": flt.prefix(views.name(n)),
                      "role": flt.equals(v["Spec"]["Role"]), "membership": flt.equals("accepted")}
            if flt.match(f, checks, v["Spec"]["Labels"]):
                out.append(v)
        return out

    async def inspect_node(self, ref: str) -> Obj:
        snap = await self.snap("nodes")
        return snap.node_view(snap.find_node(ref))

    async def update_node(self, ref: str, version: str | None, body: Any) -> None:
        """Labels, role and availability. The version is not checked: node heartbeats move it constantly."""
        spec = canonical(body)
        if not isinstance(spec, dict):
            raise SpecError("invalid node spec: expected an object")
        if version is not None and not version.isdigit():
            raise SpecError("invalid node version")
        snap = await self.snap("nodes")
        n = snap.find_node(ref)
        new = nodes.update(n, spec)
        new.pop("status", None)
        await self._write(self.client.patch("nodes", views.name(n), {
            "metadata": {"labels": {**{k: None for k in views.labels(n)}, **views.labels(new)}},
            "spec": {"unschedulable": views.spec(new).get("unschedulable"),
                     "taints": views.spec(new).get("taints")}}))

    async def delete_node(self, ref: str, *, force: bool) -> None:
        snap = await self.snap("nodes")
        n = snap.find_node(ref)
        if not force and snap.node_view(n)["Status"]["State"] == "ready":
            raise SpecError(f"rpc error: code = FailedPrecondition desc = node {names.swarm_id(views.uid(n))} is "
                            "not down and can't be removed", 400)
        await self._delete_quietly("nodes", n)

    # --- secrets and configs -------------------------------------------------------------------
    async def list_data(self, kind: str, raw_filters: str | None) -> list[Obj]:
        f = flt.parse(raw_filters, DATA_FILTERS)
        snap = await self.snap("secrets" if kind == "secret" else "configmaps")
        objs = snap.swarm_secrets() if kind == "secret" else snap.swarm_configs()
        out = []
        for o in objs:
            v = data.secret(o) if kind == "secret" else data.config(o)
            name = v["Spec"]["Name"]
            checks = {"id": flt.prefix(v["ID"]), "name": flt.prefix(name), "names": flt.equals(name)}
            if flt.match(f, checks, v["Spec"]["Labels"]):
                out.append(v)
        return out

    async def inspect_data(self, kind: str, ref: str) -> Obj:
        snap = await self.snap("secrets" if kind == "secret" else "configmaps")
        o = snap.find_secret(ref) if kind == "secret" else snap.find_config(ref)
        return data.secret(o) if kind == "secret" else data.config(o)

    async def create_data(self, kind: str, body: Any) -> Obj:
        spec = canonical(body)
        if not isinstance(spec, dict):
            raise SpecError(f"invalid {kind} spec: expected an object")
        obj = data.secret_object(spec) if kind == "secret" else data.config_object(spec)
        res = "secrets" if kind == "secret" else "configmaps"
        await self._ensure_namespace(views.namespace(obj), spec.get("Labels") or {})
        try:
            created = await self.client.create(res, obj)
        except ApiException as e:
            if e.status == 409:
                raise SpecError(f"rpc error: code = AlreadyExists desc = {kind} {spec.get('Name')} already exists",
                                409) from e
            raise _api_error(e) from e
        return {"ID": names.swarm_id(views.uid(created))}

    async def update_data(self, kind: str, ref: str, version: str | None, body: Any) -> None:
        spec = canonical(body)
        if not isinstance(spec, dict):
            raise SpecError(f"invalid {kind} spec: expected an object")
        snap = await self.snap("secrets" if kind == "secret" else "configmaps")
        o = snap.find_secret(ref) if kind == "secret" else snap.find_config(ref)
        if version is None or str(views.resource_version(o)) != version:
            raise SpecError("rpc error: code = Unknown desc = update out of sequence", 409)
        if spec.get("Name") != data.name_of(o):
            raise SpecError("rpc error: code = InvalidArgument desc = only updates to Labels are allowed", 400)
        if spec.get("Data"):
            new = data.secret_object(spec) if kind == "secret" else data.config_object(spec)
            if data.data_changed(o, new):
                raise SpecError("rpc error: code = InvalidArgument desc = only updates to Labels are allowed", 400)
        else:
            new = {"metadata": data.meta_of(spec, kind)}
        res = "secrets" if kind == "secret" else "configmaps"
        await self._write(self.client.update(res, data.with_labels(o, new)))

    async def delete_data(self, kind: str, ref: str, *, check_use: bool = True) -> None:
        snap = await self.snap("secrets" if kind == "secret" else "configmaps", "workloads")
        o = snap.find_secret(ref) if kind == "secret" else snap.find_config(ref)
        k8s = views.name(o)
        for w in snap.workloads if check_use else []:
            if views.namespace(w) != views.namespace(o):
                continue
            vols = views.spec(views.spec(w).get("template") or {}).get("volumes") or []
            used = any((v.get("secret") or {}).get("secretName") == k8s if kind == "secret"
                       else (v.get("configMap") or {}).get("name") == k8s for v in vols)
            if used:
                raise SpecError(f"rpc error: code = InvalidArgument desc = {kind} '{data.name_of(o)}' is in use by "
                                f"the following service: {snap.service_name(w)}", 400)
        await self._delete_quietly("secrets" if kind == "secret" else "configmaps", o)

    # --- networks ------------------------------------------------------------------------------
    async def list_networks(self, raw_filters: str | None) -> list[Obj]:
        f = flt.parse(raw_filters, NETWORK_FILTERS)
        snap = await self.snap("configmaps")
        out = []
        for o in [None, *snap.networks()]:
            v = data.network(o)
            checks: dict[str, Callable[[str], bool]] = {"id": flt.prefix(v["Id"]), "name": flt.within(v["Name"]),
                      "driver": flt.equals("overlay"), "scope": flt.equals("swarm"),
                      "type": flt.equals("custom" if o is not None else "builtin"), "dangling": flt.equals("false")}
            if flt.match(f, checks, v["Labels"]):
                out.append(v)
        return out

    async def inspect_network(self, ref: str) -> Obj:
        snap = await self.snap("configmaps")
        return data.network(snap.find_network(ref))

    async def create_network(self, body: Any) -> Obj:
        spec = canonical(body)
        if not isinstance(spec, dict):
            raise SpecError("invalid network: expected an object")
        obj = data.network_object(spec)
        snap = await self.snap("configmaps")
        if spec.get("Name") == "ingress" or any(data.name_of(n) == spec.get("Name") for n in snap.networks()):
            raise SpecError(f"network with name {spec.get('Name')} already exists", 409)
        await self._ensure_namespace(views.namespace(obj), spec.get("Labels") or {})
        created = await self._write(self.client.create("configmaps", obj))
        return {"Id": names.swarm_id(views.uid(created)), "Warning": ""}

    async def delete_network(self, ref: str) -> None:
        snap = await self.snap("configmaps")
        o = snap.find_network(ref)
        if o is None:
            raise SpecError("ingress network cannot be removed by shoal", 403)
        await self._delete_quietly("configmaps", o)


def _check_ports(snap: Snapshot, objs: service.Objects) -> None:
    """Refuse a published port another service holds, as Swarm does (shoal's ServiceLB would leave it pending)."""
    mine = {(p["port"], p.get("protocol", "TCP")) for s in objs.services if views.spec(s).get("type") == "LoadBalancer"
            for p in views.spec(s).get("ports") or []}
    for other in snap.services:
        if views.spec(other).get("type") != "LoadBalancer" or (
                views.namespace(other), views.name(other)) in {(objs.namespace, views.name(s)) for s in objs.services}:
            continue
        for p in views.spec(other).get("ports") or []:
            if (p.get("port"), p.get("protocol", "TCP")) in mine:
                owner = views.annotations(other).get(names.NAME_ANNOTATION) or f"{views.namespace(other)}/" \
                    f"{views.name(other)}"
                raise SpecError(f"rpc error: code = InvalidArgument desc = port '{p.get('port')}' is already in use "
                                f"by service '{owner}' as an ingress port", 400)


def _without_refs(spec: Obj) -> Obj:
    """``spec`` without its secret and config references (to learn where it lives before resolving them)."""
    tt = dict(spec.get("TaskTemplate") or {})
    cs = {k: v for k, v in (tt.get("ContainerSpec") or {}).items() if k not in ("Secrets", "Configs")}
    return {**spec, "TaskTemplate": {**tt, "ContainerSpec": cs}}
