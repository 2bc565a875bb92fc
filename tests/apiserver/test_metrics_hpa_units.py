"""metrics.k8s.io rendering and the HPA's API pieces (v1 <-> v2 conversion, defaults, validation, TARGETS)."""

from __future__ import annotations

import datetime as dt

import pytest

from shoal.api import convert, hpaconv
from shoal.api.defaults import apply_defaults
from shoal.api.models.autoscaling import HorizontalPodAutoscaler
from shoal.api.validation import validate
from shoal.apiserver import errors
from shoal.apiserver.metricsapi import MetricsStore, cpu_quantity, memory_quantity, select
from shoal.apiserver.tables.autoscaling import format_targets, hpa_row

REPORT = {"nodes": [{"name": "n1", "timestamp": 1.7e9, "window": 10.0, "usage": {"cpu": 250_000_000, "memory": 2048},
                     "pods": [{"namespace": "a", "name": "web", "labels": {"app": "web"}, "timestamp": 1.7e9,
                               "window": 10, "containers": [{"name": "main", "cpu": 5, "memory": 4096}]},
                              {"namespace": "b", "name": "db", "labels": {}, "timestamp": 1.7e9, "window": 10,
                               "containers": []}]},
                    {"name": "n2", "pods": []}]}


def test_store_renders_upstream_shapes_and_forgets_old_reports() -> None:
    clock = [0.0]
    s = MetricsStore(ttl=60, monotonic=lambda: clock[0])
    assert s.put(REPORT) == 2
    nodes = s.nodes()
    assert [n["metadata"]["name"] for n in nodes] == ["n1"]  # n2 reported no node usage yet
    assert nodes[0]["usage"] == {"cpu": "250000000n", "memory": "2Ki"} and nodes[0]["window"] == "10s"
    assert nodes[0]["kind"] == "NodeMetrics" and nodes[0]["apiVersion"] == "metrics.k8s.io/v1beta1"
    pods = s.pods("a")
    assert len(pods) == 1 and pods[0]["containers"] == [{"name": "main", "usage": {"cpu": "5n", "memory": "4Ki"}}]
    assert pods[0]["metadata"]["labels"] == {"app": "web"}
    clock[0] = 61
    assert s.nodes() == [] and s.pods() == []
    with pytest.raises(errors.ApiError):
        s.put({"nodes": "x"})


def test_select_by_label_and_field() -> None:
    s = MetricsStore()
    s.put(REPORT)
    assert [p["metadata"]["name"] for p in select(s.pods(), label_selector="app=web")] == ["web"]
    assert [p["metadata"]["name"] for p in select(s.pods(), field_selector="metadata.namespace=b")] == ["db"]
    with pytest.raises(errors.ApiError):
        select(s.pods(), field_selector="spec.nodeName=x")
    assert (cpu_quantity(-1), memory_quantity(2047)) == ("0n", "1Ki")


V2 = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
      "metadata": {"name": "h", "namespace": "d"},
      "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
               "minReplicas": 1, "maxReplicas": 5,
               "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                      "averageUtilization": 60}}},
                           {"type": "Resource", "resource": {"name": "memory", "target": {
                               "type": "AverageValue", "averageValue": "64Mi"}}}],
               "behavior": {"scaleDown": {"stabilizationWindowSeconds": 5}}},
      "status": {"currentReplicas": 2, "desiredReplicas": 3,
                 "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                     "averageUtilization": 75, "averageValue": "75m"}}},
                                    {"type": "Resource", "resource": {"name": "memory", "current": {
                                        "averageValue": "12Mi"}}}],
                 "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}]}}


def test_v1_view_round_trips_through_annotations() -> None:
    v1 = hpaconv.to_v1(V2)
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 60 and "metrics" not in v1["spec"]
    assert v1["status"]["currentCPUUtilizationPercentage"] == 75
    assert set(v1["metadata"]["annotations"]) == {hpaconv.METRICS_ANNOTATION, hpaconv.BEHAVIOR_ANNOTATION,
                                                  hpaconv.CONDITIONS_ANNOTATION, hpaconv.CURRENT_METRICS_ANNOTATION}
    back = hpaconv.to_v2(v1)
    assert back["spec"] == V2["spec"] and back["status"]["conditions"] == V2["status"]["conditions"]
    assert back["status"]["currentMetrics"][1] == V2["status"]["currentMetrics"][1]
    assert "annotations" not in back["metadata"]
    assert hpaconv.unknown_fields({"spec": {"bogus": 1}}) == ["spec.bogus"]


def test_defaults_and_validation() -> None:
    hpa = convert.decode({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3,
                                   "behavior": {"scaleDown": {"stabilizationWindowSeconds": 10}}}},
                         HorizontalPodAutoscaler)
    apply_defaults(hpa)
    assert hpa.spec is not None and hpa.spec.min_replicas == 1
    assert hpa.spec.metrics is not None and hpa.spec.metrics[0].resource is not None
    assert hpa.spec.metrics[0].resource.target.average_utilization == 80
    b = hpa.spec.behavior
    assert b is not None and b.scale_up is not None and b.scale_down is not None
    assert b.scale_down.stabilization_window_seconds == 10 and b.scale_down.select_policy == "Max"
    assert [p.type for p in b.scale_up.policies or []] == ["Pods", "Percent"]
    bad = convert.decode({"metadata": {"name": "h", "namespace": "d"},
                          "spec": {"scaleTargetRef": {"kind": "", "name": "w"}, "minReplicas": 4, "maxReplicas": 3,
                                   "metrics": [{"type": "Resource"}, {"type": "Nope"},
                                               {"type": "Resource", "resource": {"name": "cpu", "target": {
                                                   "type": "Utilization", "averageUtilization": 0}}}],
                                   "behavior": {"scaleUp": {"selectPolicy": "Most", "policies": [
                                       {"type": "Pods", "value": 0, "periodSeconds": 1801}]}}}},
                         HorizontalPodAutoscaler)
    fields = {e.path for e in validate(bad)}
    assert {"spec.scaleTargetRef.kind", "spec.maxReplicas", "spec.metrics[0].resource", "spec.metrics[1].type",
            "spec.metrics[2].resource.target.averageUtilization", "spec.behavior.scaleUp.selectPolicy",
            "spec.behavior.scaleUp.policies[0].value", "spec.behavior.scaleUp.policies[0].periodSeconds"} <= fields


def test_targets_column() -> None:
    assert format_targets(V2["spec"]["metrics"], V2["status"]["currentMetrics"]) == "cpu: 75%/60%, memory: 12Mi/64Mi"
    assert format_targets(V2["spec"]["metrics"], []) == "cpu: <unknown>/60%, memory: <unknown>/64Mi"
    assert format_targets([], []) == "<none>"
    three = [*V2["spec"]["metrics"], V2["spec"]["metrics"][0]]
    assert format_targets(three, []).endswith(" + 1 more...")
    row = hpa_row(V2, dt.datetime.now(dt.UTC))
    assert row[1:6] == ["Deployment/web", "cpu: 75%/60%, memory: 12Mi/64Mi", "1", 5, 2]
