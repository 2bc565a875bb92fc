"""DefaultBinder: bind through the API's ``pods/binding`` subresource.

The binder gets the I/O as a callable from the async worker, so this module
(like every plugin) imports nothing but the framework.
"""

from __future__ import annotations

from typing import Any

from shoal.scheduler.framework import SUCCESS, BindFn, Status
from shoal.scheduler.podinfo import PodInfo


class DefaultBinder:
    name = "DefaultBinder"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        pass

    async def bind(self, pod: PodInfo, node: str, do_bind: BindFn) -> Status:
        await do_bind(pod.namespace, pod.name, pod.uid, node)
        return SUCCESS
