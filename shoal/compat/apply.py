"""Apply any definition a user brings (Kubernetes, Compose, Marathon, ECS) with one client: the caller's.

``shoal apply -f`` (with the kubeconfig's client) and the API's ``POST
/shoal/v1/apply`` (the web UI's deploy page, with a client that carries the
caller's token) both come here: each document is recognised by
``shoal.formats.detect`` and applied by its own system's code, so the result
is the same objects that system's own API would have made:

- Kubernetes objects: server-side apply (``fieldManager``, ``force``);
- a Compose file: ``docker stack deploy`` through the ``SwarmBackend``
  (``shoal.compat.docker.stack``), under a stack name the caller gives;
- a Marathon app or group: a PUT through the ``MarathonBackend``;
- an ECS task definition: RegisterTaskDefinition unless the family's latest
  ACTIVE revision is the same; an ECS service: CreateService, else
  UpdateService, through the ``EcsBackend`` (the cluster is a namespace).

The client is the caller's, so the API server authorizes every request the
backends make as that user (ECS's own access reviews are skipped: RBAC
already decides each request). ``Recorder`` wraps the client's transport
and keeps each object a write answered with, which is the list of objects
made or changed the API returns. A refusal leaves as an ``ApplyError``: the
system's own error (Marathon's 422 body, ECS's exception, a Kubernetes
``Status``, Docker's message) as a Kubernetes ``Status``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import yaml

from shoal.client import ApiClient, ApiException
from shoal.client.transport import JSON, StreamResponse, Transport
from shoal.formats import detect
from shoal.formats.ecs.errors import EcsError
from shoal.formats.marathon.errors import MarathonError
from shoal.formats.swarm.wire import SpecError

ECS_ME = ("kubeconfig", ("system:masters",))  # the API server authorizes the caller's own requests


@dataclass(frozen=True)
class Options:
    """What a document does not say: the namespace (ECS: the cluster), the Compose stack's name, ..."""

    namespace: str = ""
    stack: str = ""
    force: bool = False
    field_manager: str = "shoal"
    prune: bool = False


@dataclass(frozen=True)
class Touched:
    """One object a write answered with."""

    kind: str
    name: str
    namespace: str
    action: str  # created | configured | deleted

    def line(self) -> str:
        where = f" -n {self.namespace}" if self.namespace else ""
        return f"{self.kind.lower()}/{self.name}{where} {self.action}"


@dataclass
class Result:
    """What applying did: one line per document (as the CLI prints) and the objects written."""

    lines: list[str] = field(default_factory=list)
    objects: list[Touched] = field(default_factory=list)


class ApplyError(Exception):
    """A refusal, as a Kubernetes ``Status`` (``status()``) naming the document it came from."""

    def __init__(self, code: int, reason: str, message: str, *, causes: list[dict[str, str]] | None = None,
                 origin: Any = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.causes, self.origin = code, reason, message, causes or [], origin

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": self.message, "reason": self.reason, "code": self.code}
        if self.causes:
            out["details"] = {"causes": self.causes}
        if isinstance(self.origin, dict):
            out["details"] = {**out.get("details", {}), "origin": self.origin}
        return out


def as_apply_error(e: Exception) -> ApplyError | None:
    """Each system's own refusal as an ``ApplyError`` (None: not a refusal, a bug)."""
    if isinstance(e, ApplyError):
        return e
    if isinstance(e, ApiException):
        if e.body.get("kind") == "Status":
            causes = (e.body.get("details") or {}).get("causes") or []
            return ApplyError(e.status or 503, e.reason, e.message, causes=causes)
        return ApplyError(e.status or 503, e.reason or "ServiceUnavailable", e.message)
    if isinstance(e, MarathonError):
        causes = [{"field": str(d.get("path", "")), "message": "; ".join(map(str, d.get("errors") or []))}
                  for d in e.body.get("details") or [] if isinstance(d, dict)]
        text = str(e.body.get("message") or e.status)
        if causes:
            text += ": " + "; ".join(f"{c['field']}: {c['message']}" for c in causes)
        return ApplyError(e.status, "Invalid" if e.status == 422 else "Marathon", text, causes=causes, origin=e.body)
    if isinstance(e, EcsError):
        return ApplyError(e.status, e.type, f"{e.type}: {e.message}", origin=e.body())
    if isinstance(e, SpecError):
        return ApplyError(e.status, "Invalid" if e.status == 400 else "Docker", e.message)
    from shoal.formats.compose import ComposeError

    if isinstance(e, ComposeError):
        return ApplyError(422, "Invalid", str(e))
    return None


class Recorder:
    """A transport that keeps the object each successful write answered with (reviews and status aside)."""

    def __init__(self, inner: Transport, sink: list[Touched]) -> None:
        self.inner, self.sink = inner, sink

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: bytes | None = None, content_type: str = JSON,
                      timeout: float | None = None) -> tuple[int, bytes]:
        status, raw = await self.inner.request(method, path, params=params, body=body, content_type=content_type,
                                               timeout=timeout)
        if method in ("POST", "PUT", "PATCH", "DELETE") and status < 300 and not path.endswith("/status"):
            self._keep(method, status, raw)
        return status, raw

    def _keep(self, method: str, status: int, raw: bytes) -> None:
        try:
            obj = json.loads(raw) if raw else None
        except ValueError:
            return
        if not isinstance(obj, dict) or obj.get("kind") in (None, "Status") or \
                str(obj.get("apiVersion", "")).startswith(("authorization.k8s.io/", "authentication.k8s.io/")):
            return
        md = obj.get("metadata") or {}
        action = "deleted" if method == "DELETE" else "created" if status == 201 else "configured"
        t = Touched(str(obj["kind"]), str(md.get("name", "")), str(md.get("namespace", "")), action)
        if t not in self.sink:
            self.sink.append(t)

    def stream(self, method: str, path: str, *, params: Mapping[str, str] | None = None
               ) -> AbstractAsyncContextManager[StreamResponse]:
        return self.inner.stream(method, path, params=params)

    async def close(self) -> None:
        await self.inner.close()


