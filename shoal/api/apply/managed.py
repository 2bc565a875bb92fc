"""``metadata.managedFields``: who owns which fields, kept on every write as upstream keeps it.

Each entry is one *manager identity*, (manager, operation, apiVersion,
subresource), where an ``Apply`` entry's identity leaves out the apiVersion (an
applier is one manager whatever version it applies) and ``time`` is never part
of it. Upstream's field manager is a chain of wrappers; shoal has the same steps
as two pure functions over plain objects:

``update`` (create, update, patch: operation ``Update``)
    the fields the write added or changed (compared with the object before it,
    or with the kind's empty object for a create) become the writer's, and are
    taken from every other manager; fields the write removed are taken from all.
    The writer's entry gets the time of the write only when it gained fields.
    A body that carries managedFields replaces them (``[]`` resets them); a
    subresource write cannot. At most ten ``Update`` entries are kept: the
    oldest are merged into ``ancient-changes``.

``apply`` (server-side apply: operation ``Apply``)
    the applied configuration is merged into the live object (``typed.merge``);
    the applier owns exactly what its configuration sets; what it owned before
    and no longer applies is removed from the object unless someone else owns
    it; a field whose value changes while another manager owns it is a
    *conflict* (409, ``ApplyConflict``) unless ``force`` takes it over.
    ``kubectl`` (the default manager of ``kubectl apply --server-side``) is
    allowed to take over the fields its last client-side apply set (the
    ``last-applied-configuration`` annotation), and keeps that annotation in
    sync, so an object moves from client-side to server-side apply without
    conflicts.

Fields the server owns (name, namespace, uid, resourceVersion, generation,
creationTimestamp, managedFields) are never recorded. ``reset_filter`` keeps a
write to the main resource from owning ``status`` when a status subresource
does, and a write through ``/status`` from owning anything else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec

from shoal.api.apply import fieldset as fs
from shoal.api.apply import typed
from shoal.api.apply.fieldset import Fields
from shoal.api.apply.schema import TypeNode
from shoal.api.memo import Memo

__all__ = [
    "ApplyConflict",
    "Identity",
    "Managed",
    "apply",
    "decode_entries",
    "encode_entries",
    "reset_filter",
    "update",
    "zero_object",
]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATE_MANAGERS = 10
ANCIENT = "ancient-changes"

# what no manager owns: the object's identity and what the server sets (upstream's stripmeta)
_STRIP: Fields = {
    "f:apiVersion": {},
    "f:kind": {},
    "f:metadata": {
        ".": {},
        "f:name": {}, "f:namespace": {}, "f:creationTimestamp": {}, "f:selfLink": {}, "f:uid": {},
        "f:clusterName": {}, "f:generation": {}, "f:managedFields": {}, "f:resourceVersion": {},
    },
}


@dataclass(frozen=True, slots=True, order=True)
class Identity:
    """One managedFields entry's identity (an ``Apply`` identity has no apiVersion)."""

    manager: str
    operation: str
    api_version: str = ""
    subresource: str = ""

    def json(self) -> str:
        """upstream's manager identifier: the entry without fields or time, as Go marshals it."""
        d: dict[str, str] = {"manager": self.manager, "operation": self.operation}
        if self.api_version:
            d["apiVersion"] = self.api_version
        if self.subresource:
            d["subresource"] = self.subresource
        return fs.json_text(d)

    def describe(self) -> str:
        """How a conflict names the manager: ``"kubectl-client-side-apply" using apps/v1``."""
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource, ensure_ascii=False)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


@dataclass(slots=True)
class _Set:
    fields: Fields
    api_version: str
    time: str | None
    raw: dict[str, Any] | None = None  # the entry as stored, while nothing changed it


@dataclass(slots=True)
class Managed:
    """The decoded entries of one object: identity -> its set, version and time."""

    sets: dict[Identity, _Set] = field(default_factory=dict)

    def fields_of(self, who: Identity) -> Fields:
        s = self.sets.get(who)
        return s.fields if s is not None else {}

    def put(self, who: Identity, fields: Fields, api_version: str, time: str | None) -> None:
        if fs.is_empty(fields):
            self.sets.pop(who, None)
        else:
            self.sets[who] = _Set(fields, api_version, time)


