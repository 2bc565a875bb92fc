"""The node lifecycle controller's decisions, apart from its I/O: zones, disruption, rate. Pure.

Kubernetes guards against a false alarm with per-zone disruption states: if
most nodes of a zone stop reporting at once, the likelier story is that the
control plane (or the zone's network) is cut off, not that every machine died,
and evicting everything would empty a healthy cluster. So:

* ``Normal``: evict at the normal rate (one node's pods per ``1/rate`` s);
* ``PartialDisruption`` (more than 2 nodes and at least ``unhealthy_zone_threshold``
  of the zone not ready): evict at the secondary rate in large zones and not at
  all in small ones (``large_cluster_size_threshold`` nodes);
* ``FullDisruption`` (no ready node in the zone): the normal rate if other
  zones are fine, and nothing at all if every zone is fully disrupted (then the
  controller is the one cut off; it also lifts the taints it had set).

Shoal differs in two measured choices: the normal rate is 1 node/s, not 0.1,
because the target is a recovery within 10 s; and a node counts as not ready
for the zone census as soon as it misses its lease renewals for half the grace
period (a *suspect*), so nodes that went silent together are seen together
even though their last renewals were up to a renew interval apart; otherwise
the first of them to expire would be evicted before the others are counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NORMAL = "Normal"
PARTIAL = "PartialDisruption"
FULL = "FullDisruption"

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"


@dataclass(frozen=True, slots=True)
class EvictionPolicy:
    eviction_rate: float = 1.0  # nodes per second whose pods may be evicted, in a healthy zone
    secondary_eviction_rate: float = 0.01  # in a partially disrupted large zone
    unhealthy_zone_threshold: float = 0.55
    large_cluster_size_threshold: int = 50


def zone_of(labels: dict[str, str] | None) -> str:
    labels = labels or {}
    return f"{labels.get(REGION_LABEL, '')}:\x00:{labels.get(ZONE_LABEL, '')}"


def zone_state(ready: int, not_ready: int, *, threshold: float) -> str:
    """Upstream's ComputeZoneState."""
    if ready == 0 and not_ready > 0:
        return FULL
    if not_ready > 2 and not_ready / (ready + not_ready) >= threshold:
        return PARTIAL
    return NORMAL


def zone_states(census: Iterable[tuple[str, bool]], *, threshold: float) -> dict[str, tuple[str, int]]:
    """``(zone, ready)`` per node -> zone -> (state, zone size)."""
    counts: dict[str, list[int]] = {}
    for zone, ready in census:
        c = counts.setdefault(zone, [0, 0])
        c[0 if ready else 1] += 1
    return {z: (zone_state(r, n, threshold=threshold), r + n) for z, (r, n) in counts.items()}


def all_fully_disrupted(states: dict[str, tuple[str, int]]) -> bool:
    return bool(states) and all(s == FULL for s, _ in states.values())


def zone_rate(state: str, size: int, *, policy: EvictionPolicy, all_full: bool) -> float:
    """Nodes per second that may be tainted NoExecute in a zone in ``state``."""
    if state == NORMAL:
        return policy.eviction_rate
    if state == PARTIAL:
        return policy.secondary_eviction_rate if size > policy.large_cluster_size_threshold else 0.0
    return 0.0 if all_full else policy.eviction_rate


class TokenBucket:
    """Burst 1 at ``rate`` per second (upstream's RateLimitedTimedQueue limiter); time is passed in."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = 1.0
        self.last = now

    def set_rate(self, rate: float, now: float) -> None:
        self._refill(now)
        self.rate = rate

    def _refill(self, now: float) -> None:
        if self.rate > 0:
            self.tokens = min(1.0, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def try_take(self, now: float) -> bool:
        self._refill(now)
        if self.rate > 0 and self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
