"""Controllers of pods: Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob (and ControllerRevision).

Each shows desired against observed replica counts, and in wide output the
template's containers, images and selector. A missing ``spec.replicas`` reads
as 1, the value Kubernetes' defaulting would have written.
"""

from __future__ import annotations

from datetime import datetime

from shoal.api import views
from shoal.apiserver.tables.duration import human_duration
from shoal.apiserver.tables.fields import (
    NONE,
    Obj,
    age_of,
    as_dict,
    as_int,
    as_list,
    as_str,
    containers_cells,
    dig,
    since,
)
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column
from shoal.apiserver.tables.selectors import (
    format_label_selector,
    format_labels,
    selector_string,
)

CONTAINERS = Column(
    "Containers", priority=1, description="Names of each container in the template."
)
IMAGES = Column(
    "Images", priority=1, description="Images referenced by each container in the template."
)


def _selector_column(description: str) -> Column:
    return Column("Selector", priority=1, description=description)


def _replicas(obj: Obj) -> int:
    return as_int(dig(obj, "spec", "replicas"), 1)


def _status_int(obj: Obj, field: str) -> int:
    return as_int(dig(obj, "status", field))


def _template_spec(obj: Obj) -> Obj:
    return as_dict(dig(obj, "spec", "template", "spec"))


