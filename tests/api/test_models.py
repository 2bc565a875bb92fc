import json
from typing import Any

import msgspec
import pytest

from shoal.api.base import patch_extensions
from shoal.api.convert import decode, decode_json, encode, to_dict
from shoal.api.fields import unknown_fields
from shoal.api.meta import format_time, parse_time
from shoal.api.models import KINDS, Deployment, Node, Pod, Service
from shoal.api.models.core import NodeSystemInfo, ServiceSpec
from shoal.api.models.pod import PodSpec, PodStatus
from shoal.api.validation import InvalidError

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "labels": {"app": "web"},
        "annotations": {"deployment.kubernetes.io/revision": "1"},
        "generation": 2,
        "uid": "5f0c1e52-7c44-4d1b-9b0e-2b1d4c6a9e11",
        "resourceVersion": "1234",
        "creationTimestamp": "2026-01-02T03:04:05Z",
    },
    "spec": {
        "replicas": 3,
        "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}],
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"},
        },
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": 600,
        "template": {
            "metadata": {"labels": {"app": "web", "tier": "fe"}},
            "spec": {
                "serviceAccountName": "web",
                "initContainers": [
                    {"name": "init", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}
                ],
                "containers": [
                    {
                        "name": "nginx",
                        "image": "nginx:1.27",
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                        "env": [
                            {"name": "MODE", "value": "prod"},
                            {
                                "name": "POD_IP",
                                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                            },
                            {
                                "name": "CPU",
                                "valueFrom": {
                                    "resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}
                                },
                            },
                            {
                                "name": "PW",
                                "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                            },
                            {
                                "name": "CFG",
                                "valueFrom": {
                                    "configMapKeyRef": {"name": "cfg", "key": "x", "optional": True}
                                },
                            },
                        ],
                        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
                        "resources": {
                            "limits": {"cpu": "500m", "memory": "256Mi"},
                            "requests": {"cpu": "250m", "memory": "128Mi"},
                        },
                        "volumeMounts": [
                            {"name": "data", "mountPath": "/data"},
                            {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True},
                        ],
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http"},
                            "initialDelaySeconds": 5,
                        },
                        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
                        "startupProbe": {
                            "exec": {"command": ["cat", "/tmp/ready"]},
                            "failureThreshold": 30,
                        },
                        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 1000,
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                    }
                ],
                "volumes": [
                    {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                    {
                        "name": "cfg",
                        "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a.conf"}]},
                    },
                    {"name": "sec", "secret": {"secretName": "db", "defaultMode": 256}},
                    {"name": "pvc", "persistentVolumeClaim": {"claimName": "claim"}},
                    {"name": "csi", "csi": {"driver": "x.csi.io", "volumeAttributes": {"a": "b"}}},
                    {
                        "name": "proj",
                        "projected": {
                            "sources": [
                                {
                                    "serviceAccountToken": {
                                        "path": "token",
                                        "expirationSeconds": 3600,
                                    }
                                },
                                {
                                    "downwardAPI": {
                                        "items": [
                                            {
                                                "path": "labels",
                                                "fieldRef": {"fieldPath": "metadata.labels"},
                                            }
                                        ]
                                    }
                                },
                            ]
                        },
                    },
                ],
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/os",
                                            "operator": "In",
                                            "values": ["linux"],
                                        }
                                    ]
                                }
                            ]
                        },
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 10,
                                "preference": {
                                    "matchExpressions": [{"key": "zone", "operator": "Exists"}]
                                },
                            }
                        ],
                    },
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "podAffinityTerm": {
                                    "labelSelector": {"matchLabels": {"app": "web"}},
                                    "topologyKey": "kubernetes.io/hostname",
                                },
                            }
                        ]
                    },
                },
                "tolerations": [
                    {
                        "key": "dedicated",
                        "operator": "Equal",
                        "value": "web",
                        "effect": "NoSchedule",
                    }
                ],
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": {"app": "web"}},
                    }
                ],
                "nodeSelector": {"disktype": "ssd"},
                "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db.local"]}],
                "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
                "securityContext": {
                    "fsGroup": 2000,
                    "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}],
                },
                "imagePullSecrets": [{"name": "regcred"}],
                "priorityClassName": "high",
                "terminationGracePeriodSeconds": 45,
            },
        },
    },
    "status": {
        "observedGeneration": 2,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": "2026-01-02T03:04:05Z",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            }
        ],
    },
}

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web-7d4b9c-x2x4z",
        "generateName": "web-7d4b9c-",
        "namespace": "default",
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7d4b9c",
                "uid": "u1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "finalizers": ["example.com/keep"],
    },
    "spec": {
        "nodeName": "node-1",
        "hostNetwork": False,
        "hostPID": False,
        "hostIPC": False,
        "setHostnameAsFQDN": False,
        "containers": [
            {
                "name": "app",
                "image": "app:v1",
                "ports": [{"containerPort": 8080, "hostIP": "0.0.0.0"}],
                "tty": True,
                "stdin": True,
            }
        ],
        "ephemeralContainers": [
            {"name": "debug", "image": "busybox", "targetContainerName": "app"}
        ],
        "os": {"name": "linux"},
    },
    "status": {
        "phase": "Running",
        "hostIP": "10.0.0.5",
        "hostIPs": [{"ip": "10.0.0.5"}],
        "podIP": "10.88.0.7",
        "podIPs": [{"ip": "10.88.0.7"}],
        "qosClass": "BestEffort",
        "startTime": "2026-01-02T03:04:05Z",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": "2026-01-02T03:04:06Z",
            }
        ],
        "containerStatuses": [
            {
                "name": "app",
                "ready": True,
                "restartCount": 1,
                "started": True,
                "image": "app:v1",
                "imageID": "docker.io/library/app@sha256:abc",
                "containerID": "docker://123",
                "state": {"running": {"startedAt": "2026-01-02T03:04:06Z"}},
                "lastState": {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "OOMKilled",
                        "containerID": "docker://122",
                    }
                },
            }
        ],
    },
}


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@pytest.mark.parametrize(("manifest", "model"), [(DEPLOYMENT, Deployment), (POD, Pod)])
def test_round_trip(manifest: dict[str, Any], model: type) -> None:
    assert unknown_fields(manifest, model) == []
    obj = decode(manifest, model)
    assert to_dict(obj) == _without_nulls(manifest)
    assert json.loads(encode(obj)) == _without_nulls(manifest)
    assert decode_json(encode(obj), model) == obj


