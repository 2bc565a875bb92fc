"""The HorizontalPodAutoscaler controller: scale targets to their pods' resource usage.

Every HPA is reconciled when it changes and again every ``sync_period``
seconds (upstream's ``--horizontal-pod-autoscaler-sync-period``, 15 s; the
``hpa_sync_period`` option or ``$SHOAL_HPA_SYNC_SECONDS`` shortens it). A pass,
as upstream's ``reconcileAutoscaler``:

1. read the target's ``/scale`` (any kind that has one: Deployments,
   StatefulSets, ReplicaSets, custom resources); a failure sets AbleToScale
   False, ``FailedGetScale``, with the API's error;
2. outside min/max, or at zero replicas (scaling disabled), that decides;
   otherwise each metric's proposal (Resource, or ContainerResource for one container) from the pods the scale's selector picks
   (the informer cache) and their ``metrics.k8s.io`` figures, computed by
   ``hpaplan.resource_replicas``; the largest wins. A pod without a request
   for the resource, no metrics, or an unsupported metric type sets
   ScalingActive False with upstream's reason and message, and an event;
3. ``hpaplan.normalize`` stabilizes and rate-limits the proposal;
4. a change is written to ``/scale`` (event ``SuccessfulRescale``: "New size:
   N; reason: ..."), then the status: replicas, current metrics, conditions.

Recommendations and scale events live in memory, per HPA, as upstream keeps
them (a restarted controller starts with none).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Hashable
from typing import Any

from shoal.api import selectors, views
from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.api.views import Body
from shoal.client import ApiException
from shoal.controllers import hpaplan
from shoal.controllers.base import Controller
from shoal.controllers.hpaplan import (
    Behavior,
    History,
    MetricError,
    PodInfo,
    Policy,
    Proposal,
    Rules,
)

log = logging.getLogger(__name__)

KIND = "HorizontalPodAutoscaler"
API_VERSION = "autoscaling/v2"
DEFAULT_SYNC_PERIOD = 15.0
_SOURCE_REASON = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
                  "External": "FailedGetExternalMetric"}


def _milli(value: Any) -> int:
    """A quantity in milli-units, rounded up (upstream's ``MilliValue``)."""
    try:
        return math.ceil(parse_quantity(value) * 1000)
    except (InvalidQuantity, TypeError):
        return 0


def _time(value: object) -> float | None:
    t = views.parse_time(value)
    return t.timestamp() if t is not None else None


def _behavior(spec: dict[str, Any]) -> Behavior | None:
    b = spec.get("behavior")
    if not isinstance(b, dict):
        return None

    def rules(r: Any, window: float) -> Rules:
        r = r if isinstance(r, dict) else {}
        w = r.get("stabilizationWindowSeconds")
        return Rules(window=float(w) if w is not None else window, select=str(r.get("selectPolicy") or "Max"),
                     policies=tuple(Policy(str(p.get("type")), int(p.get("value") or 0), int(p.get("periodSeconds") or 0))
                                    for p in r.get("policies") or []))

    return Behavior(rules(b.get("scaleUp"), 0.0), rules(b.get("scaleDown"), hpaplan.DOWNSCALE_STABILIZATION))


def pod_info(pod: Body, resource: str, metric: dict[str, Any] | None, container: str = "") -> PodInfo:
    """A pod and its metrics as the calculator takes them (usage and requests summed over its containers,
    or those of one ``container`` for a ContainerResource metric)."""
    md = views.meta(pod)
    st = views.status(pod)
    ready = views.condition(pod, "Ready")
    requests: int | None = 0
    missing = ""
    for c in views.containers(pod):
        if container and c.get("name") != container:
            continue
        q = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        if q is None:
            requests, missing = None, str(c.get("name"))
            break
        assert requests is not None
        requests += _milli(q)
    usage = None
    if metric is not None:
        usage = sum(_milli((c.get("usage") or {}).get(resource, 0)) for c in metric.get("containers") or []
                    if not container or c.get("name") == container)
    window = str((metric or {}).get("window") or "0s").rstrip("s")
    return PodInfo(
        name=str(md.get("name")), phase=str(st.get("phase") or "Pending"),
        deleting=bool(md.get("deletionTimestamp")),
        ready=None if ready is None else ready.get("status") == "True",
        start_time=_time(st.get("startTime")),
        ready_changed=_time(ready.get("lastTransitionTime")) if ready is not None else None,
        requests=requests, missing_request=missing, metric=usage,
        metric_time=_time((metric or {}).get("timestamp")) or 0.0,
        metric_window=float(window) if window.replace(".", "", 1).isdigit() else 0.0)


def set_condition(conditions: list[dict[str, Any]], type_: str, status: str, reason: str, message: str,
                  now: str) -> list[dict[str, Any]]:
    """``conditions`` with one set; its transition time kept unless its status changes."""
    old = next((c for c in conditions if c.get("type") == type_), None)
    changed = old is None or old.get("status") != status
    new = {"type": type_, "status": status,
           "lastTransitionTime": now if changed or old is None else old.get("lastTransitionTime", now),
           "reason": reason, "message": message}
    out = [c for c in conditions if c.get("type") != type_]
    order = ["AbleToScale", "ScalingActive", "ScalingLimited"]
    out.append(new)
    out.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))
    return out