class EntriesError(ValueError):
    """managedFields that cannot be read (a wrong operation, a missing fieldsType...)."""


def decode_entries(entries: Any, *, trusted: bool) -> Managed:
    """The entries of ``metadata.managedFields``; ``trusted``: written by this server (stored)."""
    m = Managed()
    if entries is None:
        return m
    if not isinstance(entries, list):
        raise EntriesError("managedFields must be a list")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise EntriesError(f"managed fields entry {i} is not an object")
        op = e.get("operation")
        if op not in ("Apply", "Update"):
            raise EntriesError("operation must be `Apply` or `Update`")
        av = e.get("apiVersion")
        if not isinstance(av, str) or not av:
            raise EntriesError("apiVersion must not be empty")
        ft = e.get("fieldsType")
        if ft != "FieldsV1":
            raise EntriesError(f"missing fieldsType in managed fields entry {i}" if not ft
                               else f"invalid fieldsType {ft!r} in managed fields entry {i}")
        raw_fields = e.get("fieldsV1")
        try:
            fields = {} if raw_fields is None else (
                raw_fields if trusted else fs.decode(raw_fields, canonical=True))
        except fs.FieldsError as err:
            raise EntriesError(str(err)) from None
        manager = e.get("manager")
        sub = e.get("subresource")
        t = e.get("time")
        who = Identity(manager if isinstance(manager, str) else "", op,
                       "" if op == "Apply" else av, sub if isinstance(sub, str) else "")
        m.sets[who] = _Set(fields, av, t if isinstance(t, str) else None, e if trusted else None)
    return m


def encode_entries(m: Managed) -> list[dict[str, Any]] | None:
    """The entries in upstream's order: Apply before Update, then by time, manager, version."""
    if not m.sets:
        return None
    out: list[tuple[tuple[str, str, str, str, str], dict[str, Any]]] = []
    for who, s in m.sets.items():
        entry = s.raw
        if entry is not None and entry.get("time") != s.time:
            entry = {**entry, "time": s.time} if "time" in entry else None
        if entry is None:
            entry = {"manager": who.manager, "operation": who.operation, "apiVersion": s.api_version}
            if s.time is not None:
                entry["time"] = s.time
            entry["fieldsType"] = "FieldsV1"
            entry["fieldsV1"] = fs.encode(s.fields)
            if who.subresource:
                entry["subresource"] = who.subresource
        out.append(((who.operation, s.time or "", who.manager, s.api_version, who.subresource), entry))
    out.sort(key=lambda x: x[0])
    return [e for _, e in out]


@cache
def reset_filter(*, status_subresource: bool, subresource: str) -> Callable[[Fields], Fields]:
    """What a write may own: through ``/status`` only the status; on the main resource of a kind
    with a status subresource, everything but the status. (One function per case: memo keys hold it.)"""
    if subresource == "status":
        return lambda s: fs.only(s, "f:status")
    if status_subresource:
        status: Fields = {"f:status": {}}
        return lambda s: fs.recursive_difference(s, status)
    return _same


def _same(s: Fields) -> Fields:
    return s


# The empty object a create is compared with: upstream's is the kind's Go zero value, in which
# these structs (not pointers) exist, and a pod spec's containers are null.
_ZERO: dict[str, Any] = {
    "metadata": {},
    "spec": {
        "template": {"metadata": {}, "spec": {"containers": None}},
        "jobTemplate": {"metadata": {}, "spec": {"template": {"metadata": {}, "spec": {"containers": None}}}},
        "strategy": {},
        "updateStrategy": {},
        "containers": None,
    },
    "status": {},
}


def zero_object(node: TypeNode) -> dict[str, Any]:
    """The kind's empty object (what a create is compared with), as far as its schema has it."""
    return _zero(node, _ZERO)


