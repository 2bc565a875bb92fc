"""A container's environment, as the kubelet builds it.

Order and rules follow upstream: ``envFrom`` first (ConfigMaps and Secrets,
with a prefix; keys that are not valid variable names are skipped), then
``env`` in order, where ``$(VAR)`` refers to a variable defined earlier
(``$$`` escapes) and ``valueFrom`` reads a ConfigMap or Secret key, a field of
the pod (fieldRef) or a resource limit (resourceFieldRef). A missing object
or key that is not ``optional`` is a ``ConfigError`` whose message the pod's
status shows (reason CreateContainerConfigError), never a crash.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from shoal.api import views
from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.api.views import Body, as_dict

Fetch = Callable[[str, str, str], Awaitable[Body | None]]  # (kind, namespace, name) -> object | None

_VALID = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_REF = re.compile(r"\$\$|\$\(([^)]*)\)")


class ConfigError(Exception):
    """The container cannot be configured (reason CreateContainerConfigError)."""


def expand(text: str, env: dict[str, str]) -> str:
    """Upstream's ``$(VAR)`` expansion: known names are replaced, unknown left as written, ``$$`` -> ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _REF.sub(sub, text)


def _data(obj: Body, kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if kind == "secrets":
        for k, v in as_dict(obj.get("data")).items():
            try:
                out[k] = base64.b64decode(v).decode("utf-8", errors="replace")
            except (ValueError, TypeError):
                continue
        for k, v in as_dict(obj.get("stringData")).items():
            out[k] = str(v)
    else:
        for k, v in as_dict(obj.get("data")).items():
            out[k] = str(v)
        for k, v in as_dict(obj.get("binaryData")).items():
            out.setdefault(k, base64.b64decode(v).decode("utf-8", errors="replace"))
    return out


def field_value(pod: views.Pod, path: str, *, pod_ip: str | None = None,
                host_ip: str | None = None) -> str:
    meta_maps = {"labels": views.labels(pod), "annotations": views.annotations(pod)}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if m:
        return str(meta_maps[m.group(1)].get(m.group(2), ""))
    simple = {
        "metadata.name": views.name(pod), "metadata.namespace": views.namespace(pod), "metadata.uid": views.uid(pod),
        "spec.nodeName": views.node_name(pod), "spec.serviceAccountName": views.spec(pod).get("serviceAccountName"),
        "status.podIP": pod_ip, "status.podIPs": pod_ip, "status.hostIP": host_ip, "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta_maps[path.split(".")[1]]
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ConfigError(f"unsupported fieldRef fieldPath {path!r}")


def resource_value(container: Mapping[str, Any], ref: Mapping[str, Any], node_capacity: Mapping[str, str]) -> str:
    res = ref.get("resource") or ""
    kind, _, name = res.partition(".")
    raw = as_dict(as_dict(container.get("resources")).get(kind)).get(name)
    if raw is None and kind == "limits":
        raw = node_capacity.get(name)
    if raw is None:
        return "0"
    try:
        value = parse_quantity(raw)
        divisor = parse_quantity(ref.get("divisor") or "1")
    except InvalidQuantity as e:
        raise ConfigError(f"resourceFieldRef {res}: {e}") from None
    if divisor == 0:
        raise ConfigError(f"resourceFieldRef {res}: divisor must not be zero")
    return str(math.ceil(value / divisor))


Source = Callable[[str, str], Awaitable[dict[str, str] | None]]  # (kind, name) -> the object's keys | None


async def build_env(
    pod: views.Pod,
    container: Mapping[str, Any],
    fetch: Fetch,
    *,
    pod_ip: str | None = None,
    host_ip: str | None = None,
    node_capacity: dict[str, str] | None = None,
    service_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The container's variables, in the order upstream defines them; raises ``ConfigError``.

    ``service_env`` (the Services' variables) comes first, so ``env`` may refer to
    them with ``$(VAR)`` and override them, as the kubelet does.
    """
    ns = views.namespace(pod) or "default"
    env: dict[str, str] = dict(service_env or {})
    cache: dict[tuple[str, str], dict[str, str] | None] = {}

    async def source(kind: str, name: str) -> dict[str, str] | None:
        key = (kind, name)
        if key not in cache:
            obj = await fetch(kind, ns, name)
            cache[key] = None if obj is None else _data(obj, kind)
        return cache[key]

    await _env_from(container, source, env)
    for ev in container.get("env") or []:
        name = ev.get("name") or ""
        if "valueFrom" not in ev or ev.get("valueFrom") is None:
            env[name] = expand(str(ev.get("value") or ""), env)
            continue
        vf = ev["valueFrom"]
        if vf.get("fieldRef"):
            env[name] = field_value(pod, vf["fieldRef"].get("fieldPath") or "", pod_ip=pod_ip, host_ip=host_ip)
        elif vf.get("resourceFieldRef"):
            env[name] = resource_value(container, vf["resourceFieldRef"], node_capacity or {})
        else:
            value = await _key_ref(name, vf, source, ns)
            if value is not None:
                env[name] = value
    return env


async def _env_from(container: Mapping[str, Any], source: Source, env: dict[str, str]) -> None:
    """``envFrom``: every key of each ConfigMap or Secret (with its prefix) that makes a valid name."""
    for ef in container.get("envFrom") or []:
        prefix = ef.get("prefix") or ""
        for kind, ref in (("configmaps", ef.get("configMapRef")), ("secrets", ef.get("secretRef"))):
            if not ref:
                continue
            data = await source(kind, ref.get("name") or "")
            if data is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{_kind(kind)} "{ref.get("name")}" not found')
            for k, v in data.items():
                if _VALID.match(prefix + k):
                    env[prefix + k] = v


async def _key_ref(name: str, vf: Mapping[str, Any], source: Source, ns: str) -> str | None:
    """A ``configMapKeyRef`` or ``secretKeyRef`` value (None: optional and missing, the variable is unset)."""
    kind, ref = ("configmaps", vf.get("configMapKeyRef")) if vf.get("configMapKeyRef") else \
        ("secrets", vf.get("secretKeyRef"))
    if not ref:
        raise ConfigError(f"env {name}: valueFrom names no source")
    data = await source(kind, ref.get("name") or "")
    key = ref.get("key") or ""
    if data is None:
        if ref.get("optional"):
            return None
        raise ConfigError(f'{_kind(kind)} "{ref.get("name")}" not found')
    if key not in data:
        if ref.get("optional"):
            return None
        raise ConfigError(f"couldn't find key {key} in {_kind(kind)} {ns}/{ref.get('name')}")
    return data[key]


def _kind(plural: str) -> str:
    return "configmap" if plural == "configmaps" else "secret"
