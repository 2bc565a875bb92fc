"""A memory-backed emptyDir's tmpfs size, as upstream's kubelet computes it. Pure table tests."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.agent.volumes.plan import EmptyDir, plan_volumes
from shoal.agent.volumes.tmpfssize import memory_volume_size, pod_memory_limit

Mi, Gi = 1 << 20, 1 << 30


def c(memory: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": "c", "image": "i", **({"resources": {"limits": {"memory": memory}}} if memory else {}), **extra}


@pytest.mark.parametrize(("spec", "want"), [
    ({"containers": [c("64Mi")]}, 64 * Mi),
    ({"containers": [c("64Mi"), c("100Mi")]}, 164 * Mi),  # the sum of the containers' limits
    ({"containers": [c("64Mi"), c()]}, None),  # one container without a limit: the pod has none
    ({"containers": [c("64Mi")], "initContainers": [c()]}, None),  # init containers count too
    ({"containers": [c("64Mi")], "initContainers": [c("256Mi")]}, 256 * Mi),  # the largest init step
    ({"containers": [c("64Mi")], "initContainers": [c("32Mi")]}, 64 * Mi),
    # a sidecar (restartPolicy: Always) runs beside the app containers and the later init steps
    ({"containers": [c("64Mi")], "initContainers": [c("16Mi", restartPolicy="Always"), c("100Mi")]}, 116 * Mi),
    ({"containers": [c("64Mi")], "initContainers": [c("16Mi", restartPolicy="Always")]}, 80 * Mi),
    ({"containers": [c("64Mi")], "overhead": {"memory": "10Mi"}}, 74 * Mi),
    ({"containers": [c("1G")]}, 10**9),
    ({"containers": [c("0")]}, None),  # a zero limit is no limit (upstream's IsZero)
    ({"containers": [c("not-a-quantity")]}, None),
    ({"containers": []}, None),
])
def test_pod_memory_limit(spec: dict[str, Any], want: int | None) -> None:
    assert pod_memory_limit(spec) == want


@pytest.mark.parametrize(("size_limit", "pod_limit", "node_memory", "want"), [
    (None, None, 8 * Gi, 8 * Gi),  # nothing else: the node's allocatable memory, not half the RAM
    (None, 256 * Mi, 8 * Gi, 256 * Mi),  # the pod's memory limit
    (64 * Mi, 256 * Mi, 8 * Gi, 64 * Mi),  # a smaller sizeLimit wins
    (1 * Gi, 256 * Mi, 8 * Gi, 256 * Mi),  # a larger sizeLimit cannot exceed what the pod may use
    (16 * Gi, None, 8 * Gi, 8 * Gi),  # nor the node's memory
    (None, 16 * Gi, 8 * Gi, 8 * Gi),
    (None, None, None, None),  # nothing known: the kernel's default
    (None, 256 * Mi, None, 256 * Mi),
    (64 * Mi, None, None, 64 * Mi),
    (0, 0, 8 * Gi, 8 * Gi),
])
def test_memory_volume_size(size_limit: int | None, pod_limit: int | None, node_memory: int | None,
                            want: int | None) -> None:
    assert memory_volume_size(size_limit=size_limit, pod_limit=pod_limit, node_memory=node_memory) == want


@pytest.mark.parametrize(("volume", "limits", "node_memory", "want"), [
    ({"medium": "Memory"}, ["64Mi", "32Mi"], 8 * Gi, 96 * Mi),
    ({"medium": "Memory"}, ["64Mi", None], 8 * Gi, 8 * Gi),
    ({"medium": "Memory", "sizeLimit": "16Mi"}, ["64Mi"], 8 * Gi, 16 * Mi),
    ({"medium": "Memory"}, [None], None, None),
    ({}, ["64Mi"], 8 * Gi, None),  # on disk: no tmpfs at all
])
def test_the_plan_sizes_memory_volumes(volume: dict[str, Any], limits: list[str | None], node_memory: int | None,
                                       want: int | None) -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
           "spec": {"volumes": [{"name": "m", "emptyDir": volume}], "containers": [c(m) for m in limits]}}
    [vol] = plan_volumes(pod, "/pods/u1", node_memory=node_memory).volumes
    assert isinstance(vol, EmptyDir) and vol.tmpfs_size == want
    assert vol.size_limit == (16 * Mi if "sizeLimit" in volume else None)  # eviction still reads sizeLimit only