def _zero(node: TypeNode, shape: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, sub in shape.items():
        t = node.fields.get(k) if node.kind == "map" else None
        if t is None:
            continue
        if sub is None:
            out[k] = None
        elif t.kind == "map" and not t.atomic:
            out[k] = _zero(t, sub)
    return out


def _without_managed(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def _is_reset(entries: Any) -> bool:
    return isinstance(entries, list) and (not entries or (len(entries) == 1 and entries[0] == {}))


def _cap(m: Managed) -> None:
    """At most ``MAX_UPDATE_MANAGERS`` Update entries: the oldest are merged, per version."""
    updaters = [w for w, s in m.sets.items() if w.operation == "Update"]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda w: (m.sets[w].time or "", w.json()))
    first: dict[str, Identity] = {}
    length = len(updaters)
    for w in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        s = m.sets[w]
        bucket = Identity(ANCIENT, "Update", s.api_version)
        if s.api_version in first:
            if bucket not in m.sets:
                m.sets[bucket] = m.sets.pop(first[s.api_version])
            b = m.sets[bucket]
            m.sets[bucket] = _Set(fs.union(s.fields, b.fields), s.api_version, s.time)
            del m.sets[w]
            length -= 1
        else:
            first[s.api_version] = w


def update(
    node: TypeNode,
    *,
    live: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    api_version: str,
    subresource: str,
    now: str,
    reset: Callable[[Fields], Fields] = _same,
) -> list[dict[str, Any]] | None:
    """The managedFields of ``new`` after a non-apply write (``live`` None: a create).

    ``new``'s own managedFields (the request's) replace ``live``'s unless they are missing, unreadable
    or sent to a subresource. Raises ``typed.TypedError`` when an object does not fit its schema
    (a keyed list item without its key); the caller then keeps what was there.
    """
    live_meta = (live or {}).get("metadata") or {}
    live_entries = live_meta.get("managedFields")
    sent = (new.get("metadata") or {}).get("managedFields")
    if live is None and sent is None:
        return _created(node, new, manager, api_version, now, reset)
    managed: Managed
    from_live = True
    if subresource or sent is None or sent == live_entries:
        managed = _live_managed(live_entries)
    elif _is_reset(sent):
        managed, from_live = Managed(), False
    else:
        try:
            managed = decode_entries(sent, trusted=False)
            from_live = not managed.sets
        except EntriesError:
            managed = Managed()
        if from_live:
            managed = _live_managed(live_entries)
    before = zero_object(node) if live is None else _without_managed(live)
    cmp = typed.compare(node, before, _without_managed(new))
    added, modified, removed = reset(cmp.added), reset(cmp.modified), reset(cmp.removed)
    if not (added or modified or removed) and from_live:
        return live_entries if isinstance(live_entries, list) and live_entries else None
    changed = fs.union(modified, added)
    writer = Identity(manager or "unknown", "Update", api_version, subresource)
    before_write = managed.sets.get(writer)
    for who in list(managed.sets):
        s = managed.sets[who]
        left = fs.difference(fs.difference(s.fields, fs.intersection(s.fields, changed)), removed)
        if left != s.fields:
            managed.put(who, left, s.api_version, s.time)
    mine = fs.difference(changed, _STRIP)
    if mine:
        prev = managed.sets.get(writer)
        fields = fs.union(mine, prev.fields) if prev is not None else mine
        if before_write is not None and before_write.api_version == api_version and fields == before_write.fields:
            # the writer owns what it owned: its stored entry stands, with the time of this write
            managed.sets[writer] = _Set(before_write.fields, api_version, now, before_write.raw)
        else:
            managed.put(writer, fields, api_version, now)
    _cap(managed)
    return encode_entries(managed)


# FieldsV1 of creates, by the created object less what no manager owns: every pod of a template is the
# same object but for its name, so its create's fields are computed (and sorted) once per template.
CREATE_MEMO = 256
_created_fields: Memo[tuple[TypeNode, Callable[[Fields], Fields], bytes], Fields] = Memo(CREATE_MEMO)
_IDENTITY = frozenset({"name", "uid", "creationTimestamp", "resourceVersion", "generation"})
_encode = msgspec.json.Encoder().encode


def _created(node: TypeNode, new: dict[str, Any], manager: str, api_version: str, now: str,
             reset: Callable[[Fields], Fields]) -> list[dict[str, Any]] | None:
    """The entries of a create whose body carried no managedFields: one, the creator's."""
    meta = new.get("metadata") or {}
    try:
        key = (node, reset, _encode({**new, "metadata": {k: v for k, v in meta.items() if k not in _IDENTITY}}))
    except (TypeError, msgspec.EncodeError):
        key = None
    fields = _created_fields.get(key) if key is not None else None
    if fields is None:
        cmp = typed.compare(node, zero_object(node), _without_managed(new))
        fields = fs.encode(fs.difference(fs.union(reset(cmp.modified), reset(cmp.added)), _STRIP))
        if key is not None:
            _created_fields.put(key, fields)  # shared by the entries of every hit: never changed in place
    if not fields:
        return None
    entry: dict[str, Any] = {"manager": manager or "unknown", "operation": "Update", "apiVersion": api_version,
                             "time": now, "fieldsType": "FieldsV1", "fieldsV1": fields}
    return [entry]


def _live_managed(entries: Any) -> Managed:
    try:
        return decode_entries(entries, trusted=True)
    except EntriesError:
        return Managed()


# ---- apply -------------------------------------------------------------------------------------


class ApplyConflict(Exception):
    """Fields another manager owns whose values the apply would change (upstream's 409)."""

    def __init__(self, conflicts: list[tuple[Identity, tuple[str, ...]]]) -> None:
        self.conflicts = conflicts
        super().__init__(self.message())

    def message(self) -> str:
        if len(self.conflicts) == 1:
            who, path = self.conflicts[0]
            return f"Apply failed with 1 conflict: conflict with {who.describe()}: {fs.path_string(path)}"
        by: dict[str, list[tuple[Identity, tuple[str, ...]]]] = {}
        for who, path in self.conflicts:
            by.setdefault(who.json(), []).append((who, path))
        lines: list[str] = []
        for key in sorted(by):
            lines.append(f"conflicts with {by[key][0][0].describe()}:")
            lines.extend(f"- {fs.path_string(p)}" for _, p in by[key])
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict[str, str]]:
        return [{"reason": "FieldManagerConflict", "message": f"conflict with {who.describe()}",
                 "field": fs.path_string(path)} for who, path in self.conflicts]


