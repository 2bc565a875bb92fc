"""The cyclic garbage collector's thresholds for shoal's long-running processes.

Why: informer caches and the watch cache hold hundreds of thousands of small
dicts, and CPython's default thresholds (700, 10, 10) run a young collection
every 700 allocations and a full one whenever the old generation grew by a
quarter, so a process that is filling its caches keeps scanning all of them.
Measured with a ``gc.callbacks`` probe in the scheduler benchmark (5,000 nodes,
20,000 pods, scheduler in its own process): the scheduler spent 6.0 s of a
~30 s run in the collector (17 full collections) and the API server 1.9 s;
with (50,000, 20, 10) pods were bound at 1,284/s against 960/s with the
defaults, one run each, one after the other. Reference counting still frees
everything acyclic at once; only garbage in cycles waits longer.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 10)


def tune() -> None:
    gc.set_threshold(*THRESHOLDS)


__all__ = ["THRESHOLDS", "tune"]
