"""Pod Security Standards (upstream's Pod Security admission), as pure checks over a pod spec.

A namespace chooses a level per mode with labels, as upstream:
``pod-security.kubernetes.io/enforce: baseline`` refuses pods that break the
Baseline standard, ``.../warn: restricted`` answers a ``Warning`` for pods that
break Restricted, ``.../audit`` puts upstream's annotations on the request's
audit event (``audit_annotations``: ``pod-security.kubernetes.io/audit-violations``
with what the pod would violate, and ``.../enforce-policy`` naming the level a
pod was checked against). ``privileged`` allows all; a
label with a value that is not a level is taken as ``restricted``, the strictest,
as upstream does. ``-version`` labels are accepted; every version is checked as
``latest``.

``check(level, spec, metadata)`` returns the failed checks, each as upstream
words it (``privileged (container "app" must not set securityContext.privileged=true)``),
and ``message`` joins them into ``violates PodSecurity "baseline:latest": ...``.
Workload objects (Deployments, Jobs ...) are checked through their pod
template for ``warn`` only, as upstream (their pods are what ``enforce`` refuses).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LABEL_PREFIX = "pod-security.kubernetes.io/"
LEVELS = ("privileged", "baseline", "restricted")
MODES = ("enforce", "audit", "warn")

BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                          "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                          "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                          "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                          "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
RESTRICTED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret")
_ALL_VOLUME_SOURCES = ("hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
                       "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
                       "vsphereVolume", "quobyte", "azureDisk", "portworxVolume", "photonPersistentDisk",
                       "scaleIO", "storageos", "image")
# kinds checked through their pod template, and where the template is
TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "podtemplates"): ("template",),
    ("", "replicationcontrollers"): ("spec", "template"),
    ("apps", "deployments"): ("spec", "template"),
    ("apps", "replicasets"): ("spec", "template"),
    ("apps", "statefulsets"): ("spec", "template"),
    ("apps", "daemonsets"): ("spec", "template"),
    ("batch", "jobs"): ("spec", "template"),
    ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True, slots=True)
class Policy:
    """A namespace's level per mode ("privileged" where no label says otherwise)."""

    enforce: str = "privileged"
    audit: str = "privileged"
    warn: str = "privileged"


def policy_of(labels: Mapping[str, str] | None) -> Policy:
    levels: dict[str, str] = {}
    for mode in MODES:
        value = (labels or {}).get(LABEL_PREFIX + mode)
        if value is None:
            continue
        levels[mode] = value if value in LEVELS else "restricted"
    return Policy(**levels)


