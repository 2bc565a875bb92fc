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


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every dict's place in ``value``, as keys and indexes (where an unknown field could be planted)."""
    out = []
    if isinstance(value, dict):
        out.append(prefix)
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _plant(value: Any, path: tuple[Any, ...], key: str) -> None:
    for part in path:
        value = value[part]
    value[key] = "x"


def _every_path(value: Any, shape: Any, path: str, found: list[str]) -> None:
    """The plain walk the module's is measured against: a path built for every key."""
    if isinstance(value, dict):
        if shape.fields is not None:
            for key, item in value.items():
                sub = f"{path}.{key}" if path else str(key)
                if key not in shape.fields:
                    found.append(sub)
                elif shape.fields[key] is not None and isinstance(item, dict | list):
                    _every_path(item, shape.fields[key], sub, found)
        elif shape.values is not None:
            for key, item in value.items():
                _every_path(item, shape.values, f"{path}[{key}]", found)
    elif isinstance(value, list) and shape.items is not None:
        for i, item in enumerate(value):
            _every_path(item, shape.items, f"{path}[{i}]", found)


def test_the_lazy_paths_are_the_paths_of_a_plain_walk() -> None:
    """``unknown_fields`` builds a path only for an unknown field or a value it walks into; with an
    unknown key planted at every place of a real manifest, it answers as a plain walk does."""
    import copy

    from bench.workload import pod as bench_pod
    from shoal.api.fields import _model_shape

    shape = _model_shape(Pod)
    assert shape is not None
    base = bench_pod("p", "ns")
    assert unknown_fields(base, Pod) == []
    found_some = 0
    for path in _paths(base):
        doc = copy.deepcopy(base)
        _plant(doc, path, "zzUnknown")
        full: list[str] = []
        _every_path(doc, shape, "", full)
        assert unknown_fields(doc, Pod) == full, path
        found_some += bool(full)
    assert found_some > 10  # most places are structured: a stray key there is found