def recording(client: ApiClient, sink: list[Touched]) -> ApiClient:
    """A client on ``client``'s transport that records writes into ``sink`` (closing it is left to ``client``)."""
    return ApiClient(Recorder(client.transport, sink))


def parse(text: str) -> list[tuple[Any, detect.Format]]:
    """The text's documents with their formats; an ``ApplyError`` names one no recogniser claims."""
    try:
        docs = detect.load(text)
    except yaml.YAMLError as e:
        raise ApplyError(400, "BadRequest", f"not JSON or YAML: {e}") from None
    if not docs:
        raise ApplyError(400, "BadRequest", "no objects passed to apply")
    out = []
    for i, d in enumerate(docs):
        fmt = detect.kind_of(d)
        if fmt is None:
            raise ApplyError(400, "BadRequest", f"document {i + 1}: not {detect.EXPECTED}")
        if fmt == "compose" and len(docs) > 1:
            raise ApplyError(400, "BadRequest", "a Compose file is one document; apply it on its own")
        out.append((d, fmt))
    return out


async def apply_text(client: ApiClient, text: str, opts: Options, *,
                     say: Callable[[str], Any] | None = None) -> Result:
    """Apply every document of ``text`` in order; the first refusal stops it (an ``ApplyError``)."""
    docs = parse(text)
    res = Result()
    c = recording(client, res.objects)
    for doc, fmt in docs:
        try:
            line = await apply_one(c, doc, fmt, opts, text=text, say=say)
        except Exception as e:
            err = as_apply_error(e)
            if err is None:
                raise
            raise err from None
        res.lines.append(line)
        if say is not None:
            say(line)
    return res


async def apply_one(client: ApiClient, doc: Any, fmt: detect.Format, opts: Options, *, text: str = "",
                    say: Callable[[str], Any] | None = None) -> str:
    """Apply one recognised document; the line that says what happened."""
    if fmt == "kubernetes":
        return await apply_kubernetes(client, doc, opts)
    if fmt == "compose":
        return await apply_compose(client, text or json.dumps(doc), opts, say=say)
    if fmt.startswith("ecs-"):
        return await apply_ecs(client, doc, fmt, cluster=opts.namespace or None)
    return await apply_marathon(client, doc, fmt, force=opts.force)


