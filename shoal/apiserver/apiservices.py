"""The APIService objects of the group versions shoal serves itself (upstream's autoregister).

kube-apiserver's aggregator keeps one local APIService per built-in group
version (``v1.``, ``v1.apps``, ...) with upstream's priorities, so
``kubectl get apiservices`` lists them, ``Local`` and ``Available``. The server
creates the missing ones at start; what they are is decided here, purely.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"

# (group, version) -> (groupPriorityMinimum, versionPriority), upstream's table
PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apiregistration.k8s.io", "v1"): (18000, 15),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v1"): (17500, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("batch", "v1"): (17400, 15),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("node.k8s.io", "v1"): (16300, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
    ("flowcontrol.apiserver.k8s.io", "v1"): (16100, 21),
}
DEFAULT_PRIORITY = (1000, 15)


def local_api_service(group_version: str) -> dict[str, Any]:
    group, _, version = group_version.rpartition("/")
    gp, vp = PRIORITIES.get((group, version), DEFAULT_PRIORITY)
    return {
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": f"{version}.{group}", "labels": {AUTOMANAGED: "onstart"}},
        "spec": {"group": group, "version": version, "groupPriorityMinimum": gp, "versionPriority": vp},
    }


def to_register(group_versions: Iterable[str], existing: Iterable[str]) -> list[dict[str, Any]]:
    """The local APIServices missing from ``existing`` (names), one per served group version."""
    have = set(existing)
    return [s for s in map(local_api_service, group_versions) if s["metadata"]["name"] not in have]
