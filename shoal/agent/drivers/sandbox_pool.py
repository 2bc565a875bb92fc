"""Pre-started pod sandboxes, and the durable record of which pod each one serves.

A pod's sandbox (the infra container holding its network namespace) costs an
engine create + start + network setup, 0.3-0.8 s here, before the first app
container can even be created. The docker driver therefore keeps a few
sandboxes started ahead of time with no pod identity, and hands one to each
new pod whose spec allows it (no hostPort, not hostNetwork): the pod then
costs one engine start, like a bare container.

Containers cannot be relabelled, so a pooled sandbox never carries its pod's
labels. Instead the binding (sandbox id -> the pod's labels, and the per-pod
``/etc/hosts`` and ``/etc/resolv.conf`` files that its app containers mount,
since they cannot take DNS settings of their own when they join another
container's network) is written to a JSON file in the agent's state directory,
atomically and before the sandbox is used. The driver merges it into what it
lists, so the pod worker, the orphan sweep and adoption after a restart see
the sandbox exactly as if it were labelled.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from shoal.agent.drivers.base import LABEL_POD_UID

log = logging.getLogger(__name__)

LABEL_POOL = "io.shoal.sandbox.pool"  # "1" on every pooled sandbox, bound or not


@dataclass(frozen=True, slots=True)
class PoolMember:
    id: str
    ip: str | None


@dataclass(frozen=True, slots=True)
class Binding:
    labels: dict[str, str]  # the pod's labels, as a sandbox created for it would carry
    files: tuple[tuple[str, str], ...] = ()  # (host path, container path) for its app containers


def hosts_file(ip: str | None, hostname: str) -> str:
    """``/etc/hosts`` of a pod: loopback, and the pod IP under its hostname (as the kubelet writes it)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if ip:
        lines.append(f"{ip}\t{hostname}")
    return "\n".join(lines) + "\n"


def resolv_file(servers: tuple[str, ...], searches: tuple[str, ...], options: tuple[str, ...]) -> str:
    out = [f"nameserver {s}" for s in servers]
    if searches:
        out.append("search " + " ".join(searches))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Bindings:
    """sandbox id -> Binding, kept in one JSON file that is rewritten whole on every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: dict[str, Binding] = {}

    def load(self) -> None:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except ValueError as e:
            log.warning("sandbox bindings %s unreadable (%s): starting empty", self.path, e)
            return
        for sid, b in (raw or {}).items():
            if isinstance(b, dict) and isinstance(b.get("labels"), dict):
                files = tuple((str(h), str(c)) for h, c in b.get("files") or [])
                self.items[str(sid)] = Binding({str(k): str(v) for k, v in b["labels"].items()}, files)

    def _save(self) -> None:
        data = {sid: {"labels": b.labels, "files": [list(f) for f in b.files]} for sid, b in self.items.items()}
        write_atomic(self.path, json.dumps(data, indent=1))

    def bind(self, sandbox_id: str, binding: Binding) -> None:
        self.items[sandbox_id] = binding
        self._save()

    def unbind(self, sandbox_id: str) -> Binding | None:
        b = self.items.pop(sandbox_id, None)
        if b is not None:
            self._save()
        return b

    def get(self, sandbox_id: str) -> Binding | None:
        return self.items.get(sandbox_id)

    def uid_of(self, sandbox_id: str) -> str:
        b = self.items.get(sandbox_id)
        return b.labels.get(LABEL_POD_UID, "") if b is not None else ""

    def matching(self, labels: dict[str, str] | None) -> list[str]:
        """Bound sandboxes whose pod labels include every ``labels`` pair (all of them for None)."""
        want = labels or {}
        return [sid for sid, b in self.items.items() if all(b.labels.get(k) == v for k, v in want.items())]


__all__ = ["LABEL_POOL", "Binding", "Bindings", "PoolMember", "hosts_file", "resolv_file", "write_atomic"]
