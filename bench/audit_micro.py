"""The audit path of one create, in-process: what auditing costs a request without the server around it.

    .venv/bin/python bench/audit_micro.py [--creates N]

A policy of one rule (``level: Metadata``), a log file in a temporary
directory in blocking mode, and per create what the API server calls:
``begin``, ``received`` (the admin, ``POST /api/v1/namespaces/default/pods``),
``authorized``, ``log_request_object`` (the create's body), ``finish`` (201), with a turn of the event loop every 8
creates (the blocking mode writes a turn's lines when it ends). Prints the
best of 7 passes, in microseconds per create (two events), and the cost of
making one ResponseComplete line. Run it from two checkouts to compare
(docs/benchmarks.md, "Audit log at Metadata, made cheaper").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from multidict import CIMultiDict, CIMultiDictProxy  # noqa: E402

from shoal.apiserver.audit.logfile import LogBackend, RotatingFile, encode  # noqa: E402
from shoal.apiserver.audit.policy import Level, everything  # noqa: E402
from shoal.apiserver.audit.recorder import CURRENT, Auditor, AuditRequest, log_request_object  # noqa: E402
from shoal.apiserver.authn.user import ADMIN  # noqa: E402

PATH = "/api/v1/namespaces/default/pods"
BODY = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0"}, "spec": {"containers": []}}
HEADERS = CIMultiDictProxy(CIMultiDict([
    ("Host", "127.0.0.1:6443"), ("User-Agent", "python-requests/2.31"), ("Accept-Encoding", "gzip, deflate"),
    ("Accept", "*/*"), ("Connection", "keep-alive"), ("Authorization", "Bearer x"),
    ("Content-Type", "application/json"), ("Content-Length", "300")]))


async def creates(auditor: Auditor, n: int) -> AuditRequest:
    ar = None
    for i in range(n):
        ar = auditor.begin(method="POST", path=PATH, query_string="", headers=HEADERS, remote="127.0.0.1")
        auditor.received(ar, ADMIN, method="POST", path=PATH, watch="")
        auditor.authorized(ar, True, "")
        CURRENT.set(ar)  # as the server does, and its create handler with the body it decoded
        log_request_object(BODY)
        auditor.finish(ar, 201, None, method="POST", request_body=b"{}", response_body=b"{}")
        if i % 8 == 7:
            await asyncio.sleep(0)
    assert ar is not None
    return ar


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--creates", type=int, default=20_000)
    n = ap.parse_args().creates
    with tempfile.TemporaryDirectory(prefix="shoal-audit-micro-") as tmp:
        backend = LogBackend(RotatingFile(str(Path(tmp) / "audit.log")), mode="blocking")
        auditor = Auditor(everything(Level.METADATA), backend)
        await auditor.start()
        best = float("inf")
        for _ in range(7):
            t0 = time.perf_counter()
            last = await creates(auditor, n)
            await backend.flush()
            best = min(best, (time.perf_counter() - t0) / n)
        await auditor.stop()
    pending = (last, "ResponseComplete", time.time())
    line_us = min(timeit.repeat(lambda: encode(pending), number=20_000, repeat=7)) / 20_000
    print(json.dumps({"audit_us_per_create": round(best * 1e6, 1), "line_us": round(line_us * 1e6, 2)}))


if __name__ == "__main__":
    asyncio.run(main())