async def apply_kubernetes(client: ApiClient, doc: dict[str, Any], opts: Options) -> str:
    from shoal.api import kinds
    from shoal.client.api import object_path

    group, _, version = str(doc["apiVersion"]).rpartition("/")
    info = next((i for i in kinds.RESOURCES if i.group == group and i.version == version and i.kind == doc["kind"]),
                None)
    if info is None:
        raise ApplyError(404, "NotFound", f'resource mapping not found for kind "{doc["kind"]}" in version '
                                          f'"{doc["apiVersion"]}"')
    md = doc.get("metadata") or {}
    if not md.get("name"):
        raise ApplyError(422, "Invalid", f"{doc['kind']}: resource name may not be empty")
    ns = (md.get("namespace") or opts.namespace or "default") if info.namespaced else None
    params = {"fieldManager": opts.field_manager, **({"force": "true"} if opts.force else {})}
    await client.request("PATCH", object_path(info, ns, md["name"]), body=json.dumps(doc).encode(),
                         params=params, content_type="application/apply-patch+yaml")
    return f"{info.plural}/{md['name']} applied"


async def apply_compose(client: ApiClient, text: str, opts: Options, *, env: Mapping[str, str] | None = None,
                        filename: str = "docker-compose.yml", workdir: str = ".",
                        read: Callable[[str], bytes] | None = None, say: Callable[[str], Any] | None = None) -> str:
    """``docker stack deploy -c FILE STACK``: files it names are read only with ``read`` (the CLI's)."""
    from shoal.compat.docker.backend import SwarmBackend
    from shoal.compat.docker.stack import deploy
    from shoal.formats.compose import load
    from shoal.formats.swarm.names import stack_namespace

    if not opts.stack:
        raise ApplyError(400, "BadRequest", "a Compose file needs a stack name")
    stack_namespace(opts.stack)  # a SpecError names a bad one
    st = load(text, opts.stack, env=env or {}, filename=filename, workdir=workdir, read=read)
    for w in st.warnings:
        if say is not None:
            say(w)
    await deploy(SwarmBackend(client), st, prune=opts.prune, say=say or (lambda _line: None))
    return f"stack {opts.stack}: {len(st.services)} service(s) deployed"


async def apply_marathon(client: ApiClient, doc: dict[str, Any], fmt: str, *, force: bool) -> str:
    """PUT a Marathon app (created, or replaced) or group through the ``MarathonBackend``."""
    from shoal.compat.marathon.backend import MarathonBackend
    from shoal.formats.marathon import ids

    b = MarathonBackend(client)
    if fmt == "marathon-app":
        app_id = ids.canonical(str(doc["id"]))
        status, out = await b.update_app(app_id, doc, partial=False, force=force)
        return f"marathon app {app_id} {'created' if status == 201 else 'configured'} (deployment {out['deploymentId']})"
    gid = ids.canonical(str(doc.get("id") or "/"))
    _, out = await b.put_group(doc, gid=gid, create=False, force=force)
    return f"marathon group {gid} configured (deployment {out['deploymentId']})"


async def apply_ecs(client: ApiClient, doc: dict[str, Any], fmt: str, *, cluster: str | None) -> str:
    """Register an ECS task definition (unless unchanged), or create or update an ECS service."""
    from shoal.compat.ecs.authz import Caller
    from shoal.compat.ecs.backend import EcsBackend
    from shoal.formats.ecs import detect as ecs_detect
    from shoal.formats.ecs import taskdef

    b = EcsBackend(client)
    me = Caller(*ECS_ME)
    region = b.region
    if fmt == "ecs-task-definition":
        req = ecs_detect.task_definition_request(doc)
        wanted = taskdef.normalise(req)
        try:
            stored, _ = await b._find_td(wanted["family"])
            if {k: v for k, v in stored.items() if k != "revision"} == wanted:
                return f"task definition {wanted['family']}:{stored['revision']} unchanged"
        except EcsError:
            pass
        out = await b.register_task_definition(req, me, region)
        return f"task definition {wanted['family']}:{out['taskDefinition']['revision']} registered"
    req = dict(doc)
    if cluster:
        req["cluster"] = cluster
    try:
        out = await b.create_service(req, me, region)
        return f"service {out['service']['serviceName']} created"
    except EcsError as e:
        if e.message != "Creation of service was not idempotent.":
            raise
    update: dict[str, Any] = {k: req[k] for k in ("cluster", "taskDefinition", "desiredCount", "deploymentConfiguration",
                                                  "placementConstraints", "placementStrategy", "loadBalancers",
                                                  "healthCheckGracePeriodSeconds") if k in req}
    out = await b.update_service({**update, "service": req["serviceName"]}, me, region)
    return f"service {out['service']['serviceName']} configured"
