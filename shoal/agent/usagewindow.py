"""A short window of usage samples per container, and the rates the metrics API reports.

The kernel keeps cumulative CPU time; "how many cores does it use now" is the
difference of two samples over the time between them, which is why
metrics-server reports a ``window`` beside every figure. The agent samples
every few seconds and keeps the last few samples per container (``Window``);
a rate is taken over the whole window (oldest to newest), which smooths a
burst without lagging more than the window. Memory is a gauge: the newest
sample's working set.

The ``simulated`` driver runs nothing, so its usage is synthetic and
configurable: a pod's annotation ``sim.shoal.io/cpu-usage`` (``250m``, or per
container ``web=250m,side=10m``) and ``sim.shoal.io/memory-usage`` (``64Mi``,
same forms) set the rate, else the agent's defaults. ``SyntheticCpu``
integrates that rate over time into a cumulative counter, so simulated
containers feed the same window (and Prometheus counters) as real ones, and an
annotation change shows up within one window, deterministically.

Pure: samples carry their own timestamps (a monotonic clock the caller reads).
"""

from __future__ import annotations

import collections
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from shoal.api.quantity import InvalidQuantity, parse_quantity

SIM_CPU_USAGE = "sim.shoal.io/cpu-usage"
SIM_MEMORY_USAGE = "sim.shoal.io/memory-usage"
DEFAULT_SAMPLES = 3


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # monotonic seconds
    cpu_ns: int  # cumulative CPU time
    memory_bytes: int  # working set now


@dataclass(frozen=True, slots=True)
class Rate:
    """What the metrics API says of one container (or node): cores as nanocores, bytes, over a window."""

    cpu_nanocores: int
    memory_bytes: int
    window: float  # seconds between the samples the rate is taken over
    at: float  # the newest sample's time


def rate_of(samples: Iterable[Sample]) -> Rate | None:
    """The rate over ``samples`` (oldest first); None with fewer than two, or no time between them."""
    seq = list(samples)
    if len(seq) < 2:
        return None
    first, last = seq[0], seq[-1]
    dt = last.at - first.at
    if dt <= 0:
        return None
    used = max(0, last.cpu_ns - first.cpu_ns)  # a restarted container's counter starts again: never negative
    return Rate(int(used / dt), last.memory_bytes, dt, last.at)


class Window:
    """The last ``size`` samples of each key; keys not sampled in a round are dropped by ``retain``."""

    def __init__(self, size: int = DEFAULT_SAMPLES) -> None:
        self.size = max(2, size)
        self._samples: dict[Hashable, collections.deque[Sample]] = {}

    def add(self, key: Hashable, sample: Sample) -> None:
        q = self._samples.get(key)
        if q is None:
            q = self._samples[key] = collections.deque(maxlen=self.size)
        elif q and sample.cpu_ns < q[-1].cpu_ns:  # the counter went back: a new cgroup under the same key
            q.clear()
        q.append(sample)

    def retain(self, keys: Iterable[Hashable]) -> None:
        keep = set(keys)
        for k in [k for k in self._samples if k not in keep]:
            del self._samples[k]

    def rate(self, key: Hashable) -> Rate | None:
        q = self._samples.get(key)
        return rate_of(q) if q is not None else None

    def latest(self, key: Hashable) -> Sample | None:
        q = self._samples.get(key)
        return q[-1] if q else None

    def __len__(self) -> int:
        return len(self._samples)


def per_container(value: str, container: str) -> str | None:
    """``250m`` (every container) or ``web=250m,side=10m`` (by name): the value for ``container``."""
    if "=" not in value:
        return value.strip() or None
    for part in value.split(","):
        name, _, v = part.partition("=")
        if name.strip() == container:
            return v.strip() or None
    return None


def _quantity(text: str | None) -> Fraction | None:
    if text is None:
        return None
    try:
        return parse_quantity(text)
    except InvalidQuantity:
        return None


def synthetic_usage(annotations: Mapping[str, str], container: str, *, default_cpu: Fraction,
                    default_memory: int) -> tuple[Fraction, int]:
    """The simulated (cores, working-set bytes) of one container, from its pod's annotations or the defaults."""
    cpu = _quantity(per_container(annotations.get(SIM_CPU_USAGE, ""), container))
    mem = _quantity(per_container(annotations.get(SIM_MEMORY_USAGE, ""), container))
    return (cpu if cpu is not None and cpu >= 0 else default_cpu,
            int(mem) if mem is not None and mem >= 0 else default_memory)


class SyntheticCpu:
    """Cumulative CPU counters of simulated containers, advanced at each one's current rate."""

    def __init__(self) -> None:
        self._state: dict[Hashable, tuple[float, int]] = {}  # key -> (last time, cumulative ns)

    def advance(self, key: Hashable, cores: Fraction, now: float) -> int:
        last, total = self._state.get(key, (now, 0))
        total += int(cores * Fraction(max(0.0, now - last)) * 1_000_000_000)
        self._state[key] = (now, total)
        return total

    def retain(self, keys: Iterable[Hashable]) -> None:
        keep = set(keys)
        for k in [k for k in self._state if k not in keep]:
            del self._state[k]
