import copy
from collections.abc import Callable
from typing import Any

import pytest

from shoal.api.convert import decode
from shoal.api.defaults import apply_defaults, default_job_selector
from shoal.api.models import (
    ConfigMap,
    CronJob,
    DaemonSet,
    Deployment,
    Job,
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Secret,
    Service,
)
from shoal.api.validation import FieldError, InvalidError, raise_if_invalid, validate
from shoal.api.validation_base import format_value
from shoal.api.validation_workloads import parse_cron

Data = dict[str, Any]
Mutate = Callable[[Data], None]


def _pod_spec() -> Data:
    return {
        "containers": [
            {"name": "web", "image": "nginx:1.27", "ports": [{"name": "http", "containerPort": 80}]}
        ]
    }


BASE: dict[type, Data] = {
    Pod: {
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": _pod_spec(),
    },
    Deployment: {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": _pod_spec()},
        },
    },
    ReplicaSet: {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": _pod_spec()},
        },
    },
    DaemonSet: {
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": _pod_spec()},
        },
    },
    Job: {
        "metadata": {"name": "pi", "namespace": "default"},
        "spec": {"template": {"spec": {**_pod_spec(), "restartPolicy": "Never"}}},
    },
    CronJob: {
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {"template": {"spec": {**_pod_spec(), "restartPolicy": "OnFailure"}}}
            },
        },
    },
    Service: {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    },
    ConfigMap: {"metadata": {"name": "cfg", "namespace": "default"}, "data": {"app.conf": "x=1"}},
    Secret: {
        "metadata": {"name": "db", "namespace": "default"},
        "data": {"password": "aHVudGVyMg=="},
    },
    Namespace: {"metadata": {"name": "team-a"}},
    Node: {
        "metadata": {"name": "node-1"},
        "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
    },
}


def _build(model: type, mutate: Mutate | None = None) -> Any:
    data = copy.deepcopy(BASE[model])
    if mutate is not None:
        mutate(data)
    obj = decode(data, model)
    apply_defaults(obj)
    if isinstance(obj, Job):
        default_job_selector(obj, "uid-1")
    return obj


@pytest.mark.parametrize("model", list(BASE))
def test_valid_objects_pass(model: type) -> None:
    assert validate(_build(model)) == []


def c0(d: Data) -> Data:
    return d["spec"]["containers"][0]  # type: ignore[no-any-return]