@dataclass(frozen=True, slots=True)
class Applied:
    """The result of an apply: the object (None: unchanged) and its managedFields; ``pruned``: fields
    the applier stopped applying were removed (the object needs its defaults again)."""

    obj: dict[str, Any] | None
    entries: list[dict[str, Any]] | None
    pruned: bool = False


def apply(
    node: TypeNode,
    *,
    live: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str,
    api_version: str,
    subresource: str,
    force: bool,
    now: str,
    reset: Callable[[Fields], Fields] = _same,
) -> Applied:
    """Server-side apply of ``config`` by ``manager`` to ``live`` (None: the object is created).

    Raises ``ApplyConflict`` and ``typed.TypedError`` (the configuration does not fit the schema).
    """
    live_obj = live if live is not None else {}
    managed = _live_managed((live_obj.get("metadata") or {}).get("managedFields"))
    try:
        merged, managed, pruned = _apply(node, live_obj, config, managed, manager, subresource, api_version,
                                         force, reset)
    except ApplyConflict as conflict:
        if manager != "kubectl" or live is None:
            raise
        allowed = _allowed_from_last_applied(node, live_obj, api_version)
        if allowed is None:
            raise
        rest = [(w, p) for w, p in conflict.conflicts if not fs.has(allowed, p)]
        if rest:
            raise ApplyConflict(rest) from None
        managed = _live_managed((live_obj.get("metadata") or {}).get("managedFields"))
        merged, managed, pruned = _apply(node, live_obj, config, managed, manager, subresource, api_version,
                                         True, reset)
    who = Identity(manager, "Apply", "", subresource)
    live_plain = _without_managed(live_obj)
    changed = merged != live_plain
    if changed and who in managed.sets:
        managed.sets[who].time = now  # the entry keeps its time when the apply changed nothing
    result: dict[str, Any] | None = merged if changed else None
    if manager == "kubectl":
        out = result if result is not None else live_plain
        if _has_last_applied(out):
            annotated = _with_last_applied(out, config)
            if annotated != out:
                result = annotated
    return Applied(result, encode_entries(managed), pruned and result is not None)


