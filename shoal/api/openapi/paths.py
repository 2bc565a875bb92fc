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
    # the PATCH media types: custom resources take no strategic merge patch, and kubectl's apply reads
    # this list to choose between a strategic merge patch and a JSON merge patch
    patch_types: tuple[str, ...] = PATCH_CONTENT_TYPES


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


def _param(
    name: str, *, where: str, description: str, schema: Schema, required: bool = False
) -> Schema:
    out: Schema = {"name": name, "in": where, "description": description, "schema": schema}
    if required:
        out["required"] = True
    return out


def _query(name: str, description: str, *, kind: str = "string") -> Schema:
    return _param(
        name, where="query", description=description, schema={"type": kind, "uniqueItems": True}
    )


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
    kind="boolean",
)
GRACE_PERIOD = _query(
    "gracePeriodSeconds",
    "The duration in seconds before the object should be deleted.",
    kind="integer",
)
PROPAGATION = _query(
    "propagationPolicy",
    "Whether and how garbage collection will be performed: Orphan, Background or Foreground.",
)
LIST_PARAMS = (
    _query("allowWatchBookmarks", "Requests watch events with type BOOKMARK.", kind="boolean"),
    _query("continue", "The continue token of a previous, paginated list call."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels."),
    _query("limit", "The maximum number of responses to return for a list call.", kind="integer"),
    _query(
        "resourceVersion",
        "Sets a constraint on what resource versions a request may be served from.",
    ),
    _query("resourceVersionMatch", "Determines how resourceVersion is applied to list calls."),
    _query(
        "sendInitialEvents",
        "With watch=true, starts the watch stream with synthetic events "
        "producing the current state of objects.",
        kind="boolean",
    ),
    _query("timeoutSeconds", "Timeout for the list/watch call.", kind="integer"),
    _query(
        "watch",
        "Watch for changes to the described resources and return them as a stream "
        "of add, update, and remove notifications.",
        kind="boolean",
    ),
)
WRITE_PARAMS = (DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION)
DELETE_PARAMS = (DRY_RUN, GRACE_PERIOD, PROPAGATION)


def _path_param(name: str, description: str) -> Schema:
    schema = {"type": "string", "uniqueItems": True}
    return _param(name, where="path", description=description, schema=schema, required=True)


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


LOG_PARAMS = (
    _query("container", "The container for which to stream logs."),
    _query("follow", "Follow the log stream of the pod.", kind="boolean"),
    _query("previous", "Return previous terminated container logs.", kind="boolean"),
    _query(
        "sinceSeconds",
        "A relative time in seconds before the current time from which to show logs.",
        kind="integer",
    ),
    _query("tailLines", "The number of lines from the end of the logs to show.", kind="integer"),
    _query(
        "timestamps", "Add an RFC3339 timestamp at the beginning of every line.", kind="boolean"
    ),
    _query(
        "limitBytes",
        "The number of bytes to read from the server before terminating the log output.",
        kind="integer",
    ),
)
EXEC_PARAMS = (
    _query("command", "Command is the remote command to execute; argv array."),
    _query("container", "Container in which to execute the command."),
    _query("stdin", "Redirect the standard input stream of the pod for this call.", kind="boolean"),
    _query(
        "stdout", "Redirect the standard output stream of the pod for this call.", kind="boolean"
    ),
    _query(
        "stderr", "Redirect the standard error stream of the pod for this call.", kind="boolean"
    ),
    _query("tty", "Allocate a terminal for this exec call.", kind="boolean"),
)


def _text_responses(media_type: str) -> Schema:
    return {
        "200": {"description": "OK", "content": {media_type: {"schema": {"type": "string"}}}},
        "401": {"description": "Unauthorized"},
    }


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
        self.gvk = _gvk(group, version, resource.kind)
        self._id_stem = _camel_group_version(group, version)
        self._ns = "Namespaced" if resource.namespaced else ""

    def _id(self, verb: str, suffix: str = "", *, ns: bool = True) -> str:
        return f"{verb}{self._id_stem}{self._ns if ns else ''}{self.r.kind}{suffix}"

    def _op(
        self,
        *,
        action: str,
        operation_id: str,
        description: str,
        responses: Schema,
        gvk: dict[str, str] | None = None,
        params: tuple[Schema, ...] = (),
        body: Schema | None = None,
    ) -> Schema:
        out: Schema = {
            "description": description,
            "operationId": operation_id,
            "tags": [self.tag],
        }
        if params:
            out["parameters"] = [dict(p) for p in params]
        if body is not None:
            out["requestBody"] = body
        out["responses"] = responses
        out["x-kubernetes-action"] = action
        out["x-kubernetes-group-version-kind"] = dict(gvk or self.gvk)
        return out

    def _path_item(self, path: str, *, named: bool, namespaced: bool) -> Schema:
        item = self.paths.setdefault(path, {})
        if "parameters" not in item:
            params = [_name_param(self.r.kind)] if named else []
            if namespaced:
                params.append(NAMESPACE)
            item["parameters"] = [*params, PRETTY]
        return item

    def build(self) -> dict[str, Schema]:
        verbs = set(self.r.verbs)
        obj, lst, kind = ref(self.refs.object), ref(self.refs.list), self.r.kind
        if verbs & {"list", "create", "deletecollection"}:
            coll = self._path_item(self.collection, named=False, namespaced=self.r.namespaced)
            if "list" in verbs:
                coll["get"] = self._op(
                    action="list",
                    operation_id=self._id("list"),
                    description=f"list or watch objects of kind {kind}",
                    params=LIST_PARAMS,
                    responses=_responses(lst, "200"),
                )
            if "create" in verbs:
                coll["post"] = self._op(
                    action="post",
                    operation_id=self._id("create"),
                    description=f"create a {kind}",
                    params=WRITE_PARAMS,
                    body={"required": True, **_content(obj)},
                    responses=_responses(obj, "200", "201", "202"),
                )
            if "deletecollection" in verbs:
                coll["delete"] = self._op(
                    action="deletecollection",
                    operation_id=self._id("deleteCollection"),
                    description=f"delete collection of {kind}",
                    params=DELETE_PARAMS + LIST_PARAMS,
                    body=_content(ref(DELETE_OPTIONS)),
                    responses=_responses(ref(STATUS), "200"),
                )
        if self.r.namespaced and "list" in verbs:
            every = self._path_item(self.all_namespaces, named=False, namespaced=False)
            every["get"] = self._op(
                action="list",
                operation_id=self._id("list", "ForAllNamespaces", ns=False),
                description=f"list or watch objects of kind {kind}",
                params=LIST_PARAMS,
                responses=_responses(lst, "200"),
            )
        self._object_ops(self.item, verbs, obj=obj, gvk=self.gvk, suffix="")
        for sub in self.r.subresources:
            self._subresource(sub, verbs)
        return self.paths

    def _object_ops(
        self, path: str, verbs: set[str], *, obj: Schema, gvk: dict[str, str], suffix: str
    ) -> None:
        """get/put/patch (and delete, on the object itself) of an object or subresource."""
        if not verbs & {"get", "update", "patch", "delete"}:
            return
        what = f"{suffix.lower()} of the specified {self.r.kind}" if suffix else self.r.kind
        item = self._path_item(path, named=True, namespaced=self.r.namespaced)
        if "get" in verbs:
            item["get"] = self._op(
                action="get",
                operation_id=self._id("read", suffix),
                description=f"read the specified {what}",
                gvk=gvk,
                responses=_responses(obj, "200"),
            )
        if "update" in verbs:
            item["put"] = self._op(
                action="put",
                operation_id=self._id("replace", suffix),
                description=f"replace the specified {what}",
                gvk=gvk,
                params=WRITE_PARAMS,
                body={"required": True, **_content(obj)},
                responses=_responses(obj, "200", "201"),
            )
        if "patch" in verbs:
            item["patch"] = self._op(
                action="patch",
                operation_id=self._id("patch", suffix),
                description=f"partially update the specified {what}",
                gvk=gvk,
                params=(*WRITE_PARAMS, FORCE),
                body={"required": True, **_content(ref(PATCH), self.refs.patch_types)},
                responses=_responses(obj, "200", "201"),
            )
        if "delete" in verbs and not suffix:
            item["delete"] = self._op(
                action="delete",
                operation_id=self._id("delete"),
                description=f"delete a {what}",
                gvk=gvk,
                params=DELETE_PARAMS,
                body=_content(ref(DELETE_OPTIONS)),
                responses=_responses(obj, "200", "202"),
            )

    def _subresource(self, sub: str, verbs: set[str]) -> None:
        path = f"{self.item}/{sub}"
        kind = self.r.kind
        obj = ref(self.refs.object)
        if sub == "status":
            self._object_ops(
                path, {"get", "update", "patch"} & verbs, obj=obj, gvk=self.gvk, suffix="Status"
            )
        elif sub == "finalize":
            self._object_ops(path, {"update"}, obj=obj, gvk=self.gvk, suffix="Finalize")
        elif sub == "approval":
            self._object_ops(path, {"get", "update", "patch"} & verbs, obj=obj, gvk=self.gvk, suffix="Approval")
        elif sub == "scale" and self.refs.scale is not None:
            scale_gvk = _gvk("autoscaling", "v1", "Scale")
            scale = ref(self.refs.scale)
            self._object_ops(
                path, {"get", "update", "patch"}, obj=scale, gvk=scale_gvk, suffix="Scale"
            )
        elif sub == "binding" and self.refs.binding is not None:
            binding = ref(self.refs.binding)
            self._path_item(path, named=True, namespaced=self.r.namespaced)["post"] = self._op(
                action="post",
                operation_id=self._id("create", "Binding"),
                description=f"create binding of a {kind}",
                gvk=_gvk("", "v1", short_name(self.refs.binding)),
                params=WRITE_PARAMS,
                body={"required": True, **_content(binding)},
                responses=_responses(binding, "200", "201", "202"),
            )
        elif sub == "eviction":
            anything: Schema = {"type": "object"}
            self._path_item(path, named=True, namespaced=self.r.namespaced)["post"] = self._op(
                action="post",
                operation_id=self._id("create", "Eviction"),
                description=f"create eviction of a {kind}",
                gvk=_gvk("policy", "v1", "Eviction"),
                params=WRITE_PARAMS,
                body={"required": True, **_content(anything)},
                responses=_responses(anything, "200", "201", "202"),
            )
        elif sub == "log":
            self._path_item(path, named=True, namespaced=self.r.namespaced)["get"] = self._op(
                action="get",
                operation_id=self._id("read", "Log"),
                description=f"read log of the specified {kind}",
                params=LOG_PARAMS,
                responses=_text_responses("text/plain"),
            )
        elif sub == "exec":
            item = self._path_item(path, named=True, namespaced=self.r.namespaced)
            exec_gvk = _gvk(self.r.group, self.r.version, f"{kind}ExecOptions")
            for verb in ("get", "post"):
                item[verb] = self._op(
                    action="connect",
                    operation_id=self._id(f"connect{verb.capitalize()}", "Exec"),
                    description=f"connect {verb.upper()} requests to exec of {kind}",
                    gvk=exec_gvk,
                    params=EXEC_PARAMS,
                    responses=_text_responses("*/*"),
                )


def resource_paths(resource: ResourceInfo, refs: KindRefs) -> dict[str, Any]:
    """The path items (URL template -> operations) of one served resource.

    Verbs the resource does not allow get no operation; subresources shoal does
    not know are left out.
    """
    return _Builder(resource, refs).build()
