"""The registry of served resources: the built-in kinds, plus custom kinds as CRDs come and go.

One ``ServedKinds`` per API server is the only answer to "what does this server
serve now": routing looks paths up in it, discovery and the OpenAPI index list
it, and the server keeps a storage ``Resource`` and a watch cache per entry.
The static table (``shoal.api.kinds``) is its initial content and never
changes; custom kinds are added and removed as a set per CRD
(``set_custom(crd_name, infos)``), so a CRD update replaces its versions at
once. Every change bumps ``generation`` (what the derived documents cache on)
and tells the listeners, which is how discovery and OpenAPI follow a CRD
within the same event-loop turn that established it.

A custom kind never shadows a built-in one: ``set_custom`` refuses names a
built-in or another CRD already serves (the CRD's ``NamesAccepted`` condition
reports it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from shoal.api.crd.kind import custom_of, version_key
from shoal.api.registry import ResourceInfo

Key = tuple[str, str, str]  # (group, version, plural)


class ServedKinds:
    """What the server serves, by (group, version, plural); changes as CRDs are established or deleted."""

    def __init__(self, static: Iterable[ResourceInfo]) -> None:
        self._static: tuple[ResourceInfo, ...] = tuple(static)
        self._custom: dict[str, tuple[ResourceInfo, ...]] = {}
        self.generation = 0
        self.listeners: list[Callable[[], None]] = []
        self._rebuild()

    def _rebuild(self) -> None:
        every = [*self._static, *(i for infos in self._custom.values() for i in infos)]
        self._all = tuple(every)
        self._by_key: dict[Key, ResourceInfo] = {(r.group, r.version, r.plural): r for r in every}
        by_gv: dict[str, list[ResourceInfo]] = {}
        for r in self._static:
            by_gv.setdefault(r.group_version, []).append(r)
        # custom group versions after the built-in ones; within a group, the preferred version first
        custom = [i for infos in self._custom.values() for i in infos]
        groups = list(dict.fromkeys(i.group for i in custom))
        for g in groups:
            versions = sorted({i.version for i in custom if i.group == g}, key=version_key)
            for v in versions:
                by_gv[f"{g}/{v}"] = [i for i in custom if i.group == g and i.version == v]
        self._by_gv = by_gv

    # ---- reads ---------------------------------------------------------------------------------
    def lookup(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_key.get((group, version, plural))

    def all(self) -> tuple[ResourceInfo, ...]:
        return self._all

    def by_group_version(self) -> dict[str, list[ResourceInfo]]:
        """Every served group version (built-in first, as discovery lists them) and its resources."""
        return self._by_gv

    def group_versions(self) -> list[str]:
        return list(self._by_gv)

    def is_static(self, group_version: str) -> bool:
        return any(r.group_version == group_version for r in self._static)

    def custom(self, crd_name: str) -> tuple[ResourceInfo, ...]:
        return self._custom.get(crd_name, ())

    def conflicts(self, crd_name: str, infos: Sequence[ResourceInfo]) -> list[str]:
        """Why ``infos`` cannot be served for ``crd_name``: names already taken by another kind."""
        out: list[str] = []
        for i in infos:
            for other in self._all:
                mine = custom_of(other)
                if mine is not None and mine.crd_name == crd_name:
                    continue
                if other.group != i.group:
                    continue
                if other.plural == i.plural:
                    out.append(f'"{i.plural}" is already in use')
                elif other.kind == i.kind:
                    out.append(f'"{i.kind}" is already in use')
        return list(dict.fromkeys(out))

    # ---- changes -------------------------------------------------------------------------------
    def set_custom(self, crd_name: str, infos: Sequence[ResourceInfo]) -> None:
        """Serve exactly ``infos`` for ``crd_name`` (replacing what it served before)."""
        if not infos:
            self.remove_custom(crd_name)
            return
        self._custom[crd_name] = tuple(infos)
        self._changed()

    def remove_custom(self, crd_name: str) -> None:
        if self._custom.pop(crd_name, None) is not None:
            self._changed()

    def _changed(self) -> None:
        self._rebuild()
        self.generation += 1
        for fn in list(self.listeners):
            fn()
