"""HTTP handlers: Kubernetes REST requests in, JSON (or Tables, or watch streams) out.

This layer only translates: it parses paths, query parameters and bodies,
calls ``Resource`` (where the semantics live) and encodes the answer. Lists are
assembled from stored bytes without decoding unless a selector or a Table needs
the objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

import msgspec
import yaml
from aiohttp import web

from shoal.api import protobuf, selectors
from shoal.api.crd.kind import custom_of
from shoal.api.registry import ResourceInfo
from shoal.api.served import ServedKinds
from shoal.apiserver import admission, errors, fieldmanager, leanhttp, rawobj, routing, tables
from shoal.apiserver.audit import recorder as audit_recorder
from shoal.apiserver.prefilter import label_needles
from shoal.apiserver.resource import Resource, Result
from shoal.apiserver.strategies import Strategy
from shoal.apiserver.watchcache import Broadcaster, TooOldError

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024
JSON = "application/json"
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)

# field selectors every kind supports
_META_FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace"})

_yaml_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Events already queued for a watcher are written together, up to this many at a time.
_WATCH_BURST = 256


_BOUND = msgspec.json.encode({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _table_version(request: web.Request) -> str:
    """The Table version of the first Table media type the client accepts."""
    for part in request.headers.get("Accept", "").split(","):
        if "as=Table" in part:
            return "v1beta1" if "v=v1beta1" in part else "v1"
    return "v1"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return web.Response(body=raw, status=status, content_type=JSON, headers=headers)


def _warning_headers(warnings: list[str]) -> dict[str, str]:
    if not warnings:
        return {}
    # aiohttp takes one value per header name; kubectl splits on commas between quoted warnings.
    # A warning may quote the client's own field names: control characters in a header would
    # make aiohttp drop the connection, so they are escaped.
    return {"Warning": ", ".join(f'299 - "{_header_safe(w)}"' for w in warnings)}


def _header_safe(text: str) -> str:
    # quotes and backslashes as a quoted-string's escapes (RFC 9110), which client-go's parser undoes
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return "".join(c if c >= " " and c != "\x7f" else f"\\x{ord(c):02x}" for c in quoted)


def _bool(request: web.Request, name: str) -> bool:
    v = request.query.get(name, "")
    return v.lower() in ("1", "true", "yes")


def _int(request: web.Request, name: str) -> int | None:
    v = request.query.get(name)
    if v is None or v == "":
        return None
    try:
        n = int(v)
    except ValueError:
        raise errors.bad_request(f"{name}: invalid integer {v!r}") from None
    if not -(2**63) <= n < 2**63:  # int64, as upstream; the store cannot take more
        raise errors.bad_request(f"{name}: integer out of range {v!r}")
    return n


def _dry_run(request: web.Request, body: dict[str, Any] | None = None) -> bool:
    vals = request.query.getall("dryRun", [])
    if body and isinstance(body.get("dryRun"), list):
        vals = [*vals, *body["dryRun"]]
    for v in vals:
        if v != "All":
            raise errors.bad_request(f'dryRun: Unsupported value: "{v}": supported values: "All"')
    return bool(vals)


def _manager(request: web.Request, options_kind: str) -> str:
    """The writer of a create, update or patch: ``fieldManager``, else the User-Agent's product."""
    fm = request.query.get("fieldManager", "")
    fieldmanager.check_manager(fm, options_kind)
    return fieldmanager.manager_name(fm, request.headers.get("User-Agent", ""))


def _field_validation(request: web.Request) -> str:
    v = request.query.get("fieldValidation", "")
    if v == "":
        return "Warn"  # upstream's default for servers that validate fields
    if v not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(f'fieldValidation: Unsupported value: "{v}": supported values: "Ignore", "Strict", "Warn"')
    return v


# the body of a request aiohttp served, once a handler has read it (the lean path has it as ``request.body``)
BODY_KEY: web.RequestKey[bytes] = web.RequestKey("body", bytes)


