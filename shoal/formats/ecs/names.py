"""ECS names, ids and ARNs onto Kubernetes names, and back.

An ECS cluster is a namespace (``default`` is ECS's ``default`` cluster), a
service a Deployment of the same name, a task a pod, a container instance a
node, a task definition revision a ConfigMap in ``TASKDEF_NAMESPACE`` (see
docs/decisions.md). ECS names allow upper case and ``_`` (up to 255
characters); Kubernetes names are DNS labels, so a name is folded (lower case,
``_`` as ``-``, cut with a hash suffix past 63) and the ECS name is kept in an
annotation, from which it reads back. Two ECS names that fold alike (``Web``,
``web``) are one object here.

Ids need no storage: a task's id is 32 hex digits (the shape of ECS's) hashed
from its pod's namespace and name, a container instance's its node's uid
without dashes. ARNs use the
region the request was signed for and the account ``ACCOUNT``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from shoal.formats.ecs.errors import client, invalid

ACCOUNT = "000000000000"
DEFAULT_REGION = "us-east-1"
DEFAULT_CLUSTER = "default"
TASKDEF_NAMESPACE = "shoal-ecs"

# every object the ECS API makes carries MANAGED_BY=MANAGER
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "shoal-ecs"
SERVICE_LABEL = "ecs.shoal.io/service"  # on a service's Deployment and its pods: the Deployment's name
FAMILY_LABEL = "ecs.shoal.io/family"  # on task definition ConfigMaps and on tasks
REVISION_LABEL = "ecs.shoal.io/revision"
STATUS_LABEL = "ecs.shoal.io/status"  # ACTIVE | INACTIVE (task definitions)
STANDALONE_LABEL = "ecs.shoal.io/standalone"  # "true" on pods RunTask made
CLUSTER_LABEL = "ecs.shoal.io/cluster"  # on namespaces CreateCluster made

NAME_ANNOTATION = "ecs.shoal.io/name"  # the ECS name of a service, cluster or task definition family
TASKDEF_ANNOTATION = "ecs.shoal.io/task-definition"  # family:revision, on Deployments, templates and pods
CONTAINERS_ANNOTATION = "ecs.shoal.io/containers"  # JSON {k8s container name: ECS name} where they differ
ESSENTIAL_ANNOTATION = "ecs.shoal.io/essential"  # comma-separated k8s names of the essential containers
ULIMITS_ANNOTATION = "ecs.shoal.io/ulimits"
STARTED_BY_ANNOTATION = "ecs.shoal.io/started-by"
GROUP_ANNOTATION = "ecs.shoal.io/group"
STOPPED_REASON_ANNOTATION = "ecs.shoal.io/stopped-reason"
STOP_CODE_ANNOTATION = "ecs.shoal.io/stop-code"
SERVICE_CONFIG_ANNOTATION = "ecs.shoal.io/service-config"  # JSON of what ECS returns but Kubernetes has no field for
EVENTS_ANNOTATION = "ecs.shoal.io/events"

_ECS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")


def _digest(s: str, n: int = 8) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:n]


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _ECS_NAME.match(name):
        raise invalid(f"{what} can have up to 255 characters. Valid characters are letters (uppercase and "
                      "lowercase), numbers, underscores, and hyphens.")
    return name


def fold(name: str) -> str:
    """An ECS name as a DNS label: lower case, ``_`` as ``-``, trimmed; a hash suffix when cut or emptied."""
    k = name.lower().replace("_", "-").strip("-")
    k = re.sub(r"[^a-z0-9-]", "-", k)
    if k and len(k) <= 63 and _DNS_LABEL.match(k):
        return k
    return f"{k[:54].strip('-') or 'x'}-{_digest(name)}"


def label_value(s: str) -> str:
    """``s`` as a label value (a hash suffix when it is too long for one)."""
    if _LABEL_VALUE.match(s):
        return s
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '-', s)[:54].strip('-_.') or 'x'}-{_digest(s)}"


def taskdef_object_name(family: str, revision: int) -> str:
    """The ConfigMap of one revision: readable, and unique per (family, revision) even when folded names clash."""
    return f"{fold(family)[:40].strip('-')}-{_digest(family, 6)}.{revision}"


def task_id(namespace: str, pod: str) -> str:
    """A task's id: 32 hex digits of its pod's namespace and name (so a deleted pod's events still name it)."""
    return hashlib.sha256(f"{namespace}/{pod}".encode()).hexdigest()[:32]


def pod_task_id(pod: dict[str, object]) -> str:
    md = pod.get("metadata")
    md = md if isinstance(md, dict) else {}
    return task_id(str(md.get("namespace") or ""), str(md.get("name") or ""))


def instance_id(node_uid: str) -> str:
    return node_uid.replace("-", "")


def container_uuid(pod_uid: str, container: str) -> str:
    return str(uuid.uuid5(uuid.UUID(pod_uid) if _is_uuid(pod_uid) else uuid.NAMESPACE_OID, f"{pod_uid}/{container}"))


def _is_uuid(s: str) -> bool:
    try:
        uuid.UUID(s)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Arns:
    """ARNs in one region and account."""

    region: str = DEFAULT_REGION
    account: str = ACCOUNT

    def _arn(self, rest: str) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}:{rest}"

    def cluster(self, name: str) -> str:
        return self._arn(f"cluster/{name}")

    def service(self, cluster: str, name: str) -> str:
        return self._arn(f"service/{cluster}/{name}")

    def task(self, cluster: str, tid: str) -> str:
        return self._arn(f"task/{cluster}/{tid}")

    def taskdef(self, family: str, revision: int) -> str:
        return self._arn(f"task-definition/{family}:{revision}")

    def container_instance(self, cluster: str, iid: str) -> str:
        return self._arn(f"container-instance/{cluster}/{iid}")

    def container(self, cluster: str, tid: str, cuuid: str) -> str:
        return self._arn(f"container/{cluster}/{tid}/{cuuid}")


