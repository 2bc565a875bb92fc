"""The lease decision and the leader's deadline: table tests, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shoal.leader.lease import (
    Action,
    ElectionConfig,
    LeaseRecord,
    Observation,
    decide,
    leading,
    micro_time,
    parse_duration,
    record_of,
    released,
    spec_of,
)

WALL = datetime(2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC)
STAMP = "2026-12-06T10:00:00.123456Z"
OLD = "2026-12-06T09:59:00.000000Z"
ME, OTHER = "host_me", "host_other"


def rec(holder: str, *, duration: int = 3, renew: str = OLD, transitions: int = 0) -> LeaseRecord:
    return LeaseRecord(holder, duration, OLD, renew, transitions)


# (case, now, current, observed, expected action, expected transitions written, expires_in)
CASES = [
    ("no lease: create it", 10.0, None, None, Action.CREATE, 0, 0.0),
    ("ours: renew", 10.0, rec(ME, transitions=4), None, Action.RENEW, 4, 0.0),
    ("ours, never observed before (a restart with the same identity): renew", 10.0, rec(ME), None,
     Action.RENEW, 0, 0.0),
    ("another's, first sight: wait the whole duration", 10.0, rec(OTHER), None, Action.WAIT, None, 3.0),
    ("another's, unchanged since 1 s ago: wait 2 s more", 10.0, rec(OTHER), Observation(rec(OTHER), 9.0),
     Action.WAIT, None, 2.0),
    ("another's, unchanged for exactly the duration: take it", 12.0, rec(OTHER),
     Observation(rec(OTHER), 9.0), Action.ACQUIRE, 1, 0.0),
    ("another's, unchanged for longer: take it, one more transition", 20.0, rec(OTHER, transitions=2),
     Observation(rec(OTHER, transitions=2), 9.0), Action.ACQUIRE, 3, 0.0),
    ("another's, renewed since our last look: the clock starts again", 20.0, rec(OTHER, renew=STAMP),
     Observation(rec(OTHER), 9.0), Action.WAIT, None, 3.0),
    ("another's, new holder since our last look: the clock starts again", 20.0, rec("host_third"),
     Observation(rec(OTHER), 9.0), Action.WAIT, None, 3.0),
    ("released (empty holder): take it at once", 10.0, rec(""), None, Action.ACQUIRE, 1, 0.0),
    ("a longer lease in the record is honoured", 14.0, rec(OTHER, duration=15), Observation(rec(OTHER, duration=15), 9.0),
     Action.WAIT, None, 10.0),
]


@pytest.mark.parametrize(("case", "now", "current", "observed", "action", "transitions", "expires_in"), CASES,
                         ids=[c[0] for c in CASES])
def test_decide(case: str, now: float, current: LeaseRecord | None, observed: Observation | None,
                action: Action, transitions: int | None, expires_in: float) -> None:
    d = decide(now=now, current=current, observed=observed, identity=ME, wall_now=WALL, lease_seconds=3)
    assert d.action is action
    assert d.expires_in == pytest.approx(expires_in)
    if transitions is None:
        assert d.record is None
    else:
        assert d.record is not None
        assert d.record.holder == ME
        assert d.record.transitions == transitions
        assert d.record.renew_time == STAMP
        assert d.record.duration == 3
        # acquiring stamps a new acquireTime; renewing keeps the one of the term
        assert d.record.acquire_time == (OLD if action is Action.RENEW else STAMP)
    if current is not None:
        assert d.observation is not None and d.observation.record == current


def test_observation_keeps_first_sighting_while_unchanged() -> None:
    first = decide(now=5.0, current=rec(OTHER), observed=None, identity=ME, wall_now=WALL, lease_seconds=3)
    again = decide(now=6.0, current=rec(OTHER), observed=first.observation, identity=ME, wall_now=WALL,
                   lease_seconds=3)
    assert again.observation == first.observation and again.observation is not None
    assert again.observation.at == 5.0
    assert again.expires_in == pytest.approx(2.0)


# (renewed_at, now, deadline, leading?)
LEADING = [
    (None, 0.0, 2.0, False),        # never acquired
    (10.0, 10.0, 2.0, True),        # just renewed
    (10.0, 11.99, 2.0, True),
    (10.0, 12.0, 2.0, False),       # the deadline itself: no longer
    (10.0, 30.0, 2.0, False),       # thawed 20 s after a SIGSTOP: not leading, before any write
]


@pytest.mark.parametrize(("renewed_at", "now", "deadline", "expected"), LEADING)
def test_leading(renewed_at: float | None, now: float, deadline: float, expected: bool) -> None:
    assert leading(now, renewed_at, deadline) is expected


def test_leader_stops_before_others_may_start() -> None:
    """For every send time, the leader's last moment precedes the first moment another may take over."""
    cfg = ElectionConfig()
    for sent in (0.0, 0.4, 7.25):
        observed_by_other = sent + 0.001  # another sees the renewal only after it was sent
        first_take_over = observed_by_other + cfg.lease_duration
        last_act = sent + cfg.renew_deadline
        assert last_act < first_take_over
        assert not leading(first_take_over, sent, cfg.renew_deadline)


@pytest.mark.parametrize(("cfg", "problem"), [
    (ElectionConfig(), None),
    (ElectionConfig(15, 10, 2), None),
    (ElectionConfig(2, 2, 0.5), "lease-duration must be greater than --leader-elect-renew-deadline"),
    (ElectionConfig(3, 0.5, 0.5), "renew-deadline must be greater than --leader-elect-retry-period"),
    (ElectionConfig(3, 2, 0), "retry-period must be greater than zero"),
])
def test_config_problems(cfg: ElectionConfig, problem: str | None) -> None:
    found = cfg.problems()
    if problem is None:
        assert found == []
    else:
        assert any(problem in p for p in found), found


def test_lease_seconds_round_up() -> None:
    assert ElectionConfig(2.5, 2, 0.5).lease_seconds == 3
    assert ElectionConfig(3, 2, 0.5).lease_seconds == 3
    assert ElectionConfig(0.6, 0.5, 0.1).lease_seconds == 1


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15.0), ("500ms", 0.5), ("1m30s", 90.0), ("2", 2.0), ("0.5", 0.5), ("1h", 3600.0), ("1.5s", 1.5),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "15x", "-1", "1s 2s", "abc"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_record_round_trip_and_release() -> None:
    r = LeaseRecord(ME, 3, OLD, STAMP, 7)
    lease = {"spec": spec_of(r)}
    assert record_of(lease) == r
    assert lease["spec"]["holderIdentity"] == ME and lease["spec"]["leaseDurationSeconds"] == 3
    gone = released(r, WALL)
    assert gone.holder == "" and gone.transitions == 7 and gone.duration == 1
    assert micro_time(WALL) == STAMP
    assert record_of({}) == LeaseRecord("", 0)
