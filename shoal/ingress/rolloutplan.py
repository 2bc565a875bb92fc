"""The Rollout step machine. Pure: a Rollout's spec, its status and what was observed in, the next status out.

Canary (``spec.strategy.canary``): a new pod template (its hash) becomes the
canary; its pods are made beside the stable ones, and the steps move traffic
by the proxy's weights, never by replica counts:

* ``setWeight: N`` sends N % of the stable Service's requests to the canary Service;
* ``pause: {duration: 30s}`` waits; ``pause: {}`` waits until promoted
  (``kubectl annotate rollout web shoal.io/promote=true``);
* ``analysis: {duration: 1m}`` passes once the canary has been watched that
  long with its numbers in bounds.

Throughout (from the first step on), the canary's own counters in the proxy
are checked against ``analysis`` (``maxErrorRate`` of 5xx, ``maxLatencyMs``,
once ``minRequests`` were seen): over a bound, the rollout aborts at once -
weight 0, the canary's pods scaled away, phase ``Degraded`` - and stays so for
that template (``kubectl annotate ... shoal.io/abort=true`` does the same by
hand). Metrics that cannot be read pause the rollout: it never promotes on
missing evidence. After the last step the canary becomes the stable version.

Blue-green (``spec.strategy.blueGreen``): the new template's pods come up
behind the preview Service; promotion points the active Service at them, and
the old pods stay for ``scaleDownDelaySeconds`` (so a quick rollback finds
them warm). When, as Argo Rollouts: as soon as the preview is ready by
default, ``autoPromotionSeconds`` after it is ready when set, and only by hand
(``shoal.io/promote``) with ``autoPromotionEnabled: false``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROMOTE = "shoal.io/promote"
ABORT = "shoal.io/abort"
HASH_LABEL = "rollouts-pod-template-hash"

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def seconds(text: object, default: float = 0.0) -> float:
    """``30s`` / ``1m`` / ``500ms`` / a number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(str(text or "").strip())
    if not m:
        return default
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


@dataclass(frozen=True, slots=True)
class Metrics:
    """The canary's traffic over the analysis interval, from the proxy's counters."""

    requests: int
    errors: int  # HTTP 5xx
    latency_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class Observed:
    template_hash: str
    new_ready: bool  # the new template's pods are all ready
    promote: bool = False
    abort: bool = False
    metrics: Metrics | None = None  # None: the counters could not be read


@dataclass(frozen=True, slots=True)
class Decision:
    status: dict[str, Any]
    requeue_after: float | None = None
    consumed: tuple[str, ...] = ()  # annotations acted on, to remove
    events: tuple[tuple[str, str], ...] = field(default=())  # (reason, message)


