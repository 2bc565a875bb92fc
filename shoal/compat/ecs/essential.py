"""An essential container's exit stops its task: the loop that enforces it for standalone tasks.

A pod ends only when all its containers have, so a RunTask pod (``restartPolicy:
Never``) whose essential container exited would keep its other containers
running; ECS stops the task. Every ``INTERVAL`` seconds this lists the
standalone ECS pods, asks the pure ``tasks.essential_exit`` about each, and
stops those it names (``EcsBackend.stop_standalone``: an active deadline of
one second, with ECS's stop code and reason). Level-triggered: a missed pass
is made up by the next. A service's pods need no help: their containers are
restarted in place (``restartPolicy: Always``), which is the replacement
ECS's service scheduler would start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from shoal.client import ApiException
from shoal.formats.ecs import names, tasks

if TYPE_CHECKING:
    from shoal.compat.ecs.backend import EcsBackend

log = logging.getLogger("shoal.compat.ecs")
INTERVAL = 1.0
SELECTOR = f"{names.MANAGED_BY}={names.MANAGER},{names.STANDALONE_LABEL}=true"


async def sweep(backend: EcsBackend) -> int:
    """One pass; how many tasks it stopped."""
    pods = (await backend.client.list("pods", label_selector=SELECTOR)).get("items") or []
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
    while True:
        try:
            await sweep(backend)
        except ApiException as e:
            log.debug("ECS essential-container sweep: %s", e)
        except Exception:
            log.exception("ECS essential-container sweep failed")
        await asyncio.sleep(INTERVAL)
