"""Kubernetes' human duration format, the text of every AGE cell.

kubectl users read ages such as ``45s``, ``3m20s``, ``5h`` or ``2d3h``; the
precision shrinks as the duration grows (about two significant figures).
This mirrors ``k8s.io/apimachinery/pkg/util/duration.HumanDuration`` exactly,
including its tolerance of up to two seconds of clock skew (``0s``) and
``<invalid>`` for anything further in the future.
"""

from __future__ import annotations

from datetime import timedelta

_US_PER_S = 1_000_000
_DAY_H = 24
_YEAR_H = 24 * 365


def human_duration(delta: timedelta) -> str:
    """Format ``delta`` as Kubernetes does (``90s``, ``2m``, ``5m30s``, ``3h``, ``2d3h``, ``3y45d``)."""
    micros = delta // timedelta(microseconds=1)
    # Go truncates toward zero when it turns a duration into whole seconds.
    seconds = abs(micros) // _US_PER_S * (1 if micros >= 0 else -1)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < _DAY_H * 8:
        rest = hours % _DAY_H
        days = hours // _DAY_H
        return f"{days}d" if rest == 0 else f"{days}d{rest}h"
    if hours < _YEAR_H * 2:
        return f"{hours // _DAY_H}d"
    if hours < _YEAR_H * 8:
        years = hours // _YEAR_H
        rest = (hours // _DAY_H) % 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // _YEAR_H}y"