def _apply(node: TypeNode, live: dict[str, Any], config: dict[str, Any], managed: Managed, manager: str,
           subresource: str, api_version: str, force: bool,
           reset: Callable[[Fields], Fields]) -> tuple[dict[str, Any], Managed, bool]:
    who = Identity(manager, "Apply", "", subresource)
    applied = reset(typed.to_fieldset(node, config))
    live_plain = _without_managed(live)
    merged = typed.merge(node, live_plain, config)
    if merged is typed.ABSENT or not isinstance(merged, dict):
        merged = {}
    last = managed.sets.get(who)
    managed.sets[who] = _Set(applied, api_version, last.time if last else None)
    mine = fs.difference(applied, _STRIP)
    pruned = False
    if last is not None and last.fields != mine and not fs.is_empty(fs.difference(last.fields, applied)):
        before = merged
        merged = _prune(node, merged, managed, last.fields)
        pruned = merged != before
    cmp = typed.compare(node, live_plain, merged)
    added, modified, removed = reset(cmp.added), reset(cmp.modified), reset(cmp.removed)
    changed = fs.union(modified, added)
    conflicts: list[tuple[Identity, tuple[str, ...]]] = []
    taken: dict[Identity, Fields] = {}
    if changed:
        for other, s in sorted(managed.sets.items(), key=lambda x: x[0].json()):
            if other == who:
                continue
            clash = fs.intersection(s.fields, changed)
            if clash:
                taken[other] = clash
                conflicts.extend((other, p) for p in fs.paths(clash))
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    for other in list(managed.sets):
        if other == who:
            continue
        s = managed.sets[other]
        left = fs.difference(fs.difference(s.fields, taken.get(other, {})), removed)
        if left != s.fields:
            managed.put(other, left, s.api_version, s.time)
    if last is not None and last.fields == mine and last.api_version == api_version:
        managed.sets[who] = _Set(last.fields, api_version, last.time, last.raw)  # the stored entry stands
    else:
        managed.put(who, mine, api_version, last.time if last else None)
    return merged, managed, pruned


def _prune(node: TypeNode, merged: dict[str, Any], managed: Managed, last: Fields) -> dict[str, Any]:
    """Remove what the applier applied last time and no longer does, unless another manager owns it
    (upstream's prune, addBackOwnedItems and addBackDanglingItems)."""
    last_named = typed.ensure_named_members(node, last)
    pruned = typed.remove_items(node, merged, last_named)
    owned: Fields = {}
    for s in managed.sets.values():
        owned = fs.union(owned, s.fields)
    merged_set = typed.ensure_named_members(node, typed.fieldset_of(node, merged))
    pruned_set = typed.ensure_named_members(node, typed.fieldset_of(node, pruned))
    owned_named = typed.ensure_named_members(node, owned)
    pruned = typed.remove_items(node, merged, fs.difference(merged_set, fs.union(pruned_set, owned_named)))
    pruned_set = typed.ensure_named_members(node, typed.fieldset_of(node, pruned))
    gone = fs.intersection(fs.difference(merged_set, pruned_set), last_named)
    out = typed.remove_items(node, merged, gone)
    return out if isinstance(out, dict) else {}


def _has_last_applied(obj: Mapping[str, Any]) -> bool:
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    return bool(isinstance(ann, dict) and ann.get(LAST_APPLIED))


def _with_last_applied(obj: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the last-applied annotation set to ``config`` (without that annotation)."""
    cfg_meta = dict(config.get("metadata") or {})
    ann = {k: v for k, v in (cfg_meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if ann:
        cfg_meta["annotations"] = ann
    else:
        cfg_meta.pop("annotations", None)
    text = fs.json_text({**config, "metadata": cfg_meta}, sort_keys=True) + "\n"
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), LAST_APPLIED: text}
    return {**obj, "metadata": meta}


def _allowed_from_last_applied(node: TypeNode, live: dict[str, Any], api_version: str) -> Fields | None:
    """The fields the last client-side apply set and the live object still holds as it set them."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not isinstance(text, str) or not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    try:
        last_set = typed.fieldset_of(node, last)
        cmp = typed.compare(node, last, _without_managed(live))
    except typed.TypedError:
        return None
    return fs.difference(fs.difference(fs.difference(last_set, cmp.modified), cmp.added), cmp.removed)
