"""CertificateSigningRequests and APIServices: objects whose status the server or a signer owns.

A CSR records who asked for it: a create takes ``spec.username``, ``groups``
``uid`` and ``extra`` from the authenticated request (never from the body), and
starts with no status, so no one creates a pre-approved request. Afterwards
its spec never changes, and each way in writes only its own part, as
upstream's three CSR strategies do: the main resource neither spec nor status
(metadata only), ``/approval`` the conditions (Approved, Denied), ``/status``
the certificate and the other conditions (a signer cannot approve).

An APIService's status is the server's: a local one (no ``service``) is
``Available``, always; one naming a Service is reported unavailable, because
shoal does not proxy to aggregated API servers yet.
"""

from __future__ import annotations

from typing import Any

from shoal.apiserver import rawobj
from shoal.apiserver.auth import CURRENT_USER
from shoal.apiserver.clock import fmt_time, utcnow
from shoal.apiserver.strategies.base import DefaultStrategy, ResetStatusStrategy

_DECISIONS = ("Approved", "Denied")


def _conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    conds = (obj.get("status") or {}).get("conditions")
    return [c for c in conds if isinstance(c, dict)] if isinstance(conds, list) else []


class CertificateSigningRequestStrategy(ResetStatusStrategy):
    def prepare_create(self, obj: dict[str, Any]) -> None:
        super().prepare_create(obj)
        spec = obj.setdefault("spec", {})
        for k in ("username", "uid", "groups", "extra"):
            spec.pop(k, None)
        user = CURRENT_USER.get()
        if user is not None:
            spec["username"] = user.name
            if user.uid:
                spec["uid"] = user.uid
            if user.groups:
                spec["groups"] = list(user.groups)
            if user.extra:
                spec["extra"] = {k: list(v) for k, v in user.extra}

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_update(new, old)
        new["spec"] = rawobj.copy_json(old.get("spec") or {})

    def prepare_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        out = super().prepare_status_update(new, old)
        decided = [c for c in _conditions(old) if c.get("type") in _DECISIONS]
        others = [c for c in _conditions(out) if c.get("type") not in _DECISIONS]
        status = out.setdefault("status", {})
        if decided or others:
            status["conditions"] = decided + others
        else:
            status.pop("conditions", None)
        return out

    def prepare_subresource_update(self, sub: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        if sub != "approval":
            return super().prepare_subresource_update(sub, new, old)
        out: dict[str, Any] = rawobj.copy_json(old)
        status = dict(out.get("status") or {})
        conds = _conditions(new)
        if conds:
            status["conditions"] = rawobj.copy_json(conds)
        else:
            status.pop("conditions", None)
        out["status"] = status
        out["metadata"] = {**out["metadata"], **{k: v for k, v in (new.get("metadata") or {}).items()
                                                 if k == "resourceVersion"}}
        return out


LOCAL_REASON = "Local"
LOCAL_MESSAGE = "Local APIServices are always available"


def api_service_status(obj: dict[str, Any], old: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The Available condition the server reports for an APIService (kept as is while unchanged)."""
    spec = obj.get("spec") or {}
    if spec.get("service") is None:
        cond = {"type": "Available", "status": "True", "reason": LOCAL_REASON, "message": LOCAL_MESSAGE}
    else:
        svc = spec["service"] if isinstance(spec["service"], dict) else {}
        cond = {"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck",
                "message": f"shoal does not proxy to aggregated API servers yet (service/{svc.get('name')} "
                           f"in \"{svc.get('namespace')}\")"}
    for c in _conditions(old or {}):
        if c.get("type") == "Available" and all(c.get(k) == v for k, v in cond.items()):
            return {"conditions": [c]}
    return {"conditions": [{**cond, "lastTransitionTime": now}]}


class APIServiceStrategy(DefaultStrategy):
    def prepare_create(self, obj: dict[str, Any]) -> None:
        super().prepare_create(obj)
        obj["status"] = api_service_status(obj, None, fmt_time(utcnow()))

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_update(new, old)
        new["status"] = api_service_status(new, old, fmt_time(utcnow()))