async def read_body(request: web.Request) -> bytes:
    if isinstance(request, leanhttp.Request):  # read whole already, and at most leanhttp.MAX_BODY
        return request.body
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.too_large(MAX_BODY)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY:
            raise errors.too_large(MAX_BODY)
        chunks.append(chunk)
    body = request[BODY_KEY] = b"".join(chunks)  # for the audit log's requestObject
    return body


_YAML = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "application/apply-patch+yaml"})
_PROTOBUF = "application/vnd.kubernetes.protobuf"


def is_json(content_type: str) -> bool:
    """Whether ``parse_body`` reads a body of this type as JSON (anything not YAML or protobuf)."""
    ct = content_type.split(";")[0].strip().lower()
    return ct not in _YAML and ct != _PROTOBUF


def parse_body(raw: bytes, content_type: str) -> Any:
    ct = content_type.split(";")[0].strip().lower()
    if not raw.strip():
        raise errors.bad_request("the request body is empty")
    if ct == _PROTOBUF:
        try:
            return protobuf.decode_k8s_protobuf(raw)
        except protobuf.ProtobufError as e:
            raise errors.bad_request(f"the body of the request could not be decoded as protobuf: {e}") from None
    try:
        if ct in _YAML:
            body = _json_as_yaml(raw)
            if body is None:
                body = yaml.load(raw, Loader=_yaml_loader)  # noqa: S506 - a safe loader
            elif admission.json_within_shape(raw):
                return body
        else:
            body = msgspec.json.decode(raw)
            if admission.json_within_shape(raw):
                return body
    except (msgspec.DecodeError, yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
        kind = "YAML" if "yaml" in ct else "JSON"
        raise errors.bad_request(f"the body of the request could not be decoded as {kind}: {e}") from None
    admission.check_shape(body)  # deep nesting, or YAML aliases making a cycle or a billion nodes
    return body


def _json_as_yaml(raw: bytes) -> Any:
    """A YAML body that is a JSON object (what client-go sends as an apply patch), decoded as JSON,
    which is YAML and ~10x faster to read that way; None when it is not JSON."""
    if raw.lstrip()[:1] != b"{":
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None


class Matcher:
    """A label selector and a field selector, as one predicate over object dicts."""

    __slots__ = ("fields", "labels", "needles")

    def __init__(self, labels: selectors.Selector | None, fields: selectors.FieldSelector | None) -> None:
        self.labels = labels
        self.fields = fields
        self.needles = label_needles(labels)  # a cheap first test on the stored bytes (``prefilter``)

    def __call__(self, obj: dict[str, Any]) -> bool:
        if self.labels is not None and not self.labels.matches((obj.get("metadata") or {}).get("labels")):
            return False
        return self.fields is None or self.fields.matches(obj)


def build_match(strategy: Strategy, request: web.Request) -> Matcher | None:
    """Combine labelSelector and fieldSelector (of those the kind supports) into one predicate."""
    ls = request.query.get("labelSelector", "")
    fs = request.query.get("fieldSelector", "")
    if not ls and not fs:
        return None
    try:
        lsel = selectors.parse_selector(ls) if ls else None
        fsel = selectors.parse_field_selector(fs) if fs else None
    except selectors.SelectorError as e:
        raise errors.bad_request(str(e)) from None
    if fsel is not None:
        allowed = strategy.field_labels
        for req in fsel.requirements:
            if req.field not in allowed and req.field not in _META_FIELD_LABELS:
                raise errors.bad_request(f'field label not supported: {req.field}')
    return Matcher(lsel, fsel)


def delete_options(request: web.Request, opts: dict[str, Any]) -> dict[str, Any]:
    """``opts`` (a DeleteOptions body, or an eviction's) checked and merged with the query's parameters."""
    g = _int(request, "gracePeriodSeconds")
    if g is not None:
        opts["gracePeriodSeconds"] = g
    if "gracePeriodSeconds" in opts:
        gv = opts["gracePeriodSeconds"]
        if gv is not None and (not isinstance(gv, int) or isinstance(gv, bool) or not -(2**63) <= gv < 2**63):
            raise errors.bad_request("gracePeriodSeconds must be an integer")
    pre = opts.get("preconditions")
    if pre is not None and (not isinstance(pre, dict) or any(
            not isinstance(pre.get(k), str | None) for k in ("uid", "resourceVersion"))):
        raise errors.bad_request("preconditions must be an object with string uid and resourceVersion")
    pp = request.query.get("propagationPolicy") or opts.get("propagationPolicy")
    if pp is not None and pp not in ("Orphan", "Background", "Foreground"):
        raise errors.bad_request(f'propagationPolicy: Unsupported value: "{pp}": supported values: "Foreground", "Background", "Orphan"')
    orphan = opts.get("orphanDependents")
    if pp is not None and orphan is not None:
        raise errors.invalid("DeleteOptions", "", [{
            "reason": "FieldValueInvalid", "field": "propagationPolicy",
            "message": "Invalid value: orphanDependents and propagationPolicy cannot both be set"}])
    if pp is None and isinstance(orphan, bool):
        pp = "Orphan" if orphan else "Background"  # the deprecated form
    opts["propagationPolicy"] = pp
    return opts


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def _as_int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _set_path(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of ``obj`` with ``value`` at ``path`` (the dicts on the way copied, or made)."""
    out = dict(obj)
    if len(path) == 1:
        out[path[0]] = value
        return out
    inner = out.get(path[0])
    out[path[0]] = _set_path(inner if isinstance(inner, dict) else {}, path[1:], value)
    return out


def broadcaster_key(info: ResourceInfo) -> str:
    """Which watch cache serves a resource: its storage prefix, or the one its entry names (a second version
    of a stored kind, served converted, has a cache of its own over the same keys)."""
    return str(info.extra.get("broadcaster", info.storage_prefix))


def resource_key(info: ResourceInfo) -> tuple[str, str, str]:
    """How a server keys its storage ``Resource``s: one per served (group, version, plural)."""
    return (info.group, info.version, info.plural)


class Handlers:
    """Request handlers bound to the resources and watch caches of one server."""

    def __init__(
        self,
        resources: dict[tuple[str, str, str], Resource],
        broadcasters: dict[str, Broadcaster],
        *,
        bookmark_interval: float = 5.0,
        served: ServedKinds | None = None,
    ) -> None:
        self.resources = resources
        self.broadcasters = broadcasters
        self.bookmark_interval = bookmark_interval
        self.served = served

    def resource(self, info: ResourceInfo) -> Resource:
        res = self.resources.get(resource_key(info))
        if res is None:  # a custom kind whose CRD went away between routing and now
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        return res

    # ---- responses -----------------------------------------------------------------
    def _object_response(self, request: web.Request, res: Resource, r: Result, status: int = 200) -> web.Response:
        if wants_table(request) and request.method == "GET":
            return _json(self._table(request, res, [r.obj], rev=r.obj["metadata"].get("resourceVersion")))
        return web.Response(body=r.raw, status=status, content_type=JSON, headers=_warning_headers(r.warnings))

    def _table(self, request: web.Request, res: Resource, objs: list[dict[str, Any]], *, rev: str | None = None,
               cont: str | None = None) -> dict[str, Any]:
        include = request.query.get("includeObject", "Metadata")
        lm: dict[str, Any] | None = None
        if rev is not None or cont:
            lm = {}
            if rev is not None:
                lm["resourceVersion"] = rev
            if cont:
                lm["continue"] = cont
        try:
            return tables.render_table(res.strategy.printer, objs, include_object=include, now=dt.datetime.now(dt.UTC),
                                       list_meta=lm, table_version=_table_version(request))
        except tables.TableError as e:
            raise errors.bad_request(str(e)) from None

    # ---- entry point ---------------------------------------------------------------
    async def handle(self, request: web.Request, target: routing.Target | None = None) -> web.StreamResponse:
        """Serve one request; ``target`` is its parsed path when the caller has parsed it already."""
        if target is None:
            try:
                target = routing.parse(request.path, self.served)
            except routing.RouteError:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource") from None
        info, ns, name, sub = target.info, target.namespace, target.name, target.subresource
        res = self.resource(info)
        m = request.method
        if sub == "scale":
            return await self._scale(request, res, ns, name or "")
        if sub == "binding":
            if m != "POST":
                raise errors.method_not_allowed()
            return await self._binding(request, res, ns, name or "")
        if sub == "eviction":
            if m != "POST":
                raise errors.method_not_allowed()
            return await self._evict(request, res, ns, name or "")
        if sub in ("log", "exec", "attach", "portforward"):
            return await self._node_proxy(request, res, ns, name or "", sub)
        if sub == "finalize":
            if m != "PUT":
                raise errors.method_not_allowed()
            return await self._finalize(request, res, name or "")
        if name is None:
            if m == "GET":
                if _bool(request, "watch"):
                    return await self._watch(request, res, ns)
                return await self._list(request, res, ns)
            if m == "POST":
                body = parse_body(await read_body(request), request.content_type)
                audit_recorder.log_request_object(body)
                r = await res.create(ns, body, dry_run=_dry_run(request), field_validation=_field_validation(request),
                                     shape_checked=True, json_body=is_json(request.content_type),
                                     manager=_manager(request, "CreateOptions"))
                return self._object_response(request, res, r, 201)
            if m == "DELETE":
                return await self._delete_collection(request, res, ns)
            raise errors.method_not_allowed()
        if m == "GET" and sub in ("", "status", "approval", "ephemeralcontainers"):
            return self._object_response(request, res, await res.get(ns, name))
        if m == "PUT":
            body = parse_body(await read_body(request), request.content_type)
            audit_recorder.log_request_object(body)
            r = await res.update(ns, name, body, subresource=sub, dry_run=_dry_run(request),
                                 field_validation=_field_validation(request),
                                 manager=_manager(request, "UpdateOptions"))
            return self._object_response(request, res, r)
        if m == "PATCH":
            ct = request.content_type
            if ct not in PATCH_TYPES:
                raise errors.unsupported_media(ct)
            is_apply = ct == fieldmanager.APPLY_PATCH
            fm = request.query.get("fieldManager", "")
            force = fieldmanager.check_apply_options(fm, request.query.get("force"), is_apply=is_apply)
            raw = await read_body(request)
            if is_apply:
                config = parse_body(raw, ct)
                r = await res.apply(ns, name, config, manager=fm, force=force, subresource=sub,
                                    dry_run=_dry_run(request), field_validation=_field_validation(request))
                return self._object_response(request, res, r, 201 if r.created else 200)
            r = await res.patch(ns, name, raw, ct, subresource=sub, dry_run=_dry_run(request),
                                field_validation=_field_validation(request),
                                manager=fieldmanager.manager_name(fm, request.headers.get("User-Agent", "")))
            return self._object_response(request, res, r)
        if m == "DELETE" and not sub:
            opts = await self._delete_options(request)
            r = await res.delete(
                ns, name, grace_seconds=opts.get("gracePeriodSeconds"),
                precondition_uid=(opts.get("preconditions") or {}).get("uid"),
                precondition_rv=(opts.get("preconditions") or {}).get("resourceVersion"),
                dry_run=_dry_run(request, opts), propagation=opts.get("propagationPolicy"),
            )
            if r.deleted and not res.strategy.returns_deleted_object:
                md = r.obj["metadata"]
                details = {"name": name, "group": info.group, "kind": info.plural, "uid": md.get("uid")}
                if not info.group:
                    del details["group"]
                return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": details})
            return self._object_response(request, res, r)
        raise errors.method_not_allowed()

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        raw = await read_body(request)
        opts: dict[str, Any] = {}
        if raw.strip():
            body = parse_body(raw, request.content_type or JSON)
            if not isinstance(body, dict):
                raise errors.bad_request("DeleteOptions must be an object")
            opts = body
        return delete_options(request, opts)


    # ---- list / watch ---------------------------------------------------------------
    async def _list(self, request: web.Request, res: Resource, ns: str | None) -> web.StreamResponse:
        match = build_match(res.strategy, request)
        limit = _int(request, "limit") or 0
        if limit < 0:
            raise errors.bad_request("limit must not be negative")
        table = wants_table(request)
        lst = await res.list(
            ns, match=match, needles=match.needles if match is not None else (), limit=limit,
            continue_token=request.query.get("continue") or None,
            resource_version=request.query.get("resourceVersion"),
            resource_version_match=request.query.get("resourceVersionMatch"),
            want_objects=table,
        )
        if table:
            return _json(self._table(request, res, lst.objs or [], rev=str(lst.revision), cont=lst.continue_token))
        meta = {"resourceVersion": str(lst.revision)}
        if lst.continue_token:
            meta["continue"] = lst.continue_token
        head = msgspec.json.encode({"kind": res.list_kind, "apiVersion": res.info.api_version, "metadata": meta})
        body = b"".join((head[:-1], b',"items":[', b",".join(lst.raws), b"]}"))
        return web.Response(body=body, content_type=JSON)

    async def _delete_collection(self, request: web.Request, res: Resource, ns: str | None) -> web.StreamResponse:
        opts = await self._delete_options(request)
        match = build_match(res.strategy, request)
        lst = await res.delete_collection(ns, match=match, grace_seconds=opts.get("gracePeriodSeconds"),
                                          dry_run=_dry_run(request, opts), propagation=opts.get("propagationPolicy"))
        head = msgspec.json.encode({"kind": res.list_kind, "apiVersion": res.info.api_version,
                                    "metadata": {"resourceVersion": str(lst.revision)}})
        return web.Response(body=b"".join((head[:-1], b',"items":[', b",".join(lst.raws), b"]}")), content_type=JSON)

    async def _watch(self, request: web.Request, res: Resource, ns: str | None) -> web.StreamResponse:
        info = res.info
        match = build_match(res.strategy, request)
        bc = self.broadcasters[broadcaster_key(info)]
        rv = request.query.get("resourceVersion", "")
        send_initial = request.query.get("sendInitialEvents")
        bookmarks = _bool(request, "allowWatchBookmarks")
        timeout = _int(request, "timeoutSeconds")
        table = wants_table(request)
        include = request.query.get("includeObject", "Metadata")
        if table and include not in tables.INCLUDE_OBJECT:
            # refuse before the stream starts: once it has, an error can no longer be a response
            raise errors.bad_request(f'unrecognized includeObject value: "{include}"')
        send_initial = send_initial.lower() if send_initial is not None else None
        if send_initial == "true" and (
            request.query.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks
        ):
            raise errors.invalid(
                "ListOptions", "", [{"reason": "FieldValueInvalid", "field": "sendInitialEvents",
                                     "message": "Forbidden: sendInitialEvents is forbidden for watch unless "
                                     "resourceVersionMatch is NotOlderThan and allowWatchBookmarks is true"}])
        initial: list[tuple[bytes, dict[str, Any] | None]] = []
        initial_end = False
        if send_initial == "true" or (rv in ("", "0") and send_initial != "false"):
            lst = await res.list(ns, match=match, want_objects=True)
            initial = list(zip(lst.raws, lst.objs or [], strict=True))
            from_rev = lst.revision
            initial_end = send_initial == "true"
        else:
            try:
                from_rev = int(rv) if rv else 0
            except ValueError:
                from_rev = -1
            if from_rev < 0:
                raise errors.bad_request(f"invalid resourceVersion {rv!r}")
        prefix = info.prefix(ns)
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            watcher = bc.subscribe(prefix=prefix, from_rev=from_rev, match=match,
                                   needles=match.needles if match is not None else ())
        except TooOldError as e:
            st = errors.gone(f"too old resource version: {e.asked} ({e.oldest})").status()
            await resp.write(b'{"type":"ERROR","object":' + msgspec.json.encode(st) + b"}\n")
            await resp.write_eof()  # end the stream: the client lists again
            return resp
        first_table = True

        converting = custom_of(info) is not None  # a custom resource's stored version may not be this one

        async def send(typ: str, raw: bytes, obj: dict[str, Any] | None) -> None:
            nonlocal first_table
            if table and typ != "BOOKMARK":
                o = obj if obj is not None else rawobj.decode(raw)
                if converting:
                    o = res.served_obj(dict(o))
                try:
                    t = tables.watch_event_table(
                        res.strategy.printer, o, now=dt.datetime.now(dt.UTC), first=first_table,
                        include_object=request.query.get("includeObject", "Metadata"),
                        table_version=_table_version(request))
                except tables.TableError as e:
                    raise errors.bad_request(str(e)) from None
                first_table = False
                raw = msgspec.json.encode(t)
            await resp.write(b'{"type":"' + typ.encode() + b'","object":' + raw + b"}\n")

        def bookmark(rev: int, end: bool = False) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": str(rev)}
            if end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            return msgspec.json.encode({"kind": info.kind, "apiVersion": info.api_version, "metadata": meta})

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None
        try:
            for raw, obj in initial:
                await send("ADDED", raw, obj)
            if initial_end:
                await send("BOOKMARK", bookmark(from_rev, True), None)
            last_sent = from_rev
            idle = self.bookmark_interval if bookmarks else 30.0
            queue = watcher.queue
            while True:
                wait = idle
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        break
                if queue.empty():
                    # a timer only while there is nothing to send (not a task and a timer per event)
                    try:
                        async with asyncio.timeout(wait):
                            ev = await queue.get()
                    except TimeoutError:
                        if bookmarks and queue.empty():
                            rev = max(last_sent, bc.last_rev)
                            await send("BOOKMARK", bookmark(rev), None)
                        continue
                else:
                    ev = queue.get_nowait()
                if ev is None:
                    break
                last_sent = ev.rev
                if table:
                    await send(ev.type, ev.raw, ev.obj)
                    continue
                if converting:
                    await send(ev.type, res.served_raw(ev.raw), None)
                    continue
                # what is already queued goes out in the same write (one TLS record, one syscall)
                lines = [ev.line()]
                end = False
                while len(lines) < _WATCH_BURST and not queue.empty():
                    nxt = queue.get_nowait()
                    if nxt is None:
                        end = True
                        break
                    lines.append(nxt.line())
                    last_sent = nxt.rev
                await resp.write(lines[0] if len(lines) == 1 else b"".join(lines))
                if end:
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            bc.unsubscribe(watcher)
        with contextlib.suppress(Exception):
            await resp.write_eof()
        return resp

    # ---- subresources -----------------------------------------------------------------
    def _scale_of(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        md = obj["metadata"]
        custom = custom_of(res.info)
        if custom is not None and custom.scale is not None:
            sp = custom.scale  # the paths the CRD's scale subresource names
            spec_replicas = _dig(obj, sp.spec_replicas)
            status_replicas = _dig(obj, sp.status_replicas)
            sel = _dig(obj, sp.label_selector) if sp.label_selector else None
            selector = sel if isinstance(sel, str) else ""
        else:
            spec_replicas = (obj.get("spec") or {}).get("replicas")
            status_replicas = (obj.get("status") or {}).get("replicas")
            sel = (obj.get("spec") or {}).get("selector")
            if isinstance(sel, dict) and sel and not {"matchLabels", "matchExpressions"} & sel.keys():
                sel = {"matchLabels": sel}  # a ReplicationController's selector is a plain label map
            selector = selectors.selector_to_string(sel) if sel else ""
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md},
            "spec": {"replicas": _as_int(spec_replicas)},
            "status": {"replicas": _as_int(status_replicas), "selector": selector},
        }

    async def _scale(self, request: web.Request, res: Resource, ns: str | None, name: str) -> web.StreamResponse:
        from shoal.api import patch as patchlib
        from shoal.api.kinds import SCALE

        m = request.method
        if m == "GET":
            return _json(self._scale_of(res, (await res.get(ns, name)).obj))
        if m not in ("PUT", "PATCH"):
            raise errors.method_not_allowed()
        raw = await read_body(request)
        current = await res.get(ns, name)
        scale = self._scale_of(res, current.obj)
        if m == "PATCH" and request.content_type == fieldmanager.APPLY_PATCH:
            return await self._scale_apply(request, res, ns, name, raw, scale)
        if m == "PUT":
            new = parse_body(raw, request.content_type)
        else:
            if request.content_type not in PATCH_TYPES[:3]:
                raise errors.unsupported_media(request.content_type)
            try:
                new = patchlib.apply_patch(scale, raw, request.content_type, model=SCALE)
            except ValueError as e:  # a PatchError carries its own status (a failed test is 422)
                raise errors.patch_refused(e, request.content_type) from None
        if not isinstance(new, dict):
            raise errors.bad_request("the body of the request must be a Scale object")
        hook_warnings = await self._scale_admission(request, res, ns, name, new, scale)
        replicas = (new.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", name, [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                                  "message": f"Invalid value: {replicas!r}: must be greater than or equal to 0"}],
                                 "autoscaling")
        rv = (new.get("metadata") or {}).get("resourceVersion") if m == "PUT" else None
        body = dict(current.obj)
        custom = custom_of(res.info)
        path = custom.scale.spec_replicas if custom is not None and custom.scale is not None else ("spec", "replicas")
        body = _set_path(body, path, replicas)
        if rv:
            body["metadata"] = dict(body["metadata"], resourceVersion=rv)
        else:
            body["metadata"] = {k: v for k, v in body["metadata"].items() if k != "resourceVersion"}
        r = await res.update(ns, name, body, dry_run=_dry_run(request), field_validation="Ignore",
                             manager=_manager(request, "UpdateOptions" if m == "PUT" else "PatchOptions"),
                             manager_subresource="scale")
        return _json(self._scale_of(res, r.obj), headers=_warning_headers(hook_warnings + r.warnings))

    async def _scale_apply(self, request: web.Request, res: Resource, ns: str | None, name: str, raw: bytes,
                           scale: dict[str, Any]) -> web.StreamResponse:
        """Server-side apply through ``/scale`` (``kubectl apply --server-side --subresource=scale``): the
        Scale's ``spec.replicas`` is applied to the object's replicas field, owned under ``scale``."""
        fm = request.query.get("fieldManager", "")
        force = fieldmanager.check_apply_options(fm, request.query.get("force"), is_apply=True)
        config = parse_body(raw, request.content_type)
        got = config if isinstance(config, dict) else {}
        custom = custom_of(res.info)
        path = custom.scale.spec_replicas if custom is not None and custom.scale is not None else ("spec", "replicas")
        # a Scale, or the object's own kind (what kubectl sends: it maps the manifest's kind to a resource)
        if (got.get("apiVersion"), got.get("kind")) == ("autoscaling/v1", "Scale"):
            replicas = (got.get("spec") or {}).get("replicas")
        elif (got.get("apiVersion"), got.get("kind")) == (res.info.api_version, res.info.kind):
            replicas = _dig(got, path)
        else:
            raise errors.bad_request("invalid object type: " + fieldmanager.gvk_string(
                str(got.get("apiVersion") or ""), str(got.get("kind") or "")))
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", name, [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                                  "message": f"Invalid value: {replicas!r}: must be greater than or equal to 0"}],
                                 "autoscaling")
        new = {**scale, "spec": {"replicas": replicas}}
        warnings = await self._scale_admission(request, res, ns, name, new, scale)
        replicas = (new.get("spec") or {}).get("replicas", replicas)
        parent = _set_path({"apiVersion": res.info.api_version, "kind": res.info.kind, "metadata": {"name": name}},
                           path, replicas)
        r = await res.apply_scale(ns, name, parent, manager=fm, force=force, dry_run=_dry_run(request))
        return _json(self._scale_of(res, r.obj), headers=_warning_headers(warnings + r.warnings))

    async def _scale_admission(self, request: web.Request, res: Resource, ns: str | None, name: str,
                               new: dict[str, Any], old: dict[str, Any]) -> list[str]:
        """Dynamic admission of a write through ``/scale``: webhooks and policies see the Scale (``new`` ends
        as mutating webhooks left it), as upstream's, under ``<resource>/scale``."""
        from shoal.apiserver.auth import CURRENT_USER
        from shoal.apiserver.webhooks.attributes import Attributes

        hooks = res.hooks
        if hooks is None or not hooks.active:
            return []
        info = res.info
        attrs = Attributes(operation="UPDATE", group=info.group, version=info.version, resource=info.plural,
                           subresource="scale", kind="Scale", namespaced=info.namespaced, namespace=ns or "",
                           name=name, obj=new, old=old, dry_run=_dry_run(request), user=CURRENT_USER.get(),
                           kind_group="autoscaling", kind_version="v1")
        warnings = await hooks.mutate(attrs)
        if attrs.obj is not None and attrs.obj is not new:
            new.clear()
            new.update(attrs.obj)
        return warnings + await hooks.validate(attrs)

    async def _binding(self, request: web.Request, res: Resource, ns: str | None, name: str) -> web.StreamResponse:
        body = parse_body(await read_body(request), request.content_type)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a Binding object")
        target = body.get("target") or {}
        node = target.get("name") if isinstance(target, dict) else None
        if not node or not isinstance(node, str):
            raise errors.invalid("Binding", name, [{"reason": "FieldValueRequired", "field": "target.name",
                                                    "message": "Required value"}])
        r = await res.bind(ns, name, node, dry_run=_dry_run(request))
        return _json(_BOUND, status=201, headers=_warning_headers(r.warnings))

    async def _evict(self, request: web.Request, res: Resource, ns: str | None, name: str) -> web.StreamResponse:
        from shoal.apiserver import eviction

        body = parse_body(await read_body(request), request.content_type)
        opts = delete_options(request, eviction.check_body(body, name, ns))
        assert eviction.BUDGETS is not None
        return await eviction.evict(res, self.resource(eviction.BUDGETS), ns, name, opts,
                                    dry_run=_dry_run(request, opts), clock=res.clock)

    async def _finalize(self, request: web.Request, res: Resource, name: str) -> web.StreamResponse:
        body = parse_body(await read_body(request), request.content_type)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a Namespace object")
        fins = (body.get("spec") or {}).get("finalizers") or []
        r = await res.set_spec_finalizers(name, fins)
        return _json(r.raw)

    async def _node_proxy(self, request: web.Request, res: Resource, ns: str | None, name: str,
                          sub: str) -> web.StreamResponse:
        # logs and exec are relayed through the node's agent tunnel
        from shoal.apiserver import streaming

        pod = (await res.get(ns, name)).obj
        return await streaming.node_proxy(request, pod=pod, subresource=sub)