class HorizontalPodAutoscalerController(Controller):
    name = "horizontalpodautoscaling"
    workers = 2

    def setup(self) -> None:
        opt = self.ctx.options.get("hpa_sync_period") or os.environ.get("SHOAL_HPA_SYNC_SECONDS")
        self.sync_period = float(opt) if opt else DEFAULT_SYNC_PERIOD
        self.hpas = self.ctx.factory.informer("horizontalpodautoscalers")
        self.pods = self.ctx.factory.informer("pods")
        self.hpas.add_handler(on_add=self._enqueue, on_update=self._updated, on_delete=self._deleted)
        self.history: dict[str, History] = {}
        self.events = self.ctx.recorder("horizontal-pod-autoscaler")  # upstream's event source

    def _enqueue(self, hpa: Body) -> None:
        self.queue.add(views.key(hpa))

    def _updated(self, old: Body, new: Body) -> None:
        if old.get("spec") != new.get("spec"):
            self._enqueue(new)

    def _deleted(self, hpa: Body) -> None:
        self.history.pop(views.key(hpa), None)

    async def reconcile(self, key: Hashable) -> None:
        hpa = self.hpas.get(str(key))
        if hpa is None:
            self.history.pop(str(key), None)
            return
        try:
            await self._reconcile(hpa)
        finally:
            self.queue.add_after(key, self.sync_period)

    # ---- the pass --------------------------------------------------------------------------
    def _event(self, hpa: Body, type_: str, reason: str, message: str) -> None:
        self.emit(hpa, type_, reason, message, kind=KIND, api_version=API_VERSION)

    async def _scale_path(self, ns: str, ref: dict[str, Any]) -> str:
        """The target's ``/scale`` path, from discovery (the kind may be custom); a missing kind raises as
        upstream's REST mapper: ``no matches for kind "X" in group "g"``."""
        api_version = str(ref.get("apiVersion") or "")
        kind = str(ref.get("kind") or "")
        group = api_version.rpartition("/")[0]
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version or 'v1'}"
        try:
            doc = await self.client.request("GET", base)
        except ApiException as e:
            if e.status != 404:
                raise
            doc = {}
        for r in doc.get("resources") or []:
            if r.get("kind") == kind and "/" not in str(r.get("name")):
                return f"{base}/namespaces/{ns}/{r['name']}/{ref.get('name')}/scale"
        raise MetricError(f'no matches for kind "{kind}" in group "{group}"')

    async def _metrics(self, ns: str, selector: str) -> dict[str, dict[str, Any]]:
        try:
            lst = await self.client.request("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods",
                                            params={"labelSelector": selector})
        except ApiException:
            return {}
        return {str(m["metadata"]["name"]): m for m in lst.get("items") or []}

    async def _reconcile(self, hpa: Body) -> None:
        spec = views.spec(hpa)
        ns = views.namespace(hpa)
        ref = spec.get("scaleTargetRef") or {}
        reference = f"{ref.get('kind')}/{ref.get('name')}"
        now_s = views.format_time(self.clock())
        conditions: list[dict[str, Any]] = [dict(c) for c in views.status(hpa).get("conditions") or []]
        status = dict(views.status(hpa))
        status["observedGeneration"] = views.meta(hpa).get("generation")

        def cond(type_: str, st: str, reason: str, message: str) -> None:
            nonlocal conditions
            conditions = set_condition(conditions, type_, st, reason, message, now_s)

        try:
            path = await self._scale_path(ns, ref)
            scale = await self.client.request("GET", path)
        except (ApiException, MetricError) as e:
            msg = e.message if isinstance(e, ApiException) else str(e)
            self._event(hpa, "Warning", "FailedGetScale", msg)
            cond("AbleToScale", "False", "FailedGetScale",
                 f"the HPA controller was unable to get the target's current scale: {msg}")
            await self._write_status(hpa, {**status, "conditions": conditions})
            return
        cond("AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale")
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        min_r = int(spec.get("minReplicas") or 1)
        max_r = int(spec.get("maxReplicas") or 1)
        status["currentReplicas"] = int((scale.get("status") or {}).get("replicas") or 0)
        behavior = _behavior(spec)
        history = self.history.setdefault(views.key(hpa), History())
        now = self.monotonic()
        reason = ""
        if current == 0 and min_r != 0:
            desired = 0
            cond("ScalingActive", "False", "ScalingDisabled", "scaling is disabled since the replica count of the "
                 "target is zero")
        elif current > max_r:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", max_r
        elif current < min_r:
            reason, desired = "Current number of replicas below Spec.MinReplicas", min_r
        else:
            selector = str((scale.get("status") or {}).get("selector") or "")
            if not selector:
                self._event(hpa, "Warning", "SelectorRequired", "selector is required")
                cond("ScalingActive", "False", "InvalidSelector", "the HPA target's scale is missing a selector")
                await self._write_status(hpa, {**status, "conditions": conditions})
                return
            proposed = await self._proposals(hpa, ns, selector, current, cond, status)
            if proposed is None:
                await self._write_status(hpa, {**status, "conditions": conditions})
                return
            metric_desired, metric_name = proposed
            n = hpaplan.normalize(current, metric_desired, min_replicas=min_r, max_replicas=max_r,
                                  behavior=behavior, history=history, now=now)
            cond("AbleToScale", "True", n.able_reason, n.able_message)
            cond("ScalingLimited", "True" if n.limited else "False", n.limited_reason, n.limited_message)
            desired = n.replicas
            reason = f"{metric_name} above target" if desired > current else "All metrics below target"
        if desired != current:
            try:
                await self.client.request("PATCH", path, body={"spec": {"replicas": desired}},
                                          content_type="application/merge-patch+json")
            except ApiException as e:
                self._event(hpa, "Warning", "FailedRescale", f"New size: {desired}; reason: {reason}; "
                            f"error: {e.message}")
                cond("AbleToScale", "False", "FailedUpdateScale",
                     f"the HPA controller was unable to update the target scale: {e.message}")
                await self._write_status(hpa, {**status, "conditions": conditions})
                return
            hpaplan.record_scale(history, behavior, current, desired, now)
            self._event(hpa, "Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            cond("AbleToScale", "True", "SucceededRescale",
                 f"the HPA controller was able to update the target scale to {desired}")
            status["lastScaleTime"] = now_s
            log.info("hpa %s: %s %d -> %d (%s)", views.key(hpa), reference, current, desired, reason)
        status["desiredReplicas"] = desired
        await self._write_status(hpa, {**status, "conditions": conditions})

    async def _proposals(self, hpa: Body, ns: str, selector: str, current: int, cond: Any,
                         status: dict[str, Any]) -> tuple[int, str] | None:
        """The largest replica count any metric asks for, and that metric's name; None when none could be
        computed (the conditions and events say why)."""
        try:
            sel = selectors.parse_selector(selector)
        except selectors.SelectorError as e:
            self._event(hpa, "Warning", "InvalidSelector", str(e))
            cond("ScalingActive", "False", "InvalidSelector", f"the HPA target's scale has an invalid selector: {e}")
            return None
        pods = [p for p in self.pods.list(ns) if sel.matches(views.labels(p))]
        metrics = await self._metrics(ns, selector)
        now = self.clock().timestamp()
        specs = views.spec(hpa).get("metrics") or []
        best: tuple[int, str] | None = None
        current_metrics: list[dict[str, Any]] = []
        errors: list[str] = []
        for m in specs:
            typ = m.get("type")
            if typ not in ("Resource", "ContainerResource"):
                reason = _SOURCE_REASON.get(str(typ), "InvalidMetricSourceType")
                err = (f"unable to get metric {typ}: no custom metrics API (custom.metrics.k8s.io) or external "
                       "metrics API (external.metrics.k8s.io) is served")
                self._event(hpa, "Warning", reason, err)
                cond("ScalingActive", "False", reason, f"the HPA was unable to compute the replica count: {err}")
                errors.append(err)
                continue
            field = "resource" if typ == "Resource" else "containerResource"
            res = m.get(field) or {}
            name = str(res.get("name") or "")
            container = str(res.get("container") or "") if typ == "ContainerResource" else ""
            target = res.get("target") or {}
            infos = [pod_info(p, name, metrics.get(views.name(p)), container) for p in pods]
            try:
                if target.get("averageValue") is not None:
                    prop: Proposal = hpaplan.resource_replicas(current, infos, name,
                                                               average=_milli(target["averageValue"]), now=now)
                    label = f"{name} resource" + (f" of container {container}" if container else "")
                else:
                    prop = hpaplan.resource_replicas(current, infos, name,
                                                     utilization=int(target.get("averageUtilization") or 0), now=now)
                    label = (f"{name} container resource utilization (percentage of request)" if container
                             else f"{name} resource utilization (percentage of request)")
            except MetricError as e:
                what = "usage" if target.get("averageValue") is not None else "utilization"
                err = f"failed to get {name} {what}: {e}"
                reason = "FailedGetContainerResourceMetric" if container else "FailedGetResourceMetric"
                self._event(hpa, "Warning", reason, err)
                cond("ScalingActive", "False", reason, f"the HPA was unable to compute the replica count: {err}")
                errors.append(f"failed to get {name} resource metric value: {err}")
                continue
            cur: dict[str, Any] = {"averageValue": f"{prop.average}m" if prop.average % 1000 else
                                   str(prop.average // 1000)}
            if prop.utilization is not None:
                cur["averageUtilization"] = prop.utilization
            entry: dict[str, Any] = {"name": name, "current": cur}
            if container:
                entry["container"] = container
            current_metrics.append({"type": typ, field: entry})
            if best is None or prop.replicas > best[0]:
                best = (prop.replicas, label)
        if current_metrics:
            status["currentMetrics"] = current_metrics
        if best is None:
            if errors:
                self._event(hpa, "Warning", "FailedComputeMetricsReplicas",
                            f"invalid metrics ({len(errors)} invalid out of {len(specs)}), first error is: "
                            f"{errors[0]}")
            return None
        cond("ScalingActive", "True", "ValidMetricFound",
             f"the HPA was able to successfully calculate a replica count from {best[1]}")
        return best

    async def _write_status(self, hpa: Body, status: dict[str, Any]) -> None:
        if status == views.status(hpa):
            return
        body = {"apiVersion": API_VERSION, "kind": KIND,
                "metadata": {"name": views.name(hpa), "namespace": views.namespace(hpa),
                             "resourceVersion": views.resource_version(hpa)},
                "spec": views.spec(hpa), "status": status}
        try:
            await self.client.update("horizontalpodautoscalers", body, subresource="status")
        except ApiException as e:
            if e.status not in (404, 409):
                raise
