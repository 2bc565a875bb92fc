"""The scheduler configuration file (``--scheduler-config``): profiles and plugin args.

The format is upstream's ``KubeSchedulerConfiguration``
(``kubescheduler.config.k8s.io/v1``), the part of it shoal implements::

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    profiles:
    - schedulerName: bin-packer
      plugins:
        score:
          disabled: [{name: NodeResourcesBalancedAllocation}]
          enabled: [{name: NodeResourcesFit, weight: 5}]
      pluginConfig:
      - name: NodeResourcesFit
        args: {scoringStrategy: {type: MostAllocated}}

``percentageOfNodesToScore`` (top level) limits how many feasible nodes are
scored (0: upstream's adaptive default, 10% of 5,000 nodes; 100: all).
Extension points: ``multiPoint`` (every point the plugin implements),
``preFilter``, ``filter``, ``postFilter``, ``score``, ``reserve``, ``preBind``,
``bind``; each with
``enabled`` (name, optional weight) and ``disabled`` (a name or ``*``).
Anything else is refused with a ``ConfigError`` naming the field, so a typo
does not silently run the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from shoal.scheduler.podinfo import DEFAULT_SCHEDULER

API_VERSIONS = ("kubescheduler.config.k8s.io/v1", "kubescheduler.config.k8s.io/v1beta3")
POINTS = ("multiPoint", "preFilter", "filter", "postFilter", "score", "reserve", "preBind", "bind")
IGNORED_POINTS = ("queueSort", "preScore", "permit", "postBind", "preEnqueue")


class ConfigError(ValueError):
    """The scheduler configuration cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class PluginSet:
    enabled: tuple[tuple[str, int | None], ...] = ()
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    scheduler_name: str = DEFAULT_SCHEDULER
    plugins: dict[str, PluginSet] = field(default_factory=dict)
    plugin_args: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    profiles: tuple[ProfileConfig, ...] = (ProfileConfig(),)
    percentage_to_score: int = 0  # 0: adaptive (upstream's default); 100: score every feasible node


def _plugin_set(raw: Any, where: str) -> PluginSet:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object with enabled/disabled")
    unknown = set(raw) - {"enabled", "disabled"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    enabled = []
    for i, p in enumerate(raw.get("enabled") or []):
        if not isinstance(p, Mapping) or not isinstance(p.get("name"), str):
            raise ConfigError(f"{where}.enabled[{i}]: needs a name")
        w = p.get("weight")
        if w is not None and (not isinstance(w, int) or isinstance(w, bool) or w < 0 or w > 100):
            raise ConfigError(f"{where}.enabled[{i}].weight: must be an integer 0..100, got {w!r}")
        enabled.append((str(p["name"]), w))
    disabled = []
    for i, p in enumerate(raw.get("disabled") or []):
        if not isinstance(p, Mapping) or not isinstance(p.get("name"), str):
            raise ConfigError(f"{where}.disabled[{i}]: needs a name")
        disabled.append(str(p["name"]))
    return PluginSet(tuple(enabled), tuple(disabled))


def _profile(raw: Any, i: int) -> ProfileConfig:
    where = f"profiles[{i}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected an object")
    name = raw.get("schedulerName") or DEFAULT_SCHEDULER
    if not isinstance(name, str):
        raise ConfigError(f"{where}.schedulerName: expected a string")
    plugins: dict[str, PluginSet] = {}
    for point, ps in (raw.get("plugins") or {}).items():
        if point in IGNORED_POINTS:
            continue
        if point not in POINTS:
            raise ConfigError(f"{where}.plugins.{point}: unknown extension point "
                              f"(supported: {', '.join(POINTS)})")
        plugins[point] = _plugin_set(ps, f"{where}.plugins.{point}")
    args: dict[str, dict[str, Any]] = {}
    for j, pc in enumerate(raw.get("pluginConfig") or []):
        if not isinstance(pc, Mapping) or not isinstance(pc.get("name"), str):
            raise ConfigError(f"{where}.pluginConfig[{j}]: needs a name")
        a = pc.get("args") or {}
        if not isinstance(a, Mapping):
            raise ConfigError(f"{where}.pluginConfig[{j}].args: expected an object")
        args[str(pc["name"])] = {k: v for k, v in a.items() if k not in ("apiVersion", "kind")}
    return ProfileConfig(name, plugins, args)


def parse_config(data: Any) -> SchedulerConfig:
    """A decoded configuration document as a ``SchedulerConfig``; raises ``ConfigError``."""
    if data is None:
        return SchedulerConfig()
    if not isinstance(data, Mapping):
        raise ConfigError("the scheduler configuration must be an object")
    api = data.get("apiVersion")
    if api is not None and api not in API_VERSIONS:
        raise ConfigError(f'apiVersion: unsupported value "{api}", expected {API_VERSIONS[0]}')
    kind = data.get("kind")
    if kind is not None and kind != "KubeSchedulerConfiguration":
        raise ConfigError(f'kind: expected KubeSchedulerConfiguration, got "{kind}"')
    raw_profiles = data.get("profiles") or [{}]
    if not isinstance(raw_profiles, list):
        raise ConfigError("profiles: expected a list")
    profiles = tuple(_profile(p, i) for i, p in enumerate(raw_profiles))
    names = [p.scheduler_name for p in profiles]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"profiles: duplicate schedulerName {dup[0]!r}")
    pct = data.get("percentageOfNodesToScore") or 0
    if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
        raise ConfigError(f"percentageOfNodesToScore: must be an integer 0..100, got {pct!r}")
    return SchedulerConfig(profiles, pct)


def load_config_text(text: str) -> SchedulerConfig:
    """Parse YAML or JSON text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}") from None
    return parse_config(data)
