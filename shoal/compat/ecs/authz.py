"""Whether the user of an access key may do what an ECS operation does: shoal's RBAC decides.

Each operation names the Kubernetes requests it makes (``Need``: verb,
resource, group, namespace); before any write, each is asked of the API
server as a SubjectAccessReview for the key's user, and the first refusal is
ECS's ``AccessDeniedException``, so nothing is written by a refused request.
Members of ``system:masters`` are not asked about (RBAC would allow them
everything).
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.client import ApiClient
from shoal.formats.ecs import errors
from shoal.formats.ecs.errors import EcsError

MASTERS = "system:masters"


@dataclass(frozen=True, slots=True)
class Need:
    verb: str
    resource: str
    namespace: str = ""
    group: str = ""


@dataclass(frozen=True, slots=True)
class Caller:
    user: str
    groups: tuple[str, ...] = ()

    @property
    def master(self) -> bool:
        return MASTERS in self.groups


async def check(client: ApiClient, caller: Caller, needs: list[Need], *, operation: str) -> None:
    if caller.master:
        return
    for n in needs:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": caller.user, "groups": [*caller.groups, "system:authenticated"],
                           "resourceAttributes": {"verb": n.verb, "resource": n.resource, "group": n.group,
                                                  "namespace": n.namespace}}}
        answer = await client.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=review)
        if not ((answer or {}).get("status") or {}).get("allowed"):
            where = f" in namespace {n.namespace}" if n.namespace else ""
            raise EcsError(errors.ACCESS_DENIED,
                           f"User: {caller.user} is not authorized to perform: ecs:{operation} "
                           f"(shoal: {n.verb} {n.resource}{'.' + n.group if n.group else ''}{where} is not allowed)")
