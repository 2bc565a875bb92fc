"""OpenAPI v3 documents generated from shoal's own models, for kubectl and friends.

``kubectl explain`` reads them to describe fields; ``kubectl apply``/``create``
read the PATCH operations to learn that the server validates fields; clients
doing client-side apply read the patch extensions. Serve

* ``GET /openapi/v3`` -> ``openapi_index()`` (JSON),
* ``GET /openapi/v3/api/v1`` and ``/openapi/v3/apis/<group>/<version>`` ->
  ``document_bytes(<that path>)`` (JSON bytes, and the hash to use as ETag).

Documents are built once per process: they depend only on the code.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from functools import cache
from typing import Any

import msgspec

from shoal.api.kinds import by_group_version
from shoal.api.models import KINDS
from shoal.api.openapi.document import build_document
from shoal.api.openapi.names import schema_name

__all__ = [
    "document_bytes",
    "group_version_path",
    "normalize_group_version",
    "openapi_document",
    "openapi_index",
    "schema_name",
]


def normalize_group_version(text: str) -> str:
    """``apps/v1``, ``apis/apps/v1``, ``/openapi/v3/apis/apps/v1`` -> ``apps/v1``;
    ``v1``, ``api/v1`` -> ``v1``."""
    gv = text.strip("/")
    gv = gv.removeprefix("openapi/v3/")
    if gv.startswith("apis/"):
        return gv[len("apis/") :]
    if gv.startswith("api/"):
        return gv[len("api/") :]
    return gv


def group_version_path(group_version: str) -> str:
    """The key of a group version in the index: ``api/v1`` or ``apis/apps/v1``."""
    gv = normalize_group_version(group_version)
    return f"apis/{gv}" if "/" in gv else f"api/{gv}"


@cache
def _document(group_version: str) -> dict[str, Any]:
    served = by_group_version()
    if group_version not in served:
        raise KeyError(group_version)
    return build_document(group_version=group_version, resources=served[group_version], kinds=KINDS)


@cache
def _bytes(group_version: str) -> tuple[bytes, str]:
    data = msgspec.json.encode(_document(group_version))
    return data, hashlib.sha512(data).hexdigest().upper()


def openapi_document(group_version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of a group version (``v1``, ``apps/v1``, ``apis/apps/v1``).

    Raises ``KeyError`` for a group version shoal does not serve. The result is
    a copy: change it freely.
    """
    return copy.deepcopy(_document(normalize_group_version(group_version)))


def document_bytes(group_version: str) -> tuple[bytes, str]:
    """The document as JSON bytes and its hash (upper-case hex SHA-512), computed once.

    Raises ``KeyError`` for a group version shoal does not serve.
    """
    return _bytes(normalize_group_version(group_version))


def openapi_index(hash_of: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The ``/openapi/v3`` discovery document: one entry per served group version.

    ``hash_of(group_version)`` gives the hash put in each ``serverRelativeURL``
    (clients cache documents by URL); by default the hash of ``document_bytes``.
    """
    paths: dict[str, Any] = {}
    for gv in by_group_version():
        digest = hash_of(gv) if hash_of is not None else document_bytes(gv)[1]
        key = group_version_path(gv)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}