def test_metadata_is_the_first_object_in_the_bytes() -> None:
    for model in KINDS.values():
        names = [f.encode_name for f in msgspec.structs.fields(model)]
        assert names[:3] == ["apiVersion", "kind", "metadata"], model
    raw = encode(decode(DEPLOYMENT, Deployment))
    assert raw.startswith(b'{"apiVersion":"apps/v1","kind":"Deployment","metadata":{')


def test_kinds_registry() -> None:
    assert KINDS[("v1", "Pod")] is Pod
    assert KINDS[("apps/v1", "Deployment")] is Deployment
    assert KINDS[("autoscaling/v1", "Scale")].__name__ == "Scale"
    for (_, kind), model in KINDS.items():
        assert model.__name__ == kind


@pytest.mark.parametrize(
    ("model", "names"),
    [
        (PodSpec, {"hostPID", "hostIPC", "setHostnameAsFQDN", "nodeName"}),
        (PodStatus, {"podIP", "podIPs", "hostIP", "hostIPs", "qosClass"}),
        (ServiceSpec, {"clusterIP", "clusterIPs", "externalIPs", "loadBalancerIP", "ipFamilies"}),
        (NodeSystemInfo, {"machineID", "systemUUID", "bootID", "kubeProxyVersion", "osImage"}),
    ],
)
def test_upstream_json_names(model: type, names: set[str]) -> None:
    wire = {f.encode_name for f in msgspec.structs.fields(model)}
    assert names <= wire


