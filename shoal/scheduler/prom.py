"""The scheduler's Prometheus metrics, under kube-scheduler's names, read from its counters when scraped.

- ``scheduler_schedule_attempts_total{result,profile}``: scheduled, unschedulable, error;
- ``scheduler_scheduling_attempt_duration_seconds{result,profile}``: the decision's time (a
  histogram the scheduler observes once per attempt, the only cost on its path);
- ``scheduler_pending_pods{queue}``: active, backoff, unschedulable, from the queue when scraped.

In ``shoal server`` on two cores or more the scheduler is a process of its own
(``shoal.scheduler.main``): it serves this collector alone (its own registry, no
process or GC metrics that would collide with the server's) on a Unix socket
beside the API's, and the server's ``/metrics`` appends it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shoal.promlite import HistogramFamily

if TYPE_CHECKING:
    from shoal.scheduler.worker import Scheduler

_BUCKETS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
# not registered anywhere: the collector below yields it, in whichever registry the scheduler is in
ATTEMPT_DURATION = HistogramFamily("scheduler_scheduling_attempt_duration_seconds", "Scheduling attempt latency "
                                   "in seconds (scheduling algorithm + binding)", ["result", "profile"],
                                   buckets=_BUCKETS)


class SchedulerCollector(Collector):
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        s = self.scheduler
        m = s.metrics
        profile = ",".join(sorted(s.profiles)) or "default-scheduler"
        attempts = CounterMetricFamily("scheduler_schedule_attempts", "Number of attempts to schedule pods, by the "
                                       "result.", labels=["result", "profile"])
        attempts.add_metric(["scheduled", profile], float(m.scheduled))
        attempts.add_metric(["unschedulable", profile], float(m.unschedulable))
        attempts.add_metric(["error", profile], float(m.errors))
        yield attempts
        pending = GaugeMetricFamily("scheduler_pending_pods", "Number of pending pods, by the queue type.",
                                    labels=["queue"])
        active, backoff = s.queue.active_count, s.queue.backoff_count
        pending.add_metric(["active"], float(active))
        pending.add_metric(["backoff"], float(backoff))
        pending.add_metric(["unschedulable"], float(max(0, len(s.queue) - active - backoff)))
        yield pending
        yield from ATTEMPT_DURATION.collect()


def register_scheduler_metrics(scheduler: Scheduler, registry: CollectorRegistry = REGISTRY) -> SchedulerCollector:
    c = SchedulerCollector(scheduler)
    registry.register(c)
    return c
