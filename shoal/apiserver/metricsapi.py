"""``metrics.k8s.io/v1beta1``: NodeMetrics and PodMetrics, from what the agents push.

Each agent samples its containers and node and POSTs the rates to
``/shoal/v1/metrics`` (``shoal.agent.metrics``; why push and not pull:
docs/decisions.md). ``MetricsStore`` keeps the newest report of each node in
memory (never in the store: metrics are many, small and worthless after a
minute) and forgets a node whose last report is older than ``ttl``. The
resource metrics API is served from it as metrics-server serves it: the same
paths, kinds, ``timestamp``/``window`` fields, CPU in nanocores and memory in
``Ki``, label and field selectors on lists, a 404 for a pod or node without
metrics, so ``kubectl top`` and the HPA controller read it as they would
upstream's. The group is listed in discovery and as the APIService
``v1beta1.metrics.k8s.io``.

Rendering is pure (``node_metrics``, ``pod_metrics``, ``select``); the HTTP
handlers only parse, look up and encode.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from shoal.api import selectors
from shoal.apiserver import errors
from shoal.apiserver.auth import USER_KEY

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
PUSH_PATH = "/shoal/v1/metrics"
DEFAULT_TTL = 60.0  # seconds a node's report is served after it arrived
# the nodes, an agent of simulated nodes (one user for all of them: shoal.apiserver.authn.nodejoin), and admins
_NODE_GROUPS = frozenset({"system:nodes", "system:shoal:simulated-nodes", "system:masters"})
_POD_FIELDS = frozenset({"metadata.name", "metadata.namespace"})

# upstream's metrics-server APIService (served by this server itself, so it names no service)
API_SERVICE: dict[str, Any] = {
    "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
    "metadata": {"name": f"{VERSION}.{GROUP}", "labels": {"k8s-app": "metrics-server"}},
    "spec": {"group": GROUP, "version": VERSION, "groupPriorityMinimum": 100, "versionPriority": 100},
}


@dataclass(frozen=True, slots=True)
class NodeReport:
    """One node's pushed report, as received (``received``: this server's monotonic clock)."""

    name: str
    body: dict[str, Any]
    received: float


def _time(ts: Any) -> str:
    try:
        t = dt.datetime.fromtimestamp(float(ts), dt.UTC)
    except (TypeError, ValueError, OverflowError):
        t = dt.datetime.now(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        s = 0.0
    return f"{s:.3f}".rstrip("0").rstrip(".") + "s"


def cpu_quantity(nanocores: Any) -> str:
    return f"{max(0, int(nanocores or 0))}n"


def memory_quantity(value: Any) -> str:
    return f"{max(0, int(value or 0)) // 1024}Ki"


def node_metrics(report: dict[str, Any]) -> dict[str, Any] | None:
    """A NodeMetrics of one node's report; None when the report carries no node usage yet."""
    usage = report.get("usage")
    if not isinstance(usage, dict):
        return None
    now = _time(time.time())
    md: dict[str, Any] = {"name": report.get("name", ""), "creationTimestamp": now}
    return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION, "metadata": md,
            "timestamp": _time(report.get("timestamp")), "window": _window(report.get("window")),
            "usage": {"cpu": cpu_quantity(usage.get("cpu")), "memory": memory_quantity(usage.get("memory"))}}


def pod_metrics(pod: dict[str, Any]) -> dict[str, Any]:
    md: dict[str, Any] = {"name": pod.get("name", ""), "namespace": pod.get("namespace", ""),
                          "creationTimestamp": _time(time.time())}
    if pod.get("labels"):
        md["labels"] = pod["labels"]
    return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION, "metadata": md,
            "timestamp": _time(pod.get("timestamp")), "window": _window(pod.get("window")),
            "containers": [{"name": c.get("name", ""),
                            "usage": {"cpu": cpu_quantity(c.get("cpu")), "memory": memory_quantity(c.get("memory"))}}
                           for c in pod.get("containers") or [] if isinstance(c, dict)]}


Matcher = Callable[[dict[str, Any]], bool]


