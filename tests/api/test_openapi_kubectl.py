"""The real kubectl reads shoal's OpenAPI v3 documents.

A throwaway aiohttp app serves version, discovery and ``/openapi/v3`` from
``shoal.api.openapi``; then ``kubectl explain`` must find the kinds through the
operations' group-version-kind tags and print field names, types and
descriptions, and ``kubectl create`` must see ``fieldValidation`` on the PATCH
operation and leave validation to the server (``?fieldValidation=Strict``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shoal.api.openapi import document_bytes, openapi_index

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CORE_RESOURCES = [
    {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": VERBS,
        "shortNames": ["po"],
        "categories": ["all"],
    },
]
APPS_RESOURCES = [
    {
        "name": "deployments",
        "singularName": "deployment",
        "namespaced": True,
        "kind": "Deployment",
        "verbs": VERBS,
        "shortNames": ["deploy"],
        "categories": ["all"],
    },
    {
        "name": "deployments/scale",
        "singularName": "",
        "namespaced": True,
        "kind": "Scale",
        "group": "autoscaling",
        "version": "v1",
        "verbs": ["get", "patch", "update"],
    },
]


class Server:
    """The URL of the test server and the requests it received."""

    def __init__(self) -> None:
        self.url = ""
        self.created: list[tuple[str, dict[str, str], dict[str, Any]]] = []


def make_app(state: Server) -> web.Application:
    async def version(_: web.Request) -> web.Response:
        return web.json_response(
            {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"}
        )

    async def api(_: web.Request) -> web.Response:
        return web.json_response(
            {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        )

    async def apis(_: web.Request) -> web.Response:
        apps = {"groupVersion": "apps/v1", "version": "v1"}
        return web.json_response(
            {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [{"name": "apps", "versions": [apps], "preferredVersion": apps}],
            }
        )

    async def core(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "v1",
                "resources": CORE_RESOURCES,
            }
        )

    async def apps(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "apps/v1",
                "resources": APPS_RESOURCES,
            }
        )

    async def index(_: web.Request) -> web.Response:
        return web.json_response(openapi_index())

    async def document(request: web.Request) -> web.Response:
        try:
            data, etag = document_bytes(request.match_info["gv"])
        except KeyError:
            raise web.HTTPNotFound() from None
        return web.Response(
            body=data, content_type="application/json", headers={"ETag": f'"{etag}"'}
        )

    async def create_pod(request: web.Request) -> web.Response:
        body = await request.json()
        state.created.append((request.path, dict(request.query), body))
        return web.json_response(body, status=201)

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/api/v1", core)
    app.router.add_get("/apis/apps/v1", apps)
    app.router.add_get("/openapi/v3", index)
    app.router.add_get("/openapi/v3/{gv:.+}", document)
    app.router.add_post("/api/v1/namespaces/{ns}/pods", create_pod)
    return app


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    runner = web.AppRunner(make_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


async def kubectl(server: Server, tmp_path: Path, *args: str, ok: bool = True) -> str:
    """Run kubectl against the test server; its stdout (stderr on failure)."""
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL),
        f"--server={server.url}",
        f"--cache-dir={tmp_path / 'cache'}",
        "--request-timeout=10s",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    if ok:
        assert proc.returncode == 0, err.decode()
        return out.decode()
    assert proc.returncode != 0, out.decode()
    return err.decode()


def squash(text: str) -> str:
    """Whitespace collapsed, so wrapped descriptions compare as one line."""
    return " ".join(text.split())


async def test_explain_pod_containers(server: Server, tmp_path: Path) -> None:
    out = await kubectl(server, tmp_path, "explain", "pods.spec.containers")
    assert "KIND:       Pod" in out
    assert "VERSION:    v1" in out
    assert "FIELD: containers <[]Container>" in out
    assert "A single application container that you want to run within a pod." in squash(out)
    assert "name\t<string> -required-" in out
    assert "image\t<string>" in out
    assert "ports\t<[]ContainerPort>" in out
    assert "resources\t<ResourceRequirements>" in out
    assert "Container image name." in squash(out)


async def test_explain_deployment_strategy(server: Server, tmp_path: Path) -> None:
    out = await kubectl(server, tmp_path, "explain", "deployment.spec.strategy")
    assert "GROUP:      apps" in out
    assert "KIND:       Deployment" in out
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert "DeploymentStrategy describes how to replace existing pods with new ones." in squash(out)
    assert "rollingUpdate\t<RollingUpdateDeployment>" in out
    assert "type\t<string>" in out
    assert 'Can be "Recreate" or "RollingUpdate"' in squash(out)


async def test_explain_int_or_string_and_kind(server: Server, tmp_path: Path) -> None:
    out = await kubectl(server, tmp_path, "explain", "deploy.spec.strategy.rollingUpdate")
    assert "maxSurge\t<IntOrString>" in out
    out = await kubectl(server, tmp_path, "explain", "pods")
    assert "Pod is a collection of containers" in squash(out)
    for field in (
        "apiVersion\t<string>",
        "metadata\t<ObjectMeta>",
        "spec\t<PodSpec>",
        "status\t<PodStatus>",
    ):
        assert field in out


async def test_explain_unknown_field_fails(server: Server, tmp_path: Path) -> None:
    err = await kubectl(server, tmp_path, "explain", "pods.spec.nosuchfield", ok=False)
    assert 'field "nosuchfield" does not exist' in err


async def test_create_leaves_validation_to_the_server(server: Server, tmp_path: Path) -> None:
    manifest = tmp_path / "pod.json"
    manifest.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            }
        )
    )
    await kubectl(server, tmp_path, "create", "-f", str(manifest))
    assert len(server.created) == 1
    path, query, body = server.created[0]
    assert path == "/api/v1/namespaces/default/pods"
    assert query.get("fieldValidation") == "Strict"
    assert body["metadata"]["name"] == "web"
