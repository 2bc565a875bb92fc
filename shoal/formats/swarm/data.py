"""Swarm secrets, configs and networks as Secrets and ConfigMaps, and back.

A secret is a Secret whose key ``data`` holds its bytes; a config a ConfigMap
with the same key (``binaryData`` when the bytes are not UTF-8). Both live in
their stack's namespace (see ``names``). Docker never returns a secret's data
(``docker secret inspect`` shows none) and neither does this view; a config's
data is returned, as Docker does. A Secret or ConfigMap made with kubectl is a
Swarm secret or config too; its first key is the file a service mounts.

A Swarm overlay network has no Kubernetes object: pods share one flat
network. It is kept as a ConfigMap labelled ``swarm.shoal.io/network`` (so a
stack's ``docker stack rm`` and ``docker network ls`` see it), it is reported
with driver ``overlay`` and scope ``swarm``, and services name the networks
they join; name resolution between services is by Kubernetes Service names
within the stack's namespace. Isolation between networks is a pod label and
a NetworkPolicy per network (``networks``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from shoal.api import views
from shoal.api.validation_base import label_value, qualified_name
from shoal.formats.swarm.names import NAME_ANNOTATION, STACK_LABEL, place, swarm_id, swarm_name
from shoal.formats.swarm.wire import SpecError, str_map

DATA_KEY = "data"
NETWORK_LABEL = "swarm.shoal.io/network"
LABELS_ANNOTATION = "swarm.shoal.io/labels"
NETWORK_PREFIX = "swarm-network-"
INGRESS_ID = "shoalingress0000000000000"


def _meta(spec: Mapping[str, Any], what: str, *, prefix: str = "") -> dict[str, Any]:
    name = spec.get("Name")
    if not isinstance(name, str):
        raise SpecError(f"{what} name must be provided")
    labels = str_map(spec.get("Labels"), "Labels")
    ns, k8s = place(name, labels, what=f"{what} name", max_len=64)
    k8s_labels = {k: v for k, v in labels.items() if not qualified_name(k) and not label_value(v)}
    return {"name": (prefix + k8s)[:253], "namespace": ns, "labels": k8s_labels,
            "annotations": {NAME_ANNOTATION: name, LABELS_ANNOTATION: json.dumps(labels, sort_keys=True)}}


def meta_of(spec: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The metadata a secret's or config's spec gives its object (name, namespace, labels)."""
    return _meta(spec, kind)


def _data(spec: Mapping[str, Any], what: str) -> bytes:
    raw = spec.get("Data") or ""
    if not isinstance(raw, str):
        raise SpecError(f"invalid {what} data: expected base64")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SpecError(f"invalid {what} data: not base64") from None


def secret_object(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The Secret of a (canonical) SecretSpec."""
    if spec.get("Driver"):
        raise SpecError("secret drivers are not supported by shoal")
    data = _data(spec, "secret")
    if not data:
        raise SpecError("secret data must not be empty")
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(spec, "secret"), "type": "Opaque",
            "data": {DATA_KEY: base64.b64encode(data).decode()}}


def config_object(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The ConfigMap of a (canonical) ConfigSpec."""
    data = _data(spec, "config")
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(spec, "config")}
    try:
        cm["data"] = {DATA_KEY: data.decode("utf-8")}
    except UnicodeDecodeError:
        cm["binaryData"] = {DATA_KEY: base64.b64encode(data).decode()}
    return cm


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    try:
        kept = json.loads(views.annotations(obj).get(LABELS_ANNOTATION) or "{}")
    except ValueError:
        kept = {}
    labels = {k: v for k, v in views.labels(obj).items() if k != NETWORK_LABEL}
    return {**(kept if isinstance(kept, dict) else {}), **labels}


def name_of(obj: Mapping[str, Any]) -> str:
    """The Swarm name of a Secret, ConfigMap or network ConfigMap."""
    name = views.name(obj)
    if views.labels(obj).get(NETWORK_LABEL) and name.startswith(NETWORK_PREFIX):
        name = name[len(NETWORK_PREFIX):]
    return swarm_name(views.namespace(obj), name, views.labels(obj), views.annotations(obj))


