"""The scheduling queue: priority order, back-off, unschedulable pods moved by cluster events."""

from __future__ import annotations

import asyncio

from shoal.scheduler.podinfo import pod_info
from shoal.scheduler.queue import SchedulingQueue
from tests.scheduler.helpers import pod


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def q() -> tuple[SchedulingQueue, Clock]:
    c = Clock()
    return SchedulingQueue(initial_backoff=1, max_backoff=10, unschedulable_timeout=300, clock=c), c


def info(name: str, priority: int = 0) -> object:
    return pod_info(pod(name, uid=name, priority=priority))


def test_priority_then_fifo() -> None:
    queue, clock = q()
    for name, prio in (("a", 0), ("b", 10), ("c", 0), ("d", 10)):
        queue.add(info(name, prio))  # type: ignore[arg-type]
        clock.t += 1
    order = []
    while (qp := queue.pop()) is not None:
        order.append(qp.pod.name)
    assert order == ["b", "d", "a", "c"]


def test_unschedulable_waits_for_an_event_then_backs_off() -> None:
    queue, clock = q()
    queue.add(info("a"))  # type: ignore[arg-type]
    qp = queue.pop()
    assert qp is not None
    queue.failed("a", unschedulable=True)
    assert queue.pop() is None and "a" in queue.unschedulable
    clock.t += 60
    assert queue.pop() is None  # no event, no retry (until the 5 minute safety net)
    queue.move_all()
    again = queue.pop()
    assert again is not None and again.attempts == 2
    queue.failed("a", unschedulable=True)
    queue.move_all()
    assert queue.pop() is None  # still backing off (2 s after the second attempt)
    clock.t += 2.5
    assert queue.pop() is not None


def test_event_during_the_attempt_is_not_lost() -> None:
    queue, clock = q()
    queue.add(info("a"))  # type: ignore[arg-type]
    assert queue.pop() is not None
    queue.move_all()  # a node was added while "a" was being decided
    queue.failed("a", unschedulable=True)
    assert "a" not in queue.unschedulable and queue.backoff_count == 1
    clock.t += 1.1
    assert queue.pop() is not None


def test_stale_unschedulable_retried_and_errors_back_off_exponentially() -> None:
    queue, clock = q()
    queue.add(info("a"))  # type: ignore[arg-type]
    queue.pop()
    queue.failed("a", unschedulable=True)
    clock.t += 301
    assert queue.pop() is not None
    delays = []
    for _ in range(6):
        queue.failed("a", unschedulable=False)
        start = clock.t
        while queue.pop() is None:
            clock.t += 0.5
        delays.append(clock.t - start)
    assert delays[0] < delays[1] < delays[2] and max(delays) <= 10.5


def test_update_and_delete() -> None:
    queue, _ = q()
    queue.add(info("a"))  # type: ignore[arg-type]
    queue.pop()
    queue.failed("a", unschedulable=True)
    queue.update(info("a"))  # type: ignore[arg-type] # status only: stays put
    assert queue.pop() is None
    queue.add(info("a", 5))  # type: ignore[arg-type] # spec changed: try again (after back-off)
    assert "a" not in queue.unschedulable
    queue.delete("a")
    assert len(queue) == 0 and queue.pop() is None


async def test_wait_wakes_on_add() -> None:
    queue, _ = q()
    waiter = asyncio.create_task(queue.wait(5))
    await asyncio.sleep(0.01)
    queue.add(info("a"))  # type: ignore[arg-type]
    await asyncio.wait_for(waiter, 1)
    assert queue.pop() is not None


def test_the_safety_net_looks_at_most_once_a_second() -> None:
    queue, clock = q()
    queue.add(info("a"))  # type: ignore[arg-type]
    queue.pop()
    queue.failed("a", unschedulable=True)  # at 100: stale from 400
    clock.t = 399.9
    assert queue.pop() is None  # looked: not stale yet; the next look is at 400.9
    clock.t = 400.2
    assert queue.pop() is None  # stale, but not looked at again yet
    clock.t = 400.9
    assert queue.pop() is not None
