"""What files a ConfigMap, Secret, downward-API or projected volume holds. Pure.

``payload(volume, pod, lookup)`` answers ``{relative path: File(bytes, mode)}``
as the kubelet's ``MakePayload`` functions do: every key of the source (or
only the ``items`` listed, each to its ``path`` with its ``mode``), modes from
``defaultMode`` otherwise, a missing source that is not ``optional`` an error
(``configmap "x" not found``), a listed key the source lacks an error unless
optional (``configmap references non-existent config key: k``). Downward-API
files take the pod's fields and containers' resources through the same
functions environment variables use (``agent.env``), so the two agree.

``lookup(kind, name)`` reads the source from the agent's caches (``None``:
not found). The atomic writer (``volumes.atomic``) turns the answer into
files; this module only decides their names, bytes and modes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shoal.agent.env import ConfigError, field_value, resource_value
from shoal.agent.volumes.plan import MountError, Projected
from shoal.api import views

DEFAULT_MODE = 0o644
Lookup = Callable[[str, str], Mapping[str, Any] | None]  # (configmaps | secrets, name) -> object | None


@dataclass(frozen=True, slots=True)
class File:
    data: bytes
    mode: int


Payload = dict[str, File]


def check_path(path: str) -> None:
    """Upstream's rules for a payload path: relative, no ``..`` element, not starting with ``..``."""
    if not path or path.startswith("/") or ".." in path.split("/") or path.startswith(".."):
        raise MountError(f"invalid path {path!r}: must be relative, without '..', not starting with '..'")


def source_data(obj: Mapping[str, Any], kind: str) -> dict[str, bytes]:
    """A ConfigMap's ``data`` and ``binaryData``, or a Secret's decoded ``data`` (and ``stringData``)."""
    out: dict[str, bytes] = {}
    b64 = (obj.get("binaryData") or {}) if kind == "configmaps" else (obj.get("data") or {})
    for k, v in b64.items():
        try:
            out[k] = base64.b64decode(str(v), validate=False)
        except (binascii.Error, ValueError):
            continue
    if kind == "configmaps":
        out.update({k: str(v).encode() for k, v in (obj.get("data") or {}).items()})
    else:
        out.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
    return out


def _keyed(kind: str, name: str, items: list[Mapping[str, Any]] | None, optional: bool, mode: int,
           lookup: Lookup, out: Payload) -> None:
    noun = "configmap" if kind == "configmaps" else "secret"
    obj = lookup(kind, name)
    if obj is None:
        if optional:
            return
        raise MountError(f'{noun} "{name}" not found')
    data = source_data(obj, kind)
    if not items:
        for k, v in data.items():
            check_path(k)
            out[k] = File(v, mode)
        return
    for it in items:
        key, path = str(it.get("key") or ""), str(it.get("path") or "")
        if key not in data:
            if optional:
                continue
            what = "config key" if kind == "configmaps" else "secret key"
            raise MountError(f"{noun} references non-existent {what}: {key}")
        check_path(path)
        out[path] = File(data[key], int(it["mode"]) if it.get("mode") is not None else mode)


def _downward(pod: views.Pod, items: list[Mapping[str, Any]], mode: int, node_capacity: Mapping[str, str],
              out: Payload) -> None:
    for it in items:
        path = str(it.get("path") or "")
        check_path(path)
        try:
            if it.get("fieldRef"):
                text = field_value(pod, str(it["fieldRef"].get("fieldPath") or ""))
            elif it.get("resourceFieldRef"):
                ref = it["resourceFieldRef"]
                cname = ref.get("containerName") or ""
                c = next((c for c in views.containers(pod) + views.containers(pod, init=True)
                          if c.get("name") == cname), None)
                if c is None:
                    raise MountError(f'resourceFieldRef names no container "{cname}"')
                text = resource_value(c, ref, dict(node_capacity))
            else:
                continue
        except ConfigError as e:
            raise MountError(str(e)) from None
        out[path] = File(text.encode(), int(it["mode"]) if it.get("mode") is not None else mode)


def payload(vol: Projected, pod: views.Pod, lookup: Lookup, *,
            node_capacity: Mapping[str, str] | None = None) -> Payload:
    """The volume's files; raises ``MountError`` with the reason upstream gives."""
    src = vol.source
    mode = int(src["defaultMode"]) if src.get("defaultMode") is not None else DEFAULT_MODE
    out: Payload = {}
    if vol.kind == "configMap":
        _keyed("configmaps", str(src.get("name") or ""), src.get("items"), bool(src.get("optional")), mode,
               lookup, out)
    elif vol.kind == "secret":
        _keyed("secrets", str(src.get("secretName") or ""), src.get("items"), bool(src.get("optional")), mode,
               lookup, out)
    elif vol.kind == "downwardAPI":
        _downward(pod, src.get("items") or [], mode, node_capacity or {}, out)
    else:
        for s in src.get("sources") or []:
            if s.get("configMap") is not None:
                cm = s["configMap"]
                _keyed("configmaps", str(cm.get("name") or ""), cm.get("items"), bool(cm.get("optional")), mode,
                       lookup, out)
            elif s.get("secret") is not None:
                sec = s["secret"]
                _keyed("secrets", str(sec.get("name") or ""), sec.get("items"), bool(sec.get("optional")), mode,
                       lookup, out)
            elif s.get("downwardAPI") is not None:
                _downward(pod, s["downwardAPI"].get("items") or [], mode, node_capacity or {}, out)
            else:
                kind = next((k for k, v in s.items() if v is not None), "?")
                raise MountError(f"projected source {kind} is not supported yet")
    return out


def sources_of(vol: Projected) -> tuple[tuple[str, str], ...]:
    """The (configmaps | secrets, name) objects a volume reads, so their changes can refresh it."""
    src = vol.source
    if vol.kind == "configMap":
        return (("configmaps", str(src.get("name") or "")),)
    if vol.kind == "secret":
        return (("secrets", str(src.get("secretName") or "")),)
    out: list[tuple[str, str]] = []
    for s in src.get("sources") or [] if vol.kind == "projected" else []:
        if s.get("configMap") is not None:
            out.append(("configmaps", str(s["configMap"].get("name") or "")))
        if s.get("secret") is not None:
            out.append(("secrets", str(s["secret"].get("name") or "")))
    return tuple(out)
