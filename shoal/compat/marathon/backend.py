"""What Marathon's API does to the cluster: reads and writes through ``shoal.client``, as the caller.

``MarathonBackend`` is one caller's view (its client carries the caller's
token), shared by the HTTP surface and ``shoal apply -f``. One method per
Marathon operation; each reads a ``Snapshot`` (the app workloads, their pods
and Services in the namespace ``marathon``) and writes what
``shoal.formats.marathon`` computes. A refused request writes nothing: the
definition is validated and translated whole before the first write, and a
lock (a deployment in progress) is checked before it too.

Errors leave as ``MarathonError``; an error the Kubernetes API answers is
carried over with its status (401, 403, 422 with the API's message), never a
500. Writes carry the resourceVersion they read; a 409 from a concurrent
write (a controller's status update) is read again and retried.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shoal.client import ApiClient, ApiException
from shoal.formats.marathon import app as appx
from shoal.formats.marathon import errors, groups, holdback, ids, tasks, validate
from shoal.formats.marathon.errors import MarathonError

Obj = dict[str, Any]
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
RESTARTED_AT = "marathon.shoal.io/restartedAt"
_KINDS = (("deployments", "Deployment"), ("statefulsets", "StatefulSet"))


def api_error(e: ApiException) -> MarathonError:
    if e.status == 401:
        return MarathonError(401, {"message": "Unauthorized: invalid or missing credentials"})
    if e.status == 403:
        return MarathonError(403, {"message": f"Not Authorized to perform this action! ({e.message})"})
    if e.status == 422 or e.status == 400:
        return errors.invalid([("/", [e.message])])
    if e.status == 404:
        return MarathonError(404, {"message": e.message})
    if e.status == 409:
        return MarathonError(409, {"message": e.message})
    return MarathonError(503, {"message": f"the cluster did not answer: {e.message}"})


@dataclass
class Snapshot:
    """The Marathon apps of one read: workloads by app id, their pods and Services."""

    workloads: dict[str, tuple[str, Obj]] = field(default_factory=dict)  # app id -> (resource, workload)
    pods: dict[str, list[Obj]] = field(default_factory=dict)  # k8s name -> pods
    services: dict[str, Obj] = field(default_factory=dict)  # k8s name -> Service

    def app(self, app_id: str, *, status: bool = True) -> Obj:
        res, w = self.find(app_id)
        return appx.to_app(w, self.pods_of(w), status=status)

    def find(self, app_id: str) -> tuple[str, Obj]:
        hit = self.workloads.get(app_id)
        if hit is None:
            raise errors.app_not_found(app_id)
        return hit

    def pods_of(self, w: Mapping[str, Any]) -> list[Obj]:
        return self.pods.get(str((w.get("metadata") or {}).get("name")), [])

    def apps(self) -> list[Obj]:
        return [appx.to_app(w, self.pods_of(w)) for _, w in sorted(self.workloads.values(),
                                                                    key=lambda x: appx.app_id(x[1]))]

    def tasks_of(self, app_id: str) -> list[Obj]:
        _, w = self.find(app_id)
        app = appx.to_app(w, self.pods_of(w))
        nps = tasks.node_ports(self.services.get(ids.k8s_name(app_id)))
        return [tasks.task(p, app, node_ports=nps) for p in self.pods_of(w)]

    def locks(self, app_ids: Iterable[str]) -> list[str]:
        out = []
        for a in app_ids:
            hit = self.workloads.get(a)
            if hit is not None and appx.in_progress(hit[1]):
                out.append(appx.deployment_id(hit[1]))
        return list(dict.fromkeys(out))


class MarathonBackend:
    def __init__(self, client: ApiClient, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.client = client
        self.clock = clock

    async def _call(self, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except ApiException as e:
            raise api_error(e) from e

    async def snap(self, *, pods: bool = True) -> Snapshot:
        s = Snapshot()
        for res, _kind in _KINDS:
            items, _ = await self._call(self.client.list_all(res, ids.NAMESPACE, label_selector=ids.SELECTOR))
            for w in items:
                s.workloads[appx.app_id(w)] = (res, w)
        if pods and s.workloads:
            items, _ = await self._call(self.client.list_all("pods", ids.NAMESPACE, label_selector=ids.SELECTOR))
            for p in items:
                s.pods.setdefault(str(((p.get("metadata") or {}).get("labels") or {}).get(ids.APP_LABEL)), []).append(p)
            svcs, _ = await self._call(self.client.list_all("services", ids.NAMESPACE, label_selector=ids.SELECTOR))
            s.services = {str(x["metadata"]["name"]): x for x in svcs}
        return s

    def _version(self) -> str:
        return ids.version(self.clock())

    # --- apps ------------------------------------------------------------------------------------
    async def list_apps(self, *, embed: Sequence[str] = (), label: str | None = None, id_: str | None = None,
                        cmd: str | None = None) -> list[Obj]:
        s = await self.snap()
        out = []
        for a in s.apps():
            if id_ and id_ not in a["id"]:
                continue
            if cmd and cmd not in (a.get("cmd") or ""):
                continue
            if label and not label_matches(label, a.get("labels") or {}):
                continue
            if "apps.tasks" in embed or "app.tasks" in embed:
                a["tasks"] = s.tasks_of(a["id"])
            if "apps.lastTaskFailure" in embed:
                a["lastTaskFailure"] = None
            out.append(a)
        return out

    async def get_app(self, app_id: str) -> Obj:
        s = await self.snap()
        a = s.app(app_id)
        a["tasks"] = s.tasks_of(app_id)
        a["lastTaskFailure"] = None
        return a

    async def create_app(self, body: Any, *, base: str = "/") -> Obj:
        app = validate.normalize(body, base=base)
        s = await self.snap(pods=False)
        if app["id"] in s.workloads:
            raise errors.app_exists(app["id"])
        if groups.exists(app["id"], s.workloads) and app["id"] != "/":
            raise MarathonError(409, {"message": f"A group with id [{app['id']}] already exists."})
        stamp = appx.stamp_for(None, app, version=self._version(), deployment_id=str(uuid.uuid4()))
        objs = appx.to_objects(app, stamp)
        await self._create(objs, s)
        out = copy.deepcopy(app)
        out.update(version=stamp.version, versionInfo={"lastScalingAt": stamp.version,
                                                        "lastConfigChangeAt": stamp.version},
                   tasksStaged=0, tasksRunning=0, tasksHealthy=0, tasksUnhealthy=0,
                   deployments=[{"id": stamp.deployment_id}])
        return out

    async def _create(self, objs: appx.Objects, s: Snapshot) -> None:
        name = objs.workload["metadata"]["name"]
        taken = next((a for a, (_, w) in s.workloads.items() if w["metadata"]["name"] == name), None)
        if taken is not None:
            raise MarathonError(409, {"message": f"The app {objs.workload['metadata']['annotations'][ids.ID_ANNOTATION]}"
                                                 f" would be named {name} on shoal, as {taken} already is"})
        await self._ensure_namespace()
        try:
            await self.client.create(objs.resource, objs.workload)
        except ApiException as e:
            if e.status == 409:
                raise MarathonError(409, {"message": f"the name {name} is taken in the namespace "
                                                     f"{ids.NAMESPACE} by an object Marathon did not make"}) from e
            raise api_error(e) from e
        if objs.service is not None:
            await self._apply_service(objs.service)

    async def _ensure_namespace(self) -> None:
        try:
            await self.client.get("namespaces", ids.NAMESPACE)
            return
        except ApiException as e:
            if not e.not_found:
                raise api_error(e) from e
        try:
            await self.client.create("namespaces", {"metadata": {"name": ids.NAMESPACE,
                                                                 "labels": {ids.MANAGED_BY: ids.MADE_BY}}})
        except ApiException as e:
            if e.status != 409:
                raise api_error(e) from e

    async def _apply_service(self, svc: Obj) -> None:
        md = svc["metadata"]
        try:
            old = await self.client.get("services", md["name"], md["namespace"])
        except ApiException as e:
            if not e.not_found:
                raise api_error(e) from e
            await self._call(self.client.create("services", svc))
            return
        if (old.get("spec") or {}).get("type") != svc["spec"]["type"] and svc["spec"]["type"] == "ClusterIP":
            await self._call(self.client.delete("services", md["name"], md["namespace"]))
            await self._call(self.client.create("services", svc))
            return
        new = copy.deepcopy(old)
        new["metadata"]["labels"] = svc["metadata"]["labels"]
        new["metadata"]["annotations"] = {**(old["metadata"].get("annotations") or {}), **svc["metadata"]["annotations"]}
        kept = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in (old.get("spec") or {}).get("ports") or []}
        ports = []
        for p in svc["spec"]["ports"]:
            np_ = kept.get((p["port"], p["protocol"]))
            ports.append({**p, "nodePort": np_} if np_ and svc["spec"]["type"] == "NodePort" else p)
        new["spec"].update(type=svc["spec"]["type"], selector=svc["spec"]["selector"], ports=ports)
        new.pop("status", None)
        await self._call(self.client.update("services", new))

    async def update_app(self, app_id: str, body: Any, *, partial: bool, force: bool,
                         upsert: bool = True) -> tuple[int, Obj]:
        """PUT or PATCH of one app (``partial``: the body's fields over the current ones, as PATCH and
        Marathon's default ``partialUpdate=true`` PUT do): (status, ``{"version", "deploymentId"}``); a PUT of a missing
        app creates it (201), as Marathon's does."""
        for attempt in range(5):
            try:
                return await self._update_app(app_id, body, partial=partial, force=force, upsert=upsert)
            except ApiException as e:
                if e.status != 409 or attempt == 4:
                    raise api_error(e) from e
        raise AssertionError("unreachable")

    async def _update_app(self, app_id: str, body: Any, *, partial: bool, force: bool,
                          upsert: bool) -> tuple[int, Obj]:
        if not isinstance(body, dict):
            raise errors.one_invalid("/", "error.expected.jsobject")
        s = await self.snap(pods=False)
        hit = s.workloads.get(app_id)
        if hit is None:
            if not upsert:
                raise errors.app_not_found(app_id)
            created = await self.create_app({**body, "id": app_id})
            return 201, {"version": created["version"], "deploymentId": created["deployments"][0]["id"]}
        current = s.app(app_id, status=False)
        merged = {**current, **{k: v for k, v in body.items() if k != "id"}} if partial else dict(body)
        merged["id"] = app_id
        app = validate.normalize(merged)
        if app["id"] != app_id:
            raise errors.one_invalid("/id", "The path of the app does not match the id in the body")
        return 200, await self._write(s, app, force=force)

    async def _write(self, s: Snapshot, app: Obj, *, force: bool, restart: bool = False,
                     instances: int | None = None, waiting_for: Sequence[str] = ()) -> Obj:
        """Write ``app`` over its workload (locked: 409 unless ``force``); the new version and deployment."""
        res, w = s.find(app["id"])
        if not force:
            held = s.locks([app["id"]])
            if held:
                raise errors.locked(held)
        stamp = appx.stamp_for(w, app, version=self._version(), deployment_id=str(uuid.uuid4()))
        objs = appx.to_objects(app, stamp, instances=instances, waiting_for=waiting_for)
        if objs.resource != res:
            raise errors.one_invalid("/container/volumes", "shoal cannot add or remove persistent volumes of "
                                                            "a running app: delete and create it again")
        old_replicas = int((w.get("spec") or {}).get("replicas") or 0)
        if int(objs.workload["spec"]["replicas"]) < old_replicas and app.get("killSelection") == "OLDEST_FIRST":
            await self._oldest_first(s.pods_of(w))
        new = copy.deepcopy(w)
        md = new["metadata"]
        md["labels"] = objs.workload["metadata"]["labels"]
        ann = {k: v for k, v in (md.get("annotations") or {}).items() if k not in appx.DEPLOYMENT_STATE}
        md["annotations"] = {**ann, **objs.workload["metadata"]["annotations"]}
        template_ann = ((w["spec"].get("template") or {}).get("metadata") or {}).get("annotations") or {}
        new["spec"] = objs.workload["spec"]  # not paused: a new deployment runs
        kept_ann = {**template_ann, **objs.workload["spec"]["template"]["metadata"].get("annotations", {})}
        if restart:
            kept_ann[RESTARTED_AT] = stamp.version
        if kept_ann:
            new["spec"]["template"]["metadata"]["annotations"] = kept_ann
        if res == "statefulsets":  # claim templates cannot change
            new["spec"]["volumeClaimTemplates"] = w["spec"].get("volumeClaimTemplates")
        new.pop("status", None)
        await self.client.update(res, new)  # a 409 is retried by the caller
        if objs.service is not None:
            await self._apply_service(objs.service)
        else:
            await self._delete_quietly("services", ids.k8s_name(app["id"]))
        return {"version": stamp.version, "deploymentId": stamp.deployment_id}

    async def _oldest_first(self, pods: Sequence[Obj]) -> None:
        """killSelection OLDEST_FIRST: the oldest pods cost least to delete, so a scale-down takes them."""
        ordered = sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""))
        for i, p in enumerate(ordered):
            await self._delete_cost(p, i - len(ordered))

    async def _delete_cost(self, pod: Obj, cost: int) -> None:
        try:
            await self.client.patch("pods", pod["metadata"]["name"], {"metadata": {"annotations": {
                DELETION_COST: str(cost)}}}, ids.NAMESPACE)
        except ApiException as e:
            if not e.not_found:
                raise api_error(e) from e

    async def _delete_quietly(self, res: str, name: str) -> None:
        try:
            await self.client.delete(res, name, ids.NAMESPACE, propagation_policy="Background")
        except ApiException as e:
            if not e.not_found:
                raise api_error(e) from e

    async def restart_app(self, app_id: str, *, force: bool) -> Obj:
        return await self._retry(lambda: self._restart(app_id, force))

    async def _restart(self, app_id: str, force: bool) -> Obj:
        s = await self.snap(pods=False)
        return await self._write(s, s.app(app_id, status=False), force=force, restart=True)

    async def _retry(self, op: Callable[[], Awaitable[Obj]]) -> Obj:
        for attempt in range(5):
            try:
                return await op()
            except ApiException as e:
                if e.status != 409 or attempt == 4:
                    raise api_error(e) from e
        raise AssertionError("unreachable")

    async def delete_app(self, app_id: str, *, force: bool) -> Obj:
        s = await self.snap(pods=False)
        res, w = s.find(app_id)
        if not force and s.locks([app_id]):
            raise errors.locked(s.locks([app_id]))
        await self._delete_quietly(res, w["metadata"]["name"])
        await self._delete_quietly("services", w["metadata"]["name"])
        return {"version": self._version(), "deploymentId": str(uuid.uuid4())}

    async def versions(self, app_id: str) -> list[str]:
        s = await self.snap(pods=False)
        _, w = s.find(app_id)
        return [v for v, _ in reversed(appx.history_of(w))] or [s.app(app_id)["version"]]

    async def version(self, app_id: str, v: str) -> Obj:
        s = await self.snap(pods=False)
        _, w = s.find(app_id)
        for ver, a in appx.history_of(w):
            if ver == v:
                return {**a, "version": ver}
        raise MarathonError(404, {"message": f"App '{app_id}' does not exist in version {v}"})

    # --- tasks -----------------------------------------------------------------------------------
    async def list_tasks(self, app_id: str | None = None, *, status: str | None = None) -> list[Obj]:
        s = await self.snap()
        out: list[Obj] = []
        for aid in ([app_id] if app_id else sorted(s.workloads)):
            out += s.tasks_of(aid)
        if status:
            out = [t for t in out if t["state"].lower() == f"task_{status.lower()}"]
        return out

    async def kill_tasks(self, task_ids: Sequence[str], *, scale: bool, force: bool,
                         app_id: str | None = None, host: str | None = None) -> Obj:
        """Kill tasks (all of ``app_id``'s on ``host`` when given); ``scale``: lower the app's instances by
        as many, so they are not started again (the pods are made cheapest to delete, then the count lowered)."""
        s = await self.snap()
        victims: dict[str, list[Obj]] = {}
        known = {t["id"]: aid for aid in s.workloads for t in s.tasks_of(aid)}
        wanted = list(task_ids)
        if app_id is not None:
            wanted = [t["id"] for t in s.tasks_of(app_id) if host in (None, "*", t["host"])]
        for tid in wanted:
            aid = known.get(tid)
            if aid is None:
                continue
            _, w = s.find(aid)
            uid = ids.app_of_task(tid)[1]
            victims.setdefault(aid, []).extend(p for p in s.pods_of(w) if p["metadata"].get("uid") == uid)
        killed = [tasks.task(p, s.app(aid)) for aid, ps in victims.items() for p in ps]
        if scale:
            if not force:
                held = s.locks(victims)
                if held:
                    raise errors.locked(held)
            result: Obj = {"version": self._version(), "deploymentId": str(uuid.uuid4())}
            for aid, ps in victims.items():
                for p in ps:
                    await self._delete_cost(p, -(2 ** 31) + 1)
                app = s.app(aid, status=False)
                app["instances"] = max(0, int(app["instances"]) - len(ps))
                result = await self._retry(lambda a=app: self._rewrite(a, force=True))  # type: ignore[misc]
            return result
        for ps in victims.values():
            for p in ps:
                await self._delete_quietly("pods", p["metadata"]["name"])
        return {"tasks": killed}

    async def _rewrite(self, app: Obj, *, force: bool) -> Obj:
        s = await self.snap(pods=False)
        return await self._write(s, app, force=force)

    # --- groups ----------------------------------------------------------------------------------
    async def get_group(self, gid: str, *, embed_apps: bool = True) -> Obj:
        s = await self.snap()
        if not groups.exists(gid, s.workloads):
            raise errors.group_not_found(gid)
        apps = [a for a in s.apps() if ids.is_under(a["id"], gid)]
        return groups.tree(gid, apps, embed_apps=embed_apps)

    async def put_group(self, body: Any, *, gid: str, create: bool, force: bool) -> tuple[int, Obj]:
        """POST (``create``) or PUT of a group: its apps created or updated, in dependency order; a PUT of
        ``{"scaleBy": f}`` scales every app in it."""
        s = await self.snap(pods=False)
        if isinstance(body, dict) and "scaleBy" in body and set(body) <= {"scaleBy", "id"}:
            return 200, await self._scale_group(s, gid, body["scaleBy"], force=force)
        real_gid, raw_apps = groups.flatten(body, base=gid)
        if create and groups.exists(real_gid, s.workloads) and real_gid != "/":
            raise errors.group_exists(real_gid)
        apps = [validate.normalize(a) for a in raw_apps]
        order = groups.stages(apps, existing=s.workloads)
        by_id = {a["id"]: a for a in apps}
        updating = [a for a in by_id if a in s.workloads]
        if not force:
            held = s.locks(updating)
            if held:
                raise errors.locked(held)
        for a in by_id.values():  # translate all before writing any: a refused group writes nothing
            appx.to_objects(a, appx.stamp_for(None, a, version="", deployment_id=""))
        version, dep = self._version(), str(uuid.uuid4())
        needs = groups.needs(apps, existing=s.workloads)
        for i, stage in enumerate(order):
            for aid in stage:
                a = by_id[aid]
                held_back = 0 if i > 0 else None  # durable: the release loop starts it (holdback)
                wait = sorted(needs[aid]) if i > 0 else []
                if aid in s.workloads:
                    await self._retry(lambda a=a, h=held_back, w=wait: self._rewrite_held(a, h, w))  # type: ignore[misc]
                else:
                    stamp = appx.stamp_for(None, a, version=version, deployment_id=dep)
                    await self._create(appx.to_objects(a, stamp, instances=held_back, waiting_for=wait), s)
        return (201 if create else 200), {"version": version, "deploymentId": dep}

    async def _rewrite_held(self, app: Obj, held_back: int | None, waiting_for: list[str]) -> Obj:
        s = await self.snap(pods=False)
        return await self._write(s, app, force=True, instances=held_back, waiting_for=waiting_for)

    async def release_held(self) -> list[str]:
        """One pass of the release loop: start the held-back apps whose dependencies are healthy (the
        decision is ``holdback.releases``); the ids it started. A 409 (a write meanwhile) waits for the
        next pass."""
        s = await self.snap(pods=False)
        started = []
        for aid in holdback.releases({a: w for a, (_, w) in s.workloads.items()}):
            res, w = s.workloads[aid]
            try:
                await self.client.update(res, holdback.released(w))
            except ApiException as e:
                if e.status not in (404, 409):
                    raise
                continue
            started.append(aid)
        return started

    async def _scale_group(self, s: Snapshot, gid: str, factor: Any, *, force: bool) -> Obj:
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor < 0:
            raise errors.one_invalid("/scaleBy", f"got {factor!r}, expected a number 0 or more")
        if not groups.exists(gid, s.workloads):
            raise errors.group_not_found(gid)
        members = [a for a in s.workloads if ids.is_under(a, gid)]
        if not force and s.locks(members):
            raise errors.locked(s.locks(members))
        result: Obj = {"version": self._version(), "deploymentId": str(uuid.uuid4())}
        for aid in members:
            app = s.app(aid, status=False)
            app["instances"] = groups.scaled(int(app["instances"]), float(factor))
            out = await self._retry(lambda a=app: self._rewrite(a, force=True))  # type: ignore[misc]
            result = {"version": out["version"], "deploymentId": result["deploymentId"]}
        return result

    async def delete_group(self, gid: str, *, force: bool) -> Obj:
        s = await self.snap(pods=False)
        if not groups.exists(gid, s.workloads):
            raise errors.group_not_found(gid)
        members = [a for a in s.workloads if ids.is_under(a, gid)]
        if not force and s.locks(members):
            raise errors.locked(s.locks(members))
        for aid in members:
            res, w = s.workloads[aid]
            await self._delete_quietly(res, w["metadata"]["name"])
            await self._delete_quietly("services", w["metadata"]["name"])
        return {"version": self._version(), "deploymentId": str(uuid.uuid4())}

    # --- deployments, queue ----------------------------------------------------------------------
    async def deployments(self) -> list[Obj]:
        s = await self.snap(pods=False)
        out = []
        for aid, (_, w) in sorted(s.workloads.items()):
            if appx.in_progress(w):
                out.append(tasks.deployment(w, s.app(aid)))
        return out

    async def delete_deployment(self, dep_id: str, *, force: bool) -> tuple[int, Obj]:
        """Roll the deployment's apps back to the version before it; ``force`` stops it where it is, without
        a rollback (Marathon's): a Deployment is paused (its rollout goes no further), apps held back for
        dependencies stay at what they have, and the workload records the cancelled deployment, so it no
        longer locks the app. The next write of the app starts a new deployment (and resumes the rollout)."""
        s = await self.snap(pods=False)
        hits = [(aid, res, w) for aid, (res, w) in s.workloads.items()
                if appx.in_progress(w) and appx.deployment_id(w) == dep_id]
        if not hits:
            raise errors.unknown_deployment(dep_id)
        if force:
            for _, res, w in hits:
                patch: Obj = {"metadata": {"annotations": {appx.CANCELLED: dep_id, appx.TARGET: None,
                                                           appx.WAITING_FOR: None}}}
                if res == "deployments":
                    patch["spec"] = {"paused": True}
                await self._call(self.client.patch(res, w["metadata"]["name"], patch, ids.NAMESPACE))
            return 202, {}
        result: Obj = {}
        for aid, _, w in hits:
            history = appx.history_of(w)
            if len(history) < 2:  # the deployment created the app: rolling back removes it
                result = await self.delete_app(aid, force=True)
                continue
            previous = dict(history[-2][1])
            previous["instances"] = int(previous.get("instances", 1))
            result = await self._retry(lambda a=previous: self._rewrite(a, force=True))  # type: ignore[misc]
        return 200, result

    async def queue(self) -> list[Obj]:
        s = await self.snap()
        out = []
        for aid, (_, w) in sorted(s.workloads.items()):
            item = tasks.queue_item(s.app(aid), s.pods_of(w))
            if item is not None:
                out.append(item)
        return out


def label_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Marathon's ``label`` filter: comma-separated ``k``, ``!k``, ``k==v``, ``k!=v``, ``k in (a,b)``,
    ``k notin (a,b)``; all must hold."""
    import re

    terms = re.findall(r"[^,()]+(?:\([^)]*\))?", selector)
    for raw in terms:
        t = raw.strip()
        if not t:
            continue
        m = re.match(r"^([^\s!=]+)\s+(in|notin)\s*\(([^)]*)\)$", t)
        if m:
            vals = {v.strip() for v in m.group(3).split(",")}
            has = labels.get(m.group(1)) in vals
            if has != (m.group(2) == "in"):
                return False
            continue
        if "!=" in t:
            k, v = (x.strip() for x in t.split("!=", 1))
            if labels.get(k) == v:
                return False
        elif "==" in t:
            k, v = (x.strip() for x in t.split("==", 1))
            if labels.get(k) != v:
                return False
        elif t.startswith("!"):
            if t[1:].strip() in labels:
                return False
        elif t not in labels:
            return False
    return True
