"""Why a node could not join a cluster, in a sentence that says which of its inputs was wrong.

``shoal agent --server URL --token T`` first asks the API for ``/api`` (so a
wrong URL, CA or token fails at once), then for the cluster's ID. Each way
this goes wrong has its own cause and its own fix: the server refused the
token (it is another cluster's, or mistyped); the server's certificate is not
signed by the CA given (the server is another cluster's, or ``--ca-file`` is);
the agent's data dir belongs to another cluster. ``explain`` maps the error a
client call raised to that sentence (None: nothing it knows, shown as is).
"""

from __future__ import annotations

import ssl

from shoal.client import ApiException


def _cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure in ``exc``'s chain (aiohttp keeps it in ``certificate_error``)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        inner = getattr(e, "certificate_error", None)  # aiohttp's error is a CertificateError itself, wrapping ssl's
        if isinstance(inner, ssl.SSLCertVerificationError):
            return inner
        if isinstance(e, ssl.SSLCertVerificationError):
            return e
        todo += [e.__cause__, e.__context__]
    return None


def explain(exc: BaseException, *, server: str, ca_file: str | None) -> str | None:
    if isinstance(exc, ApiException) and exc.status == 401:
        return (f"the server at {server} refused the token (401 Unauthorized): it is not a token of this "
                f"server's cluster (`shoal token` on the server prints its node token)")
    if isinstance(exc, ApiException) and exc.status == 403:
        return f"the server at {server} accepted the token but does not let it join nodes (403 Forbidden)"
    cert = _cert_error(exc)
    if cert is None:
        return None
    detail = getattr(cert, "verify_message", None) or str(cert)
    if ca_file:
        return (f"the certificate of the server at {server} is not signed by the CA in {ca_file} ({detail}): the "
                f"server belongs to another cluster than that CA (or --ca-file names another cluster's CA; the "
                f"cluster's is the server's <data-dir>/ca.crt)")
    return (f"the certificate of the server at {server} is not signed by a CA this machine trusts ({detail}): "
            f"give the cluster's CA with --ca-file (the server's <data-dir>/ca.crt)")