DEPLOYMENT_COLUMNS = (
    name_column(),
    Column("Ready", description="Number of the pod with ready state"),
    Column(
        "Up-to-date",
        description="Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    Column(
        "Available",
        description="Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    age_column(),
    CONTAINERS,
    IMAGES,
    _selector_column(
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."
    ),
)


def deployment_row(obj: Obj, now: datetime) -> list[Cell]:
    names, images = containers_cells(_template_spec(obj))
    selector = selector_string(dig(obj, "spec", "selector"))
    return [
        views.name(obj),
        f"{_status_int(obj, 'readyReplicas')}/{_replicas(obj)}",
        _status_int(obj, "updatedReplicas"),
        _status_int(obj, "availableReplicas"),
        age_of(obj, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


REPLICASET_COLUMNS = (
    name_column(),
    Column("Desired", type="integer", description="Replicas is the number of desired replicas."),
    Column(
        "Current",
        type="integer",
        description="Replicas is the most recently observed number of replicas.",
    ),
    Column(
        "Ready", type="integer", description="The number of ready replicas for this replica set."
    ),
    age_column(),
    CONTAINERS,
    IMAGES,
    _selector_column("Selector is a label query over pods that should match the replica count."),
)


def replicaset_row(obj: Obj, now: datetime) -> list[Cell]:
    names, images = containers_cells(_template_spec(obj))
    return [
        views.name(obj),
        _replicas(obj),
        _status_int(obj, "replicas"),
        _status_int(obj, "readyReplicas"),
        age_of(obj, now),
        names,
        images,
        format_label_selector(dig(obj, "spec", "selector")),
    ]


STATEFULSET_COLUMNS = (
    name_column(),
    Column("Ready", description="Number of the pod with ready state"),
    age_column(),
    CONTAINERS,
    IMAGES,
)


def statefulset_row(obj: Obj, now: datetime) -> list[Cell]:
    names, images = containers_cells(_template_spec(obj))
    ready = f"{_status_int(obj, 'readyReplicas')}/{_replicas(obj)}"
    return [views.name(obj), ready, age_of(obj, now), names, images]


DAEMONSET_COLUMNS = (
    name_column(),
    Column(
        "Desired",
        type="integer",
        description="The total number of nodes that should be running the daemon pod.",
    ),
    Column(
        "Current",
        type="integer",
        description="The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
    ),
    Column(
        "Ready",
        type="integer",
        description="The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
    ),
    Column(
        "Up-to-date",
        type="integer",
        description="The total number of nodes that are running updated daemon pod.",
    ),
    Column(
        "Available",
        type="integer",
        description="The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
    ),
    Column(
        "Node Selector",
        description="NodeSelector is a selector which must be true for the pod to fit on a node.",
    ),
    age_column(),
    CONTAINERS,
    IMAGES,
    _selector_column("A label query over pods that are managed by the daemon set."),
)


def daemonset_row(obj: Obj, now: datetime) -> list[Cell]:
    template = _template_spec(obj)
    names, images = containers_cells(template)
    return [
        views.name(obj),
        _status_int(obj, "desiredNumberScheduled"),
        _status_int(obj, "currentNumberScheduled"),
        _status_int(obj, "numberReady"),
        _status_int(obj, "updatedNumberScheduled"),
        _status_int(obj, "numberAvailable"),
        format_labels(template.get("nodeSelector")),
        age_of(obj, now),
        names,
        images,
        format_label_selector(dig(obj, "spec", "selector")),
    ]


JOB_COLUMNS = (
    name_column(),
    Column("Status", description="Status of the job."),
    Column("Completions", description="The number of pods which reached phase Succeeded."),
    Column("Duration", description="Time required to complete the job."),
    age_column(),
    CONTAINERS,
    IMAGES,
    _selector_column("A label query over pods that should match the pod count."),
)


def job_status(obj: Obj) -> str:
    if views.condition_true(obj, "Complete"):
        return "Complete"
    if views.condition_true(obj, "Failed"):
        return "Failed"
    if dig(obj, "metadata", "deletionTimestamp") is not None:  # set at all (upstream: DeletionTimestamp != nil)
        return "Terminating"
    if views.condition_true(obj, "Suspended"):
        return "Suspended"
    if views.condition_true(obj, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_completions(obj: Obj) -> str:
    succeeded = _status_int(obj, "succeeded")
    completions = dig(obj, "spec", "completions")
    if isinstance(completions, int) and not isinstance(completions, bool):
        return f"{succeeded}/{completions}"
    parallelism = as_int(dig(obj, "spec", "parallelism"))
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def _job_duration(obj: Obj, now: datetime) -> str:
    start = views.parse_time(dig(obj, "status", "startTime"))
    if start is None:
        return ""
    end = views.parse_time(dig(obj, "status", "completionTime"))
    return human_duration((end or now) - start)


def job_row(obj: Obj, now: datetime) -> list[Cell]:
    names, images = containers_cells(_template_spec(obj))
    return [
        views.name(obj),
        job_status(obj),
        _job_completions(obj),
        _job_duration(obj, now),
        age_of(obj, now),
        names,
        images,
        format_label_selector(dig(obj, "spec", "selector")),
    ]


CRONJOB_COLUMNS = (
    name_column(),
    Column(
        "Schedule",
        description="The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
    ),
    Column(
        "Timezone",
        description="The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
    ),
    Column(
        "Suspend",
        type="boolean",
        description="This flag tells the controller to suspend subsequent executions.",
    ),
    Column("Active", type="integer", description="A list of pointers to currently running jobs."),
    Column(
        "Last Schedule",
        description="Information when was the last time the job was successfully scheduled.",
    ),
    age_column(),
    CONTAINERS,
    IMAGES,
    _selector_column("A label query over pods that should match the pod count."),
)


def _bool_ptr(value: object) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return "<unset>"


def cronjob_row(obj: Obj, now: datetime) -> list[Cell]:
    spec = as_dict(obj.get("spec"))
    job_spec = as_dict(dig(spec, "jobTemplate", "spec"))
    names, images = containers_cells(dig(job_spec, "template", "spec"))
    last = dig(obj, "status", "lastScheduleTime")
    time_zone = spec.get("timeZone")
    return [
        views.name(obj),
        as_str(spec.get("schedule")),
        time_zone if isinstance(time_zone, str) else NONE,
        _bool_ptr(spec.get("suspend")),
        len(as_list(dig(obj, "status", "active"))),
        NONE if last is None else since(last, now),
        age_of(obj, now),
        names,
        images,
        format_label_selector(job_spec.get("selector")),
    ]


CONTROLLER_REVISION_COLUMNS = (
    name_column(),
    Column("Controller", description="Controller of the object"),
    Column("Revision", description="Revision indicates the revision of the state represented by Data."),
    age_column(),
)


def _controller_cell(obj: Obj) -> str:
    """``statefulset.apps/web``: the controller reference as upstream's formatResourceName writes it."""
    ref = views.controller_ref(obj)
    if ref is None:
        return NONE
    api_version = as_str(ref.get("apiVersion"))
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    kind = as_str(ref.get("kind")).lower()
    return f"{kind}.{group}/{as_str(ref.get('name'))}" if group else f"{kind}/{as_str(ref.get('name'))}"


def controller_revision_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), _controller_cell(obj), as_int(obj.get("revision")), age_of(obj, now)]


PRINTERS = {
    "Deployment": Printer(DEPLOYMENT_COLUMNS, deployment_row),
    "ReplicaSet": Printer(REPLICASET_COLUMNS, replicaset_row),
    "StatefulSet": Printer(STATEFULSET_COLUMNS, statefulset_row),
    "DaemonSet": Printer(DAEMONSET_COLUMNS, daemonset_row),
    "Job": Printer(JOB_COLUMNS, job_row),
    "CronJob": Printer(CRONJOB_COLUMNS, cronjob_row),
    "ControllerRevision": Printer(CONTROLLER_REVISION_COLUMNS, controller_revision_row),
}
