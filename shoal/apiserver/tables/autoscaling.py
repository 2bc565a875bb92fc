"""HorizontalPodAutoscalers as ``kubectl get hpa`` shows them (upstream's ``printHorizontalPodAutoscaler``).

REFERENCE is ``Kind/name`` of the target; TARGETS lists each metric as
``current/target`` (a resource metric prefixed with its name: ``cpu: 40%/50%``,
``memory: 12Mi/64Mi``; ``<unknown>`` until the controller has measured), at
most two then ``+ N more...``, ``<none>`` without metrics; MINPODS is
``<unset>`` when not given. Rows are computed on the stored (v2) form; the v1
view converts before printing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shoal.api import views
from shoal.api.quantity import canonical_quantity
from shoal.apiserver.tables.fields import Obj, age_of, as_dict, as_int, as_list, dig
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

HPA_COLUMNS = (
    name_column(),
    Column("Reference", description="Reference to the scaled resource."),
    Column("Targets", description="The current and target values of the metrics."),
    Column("MinPods", description="The lower limit for the number of pods."),
    Column("MaxPods", type="integer", description="The upper limit for the number of pods."),
    Column("Replicas", type="integer", description="Current number of replicas of pods managed by this autoscaler."),
    age_column(),
)
_MAX_SHOWN = 2


def _q(value: Any) -> str:
    if value is None:
        return "<unknown>"
    try:
        return canonical_quantity(value)
    except ValueError:
        return str(value)


def _metric(spec: dict[str, Any], status: dict[str, Any] | None) -> str:
    typ = spec.get("type")
    if typ in ("Resource", "ContainerResource"):
        field = "resource" if typ == "Resource" else "containerResource"
        src = as_dict(spec.get(field))
        target = as_dict(src.get("target"))
        cur = as_dict(as_dict((status or {}).get(field)).get("current")) if status else {}
        if target.get("averageValue") is not None:
            current = _q(cur.get("averageValue")) if status else "<unknown>"
            return f"{src.get('name', '')}: {current}/{_q(target['averageValue'])}"
        util = cur.get("averageUtilization")
        shown = f"{util}%" if util is not None else "<unknown>"
        wanted = target.get("averageUtilization")
        return f"{src.get('name', '')}: {shown}/{f'{wanted}%' if wanted is not None else '<auto>'}"
    other = {"Pods": "pods", "Object": "object", "External": "external"}.get(str(typ))
    if other is None:
        return "<unknown type>"
    target = as_dict(as_dict(spec.get(other)).get("target"))
    cur = as_dict(as_dict((status or {}).get(other)).get("current"))
    if target.get("averageValue") is not None or typ == "Pods":
        current = _q(cur.get("averageValue")) if status else "<unknown>"
        suffix = " (avg)" if typ != "Pods" else ""
        return f"{current}/{_q(target.get('averageValue'))}{suffix}"
    current = _q(cur.get("value")) if status else "<unknown>"
    return f"{current}/{_q(target.get('value'))}"


def format_targets(specs: list[Any], statuses: list[Any]) -> str:
    if not specs:
        return "<none>"
    shown = [_metric(as_dict(s), as_dict(statuses[i]) if i < len(statuses) else None) for i, s in enumerate(specs)]
    if len(shown) > _MAX_SHOWN:
        return f"{', '.join(shown[:_MAX_SHOWN])} + {len(shown) - _MAX_SHOWN} more..."
    return ", ".join(shown)


def hpa_row(obj: Obj, now: datetime) -> list[Cell]:
    ref = as_dict(dig(obj, "spec", "scaleTargetRef"))
    min_pods = dig(obj, "spec", "minReplicas")
    return [
        views.name(obj),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        format_targets(as_list(dig(obj, "spec", "metrics")), as_list(dig(obj, "status", "currentMetrics"))),
        "<unset>" if min_pods is None else str(min_pods),
        as_int(dig(obj, "spec", "maxReplicas")),
        as_int(dig(obj, "status", "currentReplicas")),
        age_of(obj, now),
    ]


PRINTERS = {"HorizontalPodAutoscaler": Printer(HPA_COLUMNS, hpa_row)}
