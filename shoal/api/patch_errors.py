"""The ways a PATCH body can be refused, shared by every patch flavour; each carries its status.

The error says what went wrong, so it says how the API answers it: the HTTP
status and the ``Status.reason`` are attributes of the class, and the server
maps any of them to a ``Status`` in one place (never by reading the message).
As upstream's patch handler:

* ``PatchError``: the patch was understood as a patch type but is malformed or
  cannot be applied (bad JSON, a missing path, a malformed directive): 400
  BadRequest.
* ``PatchTestFailed``: a JSON-patch ``test`` operation did not hold: 422
  Invalid (the request was well formed; the object is not what it asserted).
* ``UnsupportedPatchError``: the content type is not one this module applies
  (e.g. server-side apply): 415 UnsupportedMediaType. It is a sibling of
  ``PatchError``, not a child, so catching one never swallows the other.
"""

from __future__ import annotations


class PatchError(ValueError):
    """A patch that cannot be applied; the message names the path at fault."""

    status_code = 400
    reason = "BadRequest"


class PatchTestFailed(PatchError):
    """A JSON-patch ``test`` operation that failed (the value differs, or its path is missing)."""

    status_code = 422
    reason = "Invalid"


class UnsupportedPatchError(ValueError):
    """A patch content type this module does not apply (e.g. server-side apply)."""

    status_code = 415
    reason = "UnsupportedMediaType"
