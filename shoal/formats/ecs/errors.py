"""ECS's errors: a closed set of ``__type`` names, each with the status ECS answers.

The AWS CLI and SDKs read ``__type`` (and ``message``) from the body of a JSON
1.1 error, so the name is what a user's ``except`` clause or script matches on;
the messages are ECS's own where ECS has one.
"""

from __future__ import annotations

CLIENT = "ClientException"
INVALID_PARAMETER = "InvalidParameterException"
CLUSTER_NOT_FOUND = "ClusterNotFoundException"
SERVICE_NOT_FOUND = "ServiceNotFoundException"
SERVICE_NOT_ACTIVE = "ServiceNotActiveException"
ACCESS_DENIED = "AccessDeniedException"
SERVER = "ServerException"
UNKNOWN_OPERATION = "UnknownOperationException"
SERIALIZATION = "SerializationException"
INVALID_SIGNATURE = "InvalidSignatureException"
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
MISSING_AUTH = "MissingAuthenticationTokenException"
INCOMPLETE_SIGNATURE = "IncompleteSignatureException"

_STATUS = {SERVER: 500, ACCESS_DENIED: 400, UNKNOWN_OPERATION: 400, MISSING_AUTH: 400,
           INVALID_SIGNATURE: 400, UNRECOGNIZED_CLIENT: 400, INCOMPLETE_SIGNATURE: 400}


class EcsError(Exception):
    """An answer in ECS's error shape: ``{"__type": type_, "message": message}`` with ``status``."""

    def __init__(self, type_: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{type_}: {message}")
        self.type = type_
        self.message = message
        self.status = status if status is not None else _STATUS.get(type_, 400)

    def body(self) -> dict[str, str]:
        return {"__type": self.type, "message": self.message}


def client(message: str) -> EcsError:
    return EcsError(CLIENT, message)


def invalid(message: str) -> EcsError:
    return EcsError(INVALID_PARAMETER, message)
