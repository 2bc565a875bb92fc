"""Upstream's defaults for core/v1 ReplicationControllers (``SetDefaults_ReplicationController``).

An RC without a selector selects its template's labels, and without labels of
its own carries them too; replicas default to 1; the template's pod spec gets
the pod defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.api.defaults_pod import default_pod_spec
from shoal.api.meta import ObjectMeta
from shoal.api.models.replication import ReplicationController


def default_replication_controller(rc: ReplicationController) -> None:
    spec = rc.spec
    if spec is None:
        return
    template = spec.template
    tlabels = template.metadata.labels if template is not None and template.metadata is not None else None
    if tlabels:
        if not spec.selector:
            spec.selector = dict(tlabels)
        if rc.metadata is None:
            rc.metadata = ObjectMeta()
        if not rc.metadata.labels:
            rc.metadata.labels = dict(tlabels)
    if spec.replicas is None:
        spec.replicas = 1
    if template is not None and template.spec is not None:
        default_pod_spec(template.spec)


DEFAULTERS: dict[type, Callable[[Any], None]] = {ReplicationController: default_replication_controller}
