"""events.k8s.io/v1 Events: the stored core/v1 Events, served converted, as upstream serves them.

There is one store of Events (core/v1's keys); this module is the second REST
surface over it. ``EventsView`` is a ``Resource`` whose verbs convert on the
way in (``eventsconv.to_core``) and out (``eventsconv.to_events_v1``) and
delegate to the core Event resource, so admission, defaults, field selectors
(core's field names, as upstream's shared storage has them) and deletion are
core's; a create through this group first meets the stricter events.k8s.io/v1
rules. Patches are applied to the events.k8s.io/v1 form of the current object,
then converted back. Tables show what ``kubectl get events`` shows for core
Events, as upstream prints both through one printer.

``ViewBroadcaster`` serves watches: it listens to the core Event broadcaster
and re-publishes each event converted (under this view's key prefix), so a
watcher of either group sees every change, once, in its own form.

The same machinery serves autoscaling/v1 HorizontalPodAutoscalers over the
stored v2 ones (``shoal.api.hpaconv``): a ``Conversion`` names the four
functions a view needs, ``CONVERSIONS`` which view uses which.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shoal.api import convert, eventsconv, hpaconv
from shoal.api import patch as patchlib
from shoal.api.registry import ResourceInfo
from shoal.api.validation_base import FieldError, InvalidError
from shoal.apiserver import errors, rawobj
from shoal.apiserver.resource import ListResult, Match, Resource, Result
from shoal.apiserver.strategies.base import DefaultStrategy, Strategy
from shoal.apiserver.tables import Printer
from shoal.apiserver.tables.fields import Obj
from shoal.apiserver.tables.model import Cell
from shoal.apiserver.watchcache import Broadcaster, Event, Filter, Watcher

Convert = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Conversion:
    """How a view's objects relate to the stored ones."""

    to_stored: Convert
    to_served: Convert
    unknown_fields: Callable[[Mapping[str, Any]], list[str]]
    validate_create: Callable[[Mapping[str, Any]], list[FieldError]]
    apply_refusal: str  # why server-side apply is refused through the view


EVENTS = Conversion(eventsconv.to_core, eventsconv.to_events_v1, eventsconv.unknown_fields,
                    eventsconv.validate_create, "server-side apply of events.k8s.io/v1 Events is not supported; "
                    "apply the core/v1 Event instead")
HPA_V1 = Conversion(hpaconv.to_v2, hpaconv.to_v1, hpaconv.unknown_fields, hpaconv.validate_create,
                    "server-side apply of autoscaling/v1 HorizontalPodAutoscalers is not supported; "
                    "apply the autoscaling/v2 object instead")
# (group, kind) of a view -> its conversion
CONVERSIONS: dict[tuple[str, str], Conversion] = {("events.k8s.io", "Event"): EVENTS,
                                                  ("autoscaling", "HorizontalPodAutoscaler"): HPA_V1}


def _view_printer(core: Printer, to_stored: Convert) -> Printer:
    def row(obj: Obj, now: datetime) -> list[Cell]:
        return core.row(to_stored(obj), now)

    return Printer(core.columns, row)


class EventsViewStrategy(DefaultStrategy):
    """Core's field selectors and printer, over the converted objects."""

    def __init__(self, info: ResourceInfo, core: Strategy, to_stored: Convert = eventsconv.to_core) -> None:
        super().__init__(info)
        self.field_labels = core.field_labels
        self.returns_deleted_object = core.returns_deleted_object
        self.printer = _view_printer(core.printer, to_stored)


def _out(raw: bytes, to_served: Convert = eventsconv.to_events_v1) -> bytes:
    return rawobj.encode(to_served(rawobj.decode(raw)))


