"""The real kubectl prints shoal's Tables as users expect.

A throwaway aiohttp app answers only what ``kubectl get`` needs (version,
discovery, list and watch of pods and nodes) with ``render_table`` output,
then kubectl's own printing is checked: headers, wide columns, the NAMESPACE
column of ``-A`` and ``--show-labels`` (both read from the row's
PartialObjectMetadata), and ``-w`` with headers sent once.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shoal.apiserver.tables import render_table, watch_event_table

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

NOW = datetime.now(UTC).replace(microsecond=0)


def stamp(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_pod(name: str, namespace: str, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "resourceVersion": "10",
            "creationTimestamp": stamp(timedelta(hours=3, minutes=5)),
            "labels": {"app": name},
        },
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "nginx"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.1.0.5",
            "podIPs": [{"ip": "10.1.0.5"}],
            **status,
        },
    }


PODS = [
    make_pod(
        "web",
        "default",
        containerStatuses=[
            {
                "name": "app",
                "ready": True,
                "restartCount": 2,
                "state": {"running": {}},
                "lastState": {
                    "terminated": {"exitCode": 1, "finishedAt": stamp(timedelta(minutes=7))}
                },
            }
        ],
    ),
    make_pod(
        "crashy",
        "other",
        containerStatuses=[
            {
                "name": "app",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            }
        ],
    ),
]
NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "n1",
        "resourceVersion": "4",
        "creationTimestamp": stamp(timedelta(days=2, hours=3)),
        "labels": {"node-role.kubernetes.io/control-plane": ""},
    },
    "spec": {"unschedulable": True},
    "status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "nodeInfo": {"kubeletVersion": "v1.32.0"},
    },
}

# A kind without a printer of its own: the generic NAME/AGE table.
LIMIT_RANGE = {
    "apiVersion": "v1",
    "kind": "LimitRange",
    "metadata": {
        "name": "defaults",
        "namespace": "default",
        "creationTimestamp": stamp(timedelta(seconds=95)),
    },
    "spec": {"limits": []},
}

RESOURCES = [
    {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get", "list", "watch"],
        "shortNames": ["po"],
    },
    {
        "name": "limitranges",
        "singularName": "limitrange",
        "namespaced": True,
        "kind": "LimitRange",
        "verbs": ["get", "list", "watch"],
        "shortNames": ["limits"],
    },
    {
        "name": "nodes",
        "singularName": "node",
        "namespaced": False,
        "kind": "Node",
        "verbs": ["get", "list", "watch"],
        "shortNames": ["no"],
    },
]


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


async def list_handler(
    request: web.Request, kind: str, objects: list[dict[str, Any]]
) -> web.StreamResponse:
    if request.query.get("watch") in ("1", "true"):
        return await watch_handler(request, kind, objects)
    assert wants_table(request), request.headers.get("Accept")
    table = render_table(
        kind,
        objects,
        now=NOW,  # fixed clock: ages in the output are exact
        include_object=request.query.get("includeObject", "Metadata"),
        list_meta={"resourceVersion": "10"},
    )
    return web.json_response(table, content_type="application/json")


async def watch_handler(
    request: web.Request, kind: str, objects: list[dict[str, Any]]
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    changed = json.loads(json.dumps(objects[0]))
    changed["metadata"]["resourceVersion"] = "11"
    changed["metadata"]["deletionTimestamp"] = stamp(timedelta(0))
    crashed = json.loads(json.dumps(objects[0]))
    crashed["metadata"]["resourceVersion"] = "12"
    crashed["status"]["containerStatuses"][0].update(
        ready=False, state={"waiting": {"reason": "CrashLoopBackOff"}}
    )
    # The first event carries the column definitions, the second has none.
    for index, obj in enumerate([crashed, changed]):
        table = watch_event_table(
            kind,
            obj,
            now=NOW,  # fixed clock: ages in the output are exact
            first=index == 0,
            include_object=request.query.get("includeObject", "Metadata"),
        )
        await response.write(json.dumps({"type": "MODIFIED", "object": table}).encode() + b"\n")
    await response.write_eof()
    return response


def make_app() -> web.Application:
    async def version(_: web.Request) -> web.Response:
        return web.json_response(
            {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"}
        )

    async def api(_: web.Request) -> web.Response:
        return web.json_response(
            {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        )

    async def apis(_: web.Request) -> web.Response:
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def core(_: web.Request) -> web.Response:
        return web.json_response(
            {"kind": "APIResourceList", "groupVersion": "v1", "resources": RESOURCES}
        )

    async def pods(request: web.Request) -> web.StreamResponse:
        namespace = request.match_info.get("ns")
        chosen = [p for p in PODS if namespace is None or p["metadata"]["namespace"] == namespace]
        return await list_handler(request, "Pod", chosen)

    async def nodes(request: web.Request) -> web.StreamResponse:
        return await list_handler(request, "Node", [NODE])

    async def limitranges(request: web.Request) -> web.StreamResponse:
        return await list_handler(request, "LimitRange", [LIMIT_RANGE])

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/api/v1", core)
    app.router.add_get("/api/v1/pods", pods)
    app.router.add_get("/api/v1/namespaces/{ns}/pods", pods)
    app.router.add_get("/api/v1/nodes", nodes)
    app.router.add_get("/api/v1/namespaces/{ns}/limitranges", limitranges)
    return app


@pytest.fixture
async def server() -> AsyncIterator[str]:
    runner = web.AppRunner(make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def kubectl(server: str, tmp_path: Path, *args: str) -> list[list[str]]:
    """Run kubectl against ``server``; its output as rows of whitespace-split words."""
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL),
        f"--server={server}",
        f"--cache-dir={tmp_path / 'cache'}",
        "--request-timeout=10s",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    return [line.split() for line in out.decode().splitlines()]


async def test_kubectl_get_pods(server: str, tmp_path: Path) -> None:
    rows = await kubectl(server, tmp_path, "get", "pods")
    assert rows == [
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ["web", "1/1", "Running", "2", "(7m", "ago)", "3h5m"],
    ]


async def test_kubectl_get_pods_wide(server: str, tmp_path: Path) -> None:
    rows = await kubectl(server, tmp_path, "get", "pods", "-o", "wide")
    assert rows[0] == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES",
    ]  # fmt: skip
    assert rows[1] == [
        "web",
        "1/1",
        "Running",
        "2",
        "(7m",
        "ago)",
        "3h5m",
        "10.1.0.5",
        "n1",
        "<none>",
        "<none>",
    ]


async def test_kubectl_all_namespaces_and_labels_from_metadata(server: str, tmp_path: Path) -> None:
    rows = await kubectl(server, tmp_path, "get", "pods", "-A", "--show-labels")
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]
    assert rows[1] == ["default", "web", "1/1", "Running", "2", "(7m", "ago)", "3h5m", "app=web"]
    assert rows[2] == ["other", "crashy", "0/1", "CrashLoopBackOff", "0", "3h5m", "app=crashy"]


async def test_kubectl_sort_by_uses_whole_objects(server: str, tmp_path: Path) -> None:
    rows = await kubectl(server, tmp_path, "get", "pods", "-A", "--sort-by=.metadata.name")
    assert [row[1] for row in rows[1:]] == ["crashy", "web"]


async def test_kubectl_get_nodes(server: str, tmp_path: Path) -> None:
    rows = await kubectl(server, tmp_path, "get", "nodes")
    assert rows == [
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        ["n1", "Ready,SchedulingDisabled", "control-plane", "2d3h", "v1.32.0"],
    ]


async def test_kubectl_get_watch_prints_headers_once(server: str, tmp_path: Path) -> None:
    rows = await kubectl(server, tmp_path, "get", "pods", "-w")
    assert rows == [
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ["web", "1/1", "Running", "2", "(7m", "ago)", "3h5m"],
        ["web", "0/1", "CrashLoopBackOff", "2", "(7m", "ago)", "3h5m"],
        ["web", "1/1", "Terminating", "2", "(7m", "ago)", "3h5m"],
    ]


async def test_kubectl_watch_with_event_types(server: str, tmp_path: Path) -> None:
    rows = await kubectl(server, tmp_path, "get", "pods", "-w", "--output-watch-events")
    assert rows[0] == ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [row[:4] for row in rows[1:]] == [
        ["ADDED", "web", "1/1", "Running"],
        ["MODIFIED", "web", "0/1", "CrashLoopBackOff"],
        ["MODIFIED", "web", "1/1", "Terminating"],
    ]


async def test_kubectl_generic_table(server: str, tmp_path: Path) -> None:
    rows = await kubectl(server, tmp_path, "get", "limitranges")
    assert rows == [["NAME", "AGE"], ["defaults", "95s"]]
