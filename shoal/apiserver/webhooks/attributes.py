"""One request as admission sees it (upstream's ``admission.Attributes``).

Built by the REST storage at the point where it admits a write; the webhooks,
the policies and their matching read nothing else. ``obj`` is what would be
stored (None for a DELETE), ``old`` what is stored (None for a CREATE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shoal.apiserver.authn.user import User, user_info

# The kinds whose writes no webhook or policy sees, as upstream (so a bad webhook cannot lock itself in).
EXEMPT = frozenset({
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),
})

OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


@dataclass(slots=True)
class Attributes:
    operation: str  # CREATE, UPDATE, DELETE, CONNECT
    group: str
    version: str
    resource: str  # plural
    subresource: str
    kind: str
    namespaced: bool
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    dry_run: bool = False
    user: User | None = None
    options: dict[str, Any] = field(default_factory=dict)
    # the kind of the object when it is not the resource's own (a Scale through /scale)
    kind_group: str | None = None
    kind_version: str | None = None

    @property
    def exempt(self) -> bool:
        return (self.group, self.resource) in EXEMPT

    def gvk(self) -> dict[str, str]:
        return {"group": self.group if self.kind_group is None else self.kind_group,
                "version": self.version if self.kind_version is None else self.kind_version, "kind": self.kind}

    def gvr(self) -> dict[str, str]:
        return {"group": self.group, "version": self.version, "resource": self.resource}

    def labels(self) -> tuple[dict[str, str] | None, dict[str, str] | None]:
        """The labels of the new and the old object (None where there is none)."""
        def of(o: dict[str, Any] | None) -> dict[str, str] | None:
            if o is None:
                return None
            labels = (o.get("metadata") or {}).get("labels")
            return labels if isinstance(labels, dict) else {}
        return of(self.obj), of(self.old)

    def user_info(self) -> dict[str, Any]:
        return {} if self.user is None else user_info(self.user)

    def options_object(self) -> dict[str, Any] | None:
        kind = OPTIONS_KIND.get(self.operation)
        if kind is None:
            return None
        return {"kind": kind, "apiVersion": "meta.k8s.io/v1", **self.options}