def template_of(group: str, plural: str, obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    path = TEMPLATE_PATHS.get((group, plural))
    node: Any = obj
    for step in path or ():
        node = node.get(step) if isinstance(node, Mapping) else None
    return node if path and isinstance(node, Mapping) else None


def _names(names: list[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"container {quoted}" if len(names) == 1 else f"containers {quoted}"


def _containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
            *(spec.get("ephemeralContainers") or [])]


def _sc(c: Mapping[str, Any]) -> Mapping[str, Any]:
    return c.get("securityContext") or {}


def _baseline(spec: Mapping[str, Any], meta: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    cs = _containers(spec)
    psc = spec.get("securityContext") or {}
    host_process = [str(c.get("name")) for c in cs if (_sc(c).get("windowsOptions") or {}).get("hostProcess")]
    if (psc.get("windowsOptions") or {}).get("hostProcess") or host_process:
        out.append("hostProcess (pod or " + (_names(host_process) if host_process else "containers")
                   + " must not set securityContext.windowsOptions.hostProcess=true)")
    hostns = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    if hostns:
        out.append(f"host namespaces ({', '.join(hostns)})")
    privileged = [str(c.get("name")) for c in cs if _sc(c).get("privileged")]
    if privileged:
        out.append(f"privileged ({_names(privileged)} must not set securityContext.privileged=true)")
    caps: dict[str, list[str]] = {}
    for c in cs:
        for cap in ((_sc(c).get("capabilities") or {}).get("add") or []):
            if cap not in BASELINE_CAPABILITIES:
                caps.setdefault(str(c.get("name")), []).append(str(cap))
    if caps:
        parts = [f'{_names([n])} must not include {", ".join(f"{chr(34)}{x}{chr(34)}" for x in added)} '
                 "in securityContext.capabilities.add" for n, added in caps.items()]
        out.append(f"non-default capabilities ({'; '.join(parts)})")
    host_paths = [str(v.get("name")) for v in spec.get("volumes") or [] if v.get("hostPath") is not None]
    if host_paths:
        vols = ", ".join(f'"{n}"' for n in host_paths)
        out.append(f"hostPath volumes (volume{'s' if len(host_paths) > 1 else ''} {vols})")
    ports: list[str] = []
    for c in cs:
        used = [str(p.get("hostPort")) for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            ports.append(f'{_names([str(c.get("name"))])} uses hostPort{"s" if len(used) > 1 else ""} '
                         f'{", ".join(used)}')
    if ports:
        out.append(f"hostPort ({'; '.join(ports)})")
    bad_apparmor = [str(c.get("name")) for c in cs
                    if (_sc(c).get("appArmorProfile") or {}).get("type") == "Unconfined"]
    for key, value in (meta.get("annotations") or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and value == "unconfined":
            bad_apparmor.append(key.rpartition("/")[2])
    if (psc.get("appArmorProfile") or {}).get("type") == "Unconfined" or bad_apparmor:
        out.append("forbidden AppArmor profile" + (f" ({_names(bad_apparmor)} must not set an Unconfined profile)"
                                                   if bad_apparmor else ' (pod must not set an Unconfined profile)'))
    selinux: list[str] = []
    for who, opts in [("pod", psc.get("seLinuxOptions")),
                      *((_names([str(c.get("name"))]), _sc(c).get("seLinuxOptions")) for c in cs)]:
        if not opts:
            continue
        if opts.get("type", "") not in SELINUX_TYPES:
            selinux.append(f'{who} set forbidden securityContext.seLinuxOptions: type "{opts.get("type")}"')
        if opts.get("user") or opts.get("role"):
            selinux.append(f"{who} set forbidden securityContext.seLinuxOptions: user or role")
    if selinux:
        out.append(f"seLinuxOptions ({'; '.join(selinux)})")
    unmasked = [str(c.get("name")) for c in cs if _sc(c).get("procMount") not in (None, "Default")]
    if unmasked:
        out.append(f'procMount ({_names(unmasked)} must not set securityContext.procMount to "Unmasked")')
    unconfined = [str(c.get("name")) for c in cs if (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined"]
    pod_unconfined = (psc.get("seccompProfile") or {}).get("type") == "Unconfined"
    if pod_unconfined or unconfined:
        who = "pod" if pod_unconfined and not unconfined else (
            _names(unconfined) if not pod_unconfined else "pod and " + _names(unconfined))
        out.append(f'seccompProfile ({who} must not set securityContext.seccompProfile.type to "Unconfined")')
    sysctls = [str(s.get("name")) for s in psc.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    if sysctls:
        out.append(f"forbidden sysctls ({', '.join(sysctls)})")
    return out


def _restricted(spec: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    cs = _containers(spec)
    psc = spec.get("securityContext") or {}
    vols: list[str] = []
    for v in spec.get("volumes") or []:
        for source in _ALL_VOLUME_SOURCES:
            if v.get(source) is not None:
                vols.append(f'volume "{v.get("name")}" uses restricted volume type "{source}"')
    if vols:
        out.append(f"restricted volume types ({'; '.join(vols)})")
    escalating = [str(c.get("name")) for c in cs if _sc(c).get("allowPrivilegeEscalation") is not False]
    if escalating:
        out.append(f"allowPrivilegeEscalation != false ({_names(escalating)} must set "
                   "securityContext.allowPrivilegeEscalation=false)")
    caps_drop = [str(c.get("name")) for c in cs
                 if "ALL" not in ((_sc(c).get("capabilities") or {}).get("drop") or [])]
    caps_add: list[str] = []
    for c in cs:
        extra = [x for x in ((_sc(c).get("capabilities") or {}).get("add") or []) if x != "NET_BIND_SERVICE"]
        if extra:
            caps_add.append(f'{_names([str(c.get("name"))])} must not include '
                            f'{", ".join(chr(34) + str(x) + chr(34) for x in extra)} in '
                            "securityContext.capabilities.add")
    if caps_drop or caps_add:
        parts = ([f'{_names(caps_drop)} must set securityContext.capabilities.drop=["ALL"]'] if caps_drop else [])
        out.append(f"unrestricted capabilities ({'; '.join(parts + caps_add)})")
    pod_non_root = psc.get("runAsNonRoot") is True
    not_non_root = [str(c.get("name")) for c in cs
                    if _sc(c).get("runAsNonRoot") is False or (not pod_non_root and _sc(c).get("runAsNonRoot") is not True)]
    if not_non_root:
        out.append(f"runAsNonRoot != true (pod or {_names(not_non_root)} must set securityContext.runAsNonRoot=true)")
    root_users = [str(c.get("name")) for c in cs if _sc(c).get("runAsUser") == 0]
    if psc.get("runAsUser") == 0 or root_users:
        who = _names(root_users) if root_users else "pod"
        out.append(f"runAsUser=0 ({who} must not set runAsUser=0)")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")
    no_seccomp = [str(c.get("name")) for c in cs
                  if (_sc(c).get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost")
                  and not (pod_seccomp and (_sc(c).get("seccompProfile") or {}).get("type") is None)]
    if no_seccomp:
        out.append(f"seccompProfile (pod or {_names(no_seccomp)} must set securityContext.seccompProfile.type to "
                   '"RuntimeDefault" or "Localhost")')
    return out


def check(level: str, spec: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> list[str]:
    """The checks of ``level`` that a pod with this spec (and metadata) fails, upstream's words."""
    if level == "privileged":
        return []
    failed = _baseline(spec, meta or {})
    if level == "restricted":
        failed += _restricted(spec)
    return failed


ENFORCE_POLICY = LABEL_PREFIX + "enforce-policy"
AUDIT_VIOLATIONS = LABEL_PREFIX + "audit-violations"


def fully_privileged(policy: Policy) -> bool:
    return policy.enforce == policy.audit == policy.warn == "privileged"


def audit_annotations(policy: Policy, spec: Mapping[str, Any], meta: Mapping[str, Any] | None, *,
                      is_pod: bool) -> dict[str, str]:
    """What upstream's Pod Security admission adds to the audit event of a pod (or workload) it evaluates:
    the enforce level a pod was checked against, and what the pod would violate of the audit level."""
    if fully_privileged(policy):
        return {}
    out = {ENFORCE_POLICY: f"{policy.enforce}:latest"} if is_pod else {}
    failed = check(policy.audit, spec, meta)
    if failed:
        out[AUDIT_VIOLATIONS] = message(policy.audit, failed, warn=True)
    return out


def message(level: str, failed: Iterable[str], *, warn: bool = False) -> str:
    head = "would violate" if warn else "violates"
    return f'{head} PodSecurity "{level}:latest": {", ".join(failed)}'
