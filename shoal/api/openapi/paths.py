"""The ``paths`` of a group-version document: every operation shoal serves.

Clients read more from here than the URLs. ``kubectl explain`` finds a
resource's kind through the ``x-kubernetes-group-version-kind`` of the
operations on its collection and item paths, and ``kubectl apply``/``create``
decide that the server validates fields when the PATCH operation of the kind
lists the ``fieldValidation`` query parameter (then they send
``?fieldValidation=Strict``). Parameters are written inline, not by ``$ref``,
because that check reads their names directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shoal.api.openapi.names import META_PACKAGE, short_name
from shoal.api.openapi.schemas import Schema, ref
from shoal.api.registry import ResourceInfo

STATUS = f"{META_PACKAGE}.Status"
DELETE_OPTIONS = f"{META_PACKAGE}.DeleteOptions"
PATCH = f"{META_PACKAGE}.Patch"

PATCH_CONTENT_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_MEDIA_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


@dataclass(frozen=True, slots=True)
class KindRefs:
    """Component names the operations of one resource point at."""

    object: str  # e.g. io.k8s.api.core.v1.Pod
    list: str  # e.g. io.k8s.api.core.v1.PodList
    scale: str | None = None  # autoscaling/v1 Scale, when the resource has /scale
    binding: str | None = None  # core/v1 Binding, when the resource has /binding


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


def _param(
    name: str, where: str, description: str, schema: Schema, *, required: bool = False
) -> Schema:
    out: Schema = {"name": name, "in": where, "description": description, "schema": schema}
    if required:
        out["required"] = True
    return out


def _query(name: str, description: str, kind: str = "string") -> Schema:
    return _param(name, "query", description, {"type": kind, "uniqueItems": True})


PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
DRY_RUN = _query(
    "dryRun",
    "When present, indicates that modifications should not be persisted. "
    "The only valid value is All.",
)
FIELD_MANAGER = _query(
    "fieldManager", "A name associated with the actor or entity that is making these changes."
)
FIELD_VALIDATION = _query(
    "fieldValidation",
    "Instructs the server how to handle objects in the request containing unknown or "
    "duplicate fields: Ignore, Warn (the default) or Strict.",
)
FORCE = _query(
    "force",
    'Force is going to "force" Apply requests: re-acquire conflicting '
    "fields owned by other people. Only for apply patches.",
    "boolean",
)
GRACE_PERIOD = _query(
    "gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"
)
PROPAGATION = _query(
    "propagationPolicy",
    "Whether and how garbage collection will be performed: Orphan, Background or Foreground.",
)
LIST_PARAMS = (
    _query("allowWatchBookmarks", "Requests watch events with type BOOKMARK.", "boolean"),
    _query("continue", "The continue token of a previous, paginated list call."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels."),
    _query("limit", "The maximum number of responses to return for a list call.", "integer"),
    _query(
        "resourceVersion",
        "Sets a constraint on what resource versions a request may be served from.",
    ),
    _query("resourceVersionMatch", "Determines how resourceVersion is applied to list calls."),
    _query(
        "sendInitialEvents",
        "With watch=true, starts the watch stream with synthetic events "
        "producing the current state of objects.",
        "boolean",
    ),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query(
        "watch",
        "Watch for changes to the described resources and return them as a stream "
        "of add, update, and remove notifications.",
        "boolean",
    ),
)
WRITE_PARAMS = (DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION)
DELETE_PARAMS = (DRY_RUN, GRACE_PERIOD, PROPAGATION)


def _path_param(name: str, description: str) -> Schema:
    return _param(name, "path", description, {"type": "string", "uniqueItems": True}, required=True)


NAMESPACE = _path_param("namespace", "object name and auth scope, such as for teams and projects")


def _name_param(kind: str) -> Schema:
    return _path_param("name", f"name of the {kind}")


def _content(schema: Schema, media_types: tuple[str, ...] = _MEDIA_TYPES) -> Schema:
    return {"content": {m: {"schema": schema} for m in media_types}}


def _responses(schema: Schema, *codes: str) -> Schema:
    out: Schema = {}
    for code in codes:
        label = {"200": "OK", "201": "Created", "202": "Accepted"}[code]
        out[code] = {"description": label, **_content(schema)}
    out["401"] = {"description": "Unauthorized"}
    return out


@dataclass(frozen=True, slots=True)
class _Op:
    """The facts one operation needs besides its schemas."""

    action: str  # x-kubernetes-action
    operation_id: str
    description: str
    gvk: dict[str, str]


def _operation(
    op: _Op,
    *,
    tag: str,
    params: tuple[Schema, ...] = (),
    body: Schema | None = None,
    responses: Schema,
) -> Schema:
    out: Schema = {
        "description": op.description,
        "operationId": op.operation_id,
        "tags": [tag],
    }
    if params:
        out["parameters"] = [dict(p) for p in params]
    if body is not None:
        out["requestBody"] = body
    out["responses"] = responses
    out["x-kubernetes-action"] = op.action
    out["x-kubernetes-group-version-kind"] = dict(op.gvk)
    return out


def _camel_group_version(group: str, version: str) -> str:
    label = group.split(".", 1)[0] if group else "core"
    return label[:1].upper() + label[1:] + version[:1].upper() + version[1:]


class _Builder:
    """Collects the path items of one resource."""

    def __init__(self, resource: ResourceInfo, refs: KindRefs) -> None:
        self.r = resource
        self.refs = refs
        self.paths: dict[str, Schema] = {}
        group, version = resource.group, resource.version
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        self.tag = f"{group.split('.', 1)[0] if group else 'core'}_{version}"
        scope = "/namespaces/{namespace}" if resource.namespaced else ""
        self.collection = f"{prefix}{scope}/{resource.plural}"
        self.all_namespaces = f"{prefix}/{resource.plural}"
        self.item = f"{self.collection}/{{name}}"
        self._id_stem = _camel_group_version(resource.group, resource.version)
        self._ns = "Namespaced" if resource.namespaced else ""

    def _id(self, verb: str, suffix: str = "", *, ns: bool = True) -> str:
        return f"{verb}{self._id_stem}{self._ns if ns else ''}{self.r.kind}{suffix}"

    def _kind_gvk(self) -> dict[str, str]:
        return _gvk(self.r.group, self.r.version, self.r.kind)

    def _item(self, path: str) -> Schema:
        item = self.paths.setdefault(path, {})
        if "parameters" not in item:
            params = [_name_param(self.r.kind)]
            if self.r.namespaced:
                params.append(NAMESPACE)
            item["parameters"] = [*params, PRETTY]
        return item

    def _collection_item(self, path: str, *, namespaced: bool) -> Schema:
        item = self.paths.setdefault(path, {})
        if "parameters" not in item:
            item["parameters"] = [NAMESPACE, PRETTY] if namespaced else [PRETTY]
        return item

    def build(self) -> dict[str, Schema]:
        verbs = set(self.r.verbs)
        obj, lst = ref(self.refs.object), ref(self.refs.list)
        kind, gvk, tag = self.r.kind, self._kind_gvk(), self.tag
        if verbs & {"list", "create", "deletecollection"}:
            coll = self._collection_item(self.collection, namespaced=self.r.namespaced)
            if "list" in verbs:
                coll["get"] = _operation(
                    _Op("list", self._id("list"), f"list or watch objects of kind {kind}", gvk),
                    tag=tag,
                    params=LIST_PARAMS,
                    responses=_responses(lst, "200"),
                )
            if "create" in verbs:
                coll["post"] = _operation(
                    _Op("post", self._id("create"), f"create a {kind}", gvk),
                    tag=tag,
                    params=WRITE_PARAMS,
                    body={"required": True, **_content(obj)},
                    responses=_responses(obj, "200", "201", "202"),
                )
            if "deletecollection" in verbs:
                coll["delete"] = _operation(
                    _Op(
                        "deletecollection",
                        self._id("deleteCollection"),
                        f"delete collection of {kind}",
                        gvk,
                    ),
                    tag=tag,
                    params=DELETE_PARAMS + LIST_PARAMS,
                    body=_content(ref(DELETE_OPTIONS)),
                    responses=_responses(ref(STATUS), "200"),
                )
        if self.r.namespaced and "list" in verbs:
            every = self._collection_item(self.all_namespaces, namespaced=False)
            every["get"] = _operation(
                _Op(
                    "list",
                    self._id("list", "ForAllNamespaces", ns=False),
                    f"list or watch objects of kind {kind}",
                    gvk,
                ),
                tag=tag,
                params=LIST_PARAMS,
                responses=_responses(lst, "200"),
            )
        self._object_ops(self.item, verbs, obj=obj, gvk=gvk, suffix="", what=kind)
        for sub in self.r.subresources:
            self._subresource(sub, verbs)
        return self.paths

    def _object_ops(
        self,
        path: str,
        verbs: set[str],
        *,
        obj: Schema,
        gvk: dict[str, str],
        suffix: str,
        what: str,
    ) -> None:
        if not verbs & {"get", "update", "patch", "delete"}:
            return
        item = self._item(path)
        tag = self.tag
        if "get" in verbs:
            item["get"] = _operation(
                _Op("get", self._id("read", suffix), f"read the specified {what}", gvk),
                tag=tag,
                responses=_responses(obj, "200"),
            )
        if "update" in verbs:
            item["put"] = _operation(
                _Op("put", self._id("replace", suffix), f"replace the specified {what}", gvk),
                tag=tag,
                params=WRITE_PARAMS,
                body={"required": True, **_content(obj)},
                responses=_responses(obj, "200", "201"),
            )
        if "patch" in verbs:
            item["patch"] = _operation(
                _Op(
                    "patch",
                    self._id("patch", suffix),
                    f"partially update the specified {what}",
                    gvk,
                ),
                tag=tag,
                params=(*WRITE_PARAMS, FORCE),
                body={"required": True, **_content(ref(PATCH), PATCH_CONTENT_TYPES)},
                responses=_responses(obj, "200", "201"),
            )
        if "delete" in verbs and not suffix:
            item["delete"] = _operation(
                _Op("delete", self._id("delete", suffix), f"delete a {what}", gvk),
                tag=tag,
                params=DELETE_PARAMS,
                body=_content(ref(DELETE_OPTIONS)),
                responses=_responses(obj, "200", "202"),
            )

    def _subresource(self, sub: str, verbs: set[str]) -> None:
        path = f"{self.item}/{sub}"
        kind = self.r.kind
        if sub == "status":
            self._object_ops(
                path,
                {"get", "update", "patch"} & verbs,
                obj=ref(self.refs.object),
                gvk=self._kind_gvk(),
                suffix="Status",
                what=f"status of the specified {kind}",
            )
        elif sub == "scale" and self.refs.scale is not None:
            self._object_ops(
                path,
                {"get", "update", "patch"},
                obj=ref(self.refs.scale),
                gvk=_gvk("autoscaling", "v1", "Scale"),
                suffix="Scale",
                what=f"scale of the specified {kind}",
            )
        elif sub == "binding" and self.refs.binding is not None:
            item = self._item(path)
            item["post"] = _operation(
                _Op(
                    "post",
                    self._id("create", "Binding"),
                    f"create binding of a {kind}",
                    _gvk("", "v1", short_name(self.refs.binding)),
                ),
                tag=self.tag,
                params=WRITE_PARAMS,
                body={"required": True, **_content(ref(self.refs.binding))},
                responses=_responses(ref(self.refs.binding), "200", "201", "202"),
            )
        elif sub == "finalize":
            self._object_ops(
                path,
                {"update"},
                obj=ref(self.refs.object),
                gvk=self._kind_gvk(),
                suffix="Finalize",
                what=f"finalize of the specified {kind}",
            )
        elif sub == "log":
            item = self._item(path)
            item["get"] = _operation(
                _Op(
                    "get",
                    self._id("read", "Log"),
                    f"read log of the specified {kind}",
                    self._kind_gvk(),
                ),
                tag=self.tag,
                params=tuple(_query(n, d, t) for n, d, t in _LOG_PARAMS),
                responses={
                    "200": {
                        "description": "OK",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": {"description": "Unauthorized"},
                },
            )
        elif sub == "exec":
            item = self._item(path)
            gvk = _gvk(self.r.group, self.r.version, f"{kind}ExecOptions")
            for verb in ("get", "post"):
                item[verb] = _operation(
                    _Op(
                        "connect",
                        self._id(f"connect{verb.capitalize()}", "Exec"),
                        f"connect {verb.upper()} requests to exec of {kind}",
                        gvk,
                    ),
                    tag=self.tag,
                    params=tuple(_query(n, d, t) for n, d, t in _EXEC_PARAMS),
                    responses={
                        "200": {
                            "description": "OK",
                            "content": {"*/*": {"schema": {"type": "string"}}},
                        },
                        "401": {"description": "Unauthorized"},
                    },
                )
        elif sub == "eviction":
            item = self._item(path)
            item["post"] = _operation(
                _Op(
                    "post",
                    self._id("create", "Eviction"),
                    f"create eviction of a {kind}",
                    _gvk("policy", "v1", "Eviction"),
                ),
                tag=self.tag,
                params=WRITE_PARAMS,
                body={"required": True, **_content({"type": "object"})},
                responses=_responses({"type": "object"}, "200", "201", "202"),
            )


_LOG_PARAMS: tuple[tuple[str, str, str], ...] = (
    ("container", "The container for which to stream logs.", "string"),
    ("follow", "Follow the log stream of the pod.", "boolean"),
    ("previous", "Return previous terminated container logs.", "boolean"),
    (
        "sinceSeconds",
        "A relative time in seconds before the current time from which to show logs.",
        "integer",
    ),
    ("tailLines", "The number of lines from the end of the logs to show.", "integer"),
    ("timestamps", "Add an RFC3339 timestamp at the beginning of every line.", "boolean"),
    (
        "limitBytes",
        "The number of bytes to read from the server before terminating the log output.",
        "integer",
    ),
)
_EXEC_PARAMS: tuple[tuple[str, str, str], ...] = (
    ("command", "Command is the remote command to execute; argv array.", "string"),
    ("container", "Container in which to execute the command.", "string"),
    ("stdin", "Redirect the standard input stream of the pod for this call.", "boolean"),
    ("stdout", "Redirect the standard output stream of the pod for this call.", "boolean"),
    ("stderr", "Redirect the standard error stream of the pod for this call.", "boolean"),
    ("tty", "Allocate a terminal for this exec call.", "boolean"),
)


def resource_paths(resource: ResourceInfo, refs: KindRefs) -> dict[str, Any]:
    """The path items (URL template -> operations) of one served resource."""
    return _Builder(resource, refs).build()