def _ts(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _since(status: Mapping[str, Any], key: str, now: dt.datetime) -> float:
    raw = status.get(key)
    if not isinstance(raw, str):
        return 0.0
    try:
        t = dt.datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return 0.0
    return (now - t).total_seconds()


def _bad(metrics: Metrics, cfg: Mapping[str, Any]) -> str | None:
    if metrics.requests < int(cfg.get("minRequests") or 1):
        return None
    max_rate = cfg.get("maxErrorRate")
    if max_rate is not None and metrics.error_rate > float(max_rate):
        return f"canary 5xx rate {metrics.error_rate:.3f} over {float(max_rate):g}"
    max_ms = cfg.get("maxLatencyMs")
    if max_ms is not None and metrics.latency_ms > float(max_ms):
        return f"canary latency {metrics.latency_ms:.0f} ms over {max_ms} ms"
    return None


def plan_canary(spec: Mapping[str, Any], status: Mapping[str, Any], obs: Observed, now: dt.datetime) -> Decision:
    canary = (spec.get("strategy") or {}).get("canary") or {}
    steps = [s for s in canary.get("steps") or [] if isinstance(s, dict)]
    analysis = canary.get("analysis") or {}
    st = dict(status)
    h = obs.template_hash
    consumed = tuple(a for a, on in ((PROMOTE, obs.promote), (ABORT, obs.abort)) if on)

    def done(phase: str, message: str, **kw: Any) -> Decision:
        if phase == "Degraded":  # the canary's pods go; the aborted hash stays refused
            for k in ("canaryHash", "stepStartedAt", "currentStepIndex"):
                st.pop(k, None)
        st.update(phase=phase, message=message, canaryWeight=0, **kw)
        return Decision(st, None, consumed, events)

    events: tuple[tuple[str, str], ...] = ()
    if not st.get("stableHash") or h == st.get("stableHash"):
        st.pop("canaryHash", None)
        st.pop("stepStartedAt", None)
        st.pop("currentStepIndex", None)
        return done("Healthy", "stable", stableHash=h)
    if h == st.get("abortedHash"):
        return done("Degraded", str(st.get("message") or "aborted"))
    if st.get("canaryHash") != h:
        st.update(canaryHash=h, currentStepIndex=0, stepStartedAt=_ts(now), canaryWeight=0)
        events = (("Progressing", f"canary {h} started"),)
    if obs.abort:
        events = (("Aborted", "aborted by hand"),)
        return done("Degraded", "aborted by hand: traffic back on stable", abortedHash=h)
    if not obs.new_ready:
        st.update(phase="Progressing", message="waiting for the canary's pods", stepStartedAt=_ts(now))
        return Decision(st, 1.0, consumed, events)
    interval = seconds(analysis.get("interval"), 5.0)
    if analysis and int(st.get("canaryWeight") or 0) > 0:
        if obs.metrics is None:
            st.update(phase="Paused", message="analysis cannot read the canary's metrics: paused, not promoting")
            return Decision(st, interval, consumed, events)
        why = _bad(obs.metrics, analysis)
        if why is not None:
            events = (("Aborted", f"{why}: aborted, traffic back on stable"),)
            return done("Degraded", f"{why}: aborted", abortedHash=h)
    i = int(st.get("currentStepIndex") or 0)
    while i < len(steps):
        step = steps[i]
        if "setWeight" in step:
            st["canaryWeight"] = max(0, min(100, int(step["setWeight"])))
        elif "pause" in step:
            d = (step.get("pause") or {}).get("duration")
            if d is None:
                if not obs.promote:
                    st.update(phase="Paused", message=f"step {i}: paused until promoted", currentStepIndex=i)
                    return Decision(st, None, consumed, events)
            else:
                left = seconds(d) - _since(st, "stepStartedAt", now)
                if left > 0:
                    st.update(phase="Paused", message=f"step {i}: paused for {d}", currentStepIndex=i)
                    return Decision(st, left, consumed, events)
        elif "analysis" in step:
            if obs.metrics is None:
                st.update(phase="Paused", currentStepIndex=i,
                          message=f"step {i}: analysis cannot read the canary's metrics: paused, not promoting")
                return Decision(st, interval, consumed, events)
            left = seconds((step.get("analysis") or {}).get("duration"), interval) - _since(st, "stepStartedAt", now)
            if left > 0:
                st.update(phase="Progressing", message=f"step {i}: analysing", currentStepIndex=i)
                return Decision(st, min(left, interval), consumed, events)
        i += 1
        st.update(currentStepIndex=i, stepStartedAt=_ts(now))
        if "setWeight" in step:  # let the proxy take the weight before the next step's clock runs
            st.update(phase="Progressing", message=f"weight {st['canaryWeight']}")
            return Decision(st, 0.05, consumed, events)
    events = (*events, ("Promoted", f"canary {h} is now stable"))
    st.pop("canaryHash", None)
    st.pop("stepStartedAt", None)
    st.pop("currentStepIndex", None)
    return done("Healthy", "promoted", stableHash=h)


def plan_bluegreen(spec: Mapping[str, Any], status: Mapping[str, Any], obs: Observed, now: dt.datetime) -> Decision:
    bg = (spec.get("strategy") or {}).get("blueGreen") or {}
    st = dict(status)
    h = obs.template_hash
    consumed = tuple(a for a, on in ((PROMOTE, obs.promote), (ABORT, obs.abort)) if on)
    delay = float(bg.get("scaleDownDelaySeconds", 30))
    left = delay - _since(st, "switchedAt", now) if st.get("previousHash") else 0.0
    if st.get("previousHash") and left <= 0:
        st.pop("previousHash", None)
    requeue = left if left > 0 else None
    if not st.get("activeHash") or h == st.get("activeHash"):
        st.pop("previewHash", None)
        st.update(phase="Healthy", message="active", activeHash=h)
        return Decision(st, requeue, consumed)
    if h == st.get("abortedHash"):
        st.pop("previewHash", None)
        return Decision(st, requeue, consumed)
    if obs.abort:
        st.pop("previewHash", None)
        st.update(phase="Degraded", message="aborted by hand", abortedHash=h)
        return Decision(st, requeue, consumed, (("Aborted", "aborted by hand"),))
    if st.get("previewHash") != h:
        st.update(previewHash=h, previewSince=_ts(now))
    if not obs.new_ready:
        st.update(phase="Progressing", message="waiting for the preview's pods", previewSince=_ts(now))
        return Decision(st, 1.0, consumed)
    wait = promotion_wait(bg, _since(st, "previewSince", now))
    if obs.promote or (wait is not None and wait <= 0):
        st.update(previousHash=st["activeHash"], activeHash=h, switchedAt=_ts(now), phase="Healthy",
                  message="promoted: active switched")
        st.pop("previewHash", None)
        return Decision(st, delay, consumed, (("Promoted", f"{h} is active"),))
    st.update(phase="Paused", message="preview ready: waiting for promotion")
    return Decision(st, min(x for x in (wait, requeue, 3600.0) if x is not None), consumed)


def promotion_wait(bg: Mapping[str, Any], ready_for: float) -> float | None:
    """Seconds until a ready preview is promoted on its own (<= 0: now), ``None``: only by hand.

    Argo Rollouts' rules: ``autoPromotionEnabled`` (default true) false means a manual gate, and then
    ``autoPromotionSeconds`` is ignored (as Argo's controller does); else ``autoPromotionSeconds`` after
    the preview is ready, or at once without it."""
    if bg.get("autoPromotionEnabled") is False:
        return None
    auto = bg.get("autoPromotionSeconds")
    return float(auto) - ready_for if auto is not None else 0.0


def plan(spec: Mapping[str, Any], status: Mapping[str, Any], obs: Observed, now: dt.datetime) -> Decision:
    if (spec.get("strategy") or {}).get("blueGreen"):
        return plan_bluegreen(spec, status, obs, now)
    return plan_canary(spec, status, obs, now)


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that makes the stored status ``old`` into the plan's ``new``: a merge patch keeps every
    key it does not name, so a key the plan dropped (``previewHash`` after an abort, ``previousHash`` after
    the scale-down delay, ``canaryHash`` after a promotion) is sent as null."""
    return {**dict.fromkeys((k for k in old if k not in new), None), **new}


def replicas(spec: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, int]:
    """Replicas per template hash the Rollout wants (hashes not named: 0)."""
    n = int(spec.get("replicas", 1))
    want: dict[str, int] = {}
    for key in ("stableHash", "canaryHash", "activeHash", "previewHash", "previousHash"):
        h = status.get(key)
        if isinstance(h, str) and h:
            want[h] = n
    return want


def service_hashes(spec: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, str]:
    """Service name -> the template hash its selector should add."""
    strategy = spec.get("strategy") or {}
    if bg := strategy.get("blueGreen"):
        active = str(status.get("activeHash") or "")
        out = {str(bg["activeService"]): active}
        if bg.get("previewService"):
            out[str(bg["previewService"])] = str(status.get("previewHash") or active)
        return {k: h for k, h in out.items() if h}
    c = strategy.get("canary") or {}
    stable = str(status.get("stableHash") or "")
    out = {str(c.get("stableService")): stable, str(c.get("canaryService")): str(status.get("canaryHash") or stable)}
    return {k: h for k, h in out.items() if h and k != "None"}


def split(spec: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, int], ...]] | None:
    """(stable Service, its parts and weights) a canary Rollout asks of the proxy; None for blue-green."""
    c = (spec.get("strategy") or {}).get("canary")
    if not isinstance(c, dict) or not c.get("stableService") or not c.get("canaryService"):
        return None
    w = max(0, min(100, int(status.get("canaryWeight") or 0)))
    return str(c["stableService"]), ((str(c["stableService"]), 100 - w), (str(c["canaryService"]), w))
