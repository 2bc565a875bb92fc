"""Which definition a document is, by its shape: Kubernetes, Compose, Marathon or ECS.

``shoal apply -f`` and the API's ``POST /shoal/v1/apply`` (the web UI's
deploy page) take whatever a user pastes, so both ask this one module what
each document is and send it to that system's own code. None of the formats
names itself, so the keys decide, in this order: ``apiVersion`` and ``kind``
make a Kubernetes object; a ``services`` mapping a Compose file; ECS's keys
(``shoal.formats.ecs.detect``) a task or service definition; ``apps`` or
``groups`` a Marathon group, an ``id`` with what an app has a Marathon app.
Anything else is ``None``, and the caller refuses it naming what was expected.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml

from shoal.formats.ecs.detect import kind_of as ecs_kind

Format = Literal["kubernetes", "compose", "ecs-task-definition", "ecs-service", "marathon-app", "marathon-group"]
EXPECTED = "Kubernetes YAML, a Compose file, an ECS task or service definition, a Marathon app or a Marathon group"

MARATHON_APP_FIELDS = frozenset({"cmd", "args", "container", "instances", "cpus", "mem", "portDefinitions",
                                 "healthChecks", "env", "constraints"})


def load(text: str) -> list[Any]:
    """The text's documents: JSON, else YAML (several documents allowed; empty ones dropped)."""
    try:
        return [json.loads(text)]
    except ValueError:
        return [d for d in yaml.safe_load_all(text) if d is not None]


def marathon_kind(doc: Any) -> Literal["marathon-app", "marathon-group"] | None:
    if not isinstance(doc, dict) or "apiVersion" in doc or "kind" in doc:
        return None
    if isinstance(doc.get("apps"), list) or isinstance(doc.get("groups"), list):
        return "marathon-group"
    if isinstance(doc.get("id"), str) and MARATHON_APP_FIELDS & set(doc):
        return "marathon-app"
    return None


def kind_of(doc: Any) -> Format | None:
    """What ``doc`` (one parsed document) is, or None."""
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str):
        return "kubernetes"
    if isinstance(doc.get("services"), dict) and "apiVersion" not in doc and "kind" not in doc:
        return "compose"
    ecs = ecs_kind(doc)
    if ecs == "task-definition":
        return "ecs-task-definition"
    if ecs == "service":
        return "ecs-service"
    return marathon_kind(doc)
