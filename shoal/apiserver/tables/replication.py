"""ReplicationControllers and PodTemplates as ``kubectl get`` shows them.

An RC reads as a ReplicaSet (DESIRED CURRENT READY AGE, and wide CONTAINERS
IMAGES SELECTOR) except that its selector is a label map; a PodTemplate shows
its containers, images and pod labels, and no AGE, as upstream prints it.
"""

from __future__ import annotations

from datetime import datetime

from shoal.api import views
from shoal.apiserver.tables.fields import Obj, age_of, as_dict, as_int, containers_cells, dig
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column
from shoal.apiserver.tables.selectors import format_labels

RC_COLUMNS = (
    name_column(),
    Column("Desired", type="integer", description="Replicas is the number of desired replicas."),
    Column("Current", type="integer", description="Replicas is the most recently observed number of replicas."),
    Column("Ready", type="integer", description="The number of ready replicas for this replication controller."),
    age_column(),
    Column("Containers", priority=1, description="Names of each container in the template."),
    Column("Images", priority=1, description="Images referenced by each container in the template."),
    Column("Selector", priority=1, description="Selector is a label query over pods that should match the "
                                               "Replicas count."),
)


def rc_row(obj: Obj, now: datetime) -> list[Cell]:
    names, images = containers_cells(dig(obj, "spec", "template", "spec"))
    return [
        views.name(obj),
        as_int(dig(obj, "spec", "replicas"), 1),
        as_int(dig(obj, "status", "replicas")),
        as_int(dig(obj, "status", "readyReplicas")),
        age_of(obj, now),
        names,
        images,
        format_labels(dig(obj, "spec", "selector")),
    ]


PODTEMPLATE_COLUMNS = (
    name_column(),
    Column("Containers", description="Names of each container in the template."),
    Column("Images", description="Images referenced by each container in the template."),
    Column("Pod Labels", description="The labels for the pod template."),
)


def podtemplate_row(obj: Obj, now: datetime) -> list[Cell]:
    names, images = containers_cells(dig(obj, "template", "spec"))
    return [views.name(obj), names, images, format_labels(as_dict(dig(obj, "template", "metadata")).get("labels"))]


PRINTERS = {
    "ReplicationController": Printer(RC_COLUMNS, rc_row),
    "PodTemplate": Printer(PODTEMPLATE_COLUMNS, podtemplate_row),
}
