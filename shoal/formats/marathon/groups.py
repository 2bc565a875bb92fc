"""Marathon groups: a group's JSON onto its apps, apps back into a group tree, and dependency order.

A group is not an object of its own on shoal: it is the apps whose ids are
under its path (docs/decisions.md says why groups are not namespaces). So
``flatten`` turns a posted group into absolute app definitions, ``tree``
builds ``/v2/groups``'s nested JSON from the apps there are, and a group
without apps does not persist.

``stages`` orders apps by their ``dependencies`` (an app, or a group, which
stands for every app under it): each stage's apps depend only on earlier
stages, so a deployment starts stage by stage, as Marathon's deployment plan
does; a cycle is Marathon's 422.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shoal.formats.marathon import ids
from shoal.formats.marathon.errors import Problems, invalid


def flatten(raw: Any, *, base: str = "/") -> tuple[str, list[dict[str, Any]]]:
    """(the group's absolute id, its apps and its subgroups' apps, each with an absolute id)."""
    p = Problems()
    if not isinstance(raw, dict):
        p.add("/", "error.expected.jsobject")
        p.raise_if_any()
    gid = ids.canonical(str(raw.get("id") or base), base)
    apps: list[dict[str, Any]] = []
    _walk(raw, gid, "", apps, p)
    p.raise_if_any()
    return gid, apps


def _walk(g: Mapping[str, Any], gid: str, at: str, out: list[dict[str, Any]], p: Problems) -> None:
    for i, a in enumerate(g.get("apps") or []):
        if not isinstance(a, dict) or not isinstance(a.get("id"), str):
            p.add(f"{at}/apps({i})/id", "error.path.missing")
            continue
        app = dict(a)
        app["id"] = ids.canonical(a["id"], gid)
        if not ids.is_under(app["id"], gid) or app["id"] == gid:
            p.add(f"{at}/apps({i})/id", f"identifier {app['id']} is not child of {gid}")
            continue
        deps = list(app.get("dependencies") or []) + [ids.canonical(d, gid) for d in g.get("dependencies") or []]
        if deps:
            app["dependencies"] = [ids.canonical(d, gid) for d in deps]
        out.append(app)
    for j, sub in enumerate(g.get("groups") or []):
        if not isinstance(sub, dict) or not isinstance(sub.get("id"), str):
            p.add(f"{at}/groups({j})/id", "error.path.missing")
            continue
        sid = ids.canonical(sub["id"], gid)
        if not ids.is_under(sid, gid) or sid == gid:
            p.add(f"{at}/groups({j})/id", f"identifier {sid} is not child of {gid}")
            continue
        _walk(sub, sid, f"{at}/groups({j})", out, p)


def tree(gid: str, apps: Sequence[Mapping[str, Any]], *, embed_apps: bool = True) -> dict[str, Any]:
    """``/v2/groups/<gid>``: the apps directly in ``gid`` and a subgroup per next path segment."""
    mine = [a for a in apps if ids.parent(str(a["id"])) == gid]
    children = sorted({ids.group_chain(str(a["id"]))[len(ids.segments(gid)) + 1]
                       for a in apps if ids.is_under(str(a["id"]), gid)
                       and len(ids.segments(str(a["id"]))) > len(ids.segments(gid)) + 1})
    versions = [str(a.get("version") or "") for a in apps if ids.is_under(str(a["id"]), gid)]
    return {"id": gid, "apps": [dict(a) for a in mine] if embed_apps else [], "pods": [],
            "groups": [tree(c, [a for a in apps if ids.is_under(str(a["id"]), c)], embed_apps=embed_apps)
                       for c in children],
            "dependencies": [], "version": max(versions) if versions else None, "enforceRole": False}


def exists(gid: str, app_ids: Iterable[str]) -> bool:
    return gid == "/" or any(ids.is_under(a, gid) and a != gid for a in app_ids)


def stages(apps: Sequence[Mapping[str, Any]], *, existing: Iterable[str] = ()) -> list[list[str]]:
    """App ids in start order; a dependency outside ``apps`` must be among ``existing`` (already running)."""
    deps = needs(apps, existing=existing)
    order: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(deps):
        ready = sorted(a for a, need in deps.items() if a not in done and need <= done)
        if not ready:
            raise invalid([("/", ["Dependency graph has cyclic dependencies."])])
        order.append(ready)
        done |= set(ready)
    return order


def needs(apps: Sequence[Mapping[str, Any]], *, existing: Iterable[str] = ()) -> dict[str, set[str]]:
    """Each app's dependencies among ``apps`` (a group dependency: every app under it); a dependency must
    exist among ``apps`` or ``existing``."""
    by_id = {str(a["id"]): a for a in apps}
    known = set(by_id) | set(existing)
    deps: dict[str, set[str]] = {}
    p = Problems()
    for aid, a in by_id.items():
        need: set[str] = set()
        for d in a.get("dependencies") or []:
            hits = {x for x in known if ids.is_under(x, d)}
            if not hits:
                p.add("/dependencies", f"Dependency {d} of {aid} does not exist")
            need |= hits & set(by_id)
        need.discard(aid)
        deps[aid] = need
    p.raise_if_any()
    return deps


def scaled(instances: int, factor: float) -> int:
    """Marathon's ``scaleBy``: instances times the factor, rounded up."""
    return max(0, math.ceil(instances * factor))
