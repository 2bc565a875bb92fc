"""Builders for claims, volumes and storage classes shared by the volume scheduling tests."""

from __future__ import annotations

from typing import Any

from shoal.api.storage_contract import (
    BIND_COMPLETED,
    LOCAL_PROVISIONER,
    NO_PROVISIONER,
    SELECTED_NODE,
)

HOSTNAME = "kubernetes.io/hostname"


def sc(name: str, *, provisioner: str = LOCAL_PROVISIONER, wait: bool = True,
       zones: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
                           "provisioner": provisioner,
                           "volumeBindingMode": "WaitForFirstConsumer" if wait else "Immediate"}
    if zones:
        out["allowedTopologies"] = [{"matchLabelExpressions": [{"key": "zone", "values": zones}]}]
    return out


def static_class(name: str = "manual") -> dict[str, Any]:
    return sc(name, provisioner=NO_PROVISIONER)


def claim(name: str, *, cls: str | None = "local", size: str = "1Gi", ns: str = "default",
          volume: str = "", bound: bool = False, selected: str = "", deleting: bool = False, phase: str = "",
          modes: tuple[str, ...] = ("ReadWriteOnce",), selector: dict[str, Any] | None = None,
          rv: int = 1) -> dict[str, Any]:
    ann: dict[str, str] = {}
    if bound:
        ann[BIND_COMPLETED] = "yes"
    if selected:
        ann[SELECTED_NODE] = selected
    md: dict[str, Any] = {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}", "annotations": ann,
                          "resourceVersion": str(rv)}
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    if volume:
        spec["volumeName"] = volume
    if selector is not None:
        spec["selector"] = selector
    return {"metadata": md, "spec": spec,
            "status": {"phase": phase or ("Bound" if bound else "Pending")}}


def pv(name: str, *, node: str | None = None, cls: str = "manual", size: str = "1Gi",
       claim_ref: tuple[str, str] | None = None, phase: str = "", labels: dict[str, str] | None = None,
       modes: tuple[str, ...] = ("ReadWriteOnce",), rv: int = 1, uid: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": cls,
                            "local": {"path": f"/v/{name}"}}
    if node is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": HOSTNAME, "operator": "In", "values": [node]}]}]}}
    if claim_ref is not None:
        ns, nm = claim_ref
        spec["claimRef"] = {"namespace": ns, "name": nm, "uid": f"uid-{ns}-{nm}" if uid is None else uid}
    return {"metadata": {"name": name, "labels": labels or {}, "resourceVersion": str(rv)}, "spec": spec,
            "status": {"phase": phase or ("Bound" if claim_ref else "Available")}}


def uses(*claims: str) -> dict[str, Any]:
    """``volumes`` for a pod that mounts these claims."""
    return {"volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]}
