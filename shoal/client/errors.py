"""Errors a client call can raise: the server's ``Status``, as an exception."""

from __future__ import annotations

from typing import Any


class ApiException(Exception):
    """The API answered with an error ``Status`` (or could not be reached: status 0)."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


def is_not_found(e: BaseException) -> bool:
    return isinstance(e, ApiException) and e.status == 404


def is_conflict(e: BaseException) -> bool:
    return isinstance(e, ApiException) and e.status == 409


def is_already_exists(e: BaseException) -> bool:
    return isinstance(e, ApiException) and e.status == 409 and e.reason == "AlreadyExists"