def test_kubelet_endpoint_port_is_capitalised() -> None:
    node = decode({"status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}, Node)
    assert (
        node.status
        and node.status.daemon_endpoints
        and node.status.daemon_endpoints.kubelet_endpoint
    )
    assert node.status.daemon_endpoints.kubelet_endpoint.port == 10250


def _ext(model: type, field: str) -> dict[str, Any]:
    info = msgspec.inspect.type_info(model)
    assert isinstance(info, msgspec.inspect.StructType)
    (f,) = [f for f in info.fields if f.encode_name == field]
    t = f.type
    if isinstance(t, msgspec.inspect.UnionType):
        t = next(m for m in t.types if not isinstance(m, msgspec.inspect.NoneType))
    return patch_extensions(t)


@pytest.mark.parametrize(
    ("model", "field", "key", "strategy"),
    [
        (PodSpec, "containers", "name", "merge"),
        (PodSpec, "volumes", "name", "merge,retainKeys"),
        (PodSpec, "imagePullSecrets", "name", "merge"),
        (PodSpec, "topologySpreadConstraints", "topologyKey", "merge"),
        (PodSpec, "hostAliases", "ip", "merge"),
        (PodStatus, "conditions", "type", "merge"),
        (ServiceSpec, "ports", "port", "merge"),
    ],
)
def test_patch_metadata(model: type, field: str, key: str, strategy: str) -> None:
    ext = _ext(model, field)
    assert ext["x-kubernetes-patch-merge-key"] == key
    assert ext["x-kubernetes-patch-strategy"] == strategy


def test_tolerations_have_no_merge_key() -> None:
    assert "x-kubernetes-patch-merge-key" not in _ext(PodSpec, "tolerations")


@pytest.mark.parametrize(
    ("data", "path", "detail"),
    [
        ({"spec": {"replicas": "three"}}, "spec.replicas", 'Invalid value: "three": expected int'),
        (
            {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "a", "ports": [{"containerPort": "abc"}]}]}
                    }
                }
            },
            "spec.template.spec.containers[0].ports[0].containerPort",
            'Invalid value: "abc": expected int',
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
            "spec.template.spec.containers[0].name",
            "Required value",
        ),
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "a", "resources": {"limits": {"cpu": [1]}}}]
                        }
                    }
                }
            },
            "spec.template.spec.containers[0].resources.limits[cpu]",
            "Invalid value: [1]: expected int | float | str",
        ),
        (
            {"metadata": {"labels": {"a": 1}}},
            "metadata.labels[a]",
            "Invalid value: 1: expected str",
        ),
    ],
)
def test_decode_errors_have_kubernetes_paths(data: dict[str, Any], path: str, detail: str) -> None:
    with pytest.raises(InvalidError) as info:
        decode(data, Deployment)
    (err,) = info.value.errors
    assert err.path == path
    assert err.body() == detail


def test_decode_json_errors() -> None:
    with pytest.raises(InvalidError) as info:
        decode_json(b'{"spec":{"ports":[{"port":"x"}]}}', Service)
    assert info.value.errors[0].path == "spec.ports[0].port"
    with pytest.raises(msgspec.DecodeError):
        decode_json(b"{not json", Service)


def test_time_helpers() -> None:
    when = parse_time("2026-11-25T09:31:23Z")
    assert format_time(when) == "2026-11-25T09:31:23Z"
    assert format_time(parse_time("2026-11-25T10:31:23+01:00")) == "2026-11-25T09:31:23Z"
    assert parse_time("2026-11-25T09:31:23.123456Z").microsecond == 123456
    with pytest.raises(ValueError):
        parse_time("2026-11-25T09:31:23")
    with pytest.raises(ValueError):
        parse_time("yesterday")
