"""The one error the Marathon translations raise, in Marathon's own shapes.

Marathon answers a refused request with a JSON body whose shape depends on
why: 422 ``{"message": "Object is not valid", "details": [{"path": "/instances",
"errors": ["got -1, expected 0 or more"]}]}`` for a definition it will not
accept, 404 ``{"message": "App '/web' does not exist"}``, 409 with the
``deployments`` that lock an app. ``MarathonError`` carries the status and the
body, so the HTTP surface only serialises it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class MarathonError(Exception):
    """A request Marathon refuses: ``status`` and Marathon's JSON ``body``."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(str(body.get("message") or status))
        self.status = status
        self.body = dict(body)


class Problems:
    """Validation problems gathered per JSON path, in the order found (one 422 names them all)."""

    def __init__(self) -> None:
        self._by_path: dict[str, list[str]] = {}

    def add(self, path: str, error: str) -> None:
        errs = self._by_path.setdefault(path, [])
        if error not in errs:
            errs.append(error)

    def __bool__(self) -> bool:
        return bool(self._by_path)

    def raise_if_any(self, message: str = "Object is not valid") -> None:
        if self._by_path:
            raise invalid(self._by_path.items(), message=message)


def invalid(details: Iterable[tuple[str, list[str]]], *, message: str = "Object is not valid") -> MarathonError:
    return MarathonError(422, {"message": message,
                               "details": [{"path": p, "errors": list(e)} for p, e in details]})


def one_invalid(path: str, error: str) -> MarathonError:
    return invalid([(path, [error])])


def app_not_found(app_id: str) -> MarathonError:
    return MarathonError(404, {"message": f"App '{app_id}' does not exist"})


def group_not_found(group_id: str) -> MarathonError:
    return MarathonError(404, {"message": f"Group '{group_id}' does not exist"})


def app_exists(app_id: str) -> MarathonError:
    return MarathonError(409, {"message": f"An app with id [{app_id}] already exists."})


def group_exists(group_id: str) -> MarathonError:
    return MarathonError(409, {"message": f"Group {group_id} is already created. Use PUT to change this group."})


def locked(deployment_ids: Iterable[str]) -> MarathonError:
    ids = list(deployment_ids)
    first = ids[0] if ids else ""
    return MarathonError(409, {"message": "App is locked by one or more deployments. Override with the option "
                                          f"'?force=true'. View details at '/v2/deployments/{first}'.",
                               "deployments": [{"id": d} for d in ids]})


def unknown_deployment(dep_id: str) -> MarathonError:
    return MarathonError(404, {"message": f"DeploymentPlan {dep_id} does not exist"})


def bad_json(message: str) -> MarathonError:
    return MarathonError(400, {"message": f"Invalid JSON: {message}"})
