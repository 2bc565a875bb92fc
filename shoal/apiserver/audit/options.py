"""The auditor ``shoal server`` runs with, from its options (upstream's flags).

``--audit-policy-file`` (a ``audit.k8s.io/v1`` Policy, YAML or JSON) and
``--audit-log-path`` (a file, or ``-`` for standard output) turn auditing on;
either alone leaves it off, as upstream. ``--audit-log-maxsize`` (MB),
``--audit-log-maxbackup``, ``--audit-log-mode`` (blocking | batch) and
``--audit-log-buffer-size`` tune the log backend. A bad policy stops the server
with a message naming the file (``SystemExit``), before anything listens.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from shoal.apiserver.audit.logfile import LogBackend, RotatingFile
from shoal.apiserver.audit.policy import Policy, PolicyError, parse
from shoal.apiserver.audit.recorder import Auditor


def load_policy(path: str) -> Policy:
    try:
        doc = yaml.safe_load(Path(path).read_text())
        return parse(doc)
    except (OSError, yaml.YAMLError, PolicyError) as e:
        raise SystemExit(f"shoal server: --audit-policy-file {path}: {e}") from None


def auditor(extra: Mapping[str, object]) -> Auditor | None:
    policy_file, log_path = extra.get("audit_policy_file"), extra.get("audit_log_path")
    if not policy_file or not log_path:
        return None
    policy = load_policy(str(policy_file))
    sink = RotatingFile(str(log_path), max_size_mb=int(str(extra.get("audit_log_maxsize") or 0)),
                        max_backups=int(str(extra.get("audit_log_maxbackup") or 0)))
    try:
        backend = LogBackend(sink, mode=str(extra.get("audit_log_mode") or "blocking"),
                             buffer_size=int(str(extra.get("audit_log_buffer_size") or 10_000)))
    except ValueError as e:
        raise SystemExit(f"shoal server: {e}") from None
    return Auditor(policy, backend)
