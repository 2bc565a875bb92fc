"""Which definition a document is (``shoal.formats.detect``): one table for ``shoal apply`` and the API."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.formats import detect

CASES: list[tuple[str, Any, str | None]] = [
    ("kubernetes object", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}}, "kubernetes"),
    ("kubernetes with services key", {"apiVersion": "v1", "kind": "List", "services": {}}, "kubernetes"),
    ("compose file", {"services": {"web": {"image": "nginx"}}}, "compose"),
    ("compose with version and networks", {"version": "3.8", "services": {}, "networks": {"n": {}}}, "compose"),
    ("services as a list is not compose", {"services": ["web"]}, None),
    ("apiVersion without kind, services", {"apiVersion": "v1", "services": {"a": {}}}, None),
    ("ecs task definition", {"family": "web", "containerDefinitions": [{"name": "w"}]}, "ecs-task-definition"),
    ("described task definition", {"taskDefinition": {"family": "w", "containerDefinitions": []}},
     "ecs-task-definition"),
    ("ecs service", {"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 2}, "ecs-service"),
    ("marathon app", {"id": "/prod/web", "cmd": "sleep 1", "instances": 2}, "marathon-app"),
    ("marathon docker app", {"id": "web", "container": {"docker": {"image": "nginx"}}}, "marathon-app"),
    ("marathon group", {"id": "/prod", "apps": [{"id": "a", "cmd": "x"}]}, "marathon-group"),
    ("marathon group of groups", {"id": "/", "groups": []}, "marathon-group"),
    ("id alone is nothing", {"id": "/a"}, None),
    ("family alone is nothing", {"family": "web"}, None),
    ("a list", [{"apiVersion": "v1", "kind": "Pod"}], None),
    ("a string", "services:", None),
    ("nothing", None, None),
]


@pytest.mark.parametrize(("doc", "want"), [(d, w) for _, d, w in CASES], ids=[c[0] for c in CASES])
def test_kind_of(doc: Any, want: str | None) -> None:
    assert detect.kind_of(doc) == want


@pytest.mark.parametrize(("text", "want"), [
    ('{"id": "/a", "cmd": "x"}', [{"id": "/a", "cmd": "x"}]),
    ("a: 1\n---\n---\nb: 2\n", [{"a": 1}, {"b": 2}]),
    ("services:\n  web:\n    image: nginx\n", [{"services": {"web": {"image": "nginx"}}}]),
    ("", []),
])
def test_load_json_else_yaml_documents(text: str, want: list[Any]) -> None:
    assert detect.load(text) == want