class EventsView(Resource):
    """The verbs of a converted view (events.k8s.io/v1 Events, autoscaling/v1 HPAs) over the stored resource."""

    def __init__(self, core: Resource, info: ResourceInfo, conv: Conversion = EVENTS) -> None:
        super().__init__(core.store, info, clock=core.clock, namespace_lookup=core.namespace_lookup,
                         strategy=EventsViewStrategy(info, core.strategy, conv.to_stored))
        self.core = core
        self.conv = conv

    def _out(self, raw: bytes) -> bytes:
        return _out(raw, self.conv.to_served)

    def _converted(self, r: Result) -> Result:
        obj = self.conv.to_served(r.obj)
        return Result(obj, rawobj.encode(obj), r.warnings, r.created, r.deleted)

    def _incoming(self, data: Any, ns: str | None, name: str | None, field_validation: str) -> tuple[
            dict[str, Any], list[str]]:
        body = self._check_body_identity(data, ns, name)
        unknown = self.conv.unknown_fields(body)
        warnings = [f'unknown field "{f}"' for f in unknown]
        if unknown and field_validation == "Strict":
            raise errors.bad_request("strict decoding error: " + ", ".join(warnings))
        return self.conv.to_stored(body), warnings if field_validation == "Warn" else []

    async def create(self, ns: str | None, data: Any, *, dry_run: bool = False, field_validation: str = "Strict",
                     shape_checked: bool = False, json_body: bool = False, manager: str = "",
                     applied: Any = None) -> Result:
        core, warnings = self._incoming(data, ns, None, field_validation)
        bad = self.conv.validate_create(data)
        if bad:
            name = str((data.get("metadata") or {}).get("name") or "")
            raise errors.invalid(self.info.kind, name, [e.cause() for e in bad], self.info.group)
        r = await self.core.create(ns, core, dry_run=dry_run, field_validation=field_validation,
                                   shape_checked=shape_checked, manager=manager)
        r.warnings = [*warnings, *r.warnings]
        return self._converted(r)

    async def get(self, ns: str | None, name: str) -> Result:
        return self._converted(await self.core.get(ns, name))

    async def get_raw(self, ns: str | None, name: str) -> bytes:
        return self._out(await self.core.get_raw(ns, name))

    async def list(self, ns: str | None, *, match: Match | None = None, needles: tuple[bytes, ...] = (),
                   limit: int = 0, continue_token: str | None = None, resource_version: str | None = None,
                   resource_version_match: str | None = None, want_objects: bool = False) -> ListResult:
        # (``needles`` are not passed on: the selector is asked of the converted objects' core forms)
        lst = await self.core.list(ns, match=match, limit=limit, continue_token=continue_token,
                                   resource_version=resource_version,
                                   resource_version_match=resource_version_match, want_objects=True)
        objs = [self.conv.to_served(o) for o in lst.objs or []]
        return ListResult([rawobj.encode(o) for o in objs], objs if want_objects or match is not None else None,
                          lst.revision, lst.continue_token)

    async def update(self, ns: str | None, name: str, data: Any, *, subresource: str = "", dry_run: bool = False,
                     field_validation: str = "Strict", manager: str = "",
                     manager_subresource: str | None = None) -> Result:
        core, warnings = self._incoming(data, ns, name, field_validation)
        r = await self.core.update(ns, name, core, subresource=subresource, dry_run=dry_run,
                                   field_validation=field_validation, manager=manager,
                                   manager_subresource=manager_subresource)
        r.warnings = [*warnings, *r.warnings]
        return self._converted(r)

    async def patch(self, ns: str | None, name: str, body: bytes, patch_type: str, *, subresource: str = "",
                    dry_run: bool = False, field_validation: str = "Strict", manager: str = "") -> Result:
        model = self.info.model

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            try:
                out = patchlib.apply_patch(self.conv.to_served(current), body, patch_type, model=model)
            except ValueError as e:
                raise errors.patch_refused(e, patch_type) from None
            if not isinstance(out, dict):
                raise errors.bad_request("the patch result is not an object")
            try:
                convert.decode(out, model)
            except InvalidError as e:
                raise errors.bad_request(e.message(self.info.kind, name)) from None
            return self.conv.to_stored(out)

        return self._converted(await self.core.update_with(ns, name, mutate, subresource=subresource, dry_run=dry_run,
                                                           field_validation=field_validation, manager=manager))

    async def apply(self, ns: str | None, name: str, config: dict[str, Any], *, manager: str, force: bool = False,
                    subresource: str = "", dry_run: bool = False, field_validation: str = "Strict") -> Result:
        """Server-side apply merges by the schema of the stored version, which this view does not have."""
        raise errors.ApiError(415, "UnsupportedMediaType", self.conv.apply_refusal)

    async def delete(self, ns: str | None, name: str, *, grace_seconds: int | None = None,
                     precondition_uid: str | None = None, precondition_rv: str | None = None,
                     dry_run: bool = False, propagation: str | None = None) -> Result:
        return self._converted(await self.core.delete(ns, name, grace_seconds=grace_seconds,
                                                   precondition_uid=precondition_uid,
                                                   precondition_rv=precondition_rv, dry_run=dry_run,
                                                   propagation=propagation))

    async def delete_collection(self, ns: str | None, *, match: Match | None, grace_seconds: int | None = None,
                                dry_run: bool = False, propagation: str | None = None) -> ListResult:
        lst = await self.core.delete_collection(ns, match=match, grace_seconds=grace_seconds, dry_run=dry_run,
                                                propagation=propagation)
        return ListResult([self._out(r) for r in lst.raws], None, lst.revision, None)


class ViewBroadcaster(Broadcaster):
    """Re-publishes the core Event broadcaster's events, converted, under the view's key prefix."""

    def __init__(self, core: Broadcaster, info: ResourceInfo,
                 convert_raw: Callable[[bytes], bytes] = _out, to_stored: Convert = eventsconv.to_core) -> None:
        super().__init__(core.store, info)
        self.core = core
        self.convert_raw = convert_raw
        self.to_stored = to_stored
        core.listeners.append(self._observe)

    async def start(self) -> None:  # no store watch of its own: the core broadcaster's events drive it
        self.start_rev = self.last_rev = self.core.start_rev

    async def stop(self) -> None:
        for w in list(self.watchers):
            w.close()

    def subscribe(self, *, prefix: str, from_rev: int, match: Filter | None,
                  needles: tuple[bytes, ...] = ()) -> Watcher:
        """Selectors name core's fields (as upstream's shared storage has them): match the core form.
        (``needles`` are not used: this view's bytes are converted ones.)"""
        to_stored = self.to_stored
        core_match = None if match is None else (lambda obj: match(to_stored(obj)))
        return super().subscribe(prefix=prefix, from_rev=from_rev, match=core_match)

    def _observe(self, ev: Event | None) -> None:
        if ev is None:  # the core watch was reset: so is this one
            for w in list(self.watchers):
                w.close()
            self.watchers.clear()
            self.window.clear()
            self.start_rev = self.last_rev = self.core.start_rev
            return
        key = self.info.storage_prefix + ev.key[len(self.core.info.storage_prefix):]
        prev = self.convert_raw(ev.prev_raw) if ev.prev_raw is not None else None
        self.publish(Event(ev.type, ev.rev, key, self.convert_raw(ev.raw), prev))