def tc0(d: Data) -> Data:
    return d["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def _set(path: str, value: Any) -> Mutate:
    """A mutation setting a dotted path (digits index lists)."""

    def mutate(d: Data) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for p in parents:
            node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
        if last.isdigit():
            node[int(last)] = value
        elif value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value

    return mutate


_DELETE = object()

CASES: list[tuple[str, type, Mutate, str, str]] = [
    # metadata
    ("no name", Pod, _set("metadata.name", _DELETE), "metadata.name", "Required value"),
    ("bad name", Pod, _set("metadata.name", "Web_1"), "metadata.name", "Invalid value"),
    ("long name", ConfigMap, _set("metadata.name", "a" * 254), "metadata.name", "Invalid value"),
    (
        "bad generateName",
        Pod,
        lambda d: d["metadata"].update(name=None, generateName="Bad-"),
        "metadata.generateName",
        "Invalid value",
    ),
    (
        "no namespace",
        Pod,
        _set("metadata.namespace", _DELETE),
        "metadata.namespace",
        "Required value",
    ),
    (
        "namespace on cluster kind",
        Node,
        _set("metadata.namespace", "default"),
        "metadata.namespace",
        "Forbidden",
    ),
    (
        "namespace name is a label",
        Namespace,
        _set("metadata.name", "a.b"),
        "metadata.name",
        "Invalid value",
    ),
    (
        "service name is DNS-1035",
        Service,
        _set("metadata.name", "1web"),
        "metadata.name",
        "Invalid value",
    ),
    (
        "bad label key",
        Pod,
        _set("metadata.labels", {"bad key": "x"}),
        "metadata.labels",
        "Invalid value",
    ),
    (
        "long label value",
        Pod,
        _set("metadata.labels", {"a": "x" * 64}),
        "metadata.labels",
        "Invalid value",
    ),
    (
        "bad annotation key",
        Pod,
        _set("metadata.annotations", {"a/b/c": "x"}),
        "metadata.annotations",
        "Invalid value",
    ),
    (
        "huge annotations",
        Pod,
        _set("metadata.annotations", {"a": "x" * 300_000}),
        "metadata.annotations",
        "Too long",
    ),
    (
        "bad finalizer",
        Pod,
        _set("metadata.finalizers", ["a b"]),
        "metadata.finalizers[0]",
        "Invalid value",
    ),
    # containers
    ("no containers", Pod, _set("spec.containers", []), "spec.containers", "Required value"),
    ("no image", Pod, lambda d: c0(d).pop("image"), "spec.containers[0].image", "Required value"),
    (
        "bad container name",
        Pod,
        lambda d: c0(d).update(name="Web"),
        "spec.containers[0].name",
        "Invalid value",
    ),
    (
        "duplicate container",
        Pod,
        lambda d: d["spec"]["containers"].append(copy.deepcopy(c0(d))),
        "spec.containers[1].name",
        "Duplicate value",
    ),
    (
        "port zero",
        Pod,
        lambda d: c0(d)["ports"][0].update(containerPort=0),
        "spec.containers[0].ports[0].containerPort",
        "Invalid value",
    ),
    (
        "port too big",
        Pod,
        lambda d: c0(d)["ports"][0].update(containerPort=70000),
        "spec.containers[0].ports[0].containerPort",
        "Invalid value",
    ),
    (
        "bad protocol",
        Pod,
        lambda d: c0(d)["ports"][0].update(protocol="HTTP"),
        "spec.containers[0].ports[0].protocol",
        "Unsupported value",
    ),
    (
        "dup port name",
        Pod,
        lambda d: c0(d)["ports"].append({"name": "http", "containerPort": 81}),
        "spec.containers[0].ports[1].name",
        "Duplicate value",
    ),
    (
        "bad port name",
        Pod,
        lambda d: c0(d)["ports"][0].update(name="http--x"),
        "spec.containers[0].ports[0].name",
        "Invalid value",
    ),
    (
        "restartPolicy",
        Pod,
        _set("spec.restartPolicy", "Sometimes"),
        "spec.restartPolicy",
        "Unsupported value",
    ),
    (
        "imagePullPolicy",
        Pod,
        lambda d: c0(d).update(imagePullPolicy="Maybe"),
        "spec.containers[0].imagePullPolicy",
        "Unsupported value",
    ),
    ("dnsPolicy", Pod, _set("spec.dnsPolicy", "Google"), "spec.dnsPolicy", "Unsupported value"),
    (
        "bad quantity",
        Pod,
        lambda d: c0(d).update(resources={"limits": {"cpu": "5x"}}),
        "spec.containers[0].resources.limits[cpu]",
        "Invalid value",
    ),
    (
        "negative request",
        Pod,
        lambda d: c0(d).update(resources={"requests": {"memory": "-1"}}),
        "spec.containers[0].resources.requests[memory]",
        "Invalid value",
    ),
    (
        "request over limit",
        Pod,
        lambda d: c0(d).update(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}),
        "spec.containers[0].resources.requests[cpu]",
        "Invalid value",
    ),
    (
        "unknown resource",
        Pod,
        lambda d: c0(d).update(resources={"limits": {"gpu": "1"}}),
        "spec.containers[0].resources.limits[gpu]",
        "Invalid value",
    ),
    (
        "env name",
        Pod,
        lambda d: c0(d).update(env=[{"name": "1BAD=", "value": "x"}]),
        "spec.containers[0].env[0].name",
        "Invalid value",
    ),
    (
        "env two sources",
        Pod,
        lambda d: c0(d).update(
            env=[
                {
                    "name": "A",
                    "value": "x",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                }
            ]
        ),
        "spec.containers[0].env[0].valueFrom",
        "Invalid value",
    ),
    (
        "env field path",
        Pod,
        lambda d: c0(d).update(
            env=[{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]
        ),
        "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
        "Unsupported value",
    ),
    (
        "probe without handler",
        Pod,
        lambda d: c0(d).update(livenessProbe={"periodSeconds": 3}),
        "spec.containers[0].livenessProbe",
        "Required value",
    ),
    (
        "probe two handlers",
        Pod,
        lambda d: c0(d).update(
            readinessProbe={"exec": {"command": ["x"]}, "tcpSocket": {"port": 80}}
        ),
        "spec.containers[0].readinessProbe",
        "Forbidden",
    ),
    (
        "liveness success threshold",
        Pod,
        lambda d: c0(d).update(livenessProbe={"exec": {"command": ["x"]}, "successThreshold": 2}),
        "spec.containers[0].livenessProbe.successThreshold",
        "Invalid value",
    ),
    (
        "probe port",
        Pod,
        lambda d: c0(d).update(livenessProbe={"httpGet": {"port": 0}}),
        "spec.containers[0].livenessProbe.httpGet.port",
        "Invalid value",
    ),
    (
        "mount of missing volume",
        Pod,
        lambda d: c0(d).update(volumeMounts=[{"name": "data", "mountPath": "/d"}]),
        "spec.containers[0].volumeMounts[0].name",
        "Not found",
    ),
    (
        "two volume sources",
        Pod,
        _set("spec.volumes", [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
        "spec.volumes[0].emptyDir",
        "Forbidden",
    ),
    (
        "duplicate volume",
        Pod,
        _set("spec.volumes", [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]),
        "spec.volumes[1].name",
        "Duplicate value",
    ),
    (
        "absolute subPath",
        Pod,
        lambda d: (d["spec"].update(volumes=[{"name": "v", "emptyDir": {}}]),
                   c0(d).update(volumeMounts=[{"name": "v", "mountPath": "/d", "subPath": "/etc"}])),
        "spec.containers[0].volumeMounts[0].subPath",
        "Invalid value",
    ),
    (
        "subPath with ..",
        Pod,
        lambda d: (d["spec"].update(volumes=[{"name": "v", "emptyDir": {}}]),
                   c0(d).update(volumeMounts=[{"name": "v", "mountPath": "/d", "subPath": "a/../../x"}])),
        "spec.containers[0].volumeMounts[0].subPath",
        "Invalid value",
    ),
    (
        "subPathExpr with ..",
        Pod,
        lambda d: (d["spec"].update(volumes=[{"name": "v", "emptyDir": {}}]),
                   c0(d).update(volumeMounts=[{"name": "v", "mountPath": "/d", "subPathExpr": "../$(X)"}])),
        "spec.containers[0].volumeMounts[0].subPathExpr",
        "Invalid value",
    ),
    (
        "subPath and subPathExpr",
        Pod,
        lambda d: (d["spec"].update(volumes=[{"name": "v", "emptyDir": {}}]),
                   c0(d).update(volumeMounts=[{"name": "v", "mountPath": "/d", "subPath": "a",
                                               "subPathExpr": "$(X)"}])),
        "spec.containers[0].volumeMounts[0].subPathExpr",
        "Invalid value",
    ),
    (
        "mount propagation",
        Pod,
        lambda d: (d["spec"].update(volumes=[{"name": "v", "emptyDir": {}}]),
                   c0(d).update(volumeMounts=[{"name": "v", "mountPath": "/d", "mountPropagation": "Both"}])),
        "spec.containers[0].volumeMounts[0].mountPropagation",
        "Unsupported value",
    ),
    (
        "configMap item path escapes",
        Pod,
        _set("spec.volumes", [{"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "../x"}]}}]),
        "spec.volumes[0].configMap.items[0].path",
        "Invalid value",
    ),
    (
        "projected secret item path absolute",
        Pod,
        _set("spec.volumes", [{"name": "v", "projected": {"sources": [
            {"secret": {"name": "s", "items": [{"key": "k", "path": "/x"}]}}]}}]),
        "spec.volumes[0].projected.sources[0].secret.items[0].path",
        "Invalid value",
    ),
    (
        "grace period",
        Pod,
        _set("spec.terminationGracePeriodSeconds", -1),
        "spec.terminationGracePeriodSeconds",
        "Invalid value",
    ),
    (
        "active deadline",
        Pod,
        _set("spec.activeDeadlineSeconds", 0),
        "spec.activeDeadlineSeconds",
        "Invalid value",
    ),
    (
        "node selector",
        Pod,
        _set("spec.nodeSelector", {"a": "b c"}),
        "spec.nodeSelector",
        "Invalid value",
    ),
    # scheduling
    (
        "node affinity operator",
        Pod,
        _set(
            "spec.affinity",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "a", "operator": "Foo"}]}
                        ]
                    }
                }
            },
        ),
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator",
        "Invalid value",
    ),
    (
        "node affinity Gt",
        Pod,
        _set(
            "spec.affinity",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["x"]}]}
                        ]
                    }
                }
            },
        ),
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
        "Invalid value",
    ),
    (
        "node affinity In without values",
        Pod,
        _set(
            "spec.affinity",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "a", "operator": "In"}]}
                        ]
                    }
                }
            },
        ),
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values",
        "Required value",
    ),
    (
        "affinity weight",
        Pod,
        _set(
            "spec.affinity",
            {
                "podAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 0, "podAffinityTerm": {"topologyKey": "zone"}}
                    ]
                }
            },
        ),
        "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
        "Invalid value",
    ),
    (
        "pod affinity topology key",
        Pod,
        _set(
            "spec.affinity",
            {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": ""}]
                }
            },
        ),
        "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
        "Required value",
    ),
    (
        "toleration operator",
        Pod,
        _set("spec.tolerations", [{"key": "a", "operator": "Like"}]),
        "spec.tolerations[0].operator",
        "Unsupported value",
    ),
    (
        "toleration exists with value",
        Pod,
        _set("spec.tolerations", [{"key": "a", "operator": "Exists", "value": "x"}]),
        "spec.tolerations[0].operator",
        "Invalid value",
    ),
    (
        "toleration effect",
        Pod,
        _set("spec.tolerations", [{"key": "a", "effect": "Never"}]),
        "spec.tolerations[0].effect",
        "Unsupported value",
    ),
    (
        "toleration seconds",
        Pod,
        _set("spec.tolerations", [{"key": "a", "effect": "NoSchedule", "tolerationSeconds": 5}]),
        "spec.tolerations[0].effect",
        "Invalid value",
    ),
    (
        "empty key toleration",
        Pod,
        _set("spec.tolerations", [{"operator": "Equal", "value": "x"}]),
        "spec.tolerations[0].operator",
        "Invalid value",
    ),
    (
        "max skew",
        Pod,
        _set(
            "spec.topologySpreadConstraints",
            [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}],
        ),
        "spec.topologySpreadConstraints[0].maxSkew",
        "Invalid value",
    ),
    (
        "when unsatisfiable",
        Pod,
        _set(
            "spec.topologySpreadConstraints",
            [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Whatever"}],
        ),
        "spec.topologySpreadConstraints[0].whenUnsatisfiable",
        "Unsupported value",
    ),
    # workloads
    ("negative replicas", Deployment, _set("spec.replicas", -1), "spec.replicas", "Invalid value"),
    ("no selector", Deployment, _set("spec.selector", _DELETE), "spec.selector", "Required value"),
    ("empty selector", Deployment, _set("spec.selector", {}), "spec.selector", "Invalid value"),
    (
        "selector mismatch",
        Deployment,
        _set("spec.template.metadata.labels", {"app": "other"}),
        "spec.template.metadata.labels",
        "Invalid value",
    ),
    (
        "selector operator",
        Deployment,
        _set("spec.selector", {"matchExpressions": [{"key": "app", "operator": "Near"}]}),
        "spec.selector.matchExpressions[0].operator",
        "Invalid value",
    ),
    (
        "selector exists with values",
        Deployment,
        _set(
            "spec.selector",
            {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]},
        ),
        "spec.selector.matchExpressions[0].values",
        "Forbidden",
    ),
    (
        "template restart policy",
        Deployment,
        _set("spec.template.spec.restartPolicy", "Never"),
        "spec.template.spec.restartPolicy",
        "Unsupported value",
    ),
    (
        "template image",
        Deployment,
        lambda d: tc0(d).pop("image"),
        "spec.template.spec.containers[0].image",
        "Required value",
    ),
    (
        "bad maxSurge",
        Deployment,
        _set("spec.strategy", {"rollingUpdate": {"maxSurge": "ten"}}),
        "spec.strategy.rollingUpdate.maxSurge",
        "Invalid value",
    ),
    (
        "maxUnavailable over 100%",
        Deployment,
        _set("spec.strategy", {"rollingUpdate": {"maxUnavailable": "150%"}}),
        "spec.strategy.rollingUpdate.maxUnavailable",
        "Invalid value",
    ),
    (
        "both zero",
        Deployment,
        _set("spec.strategy", {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
        "spec.strategy.rollingUpdate.maxUnavailable",
        "Invalid value",
    ),
    (
        "recreate with rolling",
        Deployment,
        _set("spec.strategy", {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}),
        "spec.strategy.rollingUpdate",
        "Forbidden",
    ),
    (
        "strategy type",
        Deployment,
        _set("spec.strategy", {"type": "BlueGreen"}),
        "spec.strategy.type",
        "Unsupported value",
    ),
    (
        "progress deadline",
        Deployment,
        lambda d: d["spec"].update(minReadySeconds=700),
        "spec.progressDeadlineSeconds",
        "Invalid value",
    ),
    ("rs replicas", ReplicaSet, _set("spec.replicas", -2), "spec.replicas", "Invalid value"),
    (
        "ds strategy",
        DaemonSet,
        _set("spec.updateStrategy", {"type": "Sometimes"}),
        "spec.updateStrategy.type",
        "Unsupported value",
    ),
    (
        "job restart policy",
        Job,
        _set("spec.template.spec.restartPolicy", "Always"),
        "spec.template.spec.restartPolicy",
        "Unsupported value",
    ),
    ("job backoff", Job, _set("spec.backoffLimit", -1), "spec.backoffLimit", "Invalid value"),
    ("job parallelism", Job, _set("spec.parallelism", -1), "spec.parallelism", "Invalid value"),
    (
        "job completion mode",
        Job,
        _set("spec.completionMode", "Sometimes"),
        "spec.completionMode",
        "Unsupported value",
    ),
    (
        "indexed without completions",
        Job,
        lambda d: d["spec"].update(completionMode="Indexed", parallelism=2),
        "spec.completions",
        "Required value",
    ),
    (
        "manual selector mismatch",
        Job,
        lambda d: d["spec"].update(manualSelector=True, selector={"matchLabels": {"a": "b"}}),
        "spec.template.metadata.labels",
        "Invalid value",
    ),
    (
        "cron schedule",
        CronJob,
        _set("spec.schedule", "every minute"),
        "spec.schedule",
        "Invalid value",
    ),
    (
        "cron out of range",
        CronJob,
        _set("spec.schedule", "61 * * * *"),
        "spec.schedule",
        "Invalid value",
    ),
    (
        "cron TZ",
        CronJob,
        _set("spec.schedule", "TZ=UTC 0 * * * *"),
        "spec.schedule",
        "Invalid value",
    ),
    (
        "cron no schedule",
        CronJob,
        _set("spec.schedule", _DELETE),
        "spec.schedule",
        "Required value",
    ),
    (
        "cron concurrency",
        CronJob,
        _set("spec.concurrencyPolicy", "Sometimes"),
        "spec.concurrencyPolicy",
        "Unsupported value",
    ),
    (
        "cron name length",
        CronJob,
        _set("metadata.name", "a" * 53),
        "metadata.name",
        "Invalid value",
    ),
    (
        "cron job template",
        CronJob,
        _set("spec.jobTemplate.spec.template.spec.restartPolicy", "Always"),
        "spec.jobTemplate.spec.template.spec.restartPolicy",
        "Unsupported value",
    ),
    # services
    ("no ports", Service, _set("spec.ports", []), "spec.ports", "Required value"),
    (
        "service port zero",
        Service,
        lambda d: d["spec"]["ports"][0].update(port=0),
        "spec.ports[0].port",
        "Invalid value",
    ),
    (
        "service port name required",
        Service,
        lambda d: d["spec"]["ports"].append({"port": 443}),
        "spec.ports[1].name",
        "Required value",
    ),
    (
        "dup service port name",
        Service,
        lambda d: d["spec"]["ports"].append({"name": "http", "port": 8080}),
        "spec.ports[1].name",
        "Duplicate value",
    ),
    (
        "dup service port",
        Service,
        lambda d: d["spec"]["ports"].append({"name": "other", "port": 80}),
        "spec.ports[1]",
        "Duplicate value",
    ),
    (
        "service protocol",
        Service,
        lambda d: d["spec"]["ports"][0].update(protocol="ICMP"),
        "spec.ports[0].protocol",
        "Unsupported value",
    ),
    (
        "service target port",
        Service,
        lambda d: d["spec"]["ports"][0].update(targetPort=99999),
        "spec.ports[0].targetPort",
        "Invalid value",
    ),
    (
        "nodePort on ClusterIP",
        Service,
        lambda d: d["spec"]["ports"][0].update(nodePort=30080),
        "spec.ports[0].nodePort",
        "Forbidden",
    ),
    ("service type", Service, _set("spec.type", "Magic"), "spec.type", "Unsupported value"),
    (
        "external name",
        Service,
        _set("spec.type", "ExternalName"),
        "spec.externalName",
        "Required value",
    ),
    (
        "cluster IP",
        Service,
        _set("spec.clusterIP", "10.0.0.300"),
        "spec.clusterIPs[0]",
        "Invalid value",
    ),
    (
        "session affinity",
        Service,
        _set("spec.sessionAffinity", "Sticky"),
        "spec.sessionAffinity",
        "Unsupported value",
    ),
    # config
    ("config key", ConfigMap, _set("data", {"bad key": "x"}), "data[bad key]", "Invalid value"),
    ("config too big", ConfigMap, _set("data", {"a": "x" * (1024 * 1024 + 1)}), "", "Too long"),
    (
        "binary not base64",
        ConfigMap,
        _set("binaryData", {"b": "***"}),
        "binaryData[b]",
        "Invalid value",
    ),
    (
        "secret not base64",
        Secret,
        _set("data", {"password": "not base64!"}),
        "data[password]",
        "Invalid value",
    ),
    ("secret key", Secret, _set("data", {"a/b": "eA=="}), "data[a/b]", "Invalid value"),
    ("tls secret", Secret, _set("type", "kubernetes.io/tls"), "data[tls.crt]", "Required value"),
    # nodes
    (
        "taint effect",
        Node,
        _set("spec.taints", [{"key": "a", "effect": "Sometimes"}]),
        "spec.taints[0].effect",
        "Unsupported value",
    ),
    (
        "taint key",
        Node,
        _set("spec.taints", [{"key": "a b", "effect": "NoSchedule"}]),
        "spec.taints[0].key",
        "Invalid value",
    ),
    (
        "dup taint",
        Node,
        _set(
            "spec.taints",
            [
                {"key": "a", "effect": "NoSchedule"},
                {"key": "a", "value": "x", "effect": "NoSchedule"},
            ],
        ),
        "spec.taints[1]",
        "Duplicate value",
    ),
    ("pod cidr", Node, _set("spec.podCIDR", "10.0.0.0/99"), "spec.podCIDR", "Invalid value"),
    (
        "namespace phase",
        Namespace,
        _set("status", {"phase": "Sleeping"}),
        "status.phase",
        "Unsupported value",
    ),
]


@pytest.mark.parametrize(
    ("name", "model", "mutate", "path", "kind"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_objects(name: str, model: type, mutate: Mutate, path: str, kind: str) -> None:
    errs = validate(_build(model, mutate))
    assert (path, kind) in [(e.path, e.type) for e in errs], [str(e) for e in errs]


def test_messages_match_upstream() -> None:
    pod = _build(Pod, lambda d: c0(d).pop("image"))
    with pytest.raises(InvalidError) as info:
        raise_if_invalid(pod)
    assert (
        info.value.message("Pod", "web")
        == 'Pod "web" is invalid: spec.containers[0].image: Required value'
    )
    assert info.value.causes() == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.containers[0].image",
        }
    ]
    bad_cpu = _build(Pod, lambda d: c0(d).update(resources={"limits": {"cpu": "5x"}}))
    errs = validate(bad_cpu)  # requests default to limits, so both are reported
    assert [e.path for e in errs] == [
        "spec.containers[0].resources.limits[cpu]",
        "spec.containers[0].resources.requests[cpu]",
    ]
    assert str(errs[0]) == (
        'spec.containers[0].resources.limits[cpu]: Invalid value: "5x": quantities must match the '
        "regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    dep = _build(Deployment, lambda d: d["spec"].update(replicas=-1, selector=None))
    text = InvalidError(validate(dep)).message("Deployment", "web", group="apps")
    assert text.startswith('Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: ')
    assert "spec.selector: Required value" in text
    unsupported = _build(Pod, _set("spec.restartPolicy", "Sometimes"))
    assert [str(e) for e in validate(unsupported)] == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    ]


def test_format_value() -> None:
    assert format_value("a") == '"a"'
    assert format_value(3) == "3"
    assert format_value(True) == "true"
    assert format_value(None) == "null"
    assert (
        str(FieldError("spec.x", "Invalid value", "bad", {"a": 1}))
        == 'spec.x: Invalid value: {"a": 1}: bad'
    )


# --- updates -------------------------------------------------------------------------------------


def _update(model: type, mutate: Mutate, *, old_mutate: Mutate | None = None) -> list[FieldError]:
    old = _build(model, old_mutate)

    def both(d: Data) -> None:
        if old_mutate is not None:
            old_mutate(d)
        mutate(d)

    new = _build(model, both)
    return validate(new, old=old)


def _types(errs: list[FieldError]) -> list[tuple[str, str]]:
    return [(e.path, e.type) for e in errs]


def test_pod_update_rules() -> None:
    assert _update(Pod, lambda d: c0(d).update(image="nginx:1.28")) == []
    assert _update(Pod, _set("metadata.labels", {"app": "web", "v": "2"})) == []
    assert _update(Pod, _set("spec.tolerations", [{"key": "a", "operator": "Exists"}])) == []
    assert (
        _update(
            Pod,
            _set("spec.activeDeadlineSeconds", 10),
            old_mutate=_set("spec.activeDeadlineSeconds", 20),
        )
        == []
    )
    errs = _update(Pod, lambda d: c0(d)["ports"][0].update(containerPort=81))
    assert _types(errs) == [("spec", "Forbidden")]
    assert "pod updates may not change fields other than" in str(errs[0])
    errs = _update(
        Pod,
        _set("spec.activeDeadlineSeconds", 30),
        old_mutate=_set("spec.activeDeadlineSeconds", 20),
    )
    assert ("spec.activeDeadlineSeconds", "Invalid value") in _types(errs)
    errs = _update(
        Pod,
        _set("spec.tolerations", []),
        old_mutate=_set("spec.tolerations", [{"key": "a", "operator": "Exists"}]),
    )
    assert ("spec.tolerations", "Forbidden") in _types(errs)


def test_metadata_is_immutable() -> None:
    old = _build(
        Pod, lambda d: d["metadata"].update(uid="u1", creationTimestamp="2026-01-01T00:00:00Z")
    )
    new = _build(
        Pod,
        lambda d: d["metadata"].update(
            name="other",
            namespace="kube-system",
            uid="u2",
            creationTimestamp="2026-01-01T00:00:00Z",
        ),
    )
    assert {p for p, _ in _types(validate(new, old=old))} >= {
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
    }


def test_no_new_finalizers_while_deleting() -> None:
    old = _build(Pod, lambda d: d["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z"))
    new = _build(
        Pod,
        lambda d: d["metadata"].update(
            deletionTimestamp="2026-01-01T00:00:00Z", finalizers=["a.io/x"]
        ),
    )
    assert ("metadata.finalizers", "Forbidden") in _types(validate(new, old=old))


@pytest.mark.parametrize("model", [Deployment, ReplicaSet, DaemonSet])
def test_selector_is_immutable(model: type) -> None:
    def change(d: Data) -> None:
        d["spec"]["selector"] = {"matchLabels": {"app": "x"}}
        d["spec"]["template"]["metadata"]["labels"] = {"app": "x"}

    assert _types(_update(model, change)) == [("spec.selector", "Invalid value")]
    assert _update(model, _set("spec.minReadySeconds", 5)) == []


def test_job_template_is_immutable_unless_suspended() -> None:
    change = lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="other")  # noqa: E731
    assert ("spec.template", "Invalid value") in _types(_update(Job, change))
    assert _update(Job, change, old_mutate=_set("spec.suspend", True)) == []
    assert _update(Job, _set("spec.parallelism", 4), old_mutate=_set("spec.completions", 1)) == []
    assert ("spec.completions", "Invalid value") in _types(
        _update(Job, _set("spec.completions", 3))
    )


