"""The API server's Prometheus metrics, under kube-apiserver's names, and ``GET /metrics``.

- ``apiserver_request_total{verb,group,version,resource,subresource,scope,component,code}`` and
  ``apiserver_request_duration_seconds`` (same labels but ``code``; long-running requests,
  watches and streams, are counted but not timed, as upstream);
- ``apiserver_current_inflight_requests{request_kind}`` (readOnly, mutating);
- ``apiserver_registered_watchers{group,version,kind}``: read from the watch caches when
  scraped, so a watch costs nothing here;
- ``etcd_request_duration_seconds{operation,type}``: each store call (``TimedStore``),
  whichever backend (the name upstream gives its storage latency).

Why it stays cheap on the request path (measured in docs/benchmarks.md): the
counters and histograms are ``shoal.promlite``'s plain attributes (no locks),
and a request's labels are looked up once per distinct label set in a dict of
``(counter child, histogram child)`` pairs, so a request costs one tuple, one
dict lookup, an add and a bisect. Everything that can be read when
scraped (watchers, queue depths, the agents' container figures) is a collector
that reads state only then.

``SHOAL_REQUEST_METRICS=off`` leaves requests and store calls uncounted (the
benchmark's baseline: bench/metrics_bench.py).

``GET /metrics`` answers this process's registry (API server, controllers,
the local agent, the in-process scheduler) plus what the scheduler process
serves on its socket beside the API's (``shoal.scheduler.main``).
"""

from __future__ import annotations

import builtins
import contextlib
import os
import time
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shoal.api.registry import ResourceInfo
from shoal.promlite import CounterFamily, Families, HistogramFamily
from shoal.store.base import KeyValue, Store, WatchEvent

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30,
            45, 60)
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LABELS = ("verb", "group", "version", "resource", "subresource", "scope", "component")

REQUESTS = CounterFamily("apiserver_request", "Counter of apiserver requests broken out for each verb, dry run "
                         "value, group, version, resource, scope, component, and HTTP response code.",
                         [*_LABELS, "code"])
DURATION = HistogramFamily("apiserver_request_duration_seconds", "Response latency distribution in seconds for "
                           "each verb, group, version, resource, subresource, scope and component.", _LABELS,
                           buckets=_BUCKETS)
STORE = HistogramFamily("etcd_request_duration_seconds", "Etcd request latency in seconds for each operation and "
                        "object type.", ["operation", "type"], buckets=_STORE_BUCKETS)


class Inflight:
    """In-flight requests by kind (a plain count, read when scraped)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1

    def dec(self) -> None:
        self.value -= 1


class _InflightCollector(Collector):
    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily("apiserver_current_inflight_requests", "Maximal number of currently used inflight "
                              "request limit of this apiserver per request kind in last second.",
                              labels=["request_kind"])
        g.add_metric(["readOnly"], float(_READ_ONLY.value))
        g.add_metric(["mutating"], float(_MUTATING.value))
        yield g

SWITCH_ENV = "SHOAL_REQUEST_METRICS"


def request_metrics_enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "on").lower() not in ("off", "0", "false")


_READ_ONLY = Inflight()
_MUTATING = Inflight()
REGISTRY.register(Families(REQUESTS, DURATION, STORE))
REGISTRY.register(_InflightCollector())
_VERBS = {"POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE"}
_LONG_RUNNING = frozenset({"log", "exec", "attach", "portforward"})

Children = tuple[Any, Any | None]


class RequestMetrics:
    """Counts and times API requests; the labelled children are cached by label set."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, ...], Children] = {}

    @staticmethod
    def inflight(method: str) -> Inflight:
        return _READ_ONLY if method == "GET" else _MUTATING

    def observe(self, method: str, info: ResourceInfo | None, *, namespaced: bool, named: bool, sub: str,
                watch: bool, code: int, seconds: float) -> None:
        if method == "GET":
            verb = "WATCH" if watch else ("GET" if named else "LIST")
        else:
            verb = _VERBS.get(method, method)
            if verb == "DELETE" and not named:
                verb = "DELETECOLLECTION"
        scope = "resource" if named else ("namespace" if namespaced else "cluster")
        key = (verb, info.group if info else "", info.version if info else "", info.plural if info else "", sub,
               scope, str(code))
        pair = self._children.get(key)
        if pair is None:
            labels = (*key[:6], "apiserver")
            timed = verb != "WATCH" and sub not in _LONG_RUNNING
            pair = (REQUESTS.labels(*labels, key[6]), DURATION.labels(*labels) if timed else None)
            self._children[key] = pair
        pair[0].inc()
        if pair[1] is not None:
            pair[1].observe(seconds)


