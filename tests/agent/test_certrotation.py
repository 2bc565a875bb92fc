"""When a running agent renews its node certificate (``shoal.agent.certrotation``): tables, no I/O."""

from __future__ import annotations

import datetime as dt

import pytest

from shoal.agent.certrenewal import grace
from shoal.agent.certrotation import (
    Renew,
    Validity,
    Wait,
    jitter_of,
    plan,
    retry_delay,
    rotation_deadline,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
YEAR = Validity(T0, T0 + dt.timedelta(days=365))
TEN_S = Validity(T0, T0 + dt.timedelta(seconds=10))


@pytest.mark.parametrize(("v", "jitter", "deadline"), [
    (YEAR, 0.0, T0 + dt.timedelta(days=365 * 0.7)),  # the earliest: 70 % of the lifetime
    (YEAR, 0.5, T0 + dt.timedelta(days=365 * 0.8)),  # the middle: upstream's "80 % +/- 10 %"
    (YEAR, 0.999999, T0 + dt.timedelta(days=365 * 0.8999998)),  # just short of 90 %
    (TEN_S, 0.0, T0 + dt.timedelta(seconds=7)),
    (TEN_S, 0.25, T0 + dt.timedelta(seconds=7.5)),
    # a backdated certificate (notBefore five minutes before its issue) counts from notBefore, as upstream
    (Validity(T0 - dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=95)), 0.5, T0 + dt.timedelta(minutes=75)),
])
def test_the_rotation_deadline(v: Validity, jitter: float, deadline: dt.datetime) -> None:
    assert abs((rotation_deadline(v, jitter) - deadline).total_seconds()) < 1e-3


@pytest.mark.parametrize("jitter", [-0.1, 1.0, 1.5])
def test_a_jitter_outside_0_1_is_a_bug(jitter: float) -> None:
    with pytest.raises(ValueError, match="not in"):
        rotation_deadline(YEAR, jitter)


@pytest.mark.parametrize(("v", "jitter", "now", "want"), [
    (TEN_S, 0.5, T0, Wait(T0 + dt.timedelta(seconds=8))),  # just issued: kept until its deadline
    (TEN_S, 0.5, T0 + dt.timedelta(seconds=7.9), Wait(T0 + dt.timedelta(seconds=8))),
    (TEN_S, 0.5, T0 + dt.timedelta(seconds=8), Renew),  # at the deadline: renewed with itself
    (TEN_S, 0.0, T0 + dt.timedelta(seconds=7.5), Renew),  # another jitter: an earlier deadline
    (TEN_S, 0.9, T0 + dt.timedelta(seconds=8.5), Wait(T0 + dt.timedelta(seconds=8.8))),
    (TEN_S, 0.5, T0 + dt.timedelta(seconds=10), "expired"),  # no longer authenticates: the join token must
    (TEN_S, 0.5, T0 + dt.timedelta(days=3), "expired"),
    (YEAR, 0.5, T0 + dt.timedelta(days=200), Wait(T0 + dt.timedelta(days=292))),
    (YEAR, 0.5, T0 + dt.timedelta(days=300), Renew),
])
def test_whether_the_certificate_in_hand_is_replaced_now(v: Validity, jitter: float, now: dt.datetime,
                                                         want: object) -> None:
    got = plan(v, jitter, now)
    if want is Renew:
        assert isinstance(got, Renew) and not got.expired and "rotation deadline" in got.why
    elif want == "expired":
        assert isinstance(got, Renew) and got.expired and "expired" in got.why
    else:
        assert isinstance(got, Wait) and isinstance(want, Wait)
        assert abs((got.until - want.until).total_seconds()) < 1e-3


def test_a_certificates_jitter_is_its_own_and_spread() -> None:
    serials = [0, 1, 2**31, 2**32 - 1, 2**32, 0x1234_5678_9ABC_DEF0_1122_3344_5566_7788]
    jitters = [jitter_of(s) for s in serials]
    assert all(0.0 <= j < 1.0 for j in jitters)
    assert jitters[:4] == [0.0, 1 / 2**32, 0.5, (2**32 - 1) / 2**32]
    assert jitter_of(2**32) == 0.0  # only the low 32 bits count
    assert jitter_of(serials[-1]) == jitter_of(serials[-1])  # the same every time it is reckoned


@pytest.mark.parametrize(("failures", "delay"), [(0, 0.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (5, 32.0),
                                                 (6, 32.0), (100, 32.0)])
def test_a_failed_renewal_is_retried_with_upstreams_backoff(failures: int, delay: float) -> None:
    assert retry_delay(failures) == delay


@pytest.mark.parametrize(("old", "now", "seconds"), [
    (YEAR, T0 + dt.timedelta(days=300), 30.0),  # plenty left: the connections may finish what they do
    (TEN_S, T0 + dt.timedelta(seconds=8), 2.0),  # they end when the certificate they were opened with expires
    (TEN_S, T0 + dt.timedelta(seconds=11), 0.0),  # already expired: closed at once
    (None, T0, 0.0),
])
def test_old_connections_never_outlive_their_certificate(old: Validity | None, now: dt.datetime,
                                                        seconds: float) -> None:
    assert abs(grace(old, now) - seconds) < 1e-6
