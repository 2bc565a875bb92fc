"""Docker's JSON as it arrives: field names in any case, durations in nanoseconds.

Docker decodes request bodies with Go's ``encoding/json``, which matches field
names case-insensitively, so ``{"name": "web", "taskTemplate": ...}`` works as
well as the canonical ``Name`` / ``TaskTemplate``. ``canonical`` rewrites a
body's keys into Docker's spelling once, at the edge, so the translations only
ever read the canonical names. The values of map fields (``Labels``,
``Options``, ``Sysctls`` ...) are user data and are left alone.

``SpecError`` is the one error the translations raise: a request the API
refuses (Docker answers 400 with ``{"message": ...}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# every field name of the Swarm objects the API accepts (moby/api/types/swarm, container.HealthConfig, mount)
_FIELDS = """
ID Version Index CreatedAt UpdatedAt Name Labels Spec PreviousSpec Endpoint UpdateStatus ServiceStatus JobStatus
TaskTemplate Mode UpdateConfig RollbackConfig EndpointSpec Networks Replicated Global ReplicatedJob GlobalJob
Replicas MaxConcurrent TotalCompletions Parallelism Delay FailureAction Monitor MaxFailureRatio Order
ContainerSpec PluginSpec NetworkAttachmentSpec Resources RestartPolicy Placement LogDriver ForceUpdate Runtime
NanoCPUs MemoryBytes GenericResources Pids Limits Reservations SwapBytes MemorySwappiness Constraints Preferences
MaxReplicas Platforms Spread SpreadDescriptor Condition MaxAttempts Window Image Command Args Hostname Env Dir
User Groups Privileges Init StopSignal TTY OpenStdin ReadOnly Mounts StopGracePeriod Healthcheck Hosts DNSConfig
Secrets Configs Isolation Sysctls CapabilityAdd CapabilityDrop Ulimits OomScoreAdj Nameservers Search Options
Test Interval Timeout StartPeriod StartInterval Retries Type Source Target Consistency BindOptions VolumeOptions
TmpfsOptions SizeBytes NoCopy DriverConfig Subpath Propagation File SecretID SecretName ConfigID ConfigName UID
GID Data Driver Templating Ports Protocol TargetPort PublishedPort PublishMode VirtualIPs NetworkID Addr Aliases
DriverOpts Role Availability Description Status ManagerStatus Architecture OS Leader Reachability State Message
Err Timestamp DesiredState Slot NodeID ServiceID Scope Attachable Internal IPv6Enabled Ingress IPAMOptions
ConfigFrom DriverConfiguration CheckDuplicate EnableIPv6 EnableIPv4 IPAM Config Subnet Gateway IPRange
RunningTasks DesiredTasks CompletedTasks
"""
_CANON: dict[str, str] = {f.lower(): f for f in _FIELDS.split()}
# fields whose value is a map of the user's own keys
_MAPS = frozenset({"Labels", "Options", "Sysctls", "DriverOpts"})

SECOND = 1_000_000_000


class SpecError(ValueError):
    """A request the Swarm API refuses; ``status`` is the HTTP status Docker answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def canonical(value: Any) -> Any:
    """``value`` with every known field name in Docker's spelling (a new structure; input untouched)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = _CANON.get(str(k).lower(), str(k))
            out[key] = dict(v) if key in _MAPS and isinstance(v, Mapping) else canonical(v)
        return out
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def obj(value: object, what: str) -> dict[str, Any]:
    """``value`` as a JSON object (absent -> empty), else a ``SpecError`` naming ``what``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"invalid {what}: expected an object, got {type(value).__name__}")
    return value


def strs(value: object, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"invalid {what}: expected a list of strings")
    return list(value)


def str_map(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise SpecError(f"invalid {what}: expected an object of strings")
    return {str(k): v for k, v in value.items()}


def integer(value: object, what: str, *, minimum: int = 0) -> int:
    if value is None:
        return minimum if minimum > 0 else 0
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise SpecError(f"invalid {what}: expected an integer, got {value!r}")
    if value < minimum:
        raise SpecError(f"invalid {what}: {value} is less than {minimum}")
    return int(value)


def duration(value: object, what: str) -> int:
    """A Go ``time.Duration`` as JSON: integer nanoseconds (0 when absent)."""
    return integer(value, what)


def seconds_ceil(ns: int) -> int:
    return -(-ns // SECOND)


def format_duration(ns: int) -> str:
    """Nanoseconds as Go prints a duration, for messages (``1m30s``, ``500ms``, ``0s``)."""
    if ns == 0:
        return "0s"
    if ns < SECOND:
        return f"{ns // 1_000_000}ms" if ns % 1_000_000 == 0 else f"{ns}ns"
    s, frac = divmod(ns, SECOND)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    tail = f"{sec}" + (f".{frac:09d}".rstrip("0") if frac else "") + "s"
    return (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + tail