def select(objs: Iterable[dict[str, Any]], *, label_selector: str = "", field_selector: str = "") -> list[dict[str, Any]]:
    """The objects that match both selectors (only metadata.name/namespace fields, as metrics-server)."""
    try:
        ls = selectors.parse_selector(label_selector) if label_selector else None
        fs = selectors.parse_field_selector(field_selector) if field_selector else None
    except selectors.SelectorError as e:
        raise errors.bad_request(str(e)) from None
    if fs is not None:
        for req in fs.requirements:
            if req.field not in _POD_FIELDS:
                raise errors.bad_request(f"field label not supported: {req.field}")
    return [o for o in objs if (ls is None or ls.matches(o["metadata"].get("labels")))
            and (fs is None or fs.matches(o))]


class MetricsStore:
    """The newest report of every node, in memory, forgotten ``ttl`` seconds after it arrived."""

    def __init__(self, *, ttl: float = DEFAULT_TTL, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.monotonic = monotonic
        self._nodes: dict[str, NodeReport] = {}

    def put(self, body: Any) -> int:
        """Take an agent's push (``{"nodes": [...]}``); the number of nodes it reported."""
        nodes = body.get("nodes") if isinstance(body, dict) else None
        if not isinstance(nodes, list):
            raise errors.bad_request('a metrics report is {"nodes": [...]}')
        now = self.monotonic()
        n = 0
        for node in nodes:
            if isinstance(node, dict) and isinstance(node.get("name"), str) and node["name"]:
                self._nodes[node["name"]] = NodeReport(node["name"], node, now)
                n += 1
        return n

    def reports(self) -> list[NodeReport]:
        now = self.monotonic()
        stale = [k for k, r in self._nodes.items() if now - r.received > self.ttl]
        for k in stale:
            del self._nodes[k]
        return list(self._nodes.values())

    def nodes(self) -> list[dict[str, Any]]:
        return [m for r in self.reports() if (m := node_metrics(r.body)) is not None]

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        out = []
        for r in self.reports():
            for p in r.body.get("pods") or []:
                if isinstance(p, dict) and (namespace is None or p.get("namespace") == namespace):
                    out.append(pod_metrics(p))
        return out


def _list(kind: str, items: list[dict[str, Any]]) -> web.Response:
    body = {"kind": f"{kind}List", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
    return web.Response(body=msgspec.json.encode(body), content_type="application/json")


def _one(obj: dict[str, Any]) -> web.Response:
    return web.Response(body=msgspec.json.encode(obj), content_type="application/json")


def _not_found(resource: str, name: str) -> errors.ApiError:
    return errors.ApiError(404, "NotFound", f'{resource}.{GROUP} "{name}" not found',
                           details={"name": name, "group": GROUP, "kind": resource})


class MetricsApi:
    """The HTTP side: the agents' push and the ``metrics.k8s.io/v1beta1`` reads."""

    def __init__(self, store: MetricsStore) -> None:
        self.store = store

    async def push(self, request: web.Request) -> web.Response:
        user = request.get(USER_KEY)
        if user is not None and not _NODE_GROUPS & set(user.groups):
            raise errors.ApiError(403, "Forbidden", f'User "{user.name}" cannot report node metrics')
        n = self.store.put(msgspec.json.decode(await request.read()))
        return web.json_response({"nodes": n})

    def _selected(self, request: web.Request, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return select(objs, label_selector=request.query.get("labelSelector", ""),
                      field_selector=request.query.get("fieldSelector", ""))

    async def nodes(self, request: web.Request) -> web.Response:
        objs = self.store.nodes()
        name = request.match_info.get("name")
        if name is not None:
            found = next((o for o in objs if o["metadata"]["name"] == name), None)
            if found is None:
                raise _not_found("nodes", name)
            return _one(found)
        return _list("NodeMetrics", self._selected(request, objs))

    async def pods(self, request: web.Request) -> web.Response:
        ns = request.match_info.get("namespace")
        objs = self.store.pods(ns)
        name = request.match_info.get("name")
        if name is not None:
            found = next((o for o in objs if o["metadata"]["name"] == name), None)
            if found is None:
                raise _not_found("pods", name)
            return _one(found)
        return _list("PodMetrics", self._selected(request, objs))

    def install(self, r: web.UrlDispatcher) -> None:
        r.add_post(PUSH_PATH, self.push)
        base = f"/apis/{GROUP}/{VERSION}"
        r.add_get(f"{base}/nodes", self.nodes)
        r.add_get(f"{base}/nodes/{{name}}", self.nodes)
        r.add_get(f"{base}/pods", self.pods)
        r.add_get(f"{base}/namespaces/{{namespace}}/pods", self.pods)
        r.add_get(f"{base}/namespaces/{{namespace}}/pods/{{name}}", self.pods)
