"""Marathon's path ids onto Kubernetes names, and the labels and annotations that tie them.

An app id is a path (``/prod/web/api``); its groups are its parents. The
Kubernetes name is the id's segments in reverse, joined by ``-``
(``api-web-prod``), which is the name Mesos-DNS gives the same app
(``api-web-prod.marathon.mesos``): so the Service ``api-web-prod`` in the
namespace ``marathon`` answers at ``api-web-prod.marathon.svc``, and users
who addressed apps through Mesos-DNS find them under the same first label.
Dots in a segment fold to ``-`` (a Service name is a DNS label). Two ids can
fold to one name (``/a/b-c``, ``/c-a/b``); the full id is kept in the
annotation ``marathon.shoal.io/id`` and a create whose name is taken by
another id is refused.

Every object made carries ``app.kubernetes.io/managed-by: marathon`` (the
label Kubernetes recommends for the tool that manages an object), and the
app's pods ``marathon.shoal.io/app: <name>``, the selector.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

NAMESPACE = "marathon"
MANAGED_BY = "app.kubernetes.io/managed-by"
MADE_BY = "marathon"
APP_LABEL = "marathon.shoal.io/app"
ID_ANNOTATION = "marathon.shoal.io/id"
SELECTOR = f"{MANAGED_BY}={MADE_BY}"

_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
SEGMENT_RULE = ("must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*"
                "([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'")
MAX_NAME = 63


def canonical(raw: str, base: str = "/") -> str:
    """An id as an absolute path: relative ids resolved against ``base``, ``.`` and ``..`` applied."""
    parts = [] if raw.startswith("/") else [p for p in base.split("/") if p]
    for seg in raw.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


def segments(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def problem(path: str) -> str | None:
    """Why ``path`` (absolute, canonical) is no app id, or None."""
    segs = segments(path)
    if not segs:
        return "Path must contain at least one path element"
    for s in segs:
        if not _SEGMENT.match(s):
            return SEGMENT_RULE
    if len(k8s_name(path)) > MAX_NAME:
        return (f"shoal names an app by its id's segments in reverse ({k8s_name(path)!r}, as Mesos-DNS does), "
                f"which must be at most {MAX_NAME} characters")
    return None


def k8s_name(path: str) -> str:
    return "-".join(reversed(segments(path))).replace(".", "-")


def parent(path: str) -> str:
    segs = segments(path)
    return "/" + "/".join(segs[:-1])


def is_under(path: str, group: str) -> bool:
    """Whether ``path`` is ``group`` or inside it."""
    g = canonical(group)
    return g == "/" or path == g or path.startswith(g + "/")


def group_chain(path: str) -> list[str]:
    """Every group ``path`` is in, outermost first, the root included: ``/a/b/c`` -> ``/``, ``/a``, ``/a/b``."""
    segs = segments(path)
    return ["/" + "/".join(segs[:i]) for i in range(len(segs))]


def task_id(app_path: str, pod_uid: str) -> str:
    """Marathon's task id form, ``<id with / as _>.<uuid>`` (``prod_web.5f1c...``)."""
    return "_".join(segments(app_path)) + "." + pod_uid


def app_of_task(task: str) -> tuple[str, str]:
    """(the app's name as ``_``-joined segments, the pod uid) of a task id."""
    head, _, uid = task.rpartition(".")
    return head, uid


def version(now: datetime) -> str:
    """Marathon's version: the UTC time of a change, in milliseconds (``2024-05-01T10:00:00.123Z``)."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