def key_of(obj: Mapping[str, Any]) -> str:
    """The key a service's file is: ``data``, else the object's first key."""
    keys = sorted({*(obj.get("data") or {}), *(obj.get("binaryData") or {})})
    return DATA_KEY if DATA_KEY in keys or not keys else keys[0]


def _meta_view(obj: Mapping[str, Any]) -> dict[str, Any]:
    md = views.meta(obj)
    return {"ID": swarm_id(str(md.get("uid") or "")), "Version": {"Index": int(md.get("resourceVersion") or 0)},
            "CreatedAt": md.get("creationTimestamp") or "", "UpdatedAt": md.get("creationTimestamp") or ""}


def secret(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The Swarm view of a Secret: never its data."""
    return {**_meta_view(obj), "Spec": {"Name": name_of(obj), "Labels": _labels(obj)}}


def config(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The Swarm view of a ConfigMap, with its data (base64), as Docker shows a config's."""
    key = key_of(obj)
    if key in (obj.get("binaryData") or {}):
        data = str(obj["binaryData"][key])
    else:
        data = base64.b64encode(str((obj.get("data") or {}).get(key, "")).encode()).decode()
    return {**_meta_view(obj), "Spec": {"Name": name_of(obj), "Labels": _labels(obj), "Data": data}}


def data_changed(existing: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether an update changes a Secret's or ConfigMap's data (Swarm allows only labels to change)."""
    return bool((existing.get("data") or {}) != (new.get("data") or {})
                or (existing.get("binaryData") or {}) != (new.get("binaryData") or {}))


def with_labels(existing: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``existing`` with ``new``'s labels (the one change Swarm lets an update make)."""
    nm = views.meta(new)
    ann = {**views.annotations(existing), LABELS_ANNOTATION: views.annotations(new).get(LABELS_ANNOTATION, "{}")}
    return {**existing, "metadata": {**views.meta(existing), "labels": dict(nm.get("labels") or {}),
                                     "annotations": ann}}


def network_object(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ConfigMap that keeps a network from a (canonical) network create request."""
    driver = str(body.get("Driver") or "overlay")
    if driver != "overlay":
        raise SpecError(f"shoal serves only swarm-scoped overlay networks, not driver {driver!r}")
    md = _meta(body, "network", prefix=NETWORK_PREFIX)
    md["labels"][NETWORK_LABEL] = "true"
    options = {"Attachable": bool(body.get("Attachable")), "Internal": bool(body.get("Internal")),
               "Options": str_map(body.get("Options"), "Options")}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md,
            "data": {"network.json": json.dumps(options, sort_keys=True)}}


def network(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """The Docker view of a network ConfigMap (None: the built-in ``ingress`` network)."""
    if obj is None:
        return {"Name": "ingress", "Id": INGRESS_ID, "Created": "", "Scope": "swarm", "Driver": "overlay",
                "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": []},
                "Internal": False, "Attachable": False, "Ingress": True, "ConfigFrom": {"Network": ""},
                "ConfigOnly": False, "Containers": {}, "Options": {}, "Labels": {}}
    try:
        options = json.loads((obj.get("data") or {}).get("network.json") or "{}")
    except ValueError:
        options = {}
    md = views.meta(obj)
    return {"Name": name_of(obj), "Id": swarm_id(str(md.get("uid") or "")),
            "Created": md.get("creationTimestamp") or "", "Scope": "swarm", "Driver": "overlay",
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": []},
            "Internal": bool(options.get("Internal")), "Attachable": bool(options.get("Attachable")),
            "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
            "Options": dict(options.get("Options") or {}), "Labels": _labels(obj)}


def stack_of(obj: Mapping[str, Any]) -> str:
    return views.labels(obj).get(STACK_LABEL, "")
