"""PriorityClasses (scheduling.k8s.io/v1): one global default, and the system classes stay.

Upstream's Priority admission plugin refuses (403) a second ``globalDefault``
class and the deletion of ``system-node-critical`` / ``system-cluster-critical``,
which the server creates at start. The classes are answered from the
``PriorityClassCache`` (``shoal.apiserver.priority``), kept current by writes.
"""

from __future__ import annotations

from typing import Any

from shoal.api.registry import ResourceInfo
from shoal.apiserver import priority
from shoal.apiserver.strategies.base import DefaultStrategy


class PriorityClassStrategy(DefaultStrategy):
    def __init__(self, info: ResourceInfo, classes: priority.PriorityClassCache) -> None:
        super().__init__(info)
        self.classes = classes

    async def admit_create(self, ns: str | None, obj: dict[str, Any], data: dict[str, Any]) -> None:
        await priority.check_one_default(self.classes, obj)

    async def admit_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        await priority.check_one_default(self.classes, obj)

    def admit_delete(self, obj: dict[str, Any]) -> None:
        priority.check_deletable(obj)
