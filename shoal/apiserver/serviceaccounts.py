"""Pods and their service accounts: upstream's ServiceAccount admission plugin. Pure.

Upstream's ``plugin/pkg/admission/serviceaccount`` does, for every pod create
(mirror pods aside):

* a pod that names no ``serviceAccountName`` runs as ``default``;
* the account it names must exist, else the create is refused:
  ``pods "web" is forbidden: error looking up service account ns/name:
  serviceaccount "name" not found``;
* unless ``automountServiceAccountToken: false`` (the pod's, else the
  account's), the pod gets a projected volume ``kube-api-access-<5 random>``
  (a bound token for the account, refreshed by the node; the cluster CA from
  the namespace's ``kube-root-ca.crt`` ConfigMap; the namespace from the
  downward API), mounted read-only at ``/var/run/secrets/kubernetes.io/serviceaccount``
  in every container and init container that does not mount something there
  already.

``admit(pod, account, suffix)`` decides and writes that into the pod; the
caller (``strategies.pod``) looks the account up and supplies the random suffix.
The volume is written as the API server's defaulting would leave it
(``defaultMode: 420``, ``fieldRef.apiVersion: v1``) since admission runs
after defaulting here.
"""

from __future__ import annotations

from typing import Any

DEFAULT_ACCOUNT = "default"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
ROOT_CA_KEY = "ca.crt"
TOKEN_SECONDS = 3607  # upstream's: an hour, plus a few seconds so that a client can tell it was defaulted
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class MissingAccount(Exception):
    """The pod names a service account that does not exist (the message is upstream's reason)."""


def account_name(pod: dict[str, Any]) -> str:
    """The service account the pod runs as (``default`` when it names none)."""
    spec = pod.get("spec") or {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_ACCOUNT)


def is_mirror(pod: dict[str, Any]) -> bool:
    return MIRROR_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})


def automount(pod: dict[str, Any], account: dict[str, Any]) -> bool:
    """The pod's ``automountServiceAccountToken`` if set, else the account's, else true."""
    own = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if own is not None:
        return bool(own)
    theirs = account.get("automountServiceAccountToken")
    return True if theirs is None else bool(theirs)


def access_volume(name: str) -> dict[str, Any]:
    """Upstream's ``kube-api-access-*`` projected volume, defaults applied."""
    return {"name": name, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": ROOT_CA_KEY, "path": ROOT_CA_KEY}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ]}}


def missing_message(namespace: str, name: str) -> str:
    return f'error looking up service account {namespace}/{name}: serviceaccount "{name}" not found'


def admit(pod: dict[str, Any], account: dict[str, Any] | None, suffix: str) -> None:
    """Default the pod's account and mount its token (in place); ``MissingAccount`` if ``account`` is None.

    ``account``: the ServiceAccount the pod names, as stored; ``suffix``: five random characters."""
    if is_mirror(pod):
        return
    spec = pod.setdefault("spec", {})
    name = account_name(pod)
    spec["serviceAccountName"] = name
    spec["serviceAccount"] = name
    if account is None:
        ns = str((pod.get("metadata") or {}).get("namespace") or "default")
        raise MissingAccount(missing_message(ns, name))
    if not automount(pod, account):
        return
    volume = VOLUME_PREFIX + suffix
    added = False
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            mounts = c.get("volumeMounts") or []
            if any(m.get("mountPath") == MOUNT_PATH for m in mounts):
                continue
            c["volumeMounts"] = [*mounts, {"name": volume, "readOnly": True, "mountPath": MOUNT_PATH}]
            added = True
    if added:
        spec["volumes"] = [*(spec.get("volumes") or []), access_volume(volume)]
