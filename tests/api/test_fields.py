from typing import Any

import pytest

from shoal.api.fields import unknown_fields
from shoal.api.models import ConfigMap, Deployment, Node, Pod, Service
from shoal.api.models.batch import CronJob


def _deployment(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


@pytest.mark.parametrize(
    ("data", "model", "expected"),
    [
        (
            _deployment({"name": "a", "imagee": "x"}),
            Deployment,
            ["spec.template.spec.containers[0].imagee"],
        ),
        (
            _deployment(
                {"name": "a", "ports": [{"containerPort": 1}, {"containerPort": 2, "prot": "TCP"}]}
            ),
            Deployment,
            ["spec.template.spec.containers[0].ports[1].prot"],
        ),
        ({"metadata": {"name": "x", "lables": {}}, "spec": {}}, Pod, ["metadata.lables"]),
        ({"spex": {}, "status": {"bogus": 1}}, Pod, ["spex", "status.bogus"]),
        # Maps and opaque fields accept anything.
        ({"metadata": {"labels": {"anything": "x"}, "managedFields": [{"x": 1}]}}, Pod, []),
        (
            {"spec": {"volumes": [{"name": "v", "csi": {"driver": "d", "whatever": {"deep": 1}}}]}},
            Pod,
            [],
        ),
        ({"data": {"key": "v"}, "binaryData": {}}, ConfigMap, []),
        (
            {"spec": {"ports": [{"port": 80, "targetPort": "http", "nodePortt": 1}]}},
            Service,
            ["spec.ports[0].nodePortt"],
        ),
        (
            {"status": {"daemonEndpoints": {"kubeletEndpoint": {"port": 1}}}},
            Node,
            ["status.daemonEndpoints.kubeletEndpoint.port"],
        ),
        (
            {
                "spec": {
                    "jobTemplate": {
                        "spec": {
                            "template": {"spec": {"containers": [{"name": "a", "comand": []}]}}
                        }
                    }
                }
            },
            CronJob,
            ["spec.jobTemplate.spec.template.spec.containers[0].comand"],
        ),
        # Wrong types are a decoding problem, not an unknown field.
        ({"spec": "nope", "metadata": []}, Pod, []),
    ],
)
def test_unknown_fields(data: dict[str, Any], model: type, expected: list[str]) -> None:
    assert unknown_fields(data, model) == expected