def _tail(ref: str, kind: str) -> str | None:
    """What follows ``<kind>/`` in an ECS ARN, or None when ``ref`` is not such an ARN."""
    if not ref.startswith("arn:"):
        return None
    parts = ref.split(":", 5)
    if len(parts) < 6 or parts[2] != "ecs" or not parts[5].startswith(kind + "/"):
        return ""
    return parts[5][len(kind) + 1:]


def cluster_name(ref: object) -> str:
    """A cluster given by name or ARN (absent: ``default``)."""
    if ref is None or ref == "":
        return DEFAULT_CLUSTER
    if not isinstance(ref, str):
        raise invalid("cluster must be a string")
    tail = _tail(ref, "cluster")
    if tail is None:
        return ref
    if not tail:
        raise invalid(f"Invalid cluster ARN: {ref}")
    return tail


def service_name(ref: str) -> str:
    """A service given by name or ARN (``service/<cluster>/<name>`` or the old ``service/<name>``)."""
    tail = _tail(ref, "service")
    if tail is None:
        return ref
    if not tail:
        raise invalid(f"Invalid service ARN: {ref}")
    return tail.rsplit("/", 1)[-1]


def task_ref(ref: str) -> str:
    """A task id, given by id or ARN."""
    tail = _tail(ref, "task")
    if tail is None:
        return ref
    if not tail:
        raise invalid(f"Invalid task ARN: {ref}")
    return tail.rsplit("/", 1)[-1]


def instance_ref(ref: str) -> str:
    tail = _tail(ref, "container-instance")
    if tail is None:
        return ref
    if not tail:
        raise invalid(f"Invalid container instance ARN: {ref}")
    return tail.rsplit("/", 1)[-1]


def taskdef_ref(ref: object) -> tuple[str, int | None]:
    """``family``, ``family:revision`` or an ARN as (family, revision or None for the latest ACTIVE)."""
    if not isinstance(ref, str) or not ref:
        raise client("TaskDefinition can not be blank.")
    tail = _tail(ref, "task-definition")
    text = ref if tail is None else tail
    if tail == "":
        raise client(f"Invalid task definition ARN: {ref}")
    family, sep, rev = text.partition(":")
    if not _ECS_NAME.match(family):
        raise client(f"Unable to describe task definition. Invalid family: {family}")
    if not sep:
        return family, None
    if not rev.isdigit() or int(rev) < 1:
        raise client(f"Invalid revision number. Number: {rev}")
    return family, int(rev)
