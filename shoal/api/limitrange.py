"""A namespace's LimitRanges applied to a pod or claim being created (upstream's LimitRanger).

Two steps, as upstream's admission plugin, over objects as decoded JSON:

* ``default_pod`` fills each container's missing requests and limits from the
  ``Container`` items' ``defaultRequest`` and ``default`` (already defaulted
  from ``max``/``min`` by ``shoal.api.defaults_quota``) and says what it set, for
  the ``kubernetes.io/limit-ranger`` annotation;
* ``check_pod`` / ``check_claim`` hold the object to every item's ``min``,
  ``max`` and ``maxLimitRequestRatio`` — per container for ``Container`` items,
  summed over the pod for ``Pod`` items, the storage request for
  ``PersistentVolumeClaim`` items — and return upstream's messages
  (``maximum cpu usage per Container is 1, but limit is 2``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.api.quota import pod_resources, render

ANNOTATION = "kubernetes.io/limit-ranger"


def _q(raw: Any) -> Fraction | None:
    try:
        return parse_quantity(raw)
    except (InvalidQuantity, TypeError):
        return None  # validation refused it already; a bound that is not a number bounds nothing


def _items(ranges: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [item for lr in ranges for item in ((lr.get("spec") or {}).get("limits") or [])
            if item.get("type") == kind]


def default_pod(pod: dict[str, Any], ranges: Iterable[Mapping[str, Any]]) -> str:
    """Fill missing requests and limits of ``pod``'s containers in place; the annotation's text
    (``LimitRanger plugin set: cpu request for container app; ...``), or ``""`` if nothing was set."""
    items = _items(ranges, "Container")
    if not items:
        return ""
    said: list[str] = []
    spec = pod.get("spec") or {}
    for kind, containers in (("container", spec.get("containers") or []),
                             ("init container", spec.get("initContainers") or [])):
        for c in containers:
            res = c.setdefault("resources", {})
            for item in items:
                for which, source in (("requests", "defaultRequest"), ("limits", "default")):
                    for name, value in (item.get(source) or {}).items():
                        have = res.setdefault(which, {})
                        if name not in have:
                            if which == "requests" and name in (res.get("limits") or {}):
                                continue  # a stated limit is the request (pod defaulting)
                            have[name] = value
                            said.append(f"{name} {which[:-1]} for {kind} {c.get('name')}")
            for which in ("requests", "limits"):
                if res.get(which) == {}:
                    del res[which]
    return "LimitRanger plugin set: " + "; ".join(said) if said else ""


def _bounds(item: Mapping[str, Any], kind: str, requests: Mapping[str, Fraction],
            limits: Mapping[str, Fraction]) -> list[str]:
    errs: list[str] = []
    for name, raw in (item.get("min") or {}).items():
        req, lim, bound = requests.get(name), limits.get(name), _q(raw)
        if bound is None:
            continue
        if req is None:
            errs.append(f"minimum {name} usage per {kind} is {raw}.  No request is specified")
        elif req < bound:
            errs.append(f"minimum {name} usage per {kind} is {raw}, but request is {_show(req, name)}")
        elif lim is not None and lim < bound:
            errs.append(f"minimum {name} usage per {kind} is {raw}, but limit is {_show(lim, name)}")
    for name, raw in (item.get("max") or {}).items():
        req, lim, bound = requests.get(name), limits.get(name), _q(raw)
        if bound is None:
            continue
        if lim is None:
            errs.append(f"maximum {name} usage per {kind} is {raw}.  No limit is specified")
        elif lim > bound:
            errs.append(f"maximum {name} usage per {kind} is {raw}, but limit is {_show(lim, name)}")
        elif req is not None and req > bound:
            errs.append(f"maximum {name} usage per {kind} is {raw}, but request is {_show(req, name)}")
    for name, raw in (item.get("maxLimitRequestRatio") or {}).items():
        req, lim, bound = requests.get(name), limits.get(name), _q(raw)
        if bound is None:
            continue
        if lim is None:
            errs.append(f"{name} max limit to request ratio per {kind} is {raw}, but no limit is specified")
            continue
        if req is None or req == 0:
            errs.append(f"{name} max limit to request ratio per {kind} is {raw}, but no request is specified "
                        "or request is 0")
            continue
        if lim / req > bound:
            errs.append(f"{name} max limit to request ratio per {kind} is {raw}, but provided ratio is "
                        f"{float(lim / req):f}")
    return errs


def _show(value: Fraction, name: str) -> str:
    return render(name, value)


def _container_lists(c: Mapping[str, Any]) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    res = c.get("resources") or {}
    out: list[dict[str, Fraction]] = []
    for which in ("requests", "limits"):
        vals = {}
        for name, raw in (res.get(which) or {}).items():
            v = _q(raw)
            if v is not None:
                vals[name] = v
        out.append(vals)
    return out[0], out[1]


def check_pod(pod: Mapping[str, Any], ranges: Iterable[Mapping[str, Any]]) -> list[str]:
    """Upstream's LimitRanger messages for every bound ``pod`` breaks (empty: admitted)."""
    ranges = list(ranges)
    errs: list[str] = []
    spec = pod.get("spec") or {}
    for item in _items(ranges, "Container"):
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            req, lim = _container_lists(c)
            errs += _bounds(item, "Container", req, lim)
    pod_items = _items(ranges, "Pod")
    if pod_items:
        req, lim = pod_resources(spec, "requests"), pod_resources(spec, "limits")
        for item in pod_items:
            errs += _bounds(item, "Pod", req, lim)
    return errs


def check_claim(claim: Mapping[str, Any], ranges: Iterable[Mapping[str, Any]]) -> list[str]:
    """Upstream's messages for a PersistentVolumeClaim's storage request outside the bounds."""
    errs: list[str] = []
    res = ((claim.get("spec") or {}).get("resources") or {})
    req = {k: v for k, v in ((n, _q(r)) for n, r in (res.get("requests") or {}).items()) if v is not None}
    lim = {k: v for k, v in ((n, _q(r)) for n, r in (res.get("limits") or {}).items()) if v is not None}
    for item in _items(ranges, "PersistentVolumeClaim"):
        bounded = {"min": item.get("min") or {}, "max": item.get("max") or {}}
        for name, raw in bounded["min"].items():
            bound, got = _q(raw), req.get(name)
            if bound is not None and got is not None and got < bound:
                errs.append(f"minimum {name} usage per PersistentVolumeClaim is {raw}, but request is "
                            f"{_show(got, name)}")
        for name, raw in bounded["max"].items():
            bound, got = _q(raw), req.get(name)
            if bound is not None and got is not None and got > bound:
                errs.append(f"maximum {name} usage per PersistentVolumeClaim is {raw}, but request is "
                            f"{_show(got, name)}")
            got_lim = lim.get(name)
            if bound is not None and got_lim is not None and got_lim > bound:
                errs.append(f"maximum {name} usage per PersistentVolumeClaim is {raw}, but limit is "
                            f"{_show(got_lim, name)}")
    return errs
