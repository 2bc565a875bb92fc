"""What each ECS operation does to the cluster, through ``shoal.client``.

``EcsBackend`` has one method per operation, taking the request's JSON and
the caller, answering the response's JSON. Each checks its input fully (the
pure checks of ``shoal.formats.ecs``) and asks authorization
(``authz.check``) before its first write, so a refused request creates
nothing. API errors become ECS errors: a 403 ``AccessDeniedException``, a
404 of the namespace ``ClusterNotFoundException``, other 4xx a
``ClientException`` with the API's message, the rest ``ServerException``.

Task definition revisions are ConfigMaps in ``shoal-ecs`` (docs/decisions.md):
the next revision is the highest one plus one, and the ConfigMap's name holds
the revision, so two concurrent registrations of a family cannot both get the
same number (the second create is a 409 and is retried with the next one).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import shoal
from shoal.client import ApiClient, ApiException
from shoal.compat.ecs.authz import Caller, Need, check
from shoal.formats.ecs import errors, names, placement, query, service, taskdef, tasks
from shoal.formats.ecs.errors import EcsError, client, invalid

log = logging.getLogger("shoal.compat.ecs")

Obj = dict[str, Any]
TD_KEY = "taskDefinition.json"
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", names.TASKDEF_NAMESPACE})
ECS_SELECTOR = f"{names.MANAGED_BY}={names.MANAGER}"


def _api_error(e: ApiException) -> EcsError:
    if e.status == 403:
        return EcsError(errors.ACCESS_DENIED, e.message)
    if 400 <= e.status < 500:
        return client(e.message or str(e))
    return EcsError(errors.SERVER, f"shoal: the cluster did not answer: {e.message or e}")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _page(items: list[str], req: Obj, *, default: int = 100) -> Obj:
    """ECS's pagination (``maxResults`` 1..100, an opaque ``nextToken``) over a sorted list."""
    size = req.get("maxResults") or default
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100:
        raise invalid("maxResults must be between 1 and 100.")
    start = 0
    if req.get("nextToken"):
        try:
            start = int(base64.urlsafe_b64decode(str(req["nextToken"]).encode()).decode())
        except ValueError:
            raise invalid("Invalid nextToken.") from None
    chunk = items[start:start + size]
    out: Obj = {"items": chunk}
    if start + size < len(items):
        out["nextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


def _refs(req: Obj, key: str, *, required: bool = True) -> list[str]:
    v = req.get(key)
    if v is None and not required:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or (required and not v):
        raise invalid(f"{key} must be a non-empty list of strings.")
    if len(v) > 100:
        raise invalid(f"{key} can have at most 100 entries.")
    return v


class EcsBackend:
    def __init__(self, client: ApiClient, *, region: str = names.DEFAULT_REGION) -> None:
        self.client = client
        self.region = region

    def arns(self, region: str | None = None) -> names.Arns:
        return names.Arns(region or self.region)

    async def _call(self, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except ApiException as e:
            raise _api_error(e) from e

    async def _items(self, res: str, namespace: str | None = None, *, selector: str | None = None) -> list[Obj]:
        items: list[Obj] = (await self._call(self.client.list(res, namespace, label_selector=selector))).get("items") \
            or []
        return items

    # --- task definitions -----------------------------------------------------------------------
    async def _family_objects(self, family: str) -> list[Obj]:
        objs = await self._items("configmaps", names.TASKDEF_NAMESPACE,
                                 selector=f"{names.FAMILY_LABEL}={names.label_value(family)}")
        return [o for o in objs if (o["metadata"].get("annotations") or {}).get(names.NAME_ANNOTATION) == family]

    @staticmethod
    def _revision(o: Obj) -> int:
        return int(o["metadata"]["labels"][names.REVISION_LABEL])

    def _td_view(self, o: Obj, region: str | None = None) -> Obj:
        td = json.loads((o.get("data") or {})[TD_KEY])
        md = o["metadata"]
        rev = self._revision(o)
        status = md["labels"].get(names.STATUS_LABEL, "ACTIVE")
        dereg = (md.get("annotations") or {}).get("ecs.shoal.io/deregistered-at")
        return taskdef.describe(td, revision=rev, status=status, arn=self.arns(region).taskdef(td["family"], rev),
                                registered_at=service.epoch(md.get("creationTimestamp")),
                                deregistered_at=service.epoch(dereg) if dereg else None)

    async def _find_td(self, ref: object, *, active_only: bool = False) -> tuple[Obj, Obj]:
        """(stored task definition, its ConfigMap) for ``family[:revision]`` or an ARN."""
        family, rev = names.taskdef_ref(ref)
        objs = await self._family_objects(family)
        if rev is None:
            objs = [o for o in objs if o["metadata"]["labels"].get(names.STATUS_LABEL, "ACTIVE") == "ACTIVE"]
            o = max(objs, key=self._revision, default=None)
        else:
            o = next((x for x in objs if self._revision(x) == rev), None)
        if o is None:
            raise client("Unable to describe task definition.")
        td = json.loads(o["data"][TD_KEY])
        td["revision"] = self._revision(o)
        return td, o

    async def _ensure_namespace(self, ns: str, labels: dict[str, str], annotations: dict[str, str]) -> bool:
        try:
            await self.client.create("namespaces", {"metadata": {"name": ns, "labels": labels,
                                                                 "annotations": annotations}})
            return True
        except ApiException as e:
            if e.status != 409:
                raise _api_error(e) from e
            return False

    async def register_task_definition(self, req: Obj, caller: Caller, region: str) -> Obj:
        td = taskdef.normalise(req)
        await check(self.client, caller, [Need("create", "configmaps", names.TASKDEF_NAMESPACE)],
                    operation="RegisterTaskDefinition")
        await self._ensure_namespace(names.TASKDEF_NAMESPACE, {names.MANAGED_BY: names.MANAGER}, {})
        family = td["family"]
        for _ in range(10):
            existing = await self._family_objects(family)
            rev = max((self._revision(o) for o in existing), default=0) + 1
            obj = {"metadata": {"name": names.taskdef_object_name(family, rev), "namespace": names.TASKDEF_NAMESPACE,
                                "labels": {names.MANAGED_BY: names.MANAGER,
                                           names.FAMILY_LABEL: names.label_value(family),
                                           names.REVISION_LABEL: str(rev), names.STATUS_LABEL: "ACTIVE"},
                                "annotations": {names.NAME_ANNOTATION: family}},
                   "data": {TD_KEY: json.dumps(td, sort_keys=True)}}
            try:
                created = await self.client.create("configmaps", obj)
            except ApiException as e:
                if e.status == 409:
                    continue  # another registration took this revision
                raise _api_error(e) from e
            out: Obj = {"taskDefinition": self._td_view(created, region)}
            if req.get("tags"):
                out["tags"] = req["tags"]
            return out
        raise EcsError(errors.SERVER, f"could not allocate a revision of {family}: too many concurrent registrations")

    async def describe_task_definition(self, req: Obj, caller: Caller, region: str) -> Obj:
        await check(self.client, caller, [Need("get", "configmaps", names.TASKDEF_NAMESPACE)],
                    operation="DescribeTaskDefinition")
        _, o = await self._find_td(req.get("taskDefinition"))
        return {"taskDefinition": self._td_view(o, region), "tags": []}

    async def deregister_task_definition(self, req: Obj, caller: Caller, region: str) -> Obj:
        family, rev = names.taskdef_ref(req.get("taskDefinition"))
        if rev is None:
            raise client("Invalid revision number. Number: null")
        await check(self.client, caller, [Need("patch", "configmaps", names.TASKDEF_NAMESPACE)],
                    operation="DeregisterTaskDefinition")
        _, o = await self._find_td(f"{family}:{rev}")
        patched = await self._call(self.client.patch("configmaps", o["metadata"]["name"], {"metadata": {
            "labels": {names.STATUS_LABEL: "INACTIVE"},
            "annotations": {"ecs.shoal.io/deregistered-at": _now()}}}, names.TASKDEF_NAMESPACE))
        return {"taskDefinition": self._td_view(patched, region)}

    async def _all_tds(self, caller: Caller, operation: str) -> list[Obj]:
        await check(self.client, caller, [Need("list", "configmaps", names.TASKDEF_NAMESPACE)], operation=operation)
        return [o for o in await self._items("configmaps", names.TASKDEF_NAMESPACE, selector=names.REVISION_LABEL)
                if TD_KEY in (o.get("data") or {})]

    async def list_task_definitions(self, req: Obj, caller: Caller, region: str) -> Obj:
        objs = await self._all_tds(caller, "ListTaskDefinitions")
        status = req.get("status") or "ACTIVE"
        if status not in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"):
            raise invalid(f"Invalid status: {status}")
        prefix = req.get("familyPrefix") or ""
        rows = sorted(((o["metadata"]["annotations"][names.NAME_ANNOTATION], self._revision(o)) for o in objs
                       if o["metadata"]["labels"].get(names.STATUS_LABEL, "ACTIVE") == status
                       and o["metadata"]["annotations"].get(names.NAME_ANNOTATION, "").startswith(prefix)),
                      reverse=req.get("sort") == "DESC")
        page = _page([self.arns(region).taskdef(f, r) for f, r in rows], req)
        return {"taskDefinitionArns": page["items"], **({"nextToken": page["nextToken"]} if "nextToken" in page else {})}

    async def list_task_definition_families(self, req: Obj, caller: Caller, region: str) -> Obj:
        objs = await self._all_tds(caller, "ListTaskDefinitionFamilies")
        status = req.get("status") or "ACTIVE"
        prefix = req.get("familyPrefix") or ""
        fams: dict[str, set[str]] = {}
        for o in objs:
            fams.setdefault(o["metadata"]["annotations"].get(names.NAME_ANNOTATION, ""), set()).add(
                o["metadata"]["labels"].get(names.STATUS_LABEL, "ACTIVE"))
        chosen = sorted(f for f, st in fams.items() if f.startswith(prefix) and
                        (status == "ALL" or (status == "ACTIVE" and "ACTIVE" in st) or
                         (status == "INACTIVE" and st == {"INACTIVE"})))
        page = _page(chosen, req)
        return {"families": page["items"], **({"nextToken": page["nextToken"]} if "nextToken" in page else {})}

    # --- clusters --------------------------------------------------------------------------------
    @staticmethod
    def _cluster_name(ns: Obj) -> str:
        md = ns.get("metadata") or {}
        return str((md.get("annotations") or {}).get(names.NAME_ANNOTATION) or md.get("name"))

    async def _namespace(self, ref: object) -> tuple[str, str]:
        """(ECS cluster name, namespace) of a cluster reference; ``ClusterNotFoundException`` if none."""
        name = names.cluster_name(ref)
        ns = tasks.cluster_namespace(name)
        if ns in SYSTEM_NAMESPACES:
            raise EcsError(errors.CLUSTER_NOT_FOUND, "Cluster not found.")
        try:
            obj = await self.client.get("namespaces", ns)
        except ApiException as e:
            if e.not_found:
                raise EcsError(errors.CLUSTER_NOT_FOUND, "Cluster not found.") from e
            raise _api_error(e) from e
        return self._cluster_name(obj), ns

    async def create_cluster(self, req: Obj, caller: Caller, region: str) -> Obj:
        name = names.check_name(req.get("clusterName") or names.DEFAULT_CLUSTER, "Cluster name")
        ns = tasks.cluster_namespace(name)
        if ns in SYSTEM_NAMESPACES:
            raise invalid(f"The cluster name {name} is reserved by shoal.")
        await check(self.client, caller, [Need("create", "namespaces")], operation="CreateCluster")
        await self._ensure_namespace(ns, {names.MANAGED_BY: names.MANAGER, names.CLUSTER_LABEL: names.label_value(name)},
                                     {names.NAME_ANNOTATION: name})
        return {"cluster": await self._cluster_view(ns, region, include=[])}

    async def _cluster_view(self, ns: str, region: str, *, include: list[str]) -> Obj:
        obj = await self._call(self.client.get("namespaces", ns))
        name = self._cluster_name(obj)
        pods = await self._items("pods", ns, selector=ECS_SELECTOR)
        deps = await self._items("deployments", ns, selector=ECS_SELECTOR)
        nodes = await self._items("nodes")
        out: Obj = {"clusterArn": self.arns(region).cluster(name), "clusterName": name,
                    "status": "INACTIVE" if obj["metadata"].get("deletionTimestamp") else "ACTIVE",
                    "registeredContainerInstancesCount": len(nodes),
                    "runningTasksCount": sum(1 for p in pods if tasks.last_status(p) == "RUNNING"),
                    "pendingTasksCount": sum(1 for p in pods if tasks.last_status(p) in ("PENDING", "PROVISIONING")),
                    "activeServicesCount": len(deps), "statistics": [], "tags": [],
                    "settings": [{"name": "containerInsights", "value": "disabled"}], "capacityProviders": [],
                    "defaultCapacityProviderStrategy": []}
        if "ATTACHMENTS" in include:
            out["attachments"] = []
        return out

    async def list_clusters(self, req: Obj, caller: Caller, region: str) -> Obj:
        await check(self.client, caller, [Need("list", "namespaces")], operation="ListClusters")
        nss = await self._items("namespaces")
        arns = sorted(self.arns(region).cluster(self._cluster_name(n)) for n in nss
                      if n["metadata"]["name"] not in SYSTEM_NAMESPACES)
        page = _page(arns, req)
        return {"clusterArns": page["items"], **({"nextToken": page["nextToken"]} if "nextToken" in page else {})}

    async def describe_clusters(self, req: Obj, caller: Caller, region: str) -> Obj:
        refs = _refs(req, "clusters", required=False) or [names.DEFAULT_CLUSTER]
        await check(self.client, caller, [Need("get", "namespaces")], operation="DescribeClusters")
        include = req.get("include") or []
        out, failures = [], []
        for ref in refs:
            try:
                _, ns = await self._namespace(ref)
            except EcsError as e:
                if e.type != errors.CLUSTER_NOT_FOUND:
                    raise
                failures.append({"arn": ref if ref.startswith("arn:") else self.arns(region).cluster(ref),
                                 "reason": "MISSING"})
                continue
            out.append(await self._cluster_view(ns, region, include=include))
        return {"clusters": out, "failures": failures}

    # --- services -------------------------------------------------------------------------------
    async def _known(self) -> dict[str, set[str]]:
        nodes = await self._items("nodes")
        return placement.known_values([(n["metadata"]["name"], n["metadata"].get("labels") or {}) for n in nodes])

    async def _ensure_claims(self, td: Obj, ns: str) -> None:
        for claim in taskdef.shared_claims(td):
            body = {"metadata": {"name": claim, "namespace": ns, "labels": {names.MANAGED_BY: names.MANAGER}},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
            try:
                await self.client.create("persistentvolumeclaims", body)
            except ApiException as e:
                if e.status != 409:
                    raise _api_error(e) from e

    async def _service_snapshot(self, ns: str) -> tuple[list[Obj], list[Obj], list[Obj], list[Obj]]:
        deps = await self._items("deployments", ns, selector=ECS_SELECTOR)
        rss = await self._items("replicasets", ns, selector=names.SERVICE_LABEL)
        pods = await self._items("pods", ns, selector=names.SERVICE_LABEL)
        evs = await self._items("events", ns)
        return deps, rss, pods, evs

    @staticmethod
    def _find_service(deps: list[Obj], ref: str) -> Obj | None:
        name = names.service_name(ref)
        return next((d for d in deps if service.service_name(d) == name), None) or next(
            (d for d in deps if d["metadata"]["name"] == names.fold(name)), None)

    async def _describe_one(self, d: Obj, cluster: str, ns: str, region: str) -> Obj:
        _, rss, pods, evs = await self._service_snapshot(ns)
        return service.describe(d, rss, pods, evs, arns=self.arns(region), cluster=cluster)

    async def create_service(self, req: Obj, caller: Caller, region: str) -> Obj:
        cfg = service.check_create(req)
        cluster, ns = await self._namespace(req.get("cluster"))
        needs = [Need("get", "configmaps", names.TASKDEF_NAMESPACE), Need("create", "deployments", ns, "apps")]
        if cfg["loadBalancers"]:
            needs.append(Need("create", "services", ns))
        await check(self.client, caller, needs, operation="CreateService")
        try:
            td, _ = await self._find_td(req.get("taskDefinition"))
        except EcsError as e:
            raise client("TaskDefinition not found.") from e
        objs = service.to_objects(cfg, td, td["revision"], namespace=ns, known=await self._known())
        deps = await self._items("deployments", ns)
        if any(d["metadata"]["name"] == objs.deployment["metadata"]["name"] for d in deps):
            raise invalid("Creation of service was not idempotent.")
        await self._ensure_claims(td, ns)
        if objs.service is not None:
            await self._apply_k8s_service(objs.service)
        try:
            created = await self.client.create("deployments", objs.deployment)
        except ApiException as e:
            if e.status == 409:
                raise invalid("Creation of service was not idempotent.") from e
            raise _api_error(e) from e
        return {"service": service.describe(created, [], [], [], arns=self.arns(region), cluster=cluster)}

    async def _apply_k8s_service(self, svc: Obj) -> None:
        try:
            await self.client.create("services", svc)
        except ApiException as e:
            if e.status != 409:
                raise _api_error(e) from e
            md = svc["metadata"]
            old = await self._call(self.client.get("services", md["name"], md["namespace"]))
            new = {**old, "metadata": {**old["metadata"], "labels": md["labels"]},
                   "spec": {**old["spec"], "ports": svc["spec"]["ports"], "selector": svc["spec"]["selector"]}}
            new.pop("status", None)
            await self._call(self.client.update("services", new))

    async def update_service(self, req: Obj, caller: Caller, region: str) -> Obj:
        changes = service.check_update(req)
        if req.get("deploymentConfiguration") is not None:
            service.deployment_config(req["deploymentConfiguration"])  # checked before anything is read
            changes["deploymentConfiguration"] = req["deploymentConfiguration"]
        cluster, ns = await self._namespace(req.get("cluster"))
        await check(self.client, caller, [Need("get", "configmaps", names.TASKDEF_NAMESPACE),
                                          Need("update", "deployments", ns, "apps")], operation="UpdateService")
        for attempt in range(5):
            deps = await self._items("deployments", ns, selector=ECS_SELECTOR)
            d = self._find_service(deps, str(req["service"]))
            if d is None:
                raise EcsError(errors.SERVICE_NOT_FOUND, "Service not found.")
            if d["metadata"].get("deletionTimestamp"):
                raise EcsError(errors.SERVICE_NOT_ACTIVE, "Service was not ACTIVE.")
            ref: object = req.get("taskDefinition")
            if ref is None:
                cur = service.template_taskdef(d["spec"].get("template") or {})
                if cur is None:
                    raise client("The service's pod template names no task definition: pass --task-definition.")
                ref = f"{cur[0]}:{cur[1]}"
            try:
                td, _ = await self._find_td(ref)
            except EcsError as e:
                raise client("TaskDefinition not found.") from e
            objs = service.updated(d, changes, td, td["revision"], force_new=bool(req.get("forceNewDeployment")),
                                   now=_now(), known=await self._known())
            try:
                new = await self.client.update("deployments", objs.deployment)
            except ApiException as e:
                if e.status == 409 and attempt < 4:
                    continue
                raise _api_error(e) from e
            if objs.service is not None:
                await self._apply_k8s_service(objs.service)
            return {"service": await self._describe_one(new, cluster, ns, region)}
        raise AssertionError("unreachable")

    async def describe_services(self, req: Obj, caller: Caller, region: str) -> Obj:
        refs = _refs(req, "services")
        if len(refs) > 10:
            raise invalid("services can have at most 10 entries.")
        cluster, ns = await self._namespace(req.get("cluster"))
        await check(self.client, caller, [Need("list", "deployments", ns, "apps"), Need("list", "pods", ns)],
                    operation="DescribeServices")
        deps, rss, pods, evs = await self._service_snapshot(ns)
        out, failures = [], []
        for ref in refs:
            d = self._find_service(deps, ref)
            if d is None:
                failures.append({"arn": ref if ref.startswith("arn:") else
                                 self.arns(region).service(cluster, ref), "reason": "MISSING"})
                continue
            out.append(service.describe(d, rss, pods, evs, arns=self.arns(region), cluster=cluster))
        return {"services": out, "failures": failures}

    async def list_services(self, req: Obj, caller: Caller, region: str) -> Obj:
        cluster, ns = await self._namespace(req.get("cluster"))
        await check(self.client, caller, [Need("list", "deployments", ns, "apps")], operation="ListServices")
        deps = await self._items("deployments", ns, selector=ECS_SELECTOR)
        page = _page(sorted(self.arns(region).service(cluster, service.service_name(d)) for d in deps), req,
                     default=10)
        return {"serviceArns": page["items"], **({"nextToken": page["nextToken"]} if "nextToken" in page else {})}

    async def delete_service(self, req: Obj, caller: Caller, region: str) -> Obj:
        if not req.get("service"):
            raise invalid("service is required.")
        cluster, ns = await self._namespace(req.get("cluster"))
        await check(self.client, caller, [Need("delete", "deployments", ns, "apps")], operation="DeleteService")
        deps, rss, pods, evs = await self._service_snapshot(ns)
        d = self._find_service(deps, str(req["service"]))
        if d is None:
            raise EcsError(errors.SERVICE_NOT_FOUND, "Service not found.")
        if int(d["spec"].get("replicas") or 0) > 0 and not req.get("force"):
            raise invalid("The service cannot be stopped while it is scaled above 0.")
        view = service.describe(d, rss, pods, evs, arns=self.arns(region), cluster=cluster)
        await self._call(self.client.delete("deployments", d["metadata"]["name"], ns, propagation_policy="Background"))
        if service.config_of(d).get("loadBalancers"):
            try:
                await self.client.delete("services", d["metadata"]["name"], ns)
            except ApiException as e:
                if not e.not_found:
                    raise _api_error(e) from e
        return {"service": {**view, "status": "DRAINING"}}

    # --- tasks -----------------------------------------------------------------------------------
    async def _node_ids(self) -> tuple[dict[str, str], dict[str, str], list[Obj]]:
        nodes = await self._items("nodes")
        ids = {n["metadata"]["name"]: names.instance_id(n["metadata"].get("uid") or "") for n in nodes}
        zones = {n["metadata"]["name"]: (n["metadata"].get("labels") or {})[placement.ZONE] for n in nodes
                 if placement.ZONE in (n["metadata"].get("labels") or {})}
        return ids, zones, nodes

    async def run_task(self, req: Obj, caller: Caller, region: str) -> Obj:
        run = tasks.check_run(req)
        cluster, ns = await self._namespace(req.get("cluster"))
        await check(self.client, caller, [Need("get", "configmaps", names.TASKDEF_NAMESPACE),
                                          Need("create", "pods", ns)], operation="RunTask")
        try:
            td, _ = await self._find_td(req.get("taskDefinition"))
        except EcsError as e:
            raise invalid("TaskDefinition not found.") from e
        pods = tasks.run_pods(run, td, td["revision"], namespace=ns, known=await self._known())
        await self._ensure_claims(td, ns)
        ids, zones, _ = await self._node_ids()
        created = []
        for p in pods:
            created.append(await self._call(self.client.create("pods", p)))
        return {"tasks": [tasks.task_view(p, arns=self.arns(region), cluster=cluster, node_ids=ids, zones=zones)
                          for p in created], "failures": []}

    async def _find_task(self, ns: str, ref: str) -> Obj | None:
        tid = names.task_ref(ref)
        pods = await self._items("pods", ns, selector=ECS_SELECTOR)
        return next((p for p in pods if names.pod_task_id(p) == tid), None)

    async def stop_task(self, req: Obj, caller: Caller, region: str) -> Obj:
        if not isinstance(req.get("task"), str) or not req["task"]:
            raise invalid("task is required.")
        reason = req.get("reason") or "Task stopped by user"
        if not isinstance(reason, str) or len(reason) > 255:
            raise invalid("reason can have up to 255 characters.")
        cluster, ns = await self._namespace(req.get("cluster"))
        pod = await self._find_task(ns, req["task"])
        if pod is None:
            raise invalid("The referenced task was not found.")
        name = pod["metadata"]["name"]
        standalone = (pod["metadata"].get("labels") or {}).get(names.STANDALONE_LABEL) == "true"
        await check(self.client, caller, [Need("patch" if standalone else "delete", "pods", ns)],
                    operation="StopTask")
        ann = {names.STOPPED_REASON_ANNOTATION: reason, names.STOP_CODE_ANNOTATION: tasks.USER_INITIATED}
        if standalone:
            pod = await self.stop_standalone(pod, ann)
        else:  # a service's task: its ReplicaSet starts a replacement, as ECS's service scheduler does
            pod = await self._call(self.client.patch("pods", name, {"metadata": {"annotations": ann}}, ns))
            await self._call(self.client.delete("pods", name, ns))
        ids, zones, _ = await self._node_ids()
        return {"task": tasks.task_view(pod, arns=self.arns(region), cluster=cluster, node_ids=ids, zones=zones)}

    async def stop_standalone(self, pod: Obj, annotations: dict[str, str]) -> Obj:
        """Stop a standalone task and keep it (DescribeTasks shows it STOPPED): an active deadline of one
        second makes its node's agent stop every container and fail the pod."""
        md = pod["metadata"]
        if tasks.last_status(pod) == "STOPPED":
            patch: Obj = {"metadata": {"annotations": annotations}}
        else:
            patch = {"metadata": {"annotations": annotations}, "spec": {"activeDeadlineSeconds": 1}}
        result: Obj = await self._call(self.client.patch("pods", md["name"], patch, md["namespace"]))
        return result

    async def list_tasks(self, req: Obj, caller: Caller, region: str) -> Obj:
        cluster, ns = await self._namespace(req.get("cluster"))
        await check(self.client, caller, [Need("list", "pods", ns)], operation="ListTasks")
        desired = req.get("desiredStatus") or "RUNNING"
        if desired not in ("RUNNING", "PENDING", "STOPPED"):
            raise invalid(f"Invalid desiredStatus: {desired}")
        pods = await self._items("pods", ns, selector=ECS_SELECTOR)
        ids, _, _ = await self._node_ids()
        inst = names.instance_ref(req["containerInstance"]) if req.get("containerInstance") else None
        svc = names.fold(names.service_name(req["serviceName"])) if req.get("serviceName") else None
        out = []
        for p in pods:
            md = p["metadata"]
            labels = md.get("labels") or {}
            ref = service.template_taskdef(p)
            want = tasks.desired_status(p)
            if (desired == "STOPPED") != (want == "STOPPED"):
                continue
            if svc is not None and labels.get(names.SERVICE_LABEL) != svc:
                continue
            if req.get("family") and (ref is None or ref[0] != req["family"]):
                continue
            if req.get("startedBy") and (md.get("annotations") or {}).get(names.STARTED_BY_ANNOTATION) != \
                    req["startedBy"]:
                continue
            if inst is not None and ids.get(str((p.get("spec") or {}).get("nodeName") or "")) != inst:
                continue
            out.append(self.arns(region).task(cluster, names.pod_task_id(p)))
        page = _page(sorted(out), req)
        return {"taskArns": page["items"], **({"nextToken": page["nextToken"]} if "nextToken" in page else {})}

    async def describe_tasks(self, req: Obj, caller: Caller, region: str) -> Obj:
        refs = _refs(req, "tasks")
        cluster, ns = await self._namespace(req.get("cluster"))
        await check(self.client, caller, [Need("list", "pods", ns)], operation="DescribeTasks")
        pods = await self._items("pods", ns, selector=ECS_SELECTOR)
        by_id = {names.pod_task_id(p): p for p in pods}
        ids, zones, _ = await self._node_ids()
        out, failures = [], []
        for ref in refs:
            p = by_id.get(names.task_ref(ref))
            if p is None:
                failures.append({"arn": ref if ref.startswith("arn:") else self.arns(region).task(cluster, ref),
                                 "reason": "MISSING"})
                continue
            out.append(tasks.task_view(p, arns=self.arns(region), cluster=cluster, node_ids=ids, zones=zones))
        return {"tasks": out, "failures": failures}

    # --- container instances -------------------------------------------------------------------
    async def list_container_instances(self, req: Obj, caller: Caller, region: str) -> Obj:
        cluster, ns = await self._namespace(req.get("cluster"))
        await check(self.client, caller, [Need("list", "nodes")], operation="ListContainerInstances")
        expr = query.parse(req["filter"]) if req.get("filter") else None
        status = req.get("status")
        if status not in (None, "ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"):
            raise invalid(f"Invalid status: {status}")
        _, _, nodes = await self._node_ids()
        pods = await self._items("pods", ns, selector=ECS_SELECTOR)
        out = []
        for n in nodes:
            st = "DRAINING" if (n.get("spec") or {}).get("unschedulable") else "ACTIVE"
            if status and st != status:
                continue
            running = sum(1 for p in pods if (p.get("spec") or {}).get("nodeName") == n["metadata"]["name"]
                          and tasks.last_status(p) == "RUNNING")
            if expr is not None and not query.evaluate(expr, tasks.instance_attributes(n, running)):
                continue
            out.append(self.arns(region).container_instance(cluster, names.instance_id(n["metadata"].get("uid") or "")))
        page = _page(sorted(out), req)
        return {"containerInstanceArns": page["items"],
                **({"nextToken": page["nextToken"]} if "nextToken" in page else {})}

    async def describe_container_instances(self, req: Obj, caller: Caller, region: str) -> Obj:
        refs = _refs(req, "containerInstances")
        cluster, _ = await self._namespace(req.get("cluster"))
        await check(self.client, caller, [Need("list", "nodes"), Need("list", "pods")],
                    operation="DescribeContainerInstances")
        _, _, nodes = await self._node_ids()
        by_id = {names.instance_id(n["metadata"].get("uid") or ""): n for n in nodes}
        all_pods = await self._items("pods")
        out, failures = [], []
        for ref in refs:
            n = by_id.get(names.instance_ref(ref))
            if n is None:
                failures.append({"arn": ref, "reason": "MISSING"})
                continue
            on = [p for p in all_pods if (p.get("spec") or {}).get("nodeName") == n["metadata"]["name"]]
            out.append(tasks.instance_view(n, on, arns=self.arns(region), cluster=cluster, version=shoal.__version__))
        return {"containerInstances": out, "failures": failures}


Operation = Callable[[EcsBackend, Obj, Caller, str], Awaitable[Obj]]
OPERATIONS: dict[str, Operation] = {
    "RegisterTaskDefinition": EcsBackend.register_task_definition,
    "DeregisterTaskDefinition": EcsBackend.deregister_task_definition,
    "DescribeTaskDefinition": EcsBackend.describe_task_definition,
    "ListTaskDefinitions": EcsBackend.list_task_definitions,
    "ListTaskDefinitionFamilies": EcsBackend.list_task_definition_families,
    "CreateCluster": EcsBackend.create_cluster, "ListClusters": EcsBackend.list_clusters,
    "DescribeClusters": EcsBackend.describe_clusters,
    "CreateService": EcsBackend.create_service, "UpdateService": EcsBackend.update_service,
    "DescribeServices": EcsBackend.describe_services, "ListServices": EcsBackend.list_services,
    "DeleteService": EcsBackend.delete_service,
    "RunTask": EcsBackend.run_task, "StopTask": EcsBackend.stop_task, "ListTasks": EcsBackend.list_tasks,
    "DescribeTasks": EcsBackend.describe_tasks,
    "ListContainerInstances": EcsBackend.list_container_instances,
    "DescribeContainerInstances": EcsBackend.describe_container_instances,
}
