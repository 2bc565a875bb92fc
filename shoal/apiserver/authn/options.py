"""The authenticator ``shoal server`` runs with, from its options.

The static tokens (admin, node, in-process), ``--token-auth-file``, the
service-account signing key in the data dir (made at first start) and, with
``--oidc-issuer-url``, the OIDC issuer. A bad option stops the server with a
message naming it (``SystemExit``), before anything listens.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from shoal.apiserver.auth import TokenAuthenticator
from shoal.apiserver.authn import tokenfile
from shoal.apiserver.authn.chain import Authenticator
from shoal.apiserver.authn.oidc import OidcAuthenticator, OidcOptions
from shoal.apiserver.authn.serviceaccount import ServiceAccountTokens, load_or_create_key


def oidc_options(extra: Mapping[str, object]) -> OidcOptions | None:
    issuer = extra.get("oidc_issuer_url")
    if not issuer:
        return None
    prefix = extra.get("oidc_username_prefix")
    return OidcOptions(
        issuer_url=str(issuer), client_id=str(extra.get("oidc_client_id") or ""),
        username_claim=str(extra.get("oidc_username_claim") or "sub"),
        username_prefix=str(prefix) if prefix is not None else None,
        groups_claim=str(extra.get("oidc_groups_claim") or ""), groups_prefix=str(extra.get("oidc_groups_prefix") or ""),
        ca_file=str(extra["oidc_ca_file"]) if extra.get("oidc_ca_file") else None)


def authenticator(tokens: TokenAuthenticator, extra: Mapping[str, object], *, sa_key: Path) -> Authenticator:
    path = extra.get("token_auth_file")
    if path:
        try:
            for token, user in tokenfile.parse(Path(str(path)).read_text()).items():
                tokens.add(token, user)
        except (OSError, tokenfile.TokenFileError) as e:
            raise SystemExit(f"shoal server: --token-auth-file {path}: {e}") from None
    oidc = None
    opts = oidc_options(extra)
    if opts is not None:
        try:
            oidc = OidcAuthenticator(opts)
        except ValueError as e:
            raise SystemExit(f"shoal server: {e}") from None
    return Authenticator(tokens, service_accounts=ServiceAccountTokens(load_or_create_key(sa_key)), oidc=oidc)
