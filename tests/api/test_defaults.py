import base64
import copy
from typing import Any

import pytest

from shoal.api.convert import decode, to_dict
from shoal.api.defaults import apply_defaults, default_job_selector
from shoal.api.defaults_pod import default_pull_policy, qos_class
from shoal.api.models import (
    ConfigMap,
    CronJob,
    DaemonSet,
    Deployment,
    Job,
    Namespace,
    Node,
    Pod,
    Secret,
    Service,
)


def _defaulted(model: type, data: dict[str, Any]) -> dict[str, Any]:
    obj = decode(data, model)
    apply_defaults(obj)
    once = to_dict(obj)
    apply_defaults(obj)  # idempotent
    assert to_dict(obj) == once
    return once


POD = {
    "metadata": {"name": "p", "namespace": "default"},
    "spec": {
        "containers": [
            {
                "name": "a",
                "image": "nginx",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"limits": {"cpu": 0.5, "memory": "1024Mi"}},
                "livenessProbe": {"httpGet": {"port": 80}},
            }
        ],
        "volumes": [
            {"name": "v"},
            {"name": "c", "configMap": {"name": "cm"}},
            {"name": "s", "secret": {"secretName": "s"}},
        ],
    },
}


def test_pod_defaults() -> None:
    out = _defaulted(Pod, copy.deepcopy(POD))
    spec = out["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert spec["priority"] == 0
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["env"][0]["valueFrom"]["fieldRef"] == {
        "fieldPath": "metadata.name",
        "apiVersion": "v1",
    }
    assert c["resources"] == {
        "limits": {"cpu": "500m", "memory": "1Gi"},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert spec["volumes"][0] == {"name": "v", "emptyDir": {}}
    assert spec["volumes"][1]["configMap"]["defaultMode"] == 420
    assert spec["volumes"][2]["secret"]["defaultMode"] == 420
    assert out["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}


def test_existing_values_are_kept() -> None:
    data = copy.deepcopy(POD)
    data["spec"]["restartPolicy"] = "Never"
    data["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    data["spec"]["priority"] = 7
    out = _defaulted(Pod, data)
    assert out["spec"]["restartPolicy"] == "Never"
    assert out["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    assert out["spec"]["priority"] == 7


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v1", "IfNotPresent"),
        ("nginx@sha256:abc", "IfNotPresent"),
        ("", "Always"),
    ],
)
def test_pull_policy(image: str, policy: str) -> None:
    assert default_pull_policy(image) == policy


def test_qos_class() -> None:
    pod = decode({"spec": {"containers": [{"name": "a"}]}}, Pod)
    assert pod.spec is not None
    assert qos_class(pod.spec) == "BestEffort"
    pod = decode(
        {"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}}, Pod
    )
    assert pod.spec is not None
    assert qos_class(pod.spec) == "Burstable"


def test_template_gets_spec_defaults_but_not_pod_admission_defaults() -> None:
    out = _defaulted(
        Deployment,
        {
            "metadata": {"name": "d", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i:1"}]},
                },
            },
        },
    )
    spec = out["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always"
    assert pod_spec["containers"][0]["resources"] == {}
    assert "priority" not in pod_spec
    assert "serviceAccountName" not in pod_spec


def test_recreate_strategy_gets_no_rolling_update() -> None:
    out = _defaulted(Deployment, {"spec": {"strategy": {"type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_service_defaults() -> None:
    out = _defaulted(
        Service,
        {
            "spec": {
                "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}],
                "selector": {"a": "b"},
            }
        },
    )
    spec = out["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["ports"] == [
        {"port": 80, "protocol": "TCP", "targetPort": 80},
        {"port": 443, "protocol": "TCP", "targetPort": "https"},
    ]
    lb = _defaulted(
        Service,
        {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "sessionAffinity": "ClientIP"}},
    )
    assert lb["spec"]["externalTrafficPolicy"] == "Cluster"
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True
    assert lb["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    ext = _defaulted(Service, {"spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert "ipFamilies" not in ext["spec"] and "internalTrafficPolicy" not in ext["spec"]


def test_daemon_set_defaults() -> None:
    out = _defaulted(DaemonSet, {"spec": {}})
    assert out["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert out["spec"]["revisionHistoryLimit"] == 10


@pytest.mark.parametrize(
    ("spec", "parallelism", "completions"),
    [({}, 1, 1), ({"parallelism": 3}, 3, None), ({"completions": 5}, 1, 5)],
)
def test_job_defaults(spec: dict[str, Any], parallelism: int, completions: int | None) -> None:
    out = _defaulted(
        Job,
        {
            "metadata": {"name": "j"},
            "spec": {**spec, "template": {"metadata": {"labels": {"x": "y"}}}},
        },
    )
    assert out["spec"]["parallelism"] == parallelism
    assert out["spec"].get("completions") == completions
    assert out["spec"]["backoffLimit"] == 6
    assert out["spec"]["completionMode"] == "NonIndexed"
    assert out["spec"]["suspend"] is False
    assert out["metadata"]["labels"] == {"x": "y"}


def test_job_selector() -> None:
    job = decode(
        {
            "metadata": {"name": "pi"},
            "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}},
        },
        Job,
    )
    default_job_selector(job, "uid-1")
    out = to_dict(job)
    assert out["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": "uid-1"}
    }
    assert out["spec"]["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": "uid-1",
        "controller-uid": "uid-1",
        "batch.kubernetes.io/job-name": "pi",
        "job-name": "pi",
    }
    manual = decode({"spec": {"manualSelector": True}}, Job)
    default_job_selector(manual, "uid-2")
    assert to_dict(manual) == {"spec": {"manualSelector": True}}


def test_cron_job_defaults() -> None:
    out = _defaulted(
        CronJob,
        {
            "spec": {
                "schedule": "* * * * *",
                "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}},
            }
        },
    )
    spec = out["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]


def test_secret_string_data_is_merged() -> None:
    out = _defaulted(Secret, {"data": {"a": "eA=="}, "stringData": {"b": "hello"}})
    assert out == {
        "data": {"a": "eA==", "b": base64.b64encode(b"hello").decode()},
        "type": "Opaque",
    }


def test_namespace_defaults() -> None:
    out = _defaulted(Namespace, {"metadata": {"name": "team"}})
    assert out["spec"] == {"finalizers": ["kubernetes"]}
    assert out["status"] == {"phase": "Active"}
    assert out["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}


def test_node_allocatable_defaults_to_capacity() -> None:
    out = _defaulted(Node, {"status": {"capacity": {"cpu": 4, "memory": "8192Mi", "pods": "110"}}})
    assert out["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi", "pods": "110"}


def test_kinds_without_defaults_are_untouched() -> None:
    out = _defaulted(ConfigMap, {"data": {"a": "b"}})
    assert out == {"data": {"a": "b"}}


def test_invalid_quantities_are_left_for_validation() -> None:
    out = _defaulted(
        Pod, {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "5x"}}}]}}
    )
    assert out["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "5x"}
