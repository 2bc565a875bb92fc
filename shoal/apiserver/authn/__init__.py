"""Authentication: who a request is from.

``chain.Authenticator`` tries, in order, the client certificate of the TLS
connection (``x509``: CN = user, O = groups, signed by the cluster CA), the
static bearer tokens (the admin, node and in-process tokens, and
``--token-auth-file``, ``tokenfile``), service-account JWTs the server signed
(``serviceaccount``, over ``jwt``) and OIDC ID tokens from the configured
issuer (``oidc``). A request with no credentials is anonymous; one whose
credentials none of them accepts is answered 401.
"""