def _type(key: str) -> str:
    """The resource a store key belongs to: ``/registry/<group>/<plural>/...`` -> ``plural``."""
    parts = key.split("/", 4)
    return parts[3] if len(parts) > 3 else key


class TimedStore:
    """A ``Store`` whose calls are timed into ``etcd_request_duration_seconds`` (a thin wrapper)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self._children: dict[tuple[str, str], Any] = {}

    def _h(self, op: str, key: str) -> Any:
        k = (op, _type(key))
        h = self._children.get(k)
        if h is None:
            h = self._children[k] = STORE.labels(*k)
        return h

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def get(self, key: str) -> KeyValue | None:
        t = time.perf_counter()
        try:
            return await self.inner.get(key)
        finally:
            self._h("get", key).observe(time.perf_counter() - t)

    async def list(self, prefix: str, *, start_after: str | None = None, limit: int = 0,
                   revision: int = 0) -> tuple[builtins.list[KeyValue], int, bool]:
        t = time.perf_counter()
        try:
            return await self.inner.list(prefix, start_after=start_after, limit=limit, revision=revision)
        finally:
            self._h("list", prefix).observe(time.perf_counter() - t)

    async def count(self, prefix: str) -> int:
        t = time.perf_counter()
        try:
            return await self.inner.count(prefix)
        finally:
            self._h("count", prefix).observe(time.perf_counter() - t)

    async def create(self, key: str, value: bytes) -> int:
        t = time.perf_counter()
        try:
            return await self.inner.create(key, value)
        finally:
            self._h("create", key).observe(time.perf_counter() - t)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        t = time.perf_counter()
        try:
            return await self.inner.update(key, value, expected_revision=expected_revision)
        finally:
            self._h("update", key).observe(time.perf_counter() - t)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        t = time.perf_counter()
        try:
            return await self.inner.delete(key, expected_revision=expected_revision)
        finally:
            self._h("delete", key).observe(time.perf_counter() - t)

    def watch(self, prefix: str, *, from_revision: int) -> AsyncGenerator[builtins.list[WatchEvent], None]:
        return self.inner.watch(prefix, from_revision=from_revision)

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)

    async def compacted_revision(self) -> int:
        return await self.inner.compacted_revision()

    def __getattr__(self, name: str) -> Any:  # a backend's own extras (the SQLite path, etcd endpoints)
        return getattr(self.inner, name)


class WatchersCollector(Collector):
    """``apiserver_registered_watchers`` from the watch caches' subscriber sets, when scraped."""

    def __init__(self, broadcasters: Mapping[str, Any]) -> None:
        self.broadcasters = broadcasters

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily("apiserver_registered_watchers", "Number of currently registered watchers for a "
                              "given resources", labels=["group", "version", "kind"])
        for b in list(self.broadcasters.values()):
            info = b.info
            g.add_metric([info.group, info.version, info.kind], float(len(b.watchers)))
        yield g


async def _scrape_unix(path: Path) -> bytes:
    """Another process's exposition on a Unix socket (the scheduler's); empty when it does not answer."""
    if not path.exists():
        return b""
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path)),
                                         timeout=aiohttp.ClientTimeout(total=2)) as s, \
                s.get("http://localhost/metrics") as r:
            return await r.read()
    return b""


def handler(sockets: Iterable[Path] = ()) -> Any:
    """``GET /metrics``: this process's registry, then each of ``sockets``' expositions (read at each
    scrape: a component may add its socket after the route is made)."""

    async def metrics(request: web.Request) -> web.Response:
        parts = [generate_latest(REGISTRY)]
        for p in sockets:
            parts.append(await _scrape_unix(p))
        return web.Response(body=b"".join(parts), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics
