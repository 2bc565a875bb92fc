"""Pod annotations shoal's node agent honours where the pod spec has no field: restart back-off, ulimits, start order.

Marathon apps and ECS task definitions carry settings Kubernetes never
modelled: Marathon's per-app launch back-off (``backoffSeconds``,
``backoffFactor``, ``maxLaunchDelaySeconds``) and ECS's per-container
``ulimits``. The translations in ``shoal.formats`` write them as annotations on
the pod template; the agent reads them back when it plans restarts and creates
containers. Both sides meet here, so no two spell a key or a value apart, and
the syntax stays short enough to write by hand with kubectl:

- ``shoal.io/restart-backoff: "1s,1.15,300s"``: the first restart delay, the
  factor each further crash multiplies it by, and the cap. Without it the
  agent's own CrashLoopBackOff holds (10 s doubling to 300 s).
- ``shoal.io/ulimits: "main: nofile=1024:2048, nproc=512; side: core=0"``:
  per container (by its Kubernetes name), ``name=soft[:hard]`` (hard defaults
  to soft; ``unlimited`` or ``-1`` is no limit). One annotation rather than one
  per container: a key's name part is limited to 63 characters, and
  ``ulimits.`` plus a 63-character container name would not fit.
- ``shoal.io/start-after: "web=db:HEALTHY,sidecar=db:START"``: a container's
  first start waits for another app container of the pod to have started
  (``START``) or to be ready by its readiness probe (``HEALTHY``; ECS's
  ``dependsOn``). A container may be named several times
  (``web=db:HEALTHY,web=cache:START``: both); a cycle is refused, since it
  would start nothing.

The parsers are pure and raise ``HintError`` with a sentence a user can act on;
the agent then falls back to its default and says so in an event.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

RESTART_BACKOFF = "shoal.io/restart-backoff"
ULIMITS = "shoal.io/ulimits"
START_AFTER = "shoal.io/start-after"
START_CONDITIONS = ("START", "HEALTHY")
# the waiting reasons of a container the agent holds: for now, and for good (its dependency exited first)
WAITING_FOR_DEPENDENCY = "WaitingForDependency"
DEPENDENCY_FAILED = "DependencyFailed"

# the names Docker's engine (and ECS) accept for HostConfig.Ulimits
ULIMIT_NAMES = frozenset({"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
                          "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"})
UNLIMITED = -1
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$")
_CONTAINER = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class HintError(ValueError):
    """An annotation's value does not parse; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class RestartBackoff:
    """Restart delays: ``base``, then multiplied by ``factor`` per crash, at most ``cap`` (seconds)."""

    base: float
    factor: float
    cap: float


@dataclass(frozen=True, slots=True)
class Ulimit:
    name: str
    soft: int  # UNLIMITED for no limit
    hard: int


@dataclass(frozen=True, slots=True)
class Dependency:
    """Start only once ``container`` has started (``START``) or is ready (``HEALTHY``)."""

    container: str
    condition: str  # one of START_CONDITIONS


# --- restart back-off ------------------------------------------------------------------------------
def parse_restart_backoff(text: str) -> RestartBackoff:
    """``"<base>s,<factor>,<cap>s"`` (the ``s`` is optional); base and cap >= 0, factor >= 1."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3:
        raise HintError(f"{RESTART_BACKOFF} must be '<base>s,<factor>,<max>s', got {text!r}")
    base, cap = (_seconds(parts[0], "base"), _seconds(parts[2], "max"))
    try:
        factor = float(parts[1])
    except ValueError:
        raise HintError(f"{RESTART_BACKOFF}: the factor {parts[1]!r} is not a number") from None
    if not math.isfinite(factor) or factor < 1:
        raise HintError(f"{RESTART_BACKOFF}: the factor must be 1 or more, got {parts[1]}")
    return RestartBackoff(base, factor, cap)


def _seconds(text: str, what: str) -> float:
    m = _SECONDS.match(text)
    if m is None:
        raise HintError(f"{RESTART_BACKOFF}: the {what} delay {text!r} is not a number of seconds")
    return float(m.group(1))


def format_restart_backoff(b: RestartBackoff) -> str:
    return f"{_num(b.base)}s,{_num(b.factor)},{_num(b.cap)}s"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


# --- ulimits ---------------------------------------------------------------------------------------
def parse_ulimits(text: str) -> dict[str, tuple[Ulimit, ...]]:
    """``"c1: nofile=1024:2048, nproc=512; c2: core=0"`` -> {container: limits}; soft must not exceed hard."""
    out: dict[str, tuple[Ulimit, ...]] = {}
    for group in (g.strip() for g in str(text).split(";")):
        if not group:
            continue
        container, sep, items = group.partition(":")
        container = container.strip()
        if not sep or not _CONTAINER.match(container):
            raise HintError(f"{ULIMITS}: expected '<container>: <name>=<soft>[:<hard>], ...', got {group!r}")
        if container in out:
            raise HintError(f"{ULIMITS}: container {container!r} is named twice")
        limits: dict[str, Ulimit] = {}
        for item in (i.strip() for i in items.split(",")):
            if not item:
                continue
            u = _ulimit(item)
            if u.name in limits:
                raise HintError(f"{ULIMITS}: {u.name} is set twice for container {container!r}")
            limits[u.name] = u
        out[container] = tuple(limits.values())
    return out


def _ulimit(item: str) -> Ulimit:
    name, sep, value = item.partition("=")
    name = name.strip()
    if not sep or name not in ULIMIT_NAMES:
        raise HintError(f"{ULIMITS}: {item!r} is not '<name>=<soft>[:<hard>]' with a name among "
                        f"{', '.join(sorted(ULIMIT_NAMES))}")
    soft_s, _, hard_s = value.partition(":")
    soft = _limit(soft_s, item)
    hard = _limit(hard_s, item) if hard_s.strip() else soft
    if hard != UNLIMITED and (soft == UNLIMITED or soft > hard):
        raise HintError(f"{ULIMITS}: the soft limit of {name} is above its hard limit in {item!r}")
    return Ulimit(name, soft, hard)


def _limit(text: str, item: str) -> int:
    t = text.strip()
    if t in ("unlimited", "-1"):
        return UNLIMITED
    if not t.isdigit():
        raise HintError(f"{ULIMITS}: {t!r} in {item!r} is not a whole number or 'unlimited'")
    return int(t)


def format_ulimits(by_container: Mapping[str, Sequence[Ulimit]]) -> str:
    return "; ".join(f"{c}: " + ", ".join(f"{u.name}={_lim(u.soft)}" + (f":{_lim(u.hard)}" if u.hard != u.soft else "")
                                          for u in limits)
                     for c, limits in by_container.items() if limits)


def _lim(x: int) -> str:
    return "unlimited" if x == UNLIMITED else str(x)


# --- start order -----------------------------------------------------------------------------------
def parse_start_after(text: str) -> dict[str, tuple[Dependency, ...]]:
    """``"web=db:HEALTHY,sidecar=db:START"`` -> {container: dependencies}; no self-dependency, no cycle."""
    out: dict[str, dict[str, Dependency]] = {}
    for item in (i.strip() for i in str(text).split(",")):
        if not item:
            continue
        name, sep, rest = item.partition("=")
        target, sep2, cond = rest.partition(":")
        name, target, cond = name.strip(), target.strip(), cond.strip().upper()
        if not sep or not sep2 or not _CONTAINER.match(name) or not _CONTAINER.match(target):
            raise HintError(f"{START_AFTER}: expected '<container>=<dependency>:START|HEALTHY', got {item!r}")
        if cond not in START_CONDITIONS:
            raise HintError(f"{START_AFTER}: the condition in {item!r} must be START or HEALTHY")
        if name == target:
            raise HintError(f"{START_AFTER}: container {name!r} cannot wait for itself")
        deps = out.setdefault(name, {})
        if target in deps and deps[target].condition != cond:
            raise HintError(f"{START_AFTER}: container {name!r} waits for {target!r} with two conditions")
        deps[target] = Dependency(target, cond)
    graph = {n: tuple(d.values()) for n, d in out.items()}
    _refuse_cycle(graph)
    return graph


def _refuse_cycle(graph: Mapping[str, Sequence[Dependency]]) -> None:
    done: set[str] = set()

    def visit(n: str, path: tuple[str, ...]) -> None:
        if n in path:
            cycle = " -> ".join((*path[path.index(n):], n))
            raise HintError(f"{START_AFTER}: the containers wait for each other ({cycle}), so none would start")
        if n in done:
            return
        for d in graph.get(n, ()):
            visit(d.container, (*path, n))
        done.add(n)

    for n in graph:
        visit(n, ())


def format_start_after(graph: Mapping[str, Sequence[Dependency]]) -> str:
    return ",".join(f"{n}={d.container}:{d.condition}" for n, deps in graph.items() for d in deps)
