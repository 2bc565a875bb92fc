"""Leader election decisions over a ``coordination.k8s.io/v1`` Lease: pure functions, no I/O.

The protocol is client-go's ``leaderelection`` (what kube-scheduler and
kube-controller-manager run), decided here as functions of (now, the Lease as
read, what this candidate saw of it before, its identity):

* A candidate never trusts another machine's clock. The Lease's ``renewTime``
  is informational; a Lease held by someone else expires ``leaseDurationSeconds``
  after the moment THIS candidate last saw its record change (``Observation``),
  by this candidate's monotonic clock. A holder that keeps renewing changes the
  record each time, so it never expires for the others.
* An empty ``holderIdentity`` (a leader that stepped down cleanly released it)
  may be taken at once.
* Taking and renewing are writes with the Lease's resourceVersion (the store's
  compare-and-swap): of two candidates that decide "acquire" together, one gets
  a 409 and reads again.
* A leader acts only while ``leading(now, renewed_at, renew_deadline)``: the
  time it SENT its last successful renewal plus the renew deadline. Others can
  take the Lease no earlier than the moment they observed that renewal (after
  it was sent) plus the lease duration; the renew deadline is shorter than the
  lease duration, so the leader stops acting before anyone else may start, and
  the difference is the margin for a write already on its way. The check is
  made against the monotonic clock, which keeps running while a process is
  frozen (SIGSTOP): a leader thawed after its deadline finds itself not leading
  before its first write, whatever it was doing when it froze.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# kube-scheduler's and kube-controller-manager's defaults (seconds)
UPSTREAM_LEASE_DURATION = 15.0
UPSTREAM_RENEW_DEADLINE = 10.0
UPSTREAM_RETRY_PERIOD = 2.0
# shoal's: a failover within 5 s (docs/decisions.md, "Leader election")
LEASE_DURATION = 3.0
RENEW_DEADLINE = 2.0
RETRY_PERIOD = 0.5


class Action(enum.Enum):
    CREATE = "create"  # no Lease yet: create it holding it
    ACQUIRE = "acquire"  # someone else's Lease expired (or was released): take it over
    RENEW = "renew"  # ours: write a fresh renewTime
    WAIT = "wait"  # someone else holds it and it has not expired for us


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """What a Lease's spec says (the parts election reads and writes)."""

    holder: str
    duration: int  # leaseDurationSeconds
    acquire_time: str = ""
    renew_time: str = ""
    transitions: int = 0


@dataclass(frozen=True, slots=True)
class Observation:
    """A record and when (this candidate's monotonic clock) it was first seen in this form."""

    record: LeaseRecord
    at: float


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    observation: Observation | None  # what to remember for the next round
    record: LeaseRecord | None = None  # what to write, for CREATE / ACQUIRE / RENEW
    expires_in: float = 0.0  # WAIT: seconds until the holder's lease runs out for us


@dataclass(frozen=True, slots=True)
class ElectionConfig:
    lease_duration: float = LEASE_DURATION
    renew_deadline: float = RENEW_DEADLINE
    retry_period: float = RETRY_PERIOD

    def problems(self) -> list[str]:
        """What is wrong with these durations (client-go's rules), as sentences; [] when fine."""
        out = []
        if self.retry_period <= 0:
            out.append("--leader-elect-retry-period must be greater than zero")
        if self.lease_duration <= self.renew_deadline:
            out.append("--leader-elect-lease-duration must be greater than --leader-elect-renew-deadline")
        if self.renew_deadline <= self.retry_period:
            out.append("--leader-elect-renew-deadline must be greater than --leader-elect-retry-period")
        return out

    @property
    def lease_seconds(self) -> int:
        """``leaseDurationSeconds`` is whole seconds: rounded up, never shorter than the configured one."""
        return max(1, int(-(-self.lease_duration // 1)))


def decide(*, now: float, current: LeaseRecord | None, observed: Observation | None, identity: str,
           wall_now: datetime, lease_seconds: int) -> Decision:
    """What a candidate called ``identity`` does next; see the module docstring."""
    stamp = micro_time(wall_now)
    if current is None:
        rec = LeaseRecord(identity, lease_seconds, stamp, stamp, 0)
        return Decision(Action.CREATE, None, rec)
    # the record as this candidate has watched it: unchanged keeps its first sighting's time
    seen = observed if observed is not None and observed.record == current else Observation(current, now)
    if current.holder == identity:
        rec = LeaseRecord(identity, lease_seconds, current.acquire_time or stamp, stamp, current.transitions)
        return Decision(Action.RENEW, seen, rec)
    remaining = seen.at + current.duration - now
    if current.holder and remaining > 0:
        return Decision(Action.WAIT, seen, expires_in=remaining)
    rec = LeaseRecord(identity, lease_seconds, stamp, stamp, current.transitions + 1)
    return Decision(Action.ACQUIRE, seen, rec)


def leading(now: float, renewed_at: float | None, renew_deadline: float) -> bool:
    """Whether a leader whose last successful renewal was sent at ``renewed_at`` may still act."""
    return renewed_at is not None and now < renewed_at + renew_deadline


# ---- the Lease object's fields --------------------------------------------------------------
def micro_time(t: datetime) -> str:
    """A ``MicroTime`` as the API writes it: ``2026-12-06T10:00:00.123456Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_of(lease: dict[str, Any]) -> LeaseRecord:
    spec = lease.get("spec") or {}
    return LeaseRecord(holder=str(spec.get("holderIdentity") or ""),
                       duration=int(spec.get("leaseDurationSeconds") or 0),
                       acquire_time=str(spec.get("acquireTime") or ""),
                       renew_time=str(spec.get("renewTime") or ""),
                       transitions=int(spec.get("leaseTransitions") or 0))


def spec_of(rec: LeaseRecord) -> dict[str, Any]:
    spec: dict[str, Any] = {"holderIdentity": rec.holder, "leaseDurationSeconds": rec.duration,
                            "leaseTransitions": rec.transitions}
    if rec.acquire_time:
        spec["acquireTime"] = rec.acquire_time
    if rec.renew_time:
        spec["renewTime"] = rec.renew_time
    return spec


def released(rec: LeaseRecord, wall_now: datetime) -> LeaseRecord:
    """The record a leader that steps down cleanly writes: no holder, so the next candidate need not wait
    (client-go's ``ReleaseOnCancel``)."""
    stamp = micro_time(wall_now)
    return LeaseRecord("", 1, stamp, stamp, rec.transitions)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float:
    """Seconds from a Go duration (``15s``, ``500ms``, ``1m30s``) or a plain number of seconds."""
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        pos, value = 0, 0.0
        for m in _DURATION.finditer(s):
            if m.start() != pos:
                break
            value += float(m.group(1)) * _UNIT[m.group(2)]
            pos = m.end()
        if pos != len(s) or not s:
            raise ValueError(f"invalid duration {text!r}: expected e.g. 3s, 500ms or 1m30s") from None
    if value < 0:
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    return value
