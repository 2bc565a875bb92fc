"""Upstream's defaults for LimitRanges (``SetDefaults_LimitRangeItem``).

For a ``Container`` item, a limit it does not default is defaulted to its
``max``, a request it does not default to its ``default`` limit, and then to its
``min``: so a LimitRange that only says "at most 1 CPU" gives every container
a 1-CPU limit and request, as upstream's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.api.models.quota import LimitRange


def default_limit_range(lr: LimitRange) -> None:
    for item in (lr.spec.limits or []) if lr.spec is not None else []:
        if item.type != "Container":
            continue
        default = dict(item.default or {})
        request = dict(item.default_request or {})
        for k, v in (item.max or {}).items():
            default.setdefault(k, v)
        for k, v in default.items():
            request.setdefault(k, v)
        for k, v in (item.min or {}).items():
            request.setdefault(k, v)
        item.default = default or item.default
        item.default_request = request or item.default_request


DEFAULTERS: dict[type, Callable[[Any], None]] = {LimitRange: default_limit_range}
