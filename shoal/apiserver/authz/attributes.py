"""What a request asks to do, as authorization sees it (upstream's RequestInfo).

A resource request is ``/api/v1/...`` or ``/apis/GROUP/VERSION/...`` naming a
resource (optionally in a namespace, a name and a subresource); its verb comes
from the method and the shape: GET of one object is ``get``, of a collection
``list`` (``watch`` with ``?watch=true``), POST ``create``, PUT ``update``,
PATCH ``patch``, DELETE of one object ``delete``, of a collection
``deletecollection``. Anything else (``/api``, ``/apis/apps``, ``/version``,
``/openapi/v3``) is a non-resource request whose verb is the lower-cased
method. Parsed without the kind registry, so a request for a resource the
server does not serve is still authorized (and then answered 404), as upstream.
Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.apiserver.authn.user import User

_READ_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_TRUE = frozenset({"1", "true", "yes"})


@dataclass(frozen=True, slots=True)
class Attributes:
    """Who does which verb to what: a resource (group, resource, subresource, namespace, name) or a path."""

    user: User
    verb: str
    resource_request: bool
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


def selected_name(field_selector: str) -> str:
    """The name a field selector requires exactly (``metadata.name=x``, among other terms), else ""."""
    for term in field_selector.split(","):
        key, sep, value = term.partition("=")
        if sep and key.strip() == "metadata.name" and not value.startswith("!"):
            name = value.removeprefix("=").strip()
            if name and "/" not in name and name not in (".", ".."):
                return name
    return ""


def request_attributes(user: User, method: str, path: str, watch: str = "", field_selector: str = "") -> Attributes:
    """The attributes of ``method path``; ``watch`` and ``field_selector`` are the query's parameters.

    A list or watch whose field selector requires ``metadata.name`` names that object, as upstream's
    RequestInfo does (so a role limited by resourceNames, or a node, may watch the one object)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Attributes(user, method.lower(), False, path=path)
    if rest[0] == "watch":  # the deprecated /api/v1/watch/... form
        rest = rest[1:]
        watch = "true"
        if not rest:
            return Attributes(user, method.lower(), False, path=path)
    ns = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        ns = rest[1]  # a namespace object's own namespace is itself
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]  # /namespaces/NS/RESOURCE/...
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    sub = rest[2] if len(rest) >= 3 else ""
    verb = _READ_VERBS.get(method, method.lower())
    if not name:
        if verb == "get":
            verb = "watch" if watch.lower() in _TRUE else "list"
            name = selected_name(field_selector) if field_selector else ""
        elif verb == "delete":
            verb = "deletecollection"
    elif verb == "get" and watch.lower() in _TRUE:
        verb = "watch"  # a watch of one object (?fieldSelector=metadata.name= is the usual form)
    return Attributes(user, verb, True, group=group, version=version, resource=resource, subresource=sub,
                      namespace=ns, name=name, path=path)
