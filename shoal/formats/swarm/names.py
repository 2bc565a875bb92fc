"""Swarm names and ids onto Kubernetes namespaces and names.

A stack is a namespace. ``docker stack deploy vote`` names its objects
``vote_web``, ``vote_db_password`` and labels them
``com.docker.stack.namespace=vote``; shoal puts them in the namespace ``vote``
as ``web`` and ``db-password``. So inside a stack a service reaches another by
its short name (``redis``) through cluster DNS (the pod's search path is its
namespace), exactly as Swarm's stack network resolves it, and two stacks never
collide. Objects outside any stack live in ``default``.

Kubernetes names are DNS labels (lower case, ``-``), Swarm names are not
(``vote_web``, ``Web.1``), so the name is folded (``_`` and ``.`` to ``-``,
lower case) and the Swarm name is kept in the annotation ``swarm.shoal.io/name``
(and, for services, in the label ``com.docker.swarm.service.name`` that
``kubectl get -l`` selects on). An object made with kubectl has no annotation:
its Swarm name is ``<stack>_<name>`` in a stack's namespace, else its name.

Swarm ids are 25 lower-case characters; shoal's are the object's uid without
dashes, cut to 25, so they are stable and unique and need no storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shoal.formats.swarm.wire import SpecError

STACK_LABEL = "com.docker.stack.namespace"
SERVICE_LABEL = "com.docker.swarm.service.name"
NAME_ANNOTATION = "swarm.shoal.io/name"
DEFAULT_NAMESPACE = "default"
ID_LEN = 25

_SWARM_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


def swarm_id(uid: str) -> str:
    return uid.replace("-", "")[:ID_LEN]


def fold(name: str) -> str:
    """A Swarm name as a Kubernetes name: lower case, ``_`` and ``.`` as ``-``."""
    return name.lower().replace("_", "-").replace(".", "-")


def check_name(name: str, what: str = "name", *, max_len: int = 63) -> str:
    if not name:
        raise SpecError(f"{what} must not be empty")
    if len(name) > max_len or not _SWARM_NAME.match(name):
        raise SpecError(f"invalid {what} {name!r}: it must be valid as a DNS name component "
                        f"(letters, digits, '-', '_' and '.', at most {max_len} characters)")
    return name


def stack_namespace(stack: str) -> str:
    ns = fold(stack)
    if not _DNS_LABEL.match(ns) or len(ns) > 63:
        raise SpecError(f"invalid stack name {stack!r}")
    return ns


def place(swarm_name: str, labels: Mapping[str, str], *, what: str = "name",
          max_len: int = 63) -> tuple[str, str]:
    """Where an object named ``swarm_name`` with these labels lives: (namespace, name)."""
    check_name(swarm_name, what, max_len=max_len)
    stack = labels.get(STACK_LABEL, "")
    if stack:
        ns = stack_namespace(stack)
        short = swarm_name[len(stack) + 1:] if swarm_name.startswith(stack + "_") else swarm_name
    else:
        ns, short = DEFAULT_NAMESPACE, swarm_name
    k8s = fold(short)
    if not _DNS_LABEL.match(k8s):
        raise SpecError(f"invalid {what} {swarm_name!r}: it must start and end with a letter or digit")
    return ns, k8s


def swarm_name(namespace: str, name: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """The Swarm name of an object (its annotation, else derived from where it lives)."""
    kept = annotations.get(NAME_ANNOTATION)
    if kept:
        return kept
    stack = labels.get(STACK_LABEL, "")
    if stack and namespace != DEFAULT_NAMESPACE:
        return f"{stack}_{name}"
    return name


def matches(ref: str, *, id_: str, name: str) -> int:
    """How ``ref`` names an object, as Docker resolves it: 3 full id, 2 name, 1 id prefix, 0 not."""
    if ref == id_:
        return 3
    if ref == name:
        return 2
    return 1 if ref and id_.startswith(ref) else 0
