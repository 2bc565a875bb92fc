"""When a running agent replaces its node certificate: upstream's kubelet rule, as pure functions.

The kubelet's certificate manager (client-go ``util/certificate``) renews its
client certificate while it runs, at a point drawn between 70 % and 90 % of
the certificate's whole lifetime (``notBefore`` to ``notAfter``): late enough
that a certificate is used for most of its life, early enough that a server
down for a while, or a few failed attempts, still leave time, and spread so
that nodes that joined together do not all come back together. A failed
attempt is tried again after 2, 4, 8, 16 and 32 seconds, then every 32
seconds, with the old certificate in use until it expires.

shoal draws that point not from a fresh random number each time but from the
certificate's serial (random, 128 bits, made by the CA): the spread is the
same, and the deadline of one certificate is the same every time it is
reckoned, in a restarted agent or a replayed test (docs/decisions.md).

Everything here is pure: times and a jitter in, a deadline or a plan out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

EARLIEST = 0.7  # of the lifetime: the earliest rotation point
SPREAD = 0.2  # the jitter's share: the latest point is EARLIEST + SPREAD = 90 %
RETRY_FIRST = 2.0  # seconds before the first retry of a failed renewal (upstream's backoff)
RETRY_FACTOR = 2.0
RETRY_STEPS = 5  # 2, 4, 8, 16, 32 ...
RETRY_MAX = 32.0  # ... then every 32 s, as the kubelet's PollInfinite(32s)


@dataclass(frozen=True, slots=True)
class Validity:
    """The two times of a certificate that decide its renewal."""

    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True, slots=True)
class Wait:
    """Keep the certificate in hand; look again at ``until``."""

    until: dt.datetime


@dataclass(frozen=True, slots=True)
class Renew:
    """Ask for a new certificate now; ``expired``: the one in hand no longer authenticates, so the join
    token must (as at a restart)."""

    why: str
    expired: bool = False


def rotation_deadline(v: Validity, jitter: float) -> dt.datetime:
    """The moment to renew: ``EARLIEST`` + ``SPREAD`` x ``jitter`` (in [0, 1)) of the way from notBefore to
    notAfter (upstream's ``nextRotationDeadline``: 80 % +/- 10 %)."""
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter {jitter} is not in [0, 1)")
    return v.not_before + (v.not_after - v.not_before) * (EARLIEST + SPREAD * jitter)


def jitter_of(serial: int) -> float:
    """A certificate's own jitter in [0, 1): its serial's low 32 bits (random bits from the CA)."""
    return (serial & 0xFFFF_FFFF) / 2**32


def plan(v: Validity, jitter: float, now: dt.datetime) -> Wait | Renew:
    """Whether the certificate in hand is to be replaced now, and if not, until when it is kept."""
    if now >= v.not_after:
        return Renew(f"it expired at {v.not_after:%Y-%m-%d %H:%M:%S}Z", expired=True)
    deadline = rotation_deadline(v, jitter)
    if now >= deadline:
        return Renew(f"its rotation deadline {deadline:%Y-%m-%d %H:%M:%S}Z has passed "
                     f"(it expires {v.not_after:%Y-%m-%d %H:%M:%S}Z)")
    return Wait(deadline)


def retry_delay(failures: int) -> float:
    """Seconds before the next attempt after ``failures`` failed ones in a row (1: the first failure)."""
    if failures < 1:
        return 0.0
    if failures > RETRY_STEPS:
        return RETRY_MAX
    return min(RETRY_MAX, RETRY_FIRST * RETRY_FACTOR ** (failures - 1))


__all__ = ["Renew", "Validity", "Wait", "jitter_of", "plan", "retry_delay", "rotation_deadline"]
