"""The two ways a PATCH body can be refused, shared by every patch flavour.

``PatchError`` means the patch was understood as a patch type but cannot be
applied (bad JSON, a failed ``test``, a missing path, a malformed directive);
the API server answers it with 422/400. ``UnsupportedPatchError`` means the
content type is not one this module applies (the server answers 415). They are
siblings, not parent and child, so catching one never swallows the other.
"""

from __future__ import annotations


class PatchError(ValueError):
    """A patch that cannot be applied; the message names the path at fault."""


class UnsupportedPatchError(ValueError):
    """A patch content type this module does not apply (e.g. server-side apply)."""
