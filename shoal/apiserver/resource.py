"""Generic REST storage: the Kubernetes verbs for one resource over the Store.

This is where API semantics live, independent of HTTP: optimistic concurrency
(resourceVersion = the store's mod revision, 409 on a stale one), generateName,
uid and timestamps, generation bumps on spec changes, finalizers and graceful
deletion, the status and scale subresources, patches (retried on a concurrent
write, as upstream's GuaranteedUpdate does), dry run, and list pagination with
continue tokens tied to a store revision.

Nothing here asks which kind it serves: every per-kind rule (what a write may
set, validation, admission against other objects, deletion rules, address
allocation) is the resource's ``Strategy`` (``shoal.apiserver.strategies``), and
what a DELETE does is decided by the pure ``deleteplan.plan_delete``, which
``delete`` only carries out.

Every write goes through the strategy's validation and admission before the
store sees it, and the store write is a single conditional operation, so a
refused request changes nothing and no object is ever half-written.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from shoal.api import apply as applylib
from shoal.api import patch as patchlib
from shoal.api.crd.kind import custom_of
from shoal.api.registry import ResourceInfo
from shoal.api.validation_base import dns1123_subdomain
from shoal.apiserver import admission, deleteplan, errors, fieldmanager, ids, rawobj
from shoal.apiserver.auth import CURRENT_USER
from shoal.apiserver.authn.components import node_name
from shoal.apiserver.authz import noderestriction
from shoal.apiserver.authz.rbac import forbidden
from shoal.apiserver.clock import Clock, fmt_time, utcnow
from shoal.apiserver.deleteplan import (
    Conflict,
    DeleteOptions,
    MarkTerminating,
    RemoveNow,
    Unchanged,
)
from shoal.apiserver.encryption.store import is_stale
from shoal.apiserver.policyadmission import PolicyAdmission
from shoal.apiserver.prefilter import may_match
from shoal.apiserver.strategies.base import SERVER_OWNED, DefaultStrategy, Strategy, Undo
from shoal.apiserver.webhooks.attributes import Attributes
from shoal.store.base import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    NotFoundError,
    Store,
)

if TYPE_CHECKING:
    from shoal.apiserver.webhooks.chain import AdmissionChain

__all__ = ["Clock", "ListResult", "Match", "Resource", "Result", "fmt_time", "utcnow"]

Match = Callable[[dict[str, Any]], bool]

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_MAX_RETRIES = 16
# subresources whose writes the server itself builds from the current object
_INTERNAL = frozenset({"binding", "finalize"})


@dataclass(slots=True)
class Result:
    """An object as returned to the client, with any warnings for the response."""

    obj: dict[str, Any]
    raw: bytes
    warnings: list[str]
    created: bool = False
    deleted: bool = False  # the object is gone (not merely marked for deletion)


@dataclass(slots=True)
class ListResult:
    raws: list[bytes]
    objs: list[dict[str, Any]] | None
    revision: int
    continue_token: str | None


def _without_rv(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def encode_continue(rev: int, start: str) -> str:
    data = json.dumps({"v": "meta.k8s.io/v1", "rv": rev, "start": start}).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        pad = "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(token + pad))
        rev, start = data["rv"], data["start"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.bad_request("continue key is not valid: invalid continue token") from None
    # only tokens this server could have issued: a non-negative integer revision and a key
    if not isinstance(rev, int) or isinstance(rev, bool) or rev < 0 or not isinstance(start, str):
        raise errors.bad_request("continue key is not valid: invalid continue token")
    return rev, start


class Resource:
    """The verbs of one resource (e.g. pods) over a store."""

    def __init__(
        self,
        store: Store,
        info: ResourceInfo,
        *,
        clock: Clock = utcnow,
        namespace_lookup: Callable[[str], Any] | None = None,
        strategy: Strategy | None = None,
        policy: PolicyAdmission | None = None,
    ) -> None:
        self.store = store
        # the namespace's LimitRanges, Pod Security level and ResourceQuotas, on every create
        self.policy = policy
        self.info = info
        # every rule of this kind (``shoal.apiserver.strategies``); a generic kind's by default
        self.strategy: Strategy = strategy if strategy is not None else DefaultStrategy(info)
        self.clock = clock
        self.namespace_lookup = namespace_lookup
        # A custom resource is stored in its CRD's storage version and read in the version asked for
        # (``None`` conversion: only apiVersion differs); built-in kinds have one version.
        custom = custom_of(info)
        self.stored_api_version = custom.storage_api_version if custom is not None else info.api_version
        self.list_kind = custom.list_kind if custom is not None else f"{info.kind}List"
        self._served_av = info.api_version.encode() if custom is not None else None
        # dynamic admission (webhooks, policies); None: none (a server's resources share one)
        self.hooks: AdmissionChain | None = None

    # ---- helpers -------------------------------------------------------------------
    def _attributes(self, operation: str, ns: str | None, name: str, *, obj: dict[str, Any] | None,
                    old: dict[str, Any] | None, subresource: str = "", dry_run: bool = False,
                    manager: str = "") -> Attributes:
        from shoal.apiserver.auth import CURRENT_USER

        info = self.info
        return Attributes(operation=operation, group=info.group, version=info.version, resource=info.plural,
                          subresource=subresource, kind=info.kind, namespaced=info.namespaced,
                          namespace=ns or "", name=name, obj=obj, old=old, dry_run=dry_run,
                          user=CURRENT_USER.get(),
                          options={"fieldManager": manager} if manager and operation != "DELETE" else {})

    def _nf(self, name: str) -> errors.ApiError:
        return errors.not_found(self.info.plural, name, self.info.group)

    def _conflict(self, name: str, why: str | None = None) -> errors.ApiError:
        return errors.conflict(self.info.plural, name, self.info.group, why)

    def _result(self, obj: dict[str, Any], rev: int, warnings: list[str], created: bool = False,
                stored: bytes | None = None) -> Result:
        """The answer to a write; ``stored``: the bytes just written, answered with the revision spliced
        in (as a GET of them would be) rather than encoded a second time."""
        obj = rawobj.canonical(obj)
        obj["metadata"]["resourceVersion"] = str(rev)
        raw = rawobj.with_rv(stored, rev) if stored is not None else rawobj.encode(obj)
        if self._served_av is not None:
            obj["apiVersion"] = self.info.api_version
            raw = rawobj.with_api_version(raw, self._served_av)
        return Result(obj, raw, warnings, created)

    def served_raw(self, raw: bytes) -> bytes:
        """Stored bytes as this version serves them (a custom resource's apiVersion; else unchanged)."""
        return raw if self._served_av is None else rawobj.with_api_version(raw, self._served_av)

    def served_obj(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self._served_av is not None:
            obj["apiVersion"] = self.info.api_version
        return obj

    async def _get_kv(self, ns: str | None, name: str) -> KeyValue:
        kv = await self.store.get(self.info.key(ns, name))
        if kv is None:
            raise self._nf(name)
        return kv

    def _set_type(self, obj: dict[str, Any]) -> None:
        obj["apiVersion"] = self.info.api_version
        obj["kind"] = self.info.kind

    def _set_stored_type(self, obj: dict[str, Any]) -> None:
        obj["apiVersion"] = self.stored_api_version
        obj["kind"] = self.info.kind

    def _check_body_identity(self, data: Any, ns: str | None, name: str | None) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise errors.bad_request("the body of the request must be a JSON or YAML object")
        av, kind = data.get("apiVersion"), data.get("kind")
        if kind is not None and kind != self.info.kind:
            raise errors.bad_request(
                f"the API version in the data ({av}) does not match the expected API version "
                f"({self.info.api_version})"
                if av not in (None, self.info.api_version)
                else f'kind "{kind}" in the request body does not match the resource "{self.info.plural}" ({self.info.kind})'
            )
        if av is not None and av != self.info.api_version:
            raise errors.bad_request(
                f"the API version in the data ({av}) does not match the expected API version ({self.info.api_version})"
            )
        meta = data.get("metadata")
        if meta is None:
            meta = data["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata: must be an object")
        if self.info.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and ns and body_ns != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            if ns:
                meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if name is not None:
            body_name = meta.get("name")
            if body_name and body_name != name:
                raise errors.bad_request(
                    f"the name of the object ({body_name}) does not match the name on the URL ({name})"
                )
            meta["name"] = name
        self._set_type(data)
        return data

    async def _check_namespace(self, ns: str | None) -> None:
        if not self.info.namespaced or self.namespace_lookup is None or ns is None:
            return
        nsobj = await self.namespace_lookup(ns)
        if nsobj is None:
            raise errors.not_found("namespaces", ns)
        if (nsobj.get("metadata") or {}).get("deletionTimestamp"):
            raise errors.forbidden(
                f'{self.info.plural} "{ns}" is forbidden: unable to create new content in namespace '
                f"{ns} because it is being terminated"
            )

    # ---- create ---------------------------------------------------------------------
    def _node_restriction(self, op: str, subresource: str, new: dict[str, Any] | None,
                          old: dict[str, Any] | None) -> None:
        """NodeRestriction admission (``authz.noderestriction``) when the request's user is a node."""
        if self.info.plural not in noderestriction.RESOURCES:
            return
        user = CURRENT_USER.get()
        node = node_name(user) if user is not None else None
        if node is None:
            return
        why = noderestriction.admit(node, op, self.info.group, self.info.plural, subresource, new, old)
        if why is not None:
            name = str(((new if new is not None else old) or {}).get("metadata", {}).get("name") or "")
            raise forbidden(self.info.plural, self.info.group, name, why)

    async def create(
        self, ns: str | None, data: Any, *, dry_run: bool = False, field_validation: str = "Strict",
        shape_checked: bool = False, json_body: bool = False, manager: str = "",
        applied: applylib.Applied | None = None,
    ) -> Result:
        """Admit and store a new object. ``shape_checked``: ``data`` came through ``parse_body``;
        ``json_body``: as JSON (see ``admission.admit_create``); ``manager``: the writer, who owns
        what it set (managedFields); ``applied``: the object is an apply's, with its managedFields."""
        data = self._check_body_identity(data, ns, None)
        meta = data["metadata"]
        if not meta.get("name"):
            gen = meta.get("generateName")
            if gen and isinstance(gen, str):
                meta["name"] = gen + ids.random_suffix(_NAME_CHARS, 5)
            else:
                raise errors.invalid(
                    self.info.kind,
                    "",
                    [{"reason": "FieldValueRequired", "field": "metadata.name",
                      "message": "Required value: name or generateName is required"}],
                    self.info.group,
                )
        meta.pop("resourceVersion", None)
        for f in SERVER_OWNED:
            meta.pop(f, None)
        st = self.strategy
        hooks = self.hooks
        attrs: Attributes | None = None
        hook_warnings: list[str] = []
        if hooks is not None and hooks.active:
            attrs = self._attributes("CREATE", ns, meta["name"], obj=data, old=None, dry_run=dry_run,
                                     manager=manager)
            if hooks.may_mutate(attrs):
                attrs.obj, hook_warnings = admission.defaulted(self.info, data, field_validation=field_validation)
                hook_warnings += await hooks.mutate(attrs)
                assert attrs.obj is not None
                data = self._check_body_identity(attrs.obj, ns, None)
                field_validation, json_body = "Ignore", False
        obj, warnings = st.validate_create(data, field_validation=field_validation, shape_checked=shape_checked,
                                           json_body=json_body)
        warnings = hook_warnings + warnings
        self._set_stored_type(obj)
        m = obj["metadata"]
        m["uid"] = ids.new_uid()
        m["creationTimestamp"] = fmt_time(self.clock())
        st.prepare_create(obj)
        if applied is not None:
            if applied.entries:
                m["managedFields"] = applied.entries
            else:
                m.pop("managedFields", None)
        else:
            fieldmanager.on_write(st.field_schema(), self.info, live=None, new=obj, manager=manager,
                                  subresource="", now=m["creationTimestamp"])
        await self._check_namespace(ns)
        self._node_restriction("create", "", obj, None)
        await st.admit_create(ns, obj, data)
        if attrs is not None and hooks is not None:
            attrs.obj = obj
            warnings += await hooks.validate(attrs)
        if self.policy is not None:
            warnings = warnings + await self.policy.admit_create(self.info, ns, obj, dry_run=dry_run)
        name = m["name"]
        key = self.info.key(ns, name)
        if dry_run:
            if await self.store.get(key) is not None:
                raise errors.already_exists(self.info.plural, name, self.info.group)
            return self._result(obj, 0, warnings, created=True)
        undo: list[Undo] = []
        allocator = st.allocator
        if allocator is not None:
            undo, _ = await allocator.prepare(obj, None)
        stored = rawobj.encode_for_store(obj)
        try:
            rev = await self.store.create(key, stored)
        except BaseException as e:
            for u in undo:
                await u()
            if isinstance(e, KeyExistsError):
                raise errors.already_exists(self.info.plural, name, self.info.group) from None
            raise
        return self._result(obj, rev, warnings, created=True, stored=stored)

    # ---- read -----------------------------------------------------------------------
    async def get(self, ns: str | None, name: str) -> Result:
        kv = await self._get_kv(ns, name)
        return Result(self.served_obj(rawobj.decode_rv(kv.value, kv.mod_revision)),
                      self.served_raw(rawobj.with_rv(kv.value, kv.mod_revision)), [])

    async def get_raw(self, ns: str | None, name: str) -> bytes:
        kv = await self._get_kv(ns, name)
        return self.served_raw(rawobj.with_rv(kv.value, kv.mod_revision))

    async def list(
        self,
        ns: str | None,
        *,
        match: Match | None = None,
        needles: tuple[bytes, ...] = (),
        limit: int = 0,
        continue_token: str | None = None,
        resource_version: str | None = None,
        resource_version_match: str | None = None,
        want_objects: bool = False,
    ) -> ListResult:
        prefix = self.info.prefix(ns)
        rev = 0
        start_after: str | None = None
        if continue_token:
            rev, start_after = decode_continue(continue_token)
        elif resource_version and resource_version_match == "Exact":
            try:
                rev = int(resource_version)
            except ValueError:
                rev = -1
            if rev < 0:
                raise errors.bad_request(f"invalid resourceVersion {resource_version!r}")
        raws: list[bytes] = []
        objs: list[dict[str, Any]] = []
        decode = want_objects or match is not None
        # rows per store read: the loop below reads more pages until the limit is filled, so a huge
        # limit never reaches the store as a number it cannot hold
        page = min(max(limit, 500), 10_000) if limit else 0
        last_key: str | None = None
        more = False
        while True:
            try:
                kvs, rev_now, more = await self.store.list(prefix, start_after=start_after, limit=page, revision=rev)
            except CompactedError:
                raise errors.gone(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                ) from None
            except FutureRevisionError as e:
                if continue_token:  # never issued by this store
                    raise errors.bad_request("continue key is not valid: invalid continue token") from None
                raise errors.too_large_resource_version(rev, e.current) from None
            rev = rev_now
            for kv in kvs:
                if limit and len(raws) >= limit:
                    more = True
                    break
                last_key = kv.key
                if decode:
                    if needles and match is not None and not may_match(needles, kv.value):
                        continue  # the selector refuses it: not worth decoding (``prefilter``)
                    o = rawobj.decode_rv(kv.value, kv.mod_revision)
                    if match is not None and not match(o):
                        continue
                    objs.append(self.served_obj(o))
                raws.append(self.served_raw(rawobj.with_rv(kv.value, kv.mod_revision)))
            else:
                if more and kvs:
                    start_after = kvs[-1].key
                    last_key = start_after
                    if not limit or len(raws) < limit:
                        continue
                break
            break
        token = encode_continue(rev, last_key) if (limit and more and last_key) else None
        return ListResult(raws, objs if decode else None, rev, token)

    # ---- update -----------------------------------------------------------------------
    async def update(
        self,
        ns: str | None,
        name: str,
        data: Any,
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "Strict",
        manager: str = "",
        manager_subresource: str | None = None,
    ) -> Result:
        """Replace the object (``manager_subresource``: the subresource the write is recorded under
        in managedFields when it is not ``subresource``, as a write through ``/scale``, whose handler
        runs dynamic admission on the Scale itself)."""
        data = self._check_body_identity(data, ns, name)
        rv = data["metadata"].get("resourceVersion")
        expected = 0
        if rv:
            try:
                expected = int(rv)
            except (TypeError, ValueError):
                raise errors.bad_request(f"metadata.resourceVersion: Invalid value: {rv!r}") from None

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            return copy.deepcopy(data)

        return await self._guaranteed_update(
            ns, name, mutate, expected=expected, subresource=subresource,
            dry_run=dry_run, field_validation=field_validation,
            track=self._tracker(manager, subresource if manager_subresource is None else manager_subresource),
            manager=manager, skip_hooks=manager_subresource is not None,
        )

    async def patch(
        self,
        ns: str | None,
        name: str,
        body: bytes,
        patch_type: str,
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "Strict",
        manager: str = "",
    ) -> Result:
        model = self.info.model
        if model is None and patchlib.normalize_patch_type(patch_type) == patchlib.STRATEGIC_MERGE_PATCH:
            # as upstream: custom resources have no patch metadata, so no strategic merge patch
            raise errors.ApiError(415, "UnsupportedMediaType",
                                  "the body of the request was in an unknown format - accepted media types include: "
                                  "application/json-patch+json, application/merge-patch+json, "
                                  "application/apply-patch+yaml")

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            try:
                out = patchlib.apply_patch(current, body, patch_type, model=model)
            except ValueError as e:  # PatchError, UnsupportedPatchError: each carries its own status
                raise errors.patch_refused(e, patch_type) from None
            if not isinstance(out, dict):
                raise errors.bad_request("the patch result is not an object")
            return out

        return await self._guaranteed_update(
            ns, name, mutate, expected=0, subresource=subresource, dry_run=dry_run,
            field_validation=field_validation, from_patch=True, track=self._tracker(manager, subresource),
            manager=manager,
        )

    async def update_with(
        self, ns: str | None, name: str, mutate: Callable[[dict[str, Any]], dict[str, Any]], *,
        subresource: str = "", dry_run: bool = False, field_validation: str = "Strict", manager: str = "",
    ) -> Result:
        """A patch whose new object ``mutate`` computes from the current one (as read, retried on a
        concurrent write): for views that patch another version of the stored object."""
        return await self._guaranteed_update(ns, name, mutate, expected=0, subresource=subresource, dry_run=dry_run,
                                             field_validation=field_validation, from_patch=True,
                                             track=self._tracker(manager, subresource))

    async def apply(
        self,
        ns: str | None,
        name: str,
        config: dict[str, Any],
        *,
        manager: str,
        force: bool = False,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "Strict",
    ) -> Result:
        """Server-side apply of ``config`` by ``manager`` (``shoal.api.apply``); creates the object
        when it does not exist. The merged object is then written as any update is."""
        return await self._apply(ns, name, config, manager=manager, force=force, subresource=subresource,
                                 dry_run=dry_run, field_validation=field_validation)

    async def apply_scale(self, ns: str | None, name: str, config: dict[str, Any], *, manager: str,
                          force: bool = False, dry_run: bool = False) -> Result:
        """An apply through ``/scale``: ``config`` (the object with its replicas field alone) is written as
        the object itself, its fields owned under the ``scale`` subresource; the handler ran dynamic
        admission on the Scale."""
        return await self._apply(ns, name, config, manager=manager, force=force, dry_run=dry_run,
                                 field_validation="Ignore", through="scale")

    async def _apply(
        self,
        ns: str | None,
        name: str,
        config: dict[str, Any],
        *,
        manager: str,
        force: bool = False,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "Strict",
        through: str | None = None,
    ) -> Result:
        """Server-side apply of ``config`` by ``manager`` (``shoal.api.apply``); creates the object
        when it does not exist. The merged object is then written as any update is. ``through``: the
        subresource the apply came through when it is written as the object itself (``scale``: the
        fields are recorded under it, and its handler ran dynamic admission on the Scale)."""
        config = fieldmanager.check_config(self.info, config, name)
        if through is not None:
            subresource = through
        node = self.strategy.field_schema()
        reset = fieldmanager.reset_filter(self.info, subresource)
        info = self.info

        def run(live: dict[str, Any] | None) -> applylib.Applied:
            try:
                return applylib.apply(node, live=live, config=config, manager=manager,
                                      api_version=info.api_version, subresource=subresource, force=force,
                                      now=fmt_time(self.clock()), reset=reset)
            except applylib.ApplyConflict as c:
                raise fieldmanager.conflict_error(c) from None
            except applylib.TypedError as e:
                raise fieldmanager.typed_error(e, info, ns, name) from None

        entries: list[Any] = []  # the managedFields of the last apply to the live object

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            applied = run(current)
            entries[:] = applied.entries or []
            out = applied.obj if applied.obj is not None else current
            if applied.pruned:
                out = fieldmanager.defaulted(info, out)
            return {**out, "metadata": {k: v for k, v in (out.get("metadata") or {}).items()
                                        if k != "managedFields"}}

        def track(current: dict[str, Any], obj: dict[str, Any]) -> None:
            meta = obj["metadata"]
            if entries:
                meta["managedFields"] = list(entries)
            else:
                meta.pop("managedFields", None)

        for _ in range(_MAX_RETRIES):
            try:
                return await self._guaranteed_update(
                    ns, name, mutate, expected=0, subresource=subresource if through is None else "",
                    dry_run=dry_run, field_validation=field_validation, from_patch=True, track=track,
                    manager=manager, skip_hooks=through is not None)
            except errors.ApiError as e:
                if e.code != 404 or e.reason != "NotFound" or subresource or through:
                    raise
            applied = run(None)
            try:
                return await self.create(ns, rawobj.copy_json(applied.obj or {}), dry_run=dry_run,
                                         field_validation=field_validation, applied=applied, manager=manager)
            except errors.ApiError as e:
                if e.reason != "AlreadyExists":
                    raise
        raise self._conflict(name, "too many concurrent writes; try again")

    def _tracker(self, manager: str, subresource: str) -> Callable[[dict[str, Any], dict[str, Any]], None]:
        """What keeps managedFields on an update or patch by ``manager``."""
        node = self.strategy.field_schema()
        info = self.info

        def track(current: dict[str, Any], obj: dict[str, Any]) -> None:
            fieldmanager.on_write(node, info, live=current, new=obj, manager=manager, subresource=subresource,
                                  now=fmt_time(self.clock()))

        return track

    async def _guaranteed_update(
        self,
        ns: str | None,
        name: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        expected: int,
        subresource: str,
        dry_run: bool,
        field_validation: str,
        from_patch: bool = False,
        admit: bool = True,
        copy_on_write: bool = False,
        track: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
        manager: str = "",
        hook_subresource: str | None = None,
        skip_hooks: bool = False,
    ) -> Result:
        """Read, mutate, admit and write with the read's revision as precondition; retry on a conflict.

        ``admit=False`` is for the server's own narrow changes to an object that was admitted when it was
        written (a binding sets spec.nodeName and a condition): as upstream's binding storage, they skip
        decoding, defaulting and validating the whole object again, which was most of a binding's cost.
        ``copy_on_write``: ``mutate`` leaves its argument as it was and returns new dicts where it
        changes something, so it is given the stored object itself rather than a second decoding.
        ``track``: sets the admitted object's managedFields, given the object as read.
        ``hook_subresource``: the subresource dynamic admission (webhooks, policies) sees the write as
        (``subresource``, unless a handler admits it itself, as ``/scale``; None: not at all).
        """
        if hook_subresource is None and subresource not in _INTERNAL and not skip_hooks:
            hook_subresource = subresource
        for _ in range(_MAX_RETRIES):
            kv = await self._get_kv(ns, name)
            if expected and kv.mod_revision != expected:
                raise self._conflict(name)
            current = rawobj.decode_rv(kv.value, kv.mod_revision)
            # a mutation in place gets a copy (decoding again is faster than deepcopy)
            new = mutate(current if copy_on_write else self.served_obj(rawobj.decode_rv(kv.value, kv.mod_revision)))
            if from_patch:
                new = self._check_body_identity(new, ns, name)
                prv = new["metadata"].get("resourceVersion")
                if prv and str(prv) != str(kv.mod_revision):
                    raise self._conflict(name)
            uid = new["metadata"].get("uid")
            if uid and uid != current["metadata"].get("uid"):
                raise self._conflict(
                    name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                    f"{current['metadata'].get('uid')}"
                )
            st = self.strategy
            hooks = self.hooks
            attrs: Attributes | None = None
            hook_warnings: list[str] = []
            if admit and hooks is not None and hooks.active and subresource not in _INTERNAL and hook_subresource is not None:
                attrs = self._attributes("UPDATE", ns, name, obj=new, old=self.served_obj(dict(current)),
                                         subresource=hook_subresource, dry_run=dry_run, manager=manager)
                if hooks.may_mutate(attrs):
                    attrs.obj, hook_warnings = admission.defaulted(self.info, new, field_validation=field_validation)
                    hook_warnings += await hooks.mutate(attrs)
                    assert attrs.obj is not None
                    new = self._check_body_identity(attrs.obj, ns, name)
            if subresource == "status":
                new = st.prepare_status_update(new, current)
            elif subresource and subresource not in _INTERNAL:
                new = st.prepare_subresource_update(subresource, new, current)
            elif subresource not in _INTERNAL:
                st.prepare_update(new, current)
            self._node_restriction("update", subresource, new, current)
            if admit:
                # what prepare_update decided (validation may hand back ``new`` itself, as a custom kind's does)
                generation = new["metadata"].get("generation")
                obj, warnings = st.validate_update(new, current, field_validation=field_validation)
                self._set_stored_type(obj)
                for f in SERVER_OWNED:
                    if f in current["metadata"]:
                        obj["metadata"][f] = current["metadata"][f]
                    else:
                        obj["metadata"].pop(f, None)
                if subresource != "status" and generation is not None:
                    obj["metadata"]["generation"] = generation
                if not subresource:
                    await st.admit_update(obj, current)
                if track is not None:
                    track(current, obj)
                if attrs is not None and hooks is not None:
                    attrs.obj = obj
                    warnings = hook_warnings + warnings + await hooks.validate(attrs)
            else:
                obj, warnings = new, []
            if dry_run:
                return self._result(obj, kv.mod_revision, warnings)
            if deleteplan.finishes_deletion(obj, st):
                try:
                    dkv = await self.store.delete(kv.key, expected_revision=kv.mod_revision)
                except ConflictError:
                    continue
                except NotFoundError:
                    raise self._nf(name) from None
                await self._deleted(current)
                return self._result(obj, dkv.mod_revision, warnings)
            if _without_rv(obj) == _without_rv(current) and not is_stale(kv):
                # nothing changed: no new revision and no watch event (as upstream's GuaranteedUpdate;
                # unless the stored bytes were written with an encryption key that is no longer the first)
                return self._result(obj, kv.mod_revision, warnings)
            undo: list[Undo] = []
            release: list[str] = []
            allocator = st.allocator
            if allocator is not None:
                undo, release = await allocator.prepare(obj, current)
            stored = rawobj.encode_for_store(obj)
            try:
                rev = await self.store.update(kv.key, stored, expected_revision=kv.mod_revision)
            except BaseException as e:
                for u in undo:
                    await u()
                if isinstance(e, ConflictError):
                    if expected:
                        raise self._conflict(name) from None
                    continue
                if isinstance(e, NotFoundError):
                    raise self._nf(name) from None
                raise
            if release and allocator is not None:
                await allocator.release_keys(release)
            return self._result(obj, rev, warnings, stored=stored)
        raise self._conflict(name, "too many concurrent writes; try again")

    async def bind(self, ns: str | None, name: str, node: str, *, dry_run: bool = False) -> Result:
        """The ``pods/binding`` subresource: set spec.nodeName once, mark PodScheduled.

        Only the node's name is new, so only it is validated (the pod was admitted when written).
        """
        bad = dns1123_subdomain(node)
        if bad:
            raise errors.invalid("Binding", name, [{"reason": "FieldValueInvalid", "field": "target.name",
                                                    "message": f"Invalid value: {node!r}: {'; '.join(bad)}"}])

        def mutate(current: dict[str, Any]) -> dict[str, Any]:  # copy on write: current stays as read
            spec = current.get("spec") or {}
            if spec.get("nodeName"):
                raise self._conflict(name, f'pod {name} is already assigned to node "{spec["nodeName"]}"')
            if current["metadata"].get("deletionTimestamp"):
                raise self._conflict(name, f"pod {name} is being deleted, cannot be assigned to a host")
            status = current.get("status") or {}
            conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            conds.insert(0, {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                             "lastTransitionTime": fmt_time(self.clock())})
            return {**current, "spec": {**spec, "nodeName": node}, "status": {**status, "conditions": conds}}

        return await self._guaranteed_update(
            ns, name, mutate, expected=0, subresource="binding", dry_run=dry_run, field_validation="Ignore",
            admit=False, copy_on_write=True,
        )

    async def set_spec_finalizers(self, name: str, finalizers: builtins.list[str]) -> Result:
        """The ``namespaces/finalize`` subresource: replace spec.finalizers only."""

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            current.setdefault("spec", {})["finalizers"] = list(finalizers)
            return current

        return await self._guaranteed_update(
            None, name, mutate, expected=0, subresource="finalize", dry_run=False, field_validation="Ignore"
        )

    async def _deleted(self, obj: dict[str, Any]) -> None:
        """Release what a deleted object held (a Service's addresses)."""
        allocator = self.strategy.allocator
        if allocator is not None:
            await allocator.release_all(obj)

    # ---- delete -----------------------------------------------------------------------
    async def delete(
        self,
        ns: str | None,
        name: str,
        *,
        grace_seconds: int | None = None,
        precondition_uid: str | None = None,
        precondition_rv: str | None = None,
        dry_run: bool = False,
        propagation: str | None = None,
    ) -> Result:
        """Carry out ``deleteplan.plan_delete`` for the object as read; plan again on a concurrent write."""
        options = DeleteOptions(grace_seconds=grace_seconds, precondition_uid=precondition_uid,
                                precondition_rv=precondition_rv,
                                propagation=cast("deleteplan.Propagation | None", propagation))
        st = self.strategy
        for _ in range(_MAX_RETRIES):
            kv = await self._get_kv(ns, name)
            obj = rawobj.decode_rv(kv.value, kv.mod_revision)
            plan = deleteplan.plan_delete(obj, options, self.clock(), rules=st)
            if isinstance(plan, Conflict):
                raise self._conflict(name, plan.why)
            self._node_restriction("delete", "", None, obj)
            st.admit_delete(obj)
            hooks = self.hooks
            if hooks is not None and hooks.active:
                attrs = self._attributes("DELETE", ns, name, obj=None, old=self.served_obj(dict(obj)),
                                         dry_run=dry_run)
                await hooks.mutate(attrs)
                await hooks.validate(attrs)
            if isinstance(plan, Unchanged):
                return self._result(obj, kv.mod_revision, [])
            if isinstance(plan, MarkTerminating):
                plan.apply(obj)
                if dry_run:
                    return self._result(obj, kv.mod_revision, [])
                try:
                    rev = await self.store.update(kv.key, rawobj.encode_for_store(obj),
                                                  expected_revision=kv.mod_revision)
                except ConflictError:
                    continue
                except NotFoundError:
                    raise self._nf(name) from None
                return self._result(obj, rev, [])
            assert isinstance(plan, RemoveNow)
            if dry_run:
                return self._result(obj, kv.mod_revision, [])
            try:
                dkv = await self.store.delete(kv.key, expected_revision=kv.mod_revision)
            except ConflictError:
                continue
            except NotFoundError:
                raise self._nf(name) from None
            await self._deleted(obj)
            r = self._result(obj, dkv.mod_revision, [])
            r.deleted = True
            return r
        raise self._conflict(name, "too many concurrent writes; try again")

    async def delete_collection(
        self,
        ns: str | None,
        *,
        match: Match | None,
        grace_seconds: int | None = None,
        dry_run: bool = False,
        propagation: str | None = None,
    ) -> ListResult:
        lst = await self.list(ns, match=match, want_objects=True)
        done: list[bytes] = []
        for o in lst.objs or []:
            md = o["metadata"]
            try:
                self.strategy.admit_delete(o)
            except errors.ApiError:
                continue  # one that may not be deleted (a system PriorityClass) stays, the rest go
            try:
                r = await self.delete(md.get("namespace"), md["name"], grace_seconds=grace_seconds, dry_run=dry_run,
                                     propagation=propagation)
            except errors.ApiError as e:
                if e.code == 404:
                    continue
                raise
            done.append(r.raw)
        return ListResult(done, None, lst.revision, None)
