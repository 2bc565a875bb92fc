"""``shoal apply -f`` for Marathon files: which JSON is a Marathon app or group, and applying it.

A Marathon file has no ``apiVersion``/``kind``: an app is an object with an
``id`` and what an app has (``cmd``, ``args``, ``container``, ``instances``
...), a group an object with ``apps`` or ``groups``. Applying goes through
the same ``MarathonBackend`` the HTTP API uses, with the kubeconfig's
client: an app is PUT (created, or updated as Marathon's partial PUT does),
a group PUT as a whole; what a group holds back for its dependencies is
started by the server's release loop (``shoal.compat.marathon.release``).
"""

from __future__ import annotations

from typing import Any

APP_FIELDS = frozenset({"cmd", "args", "container", "instances", "cpus", "mem", "portDefinitions",
                        "healthChecks", "env", "constraints"})


def marathon_kind(doc: Any) -> str | None:
    """``marathon-app``, ``marathon-group`` or None."""
    if not isinstance(doc, dict) or "apiVersion" in doc or "kind" in doc:
        return None
    if isinstance(doc.get("apps"), list) or isinstance(doc.get("groups"), list):
        return "marathon-group"
    if isinstance(doc.get("id"), str) and APP_FIELDS & set(doc):
        return "marathon-app"
    return None


async def apply_marathon(client: Any, doc: dict[str, Any], kind: str, *, force: bool) -> str:
    """Apply one Marathon document; the line to print."""
    from shoal.compat.marathon.backend import MarathonBackend
    from shoal.formats.marathon import ids

    b = MarathonBackend(client)
    if kind == "marathon-app":
        app_id = ids.canonical(str(doc["id"]))
        status, out = await b.update_app(app_id, doc, partial=False, force=force)
        return f"marathon app {app_id} {'created' if status == 201 else 'configured'} (deployment {out['deploymentId']})"
    gid = ids.canonical(str(doc.get("id") or "/"))
    _, out = await b.put_group(doc, gid=gid, create=False, force=force)
    return f"marathon group {gid} configured (deployment {out['deploymentId']})"
