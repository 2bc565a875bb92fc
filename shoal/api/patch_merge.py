"""JSON Merge Patch (RFC 7386): what ``kubectl label``, ``annotate`` and ``scale`` send.

The rules fit in one sentence: an object in the patch merges into the target
key by key, ``null`` deletes a key, and anything else (strings, numbers, lists)
replaces the target outright. Lists are never merged; that is the job of the
strategic merge patch.
"""

from __future__ import annotations

from typing import Any

from shoal.api.patch_json import copy_json

__all__ = ["apply_merge_patch"]


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Merge ``patch`` into ``target`` (which the caller owns and may be mutated).

    The patch itself is never mutated and shares no container with the result.
    """
    if not isinstance(patch, dict):
        return copy_json(patch)
    result: dict[str, Any] = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result
