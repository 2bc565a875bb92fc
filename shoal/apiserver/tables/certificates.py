"""CertificateSigningRequests and APIServices as ``kubectl get`` shows them.

A CSR's CONDITION is upstream's ``extractCSRStatus``: Denied over Approved over
Pending, then ``,Failed`` and ``,Issued``; REQUESTEDDURATION is the requested
``expirationSeconds`` as a human duration. An APIService shows ``Local`` or
``namespace/name`` for its SERVICE, and ``True`` or ``False (Reason)`` for
AVAILABLE (``Unknown`` without the condition).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shoal.api import views
from shoal.apiserver.tables.duration import human_duration
from shoal.apiserver.tables.fields import NONE, Obj, age_of, as_dict, as_list, as_str, dig
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

CSR_COLUMNS = (
    name_column(),
    age_column(),
    Column("SignerName", description="signerName indicates the requested signer, and is a qualified name."),
    Column("Requestor", description="request contains an x509 certificate signing request encoded in a "
                                    "\"CERTIFICATE REQUEST\" PEM block."),
    Column("RequestedDuration", description="expirationSeconds is the requested duration of validity of the "
                                            "issued certificate."),
    Column("Condition", description="conditions applied to the request. Known conditions are \"Approved\", "
                                    "\"Denied\", and \"Failed\"."),
)


def csr_condition(obj: Obj) -> str:
    types = {as_str(as_dict(c).get("type")) for c in as_list(dig(obj, "status", "conditions"))}
    out = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
    if "Failed" in types:
        out += ",Failed"
    if dig(obj, "status", "certificate"):
        out += ",Issued"
    return out


def csr_row(obj: Obj, now: datetime) -> list[Cell]:
    seconds = dig(obj, "spec", "expirationSeconds")
    duration = human_duration(timedelta(seconds=seconds)) if isinstance(seconds, int) else NONE
    return [
        views.name(obj),
        age_of(obj, now),
        as_str(dig(obj, "spec", "signerName")) or NONE,
        as_str(dig(obj, "spec", "username")),
        duration,
        csr_condition(obj),
    ]


APISERVICE_COLUMNS = (
    name_column(),
    Column("Service", description="The reference to the service that hosts this API endpoint."),
    Column("Available", description="Whether this service is available."),
    age_column(),
)


def apiservice_row(obj: Obj, now: datetime) -> list[Cell]:
    svc = dig(obj, "spec", "service")
    service = "Local" if not isinstance(svc, dict) else f"{as_str(svc.get('namespace'))}/{as_str(svc.get('name'))}"
    available = "Unknown"
    for raw in as_list(dig(obj, "status", "conditions")):
        c = as_dict(raw)
        if c.get("type") == "Available":
            st = as_str(c.get("status"))
            available = st if st == "True" else f"{st} ({as_str(c.get('reason'))})"
    return [views.name(obj), service, available, age_of(obj, now)]


PRINTERS = {
    "CertificateSigningRequest": Printer(CSR_COLUMNS, csr_row),
    "APIService": Printer(APISERVICE_COLUMNS, apiservice_row),
}
