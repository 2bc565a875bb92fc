"""The ReplicationController controller: the ReplicaSet controller's logic, for RCs.

An RC is a ReplicaSet with an equality-only selector (a label map): the same
claims, slow-start creates, deletion order, expectations and status. So this
is an adapter, not a copy: the ReplicaSet controller with RCs' resource, kind
and selector reading (upstream does the same, converting RCs to ReplicaSets
for its shared controller).
"""

from __future__ import annotations

from shoal.api.selectors import NOTHING, Selector, SelectorError, from_label_selector
from shoal.api.views import Body, spec
from shoal.controllers.replicaset import ReplicaSetController


def rc_selector(obj: Body) -> Selector:
    """An RC's ``spec.selector`` (a label map) as a Selector; empty or missing selects nothing."""
    sel = spec(obj).get("selector")
    if sel is None or sel == {}:
        return NOTHING
    if not isinstance(sel, dict):
        raise SelectorError("spec.selector must be a map of labels")
    return from_label_selector({"matchLabels": sel})


class ReplicationControllerController(ReplicaSetController):
    name = "replicationcontroller"
    resource = "replicationcontrollers"
    kind = "ReplicationController"
    api_version = "v1"

    def selector_of(self, obj: Body) -> Selector:
        return rc_selector(obj)
