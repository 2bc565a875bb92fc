"""An essential container's exit stops its task: the loop that enforces it for standalone tasks.

A pod ends only when all its containers have, so a RunTask pod (``restartPolicy:
Never``) whose essential container exited would keep its other containers
running; ECS stops the task. Every ``INTERVAL`` seconds this passes over the
standalone ECS pods, asks the pure ``tasks.essential_exit`` about each, and
stops those it names (``EcsBackend.stop_standalone``: an active deadline of
one second, with ECS's stop code and reason). Level-triggered: a missed pass
is made up by the next. A service's pods need no help: their containers are
restarted in place (``restartPolicy: Always``), which is the replacement
ECS's service scheduler would start.

The pods come from an informer (list once, then watch, with the label
selector), not from a list every second: every server runs this loop, and a
list per second read every pod in the cluster from the store (4.7 KB each)
and decoded it to ask the selector, on each server: with 9,000 pods, ~40 MB/s
out of etcd and ~20 % of a core per server (issue 19's write benchmark). The
watch's selector is first asked of the stored bytes (``apiserver.prefilter``),
so a pod that is not ECS's costs the server a substring search, not a decode.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from shoal.client import ApiException
from shoal.client.informer import Informer
from shoal.formats.ecs import names, tasks

if TYPE_CHECKING:
    from shoal.compat.ecs.backend import EcsBackend

log = logging.getLogger("shoal.compat.ecs")
INTERVAL = 1.0
Obj = dict[str, Any]
SELECTOR = f"{names.MANAGED_BY}={names.MANAGER},{names.STANDALONE_LABEL}=true"


async def sweep(backend: EcsBackend, pods: list[Obj]) -> int:
    """One pass over ``pods`` (the standalone ECS pods); how many tasks it stopped."""
    stopped = 0
    for p in pods:
        reason = tasks.essential_exit(p)
        if reason is None:
            continue
        try:
            await backend.stop_standalone(p, {names.STOPPED_REASON_ANNOTATION: reason,
                                              names.STOP_CODE_ANNOTATION: tasks.ESSENTIAL_EXITED})
            stopped += 1
        except Exception as e:  # the next pass retries
            log.warning("stopping ECS task %s/%s: %s", p["metadata"].get("namespace"), p["metadata"].get("name"), e)
    return stopped


async def run(backend: EcsBackend) -> None:
    pods = Informer(backend.client, "pods", label_selector=SELECTOR)
    pods.start()
    try:
        while True:
            if pods.synced:
                try:
                    await sweep(backend, pods.list())
                except ApiException as e:
                    log.debug("ECS essential-container sweep: %s", e)
                except Exception:
                    log.exception("ECS essential-container sweep failed")
            await asyncio.sleep(INTERVAL)
    finally:
        await pods.stop()
