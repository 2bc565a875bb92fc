"""The real kubectl's protobuf request bodies decode to the objects it meant.

kubectl v1.32's typed clients (``kubectl create namespace|configmap|secret|
deployment|service|serviceaccount|job|cronjob``) POST their objects as
``application/vnd.kubernetes.protobuf``. A throwaway aiohttp server answers
discovery, records every POST body and answers 201 with a JSON object; each
test then checks ``decode_k8s_protobuf`` on the captured bytes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shoal.api.protobuf import decode_k8s_protobuf, is_protobuf_content_type

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def resource(name: str, kind: str, *, namespaced: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "singularName": kind.lower(),
        "namespaced": namespaced,
        "kind": kind,
        "verbs": VERBS,
    }


DISCOVERY: dict[str, dict[str, Any]] = {
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            resource("namespaces", "Namespace", namespaced=False),
            resource("configmaps", "ConfigMap"),
            resource("secrets", "Secret"),
            resource("services", "Service"),
            resource("serviceaccounts", "ServiceAccount"),
            {
                "name": "serviceaccounts/token",
                "singularName": "",
                "namespaced": True,
                "group": "authentication.k8s.io",
                "version": "v1",
                "kind": "TokenRequest",
                "verbs": ["create"],
            },
        ],
    },
    "/apis/apps/v1": {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "apps/v1",
        "resources": [resource("deployments", "Deployment")],
    },
    "/apis/batch/v1": {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "batch/v1",
        "resources": [resource("jobs", "Job"), resource("cronjobs", "CronJob")],
    },
}


def group(name: str) -> dict[str, Any]:
    version = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {"name": name, "versions": [version], "preferredVersion": version}


@dataclass
class Recorder:
    bodies: list[tuple[str, str, bytes]] = field(default_factory=list)


def make_app(recorder: Recorder) -> web.Application:
    async def version(_: web.Request) -> web.Response:
        return web.json_response(
            {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"}
        )

    async def api(_: web.Request) -> web.Response:
        return web.json_response({"kind": "APIVersions", "versions": ["v1"]})

    async def apis(_: web.Request) -> web.Response:
        return web.json_response(
            {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group("apps"), group("batch")]}
        )

    async def resources(request: web.Request) -> web.Response:
        return web.json_response(DISCOVERY[request.path])

    async def create(request: web.Request) -> web.Response:
        body = await request.read()
        recorder.bodies.append((request.path, request.headers.get("Content-Type", ""), body))
        # Answer with the object itself, as JSON: kubectl prints "<kind>/<name> created".
        try:
            obj = decode_k8s_protobuf(body)
        except ValueError as err:
            return web.json_response(
                {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": str(err)},
                status=400,
            )
        if obj["kind"] == "TokenRequest":
            obj["status"] = {"token": "t0ken", "expirationTimestamp": "2030-01-01T00:00:00Z"}
        return web.json_response(obj, status=201)

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    for path in DISCOVERY:
        app.router.add_get(path, resources)
    app.router.add_post("/{tail:.*}", create)
    return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Recorder]]:
    recorder = Recorder()
    runner = web.AppRunner(make_app(recorder))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", recorder
    finally:
        await runner.cleanup()


async def kubectl_body(
    server: tuple[str, Recorder], tmp_path: Path, *args: str
) -> tuple[str, dict[str, Any]]:
    """Run one ``kubectl create``; the request path and the decoded body it sent."""
    url, recorder = server
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    proc = await asyncio.create_subprocess_exec(
        str(KUBECTL),
        f"--server={url}",
        f"--cache-dir={tmp_path / 'cache'}",
        "--request-timeout=10s",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()
    assert len(recorder.bodies) == 1, recorder.bodies
    path, content_type, body = recorder.bodies.pop()
    assert is_protobuf_content_type(content_type), content_type
    return path, decode_k8s_protobuf(body)


def json_round_trip(obj: dict[str, Any]) -> dict[str, Any]:
    """The decoded dict is plain JSON data (what the API server then parses)."""
    result: dict[str, Any] = json.loads(json.dumps(obj))
    return result


async def test_create_namespace(server: tuple[str, Recorder], tmp_path: Path) -> None:
    path, obj = await kubectl_body(server, tmp_path, "create", "namespace", "team-a")
    assert path == "/api/v1/namespaces"
    assert json_round_trip(obj) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a", "creationTimestamp": None},
        "spec": {},
        "status": {},
    }


async def test_create_configmap_from_literal(server: tuple[str, Recorder], tmp_path: Path) -> None:
    path, obj = await kubectl_body(
        server,
        tmp_path,
        "create",
        "configmap",
        "c",
        "--from-literal=a=b",
        "--from-literal=empty=",
        "-n",
        "ns1",
    )
    assert path == "/api/v1/namespaces/ns1/configmaps"
    assert obj == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "ns1", "creationTimestamp": None},
        "data": {"a": "b", "empty": ""},
    }


async def test_create_secret_generic(server: tuple[str, Recorder], tmp_path: Path) -> None:
    path, obj = await kubectl_body(
        server, tmp_path, "create", "secret", "generic", "s", "--from-literal=password=hunter2"
    )
    assert path == "/api/v1/namespaces/default/secrets"
    assert obj["kind"] == "Secret"
    assert obj["metadata"]["name"] == "s"
    assert "type" not in obj  # unset (the server defaults it to Opaque)
    assert obj["data"] == {"password": "aHVudGVyMg=="}  # base64, as in the JSON form


async def test_create_secret_binary_from_file(server: tuple[str, Recorder], tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"\x00\xffbinary")
    _, obj = await kubectl_body(
        server,
        tmp_path,
        "create",
        "secret",
        "generic",
        "t",
        "--type=example.com/thing",
        f"--from-file=k={blob}",
    )
    assert obj["type"] == "example.com/thing"
    assert obj["data"] == {"k": base64.b64encode(b"\x00\xffbinary").decode()}


async def test_create_deployment(server: tuple[str, Recorder], tmp_path: Path) -> None:
    path, obj = await kubectl_body(
        server,
        tmp_path,
        "create",
        "deployment",
        "web",
        "--image=img:1",
        "--replicas=3",
        "--port=80",
    )
    assert path == "/apis/apps/v1/namespaces/default/deployments"
    assert obj["apiVersion"] == "apps/v1"
    assert obj["kind"] == "Deployment"
    assert obj["metadata"] == {
        "name": "web",
        "labels": {"app": "web"},
        "creationTimestamp": None,
    }
    spec = obj["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["strategy"] == {}
    template = spec["template"]
    assert template["metadata"] == {"labels": {"app": "web"}, "creationTimestamp": None}
    assert template["spec"]["containers"] == [
        {"name": "img", "image": "img:1", "ports": [{"containerPort": 80}], "resources": {}}
    ]
    assert obj["status"] == {}


async def test_create_deployment_zero_replicas_is_kept(
    server: tuple[str, Recorder], tmp_path: Path
) -> None:
    _, obj = await kubectl_body(
        server, tmp_path, "create", "deployment", "idle", "--image=img", "--replicas=0"
    )
    assert obj["spec"]["replicas"] == 0  # a pointer field: an explicit zero is on the wire


async def test_create_service_clusterip(server: tuple[str, Recorder], tmp_path: Path) -> None:
    path, obj = await kubectl_body(
        server, tmp_path, "create", "service", "clusterip", "s", "--tcp=80:8080"
    )
    assert path == "/api/v1/namespaces/default/services"
    assert obj["kind"] == "Service"
    assert obj["metadata"]["labels"] == {"app": "s"}
    spec = obj["spec"]
    assert spec["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    assert isinstance(spec["ports"][0]["targetPort"], int)
    assert spec["selector"] == {"app": "s"}
    assert spec["type"] == "ClusterIP"


async def test_create_service_named_target_port(
    server: tuple[str, Recorder], tmp_path: Path
) -> None:
    _, obj = await kubectl_body(
        server, tmp_path, "create", "service", "nodeport", "np", "--tcp=443:https"
    )
    port = obj["spec"]["ports"][0]
    assert port["port"] == 443
    assert port["targetPort"] == "https"  # IntOrString of type string
    assert obj["spec"]["type"] == "NodePort"


async def test_create_serviceaccount(server: tuple[str, Recorder], tmp_path: Path) -> None:
    path, obj = await kubectl_body(server, tmp_path, "create", "serviceaccount", "robot")
    assert path == "/api/v1/namespaces/default/serviceaccounts"
    assert obj == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "robot", "creationTimestamp": None},
    }


async def test_create_job(server: tuple[str, Recorder], tmp_path: Path) -> None:
    path, obj = await kubectl_body(
        server, tmp_path, "create", "job", "j", "--image=img", "--", "sleep", "1"
    )
    assert path == "/apis/batch/v1/namespaces/default/jobs"
    assert obj["apiVersion"] == "batch/v1"
    assert obj["kind"] == "Job"
    assert obj["metadata"]["name"] == "j"
    pod = obj["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"] == [
        {"name": "j", "image": "img", "command": ["sleep", "1"], "resources": {}}
    ]


async def test_create_cronjob(server: tuple[str, Recorder], tmp_path: Path) -> None:
    path, obj = await kubectl_body(
        server,
        tmp_path,
        "create",
        "cronjob",
        "cj",
        "--image=img",
        "--schedule=*/5 * * * *",
        "--",
        "sleep",
        "1",
    )
    assert path == "/apis/batch/v1/namespaces/default/cronjobs"
    assert obj["kind"] == "CronJob"
    spec = obj["spec"]
    assert spec["schedule"] == "*/5 * * * *"
    job = spec["jobTemplate"]
    assert job["metadata"] == {"name": "cj", "creationTimestamp": None}
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure"
    assert pod["containers"][0]["command"] == ["sleep", "1"]
    assert pod["containers"][0]["image"] == "img"


async def test_create_token(server: tuple[str, Recorder], tmp_path: Path) -> None:
    path, obj = await kubectl_body(
        server, tmp_path, "create", "token", "robot", "--duration=1h", "--audience=api"
    )
    assert path == "/api/v1/namespaces/default/serviceaccounts/robot/token"
    assert obj["apiVersion"] == "authentication.k8s.io/v1"
    assert obj["kind"] == "TokenRequest"
    assert obj["spec"] == {"audiences": ["api"], "expirationSeconds": 3600}
