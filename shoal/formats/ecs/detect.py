"""Which ECS document a file holds, by its keys (for ``shoal apply -f``).

A task definition (``aws ecs register-task-definition --cli-input-json``'s
input, or DescribeTaskDefinition's ``taskDefinition``) has ``family`` and
``containerDefinitions``; a service definition (``create-service
--cli-input-json``'s input) has ``serviceName`` and ``taskDefinition``. A
Kubernetes object has ``apiVersion`` and ``kind`` and is neither.
"""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["task-definition", "service"]
# what DescribeTaskDefinition adds, dropped so its output can be applied again
_DESCRIBED = ("taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
              "registeredBy", "deregisteredAt")


def kind_of(doc: Any) -> Kind | None:
    if not isinstance(doc, dict) or ("apiVersion" in doc and "kind" in doc):
        return None
    if isinstance(doc.get("taskDefinition"), dict) and "containerDefinitions" in doc["taskDefinition"]:
        return "task-definition"
    if "family" in doc and "containerDefinitions" in doc:
        return "task-definition"
    if "serviceName" in doc and "taskDefinition" in doc:
        return "service"
    return None


def task_definition_request(doc: dict[str, Any]) -> dict[str, Any]:
    """A task definition document as a RegisterTaskDefinition request."""
    td = doc["taskDefinition"] if isinstance(doc.get("taskDefinition"), dict) else doc
    return {k: v for k, v in td.items() if k not in _DESCRIBED}
