"""What the benchmarks send: a realistic pod body and a pinned namespace.

The pod is shaped like one a Deployment would create (labels, owner-ish
annotations, one container with ports, env, resources, probes and a volume),
about 1.5 KB of JSON, so that decode, admission and the store move as many
bytes per create as they would in a real cluster. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import msgspec

SENT_ANNOTATION = "bench.shoal.io/sent"


def pod(name: str, namespace: str) -> dict[str, Any]:
    """A ~1.5 KB pod manifest as a client would POST it."""
    app = "web-frontend"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/instance": f"{app}-prod",
                "app.kubernetes.io/version": "1.27.3",
                "app.kubernetes.io/component": "frontend",
                "pod-template-hash": "7c9f8d6b5d",
                "tier": "web",
            },
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9102",
                "kubectl.kubernetes.io/default-container": "web",
            },
        },
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "registry.example.com/team/web-frontend:1.27.3",
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [
                        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                        {"name": "metrics", "containerPort": 9102, "protocol": "TCP"},
                    ],
                    "env": [
                        {"name": "APP_ENV", "value": "production"},
                        {"name": "APP_REGION", "value": "eu-west-1"},
                        {"name": "GOMAXPROCS", "value": "2"},
                    ],
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "256Mi"},
                        "limits": {"cpu": "1", "memory": "512Mi"},
                    },
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080},
                        "initialDelaySeconds": 5,
                        "periodSeconds": 10,
                    },
                    "livenessProbe": {
                        "httpGet": {"path": "/livez", "port": 8080},
                        "initialDelaySeconds": 15,
                        "periodSeconds": 20,
                        "failureThreshold": 3,
                    },
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/web", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "config", "configMap": {"name": f"{app}-config"}}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
            ],
        },
    }


def pod_bytes(name: str, namespace: str) -> bytes:
    return msgspec.json.encode(pod(name, namespace))


def namespace(name: str) -> bytes:
    return msgspec.json.encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def sent_patch(seq: int, sent: float) -> bytes:
    """A merge patch stamping the send time (CLOCK_MONOTONIC, shared by all processes)."""
    return msgspec.json.encode({"metadata": {"annotations": {SENT_ANNOTATION: f"{seq}:{sent!r}"}}})
