"""Field managers in the API server: who writes, and managedFields kept on every write.

The decisions are ``shoal.api.apply`` (pure); this module names the writer and
turns their outcomes into API answers, as upstream's handlers do:

* the manager of a create, update or patch is the ``fieldManager`` query
  parameter, else the first part of the User-Agent (``kubectl/v1.32.0 ...``
  -> ``kubectl``); it is at most 128 printable characters (else 422 on the
  request's options kind);
* server-side apply needs a ``fieldManager`` (422 ``PatchOptions ... is
  required for apply patch``), takes ``force`` only for apply, refuses a body
  that sets managedFields (400) or names another kind (400);
* a conflict is 409 ``Conflict`` naming each field and its manager; a
  configuration that does not fit the schema is refused with upstream's
  message, ``failed to create typed patch object (ns/name; group/version,
  Kind=Kind): ...``, as a 400 BadRequest (upstream answers 500 there and is
  moving to 400, kubernetes/kubernetes#139253: the client's body is at fault).

Updating managedFields never fails a write (upstream's ``UpdateNoErrors``): an
object its schema cannot walk keeps the managedFields it had.
"""

from __future__ import annotations

import logging
from typing import Any

from shoal.api import apply as applylib
from shoal.api import convert, defaults, validation
from shoal.api.registry import ResourceInfo
from shoal.apiserver import errors

log = logging.getLogger(__name__)

MAX_MANAGER_LENGTH = 128
APPLY_PATCH = "application/apply-patch+yaml"


def _printable(text: str) -> bool:
    return text.isprintable()


def check_manager(name: str, options_kind: str) -> None:
    """Refuse a ``fieldManager`` upstream refuses (too long, not printable): 422 on the options kind."""
    if not name:
        return
    why = None
    if len(name.encode()) > MAX_MANAGER_LENGTH:
        why = ("FieldValueTooLong", f"Too long: may not be more than {MAX_MANAGER_LENGTH} bytes")
    elif not _printable(name):
        why = ("FieldValueInvalid", f"Invalid value: {name!r}: must only contain printable characters")
    if why is not None:
        raise errors.invalid(options_kind, "", [{"reason": why[0], "field": "fieldManager", "message": why[1]}],
                             "meta.k8s.io")


def manager_name(field_manager: str, user_agent: str) -> str:
    """The manager of a non-apply write: ``fieldManager``, else the User-Agent's product name."""
    if field_manager:
        return field_manager
    return user_agent.split("/", 1)[0]


def check_apply_options(field_manager: str, force: str | None, *, is_apply: bool) -> bool:
    """Validate a PATCH's options as upstream's ``ValidatePatchOptions``; return ``force``."""
    causes: list[dict[str, str]] = []
    if not is_apply:
        if force is not None:
            causes.append({"reason": "FieldValueForbidden", "field": "force",
                           "message": "Forbidden: may not be specified for non-apply patch"})
    elif not field_manager:
        causes.append({"reason": "FieldValueRequired", "field": "fieldManager",
                       "message": "Required value: is required for apply patch"})
    if causes:
        raise errors.invalid("PatchOptions", "", causes, "meta.k8s.io")
    check_manager(field_manager, "PatchOptions")
    if force is None or force == "":
        return False
    if force.lower() in ("true", "1"):
        return True
    if force.lower() in ("false", "0"):
        return False
    raise errors.bad_request(f"force: invalid boolean value {force!r}")


def gvk_string(api_version: str, kind: str) -> str:
    """A group-version-kind as Go prints it: ``apps/v1, Kind=Deployment``; ``/v1, Kind=Pod``."""
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def check_config(info: ResourceInfo, config: Any, name: str) -> dict[str, Any]:
    """The applied configuration, held to what upstream requires of one (400 otherwise)."""
    if not isinstance(config, dict):
        raise errors.bad_request("the body of an apply patch must be an object")
    av, kind = config.get("apiVersion"), config.get("kind")
    if av != info.api_version or kind != info.kind:  # upstream's versionCheckManager, the first to look
        raise errors.bad_request(f"invalid object type: {gvk_string(str(av or ''), str(kind or ''))}")
    meta = config.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise errors.bad_request("metadata: must be an object")
    meta = meta or {}
    if meta.get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    body_name = meta.get("name")
    if body_name and body_name != name:
        raise errors.bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
    return config


def conflict_error(c: applylib.ApplyConflict) -> errors.ApiError:
    return errors.ApiError(409, "Conflict", c.message(), details={"causes": c.causes()})


def typed_error(e: applylib.TypedError, info: ResourceInfo, ns: str | None, name: str) -> errors.ApiError:
    where = f"{ns or ''}/{name}; {gvk_string(info.api_version, info.kind)}"
    return errors.bad_request(f"failed to create typed patch object ({where}): {e}")


def reset_filter(info: ResourceInfo, subresource: str) -> Any:
    return applylib.reset_filter(status_subresource=info.status_subresource,
                                 subresource="status" if subresource == "status" else "")


def on_write(node: applylib.TypeNode, info: ResourceInfo, *, live: dict[str, Any] | None,
             new: dict[str, Any], manager: str, subresource: str, now: str) -> None:
    """Set ``new``'s managedFields after a create (``live`` None), update or patch by ``manager``."""
    try:
        entries = applylib.update(node, live=live, new=new, manager=manager, api_version=info.api_version,
                                  subresource=subresource, now=now, reset=reset_filter(info, subresource))
    except applylib.TypedError as e:  # a keyed list item without its key: keep what was there
        log.debug("managedFields of %s %s not updated: %s", info.kind, (new.get("metadata") or {}).get("name"), e)
        entries = ((live or {}).get("metadata") or {}).get("managedFields")
    except Exception:  # noqa: BLE001 - as upstream's UpdateNoErrors: bookkeeping never fails a write
        log.exception("managedFields of %s %s not updated (should not happen)", info.kind,
                      (new.get("metadata") or {}).get("name"))
        entries = ((live or {}).get("metadata") or {}).get("managedFields")
    meta = new.setdefault("metadata", {})
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)


def defaulted(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with its kind's defaults, as upstream defaults an applied object before it is prepared
    (so removing a defaulted field does not look like a spec change); unchanged if it cannot decode
    (validation then says why)."""
    if info.model is None:
        return obj
    try:
        typed = convert.decode(obj, info.model)
    except validation.InvalidError:  # validation reports it, with its own message
        return obj
    defaults.apply_defaults(typed)
    return convert.to_dict(typed)
