"""A bearer token carried in a WebSocket subprotocol, as upstream's ``websocket`` authenticator reads it.

A browser cannot set ``Authorization`` on a WebSocket, so upstream accepts the
token as one of the offered subprotocols,
``base64url.bearer.authorization.k8s.io.<token in unpadded base64url>``,
beside a real one (``v5.channel.k8s.io``) that the server picks and echoes.
Only on a WebSocket upgrade, only one such protocol, and never alone (there
must be another protocol left to echo). Pure: headers in, token out.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

PREFIX = "base64url.bearer.authorization.k8s.io."
_RAW_URL = re.compile(r"[A-Za-z0-9_-]*")  # unpadded base64url (Go's RawURLEncoding), nothing else


class ProtocolTokenError(ValueError):
    """The subprotocols carry a token that cannot be used (the request is refused with a 401)."""


def bearer_token(upgrade: str | None, protocols: Iterable[str]) -> str | None:
    """The token in ``protocols`` (each a ``Sec-WebSocket-Protocol`` header value), or ``None``."""
    if (upgrade or "").lower() != "websocket":
        return None
    token: str | None = None
    others = 0
    for header in protocols:
        for p in header.split(","):
            p = p.strip()
            if not p.startswith(PREFIX):
                others += bool(p)
                continue
            if token is not None:
                raise ProtocolTokenError("multiple base64.bearer.authorization tokens specified")
            encoded = p[len(PREFIX):]
            if not _RAW_URL.fullmatch(encoded):
                raise ProtocolTokenError("invalid base64.bearer.authorization token encoding")
            try:
                token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise ProtocolTokenError("invalid base64.bearer.authorization token encoding") from None
    if not token:
        return None
    if not others:
        raise ProtocolTokenError("missing additional subprotocol")
    return token