def test_service_cluster_ip_is_immutable() -> None:
    old_ip = _set("spec.clusterIP", "10.96.0.10")
    assert _types(_update(Service, _set("spec.clusterIP", "10.96.0.11"), old_mutate=old_ip)) == [
        ("spec.clusterIP", "Invalid value")
    ]
    assert (
        _update(Service, lambda d: d["spec"]["ports"][0].update(port=81), old_mutate=old_ip) == []
    )


def test_immutable_config_map_and_secret() -> None:
    immut = _set("immutable", True)
    assert ("data", "Forbidden") in _types(
        _update(ConfigMap, _set("data", {"a": "b"}), old_mutate=immut)
    )
    assert _update(ConfigMap, _set("data", {"a": "b"})) == []
    assert ("data", "Forbidden") in _types(
        _update(Secret, _set("data", {"a": "eA=="}), old_mutate=immut)
    )
    assert ("type", "Invalid value") in _types(
        _update(Secret, _set("type", "kubernetes.io/basic-auth"))
    )


# --- cron ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    [
        "* * * * *",
        "*/5 * * * *",
        "0 0 1,15 * mon-fri",
        "0 9 * JAN-MAR SUN",
        "@hourly",
        "@daily",
        "@midnight",
        "@every 1h30m",
        "30 2 ? * *",
    ],
)
def test_cron_accepts(schedule: str) -> None:
    parse_cron(schedule)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("* * * *", "expected exactly 5 fields, found 4"),
        ("60 * * * *", "above maximum (59)"),
        ("* * 0 * *", "below minimum (1)"),
        ("* * * * 7", "above maximum (6)"),
        ("5-1 * * * *", "beyond end of range"),
        ("*/0 * * * *", "step of range"),
        ("x * * * *", "failed to parse int from x"),
        ("@fortnightly", "unrecognized descriptor"),
        ("@every soon", "failed to parse duration"),
    ],
)
def test_cron_rejects(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_cron(schedule)


def test_cron_values() -> None:
    s = parse_cron("*/15 9-17 * * 1-5")
    assert s.minutes == {0, 15, 30, 45}
    assert s.hours == set(range(9, 18))
    assert s.days_of_week == {1, 2, 3, 4, 5}
    assert s.dom_star and not s.dow_star
    assert parse_cron("@every 90s").every_seconds == 90


@pytest.mark.parametrize(
    ("subset", "path"),
    [
        ({"addresses": [{"ip": "10.1.2"}], "ports": [{"port": 80}]}, "subsets[0].addresses[0].ip"),
        ({"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 80}]}, "subsets[0].addresses[0].ip"),
        ({"notReadyAddresses": [{"ip": "0.0.0.0"}], "ports": [{"port": 80}]}, "subsets[0].notReadyAddresses[0].ip"),
        ({"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 0}]}, "subsets[0].ports[0].port"),
        ({"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 70000}]}, "subsets[0].ports[0].port"),
        ({"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80, "protocol": "HTTP"}]}, "subsets[0].ports[0].protocol"),
        ({"addresses": [{"ip": "10.1.2.3"}], "ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]},
         "subsets[0].ports[1].name"),
    ],
)
def test_endpoints_rules(subset: dict[str, Any], path: str) -> None:
    from shoal.api.models.core import Endpoints

    ep = decode({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e", "namespace": "d"},
                         "subsets": [subset]}, Endpoints)
    assert path in [e.path for e in validate(ep)]


def test_endpoints_valid() -> None:
    from shoal.api.models.core import Endpoints

    ep = decode({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e", "namespace": "d"},
                         "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}]}, Endpoints)
    assert validate(ep) == []


def test_remembered_string_checks_answer_as_the_checkers_do() -> None:
    """The LRU behind ``check`` gives each string its own answer, every time; long strings skip it."""
    from shoal.api.validation_base import check, label_value, qualified_name, validate_labels

    for _ in range(2):
        assert validate_labels({"app": "web"}, "metadata.labels") == []
        errs = validate_labels({"app": "not valid!", "bad key!": "x"}, "metadata.labels")
        assert {e.path for e in errs} == {"metadata.labels"} and len(errs) == 2
    long_value = "a" * 300  # over 63: invalid, and too long to be remembered
    assert check("v", long_value, label_value) and check("v", long_value, label_value)
    assert check("k", "example.com/ok", qualified_name) == []
    assert check("k", "-bad", qualified_name)


def test_remembered_pod_specs_answer_as_the_rules_do() -> None:
    """Every bad-object case with a pod spec, validated three times through the memo: each answer is
    the rules' own answer, under its own path, in a list the caller may change; the memo is bounded."""
    from shoal.api import validation_pod as vp
    from shoal.api.models.pod import PodSpec

    specs = []
    for _, model, mutate, _, _ in CASES:
        obj = _build(model, mutate)
        spec = getattr(obj, "spec", None)
        if isinstance(spec, PodSpec):
            specs.append(spec)
        template = getattr(spec, "template", None) or getattr(getattr(spec, "job_template", None), "spec", None)
        if isinstance(getattr(template, "spec", None), PodSpec):
            specs.append(template.spec)
    assert len(specs) > 20
    assert any(vp._validate_pod_spec(s, "spec") for s in specs)  # bad ones among them
    for _ in range(3):
        for s in specs:
            for path in ("spec", "spec.template.spec"):
                got = vp.validate_pod_spec(s, path)
                assert got == vp._validate_pod_spec(s, path)
                got.append(FieldError("x", "planted"))  # the caller's own list
    for i in range(vp.SPEC_MEMO + 10):
        vp.validate_pod_spec(decode({"containers": [{"name": f"c{i}", "image": "x"}]}, PodSpec), "spec")
    assert len(vp._spec_memo) == vp.SPEC_MEMO
