"""PATCH bodies: one entry point that picks the patch flavour from the content type.

The API server calls ``apply_patch(live_object_dict, body, content_type,
model=Model)`` and then decodes and validates the result like any update. The
live object is never mutated (the patch works on a copy), so a failed patch
leaves nothing half applied.

| content type                               | module            |
|--------------------------------------------|-------------------|
| ``application/json-patch+json``            | ``patch_json``    |
| ``application/merge-patch+json``           | ``patch_merge``   |
| ``application/strategic-merge-patch+json`` | ``patch_strategic`` |

``application/apply-patch+yaml`` (server-side apply) and anything else raise
``UnsupportedPatchError`` (HTTP 415); a patch that cannot apply raises
``PatchError`` (HTTP 400), or its subclass ``PatchTestFailed`` for a failed
``test`` operation (HTTP 422): each error carries its own ``status_code``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shoal.api.patch_errors import PatchError, PatchTestFailed, UnsupportedPatchError
from shoal.api.patch_json import apply_json_patch, copy_json
from shoal.api.patch_merge import apply_merge_patch
from shoal.api.patch_strategic import apply_strategic_merge_patch

__all__ = [
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "APPLY_PATCH",
    "SUPPORTED_PATCH_TYPES",
    "PatchError",
    "PatchTestFailed",
    "UnsupportedPatchError",
    "apply_patch",
    "decode_patch",
    "normalize_patch_type",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"  # server-side apply: not handled here
SUPPORTED_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


def normalize_patch_type(content_type: str) -> str:
    """``"Application/Merge-Patch+JSON; charset=utf-8"`` -> ``"application/merge-patch+json"``."""
    return content_type.split(";", 1)[0].strip().lower()


def decode_patch(body: bytes | bytearray | memoryview | str | Any) -> Any:
    """The patch as JSON values; bytes and str are parsed, anything else is taken as is."""
    if isinstance(body, bytes | bytearray | memoryview | str):
        try:
            return msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise PatchError(f"invalid JSON in patch body: {exc}") from None
    return body


def apply_patch(
    doc: dict[str, Any], patch: bytes | str | Any, patch_type: str, *, model: type | None
) -> dict[str, Any]:
    """Apply ``patch`` (bytes, str or decoded JSON) of ``patch_type`` to a copy of ``doc``.

    ``model`` is the msgspec Struct class of the object; strategic merge patch
    reads its patch metadata (without it every list is replaced, as in a merge
    patch). Returns the patched object as a new dict.
    """
    kind = normalize_patch_type(patch_type)
    if kind not in SUPPORTED_PATCH_TYPES:
        raise UnsupportedPatchError(
            f"unsupported patch type {patch_type!r}: accepted media types are "
            + ", ".join(SUPPORTED_PATCH_TYPES)
        )
    try:
        value = decode_patch(patch)
        target = copy_json(doc)
        if kind == JSON_PATCH:
            result = apply_json_patch(target, value)
        elif kind == MERGE_PATCH:
            if not isinstance(value, dict):
                raise PatchError(f"merge patch must be a JSON object, got {type(value).__name__}")
            result = apply_merge_patch(target, value)
        else:
            result = apply_strategic_merge_patch(target, value, model=model)
    except RecursionError:
        # every flavour walks the documents recursively; hundreds of levels is no real object
        raise PatchError("the patch or the patched object is nested too deeply") from None
    if not isinstance(result, dict):
        raise PatchError("the patched document is not a JSON object")
    return result
