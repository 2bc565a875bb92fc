"""Workloads (Deployments, ReplicaSets, DaemonSets, Jobs, CronJobs): their controllers own the status.

A create's status is dropped, as upstream's workload strategies do. A new Job
also gets a selector on its own uid and those labels on its pod template
(upstream's ``generateSelector``), so its pods can never be confused with
another Job's. ReplicaSets and Jobs support the field selectors upstream's do.
"""

from __future__ import annotations

from typing import Any

from shoal.api import convert, defaults
from shoal.apiserver.strategies.base import ResetStatusStrategy


class ReplicaSetStrategy(ResetStatusStrategy):
    field_labels = frozenset({"status.replicas"})


class JobStrategy(ResetStatusStrategy):
    field_labels = frozenset({"status.successful"})

    def prepare_create(self, obj: dict[str, Any]) -> None:
        super().prepare_create(obj)
        job = convert.decode(obj, self.info.model)
        defaults.default_job_selector(job, obj["metadata"]["uid"])
        spec = convert.to_dict(job).get("spec") or {}
        obj["spec"]["selector"] = spec.get("selector")
        obj["spec"]["template"] = spec.get("template")
