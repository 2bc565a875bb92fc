"""What each node may read: pods bound to it and the objects they reference (the Node authorizer's graph).

Upstream's Node authorizer keeps a graph of pods -> node, and secrets,
configmaps, claims, volumes and service accounts -> pods, fed by informers, and
asks whether a path leads from an object to the requesting node. This keeps
the same relation as counts: for each node, how many of its pods reference
each ``(kind, namespace, name)``; a PersistentVolume is reached through the
claims' ``spec.volumeName`` (and a volume's own Secret references through
it). ``pod_refs`` and ``volume_secret_refs`` are pure; ``NodeGraph`` is fed
like the RBAC index: a full list at start, then the watch caches' events, each
key's revision guarding against an older event replacing a newer one.

One edge does not come from a pod: the TLS Secrets that shoal's ingress proxy,
run on every node, serves (``ingressgraph``) may be read by every node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from shoal.api import kinds
from shoal.api.registry import ResourceInfo
from shoal.apiserver import rawobj
from shoal.apiserver.authz import ingressgraph
from shoal.apiserver.authz.ingressgraph import IngressSecrets
from shoal.store.base import Store

SECRETS, CONFIGMAPS, CLAIMS, ACCOUNTS, VOLUMES = (
    "secrets", "configmaps", "persistentvolumeclaims", "serviceaccounts", "persistentvolumes")
Ref = tuple[str, str, str]  # (resource, namespace, name); a PersistentVolume's namespace is ""


def _info(plural: str) -> ResourceInfo:
    info = kinds.lookup("", "v1", plural)
    assert info is not None, plural
    return info


PODS_INFO, CLAIMS_INFO, VOLUMES_INFO = _info("pods"), _info(CLAIMS), _info(VOLUMES)
# the built-in kinds whose watch caches feed the graph; the custom ones' caches come and go with their CRDs
INFOS = (PODS_INFO, CLAIMS_INFO, VOLUMES_INFO, *ingressgraph.INFOS)
CUSTOM_PREFIXES = ingressgraph.CUSTOM_PREFIXES


def _name(ref: Any, key: str = "name") -> str:
    return str(ref.get(key) or "") if isinstance(ref, dict) else ""


def _volume_refs(vol: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if isinstance(vol.get("secret"), dict):
        yield SECRETS, _name(vol["secret"], "secretName")
    if isinstance(vol.get("configMap"), dict):
        yield CONFIGMAPS, _name(vol["configMap"])
    if isinstance(vol.get("persistentVolumeClaim"), dict):
        yield CLAIMS, _name(vol["persistentVolumeClaim"], "claimName")
    for source in (vol.get("projected") or {}).get("sources") or []:
        if isinstance(source, dict):
            if isinstance(source.get("secret"), dict):
                yield SECRETS, _name(source["secret"])
            if isinstance(source.get("configMap"), dict):
                yield CONFIGMAPS, _name(source["configMap"])
    for driver in ("csi", "cephfs", "rbd", "iscsi", "flexVolume", "azureFile", "scaleIO", "storageos"):
        src = vol.get(driver)
        if isinstance(src, dict):
            yield SECRETS, _name(src.get("nodePublishSecretRef") or src.get("secretRef"))
        if driver == "azureFile" and isinstance(src, dict):
            yield SECRETS, _name(src, "secretName")


def _container_refs(c: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for ef in c.get("envFrom") or []:
        if isinstance(ef, dict):
            yield CONFIGMAPS, _name(ef.get("configMapRef"))
            yield SECRETS, _name(ef.get("secretRef"))
    for env in c.get("env") or []:
        vf = env.get("valueFrom") if isinstance(env, dict) else None
        if isinstance(vf, dict):
            yield CONFIGMAPS, _name(vf.get("configMapKeyRef"))
            yield SECRETS, _name(vf.get("secretKeyRef"))


def pod_refs(pod: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """The ``(resource, name)`` objects of the pod's namespace the pod uses (upstream's ``VisitPodSecretNames``,
    ``VisitPodConfigmapNames``, its claims and its service account)."""
    spec = pod.get("spec") or {}
    out: list[tuple[str, str]] = [(ACCOUNTS, str(spec.get("serviceAccountName") or "default"))]
    out += [(SECRETS, _name(s)) for s in spec.get("imagePullSecrets") or []]
    for vol in spec.get("volumes") or []:
        if isinstance(vol, dict):
            out += _volume_refs(vol)
            eph = ((vol.get("ephemeral") or {}).get("volumeClaimTemplate")) if isinstance(vol, dict) else None
            if eph is not None:  # a generic ephemeral volume's claim is <pod>-<volume>
                out.append((CLAIMS, f"{(pod.get('metadata') or {}).get('name')}-{vol.get('name')}"))
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            if isinstance(c, dict):
                out += _container_refs(c)
    return frozenset((kind, name) for kind, name in out if name)


def volume_secret_refs(pv: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """The ``(namespace, name)`` Secrets a PersistentVolume's source names (upstream's ``VisitPVSecretNames``)."""
    spec = pv.get("spec") or {}
    out: set[tuple[str, str]] = set()
    for key, src in spec.items():
        if not isinstance(src, dict):
            continue
        for field in ("secretRef", "nodePublishSecretRef", "nodeStageSecretRef", "controllerPublishSecretRef",
                      "controllerExpandSecretRef", "nodeExpandSecretRef"):
            ref = src.get(field)
            if isinstance(ref, dict) and ref.get("name"):
                out.add((str(ref.get("namespace") or src.get("secretNamespace") or ""), str(ref["name"])))
        if key == "azureFile" and src.get("secretName"):
            out.add((str(src.get("secretNamespace") or "default"), str(src["secretName"])))
    return frozenset(out)


class NodeGraph:
    """Pods by node with what they reference; claims' volumes; volumes' secrets. ``related`` is the question."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._revs: dict[str, int] = {}
        self._pods: dict[str, tuple[str, str, frozenset[tuple[str, str]]]] = {}  # key -> (node, ns, refs)
        self._uses: dict[str, Counter[Ref]] = {}  # node -> how many of its pods reference each object
        self._claims: dict[tuple[str, str], str] = {}  # (ns, claim) -> bound volume
        self._volume_secrets: dict[str, frozenset[tuple[str, str]]] = {}  # volume -> its secrets
        self.ingress = IngressSecrets()  # the TLS Secrets every node's ingress proxy serves
        self.loaded = False

    async def load(self) -> None:
        for prefix in (*(i.storage_prefix for i in INFOS), *CUSTOM_PREFIXES):
            kvs, _, _ = await self.store.list(prefix)
            for kv in kvs:
                self.observe(kv.key, kv.mod_revision, kv.value)
        self.loaded = True

    def observe_event(self, ev: Any) -> None:
        """A watch-cache event (``None``: the watch was reset; what is known stays until the next events)."""
        if ev is None:
            return
        if ev.rev <= self._revs.get(ev.key, 0):
            return
        if ev.type != "DELETED" and ev.key.startswith(PODS_INFO.storage_prefix) and ev.key not in self._pods \
                and b'"nodeName"' not in ev.raw:
            return  # an unbound pod the graph does not hold: not worth decoding (most pod creates)
        self._apply(ev.key, ev.rev, None if ev.type == "DELETED" else ev.obj)

    def observe(self, key: str, rev: int, value: bytes | None) -> None:
        if rev <= self._revs.get(key, 0):
            return
        self._apply(key, rev, None if value is None else rawobj.decode(value))

    def _apply(self, key: str, rev: int, obj: dict[str, Any] | None) -> None:
        if obj is None and self.loaded:  # a deleted key is forgotten (pods churn): after the load, events
            self._revs.pop(key, None)   # come in revision order; during it, the tombstone guards the list
        else:
            self._revs[key] = rev
        if key.startswith(PODS_INFO.storage_prefix):
            self._set_pod(key, obj)
        elif key.startswith(CLAIMS_INFO.storage_prefix):
            ns, _, name = key[len(CLAIMS_INFO.storage_prefix):].partition("/")
            volume = str(((obj or {}).get("spec") or {}).get("volumeName") or "")
            if volume:
                self._claims[(ns, name)] = volume
            else:
                self._claims.pop((ns, name), None)
        elif key.startswith(VOLUMES_INFO.storage_prefix):
            name = key[len(VOLUMES_INFO.storage_prefix):]
            secrets = volume_secret_refs(obj) if obj is not None else frozenset()
            if secrets:
                self._volume_secrets[name] = secrets
            else:
                self._volume_secrets.pop(name, None)
        elif self.ingress.follows(key):
            self.ingress.apply(key, obj)

    def forget(self, prefix: str) -> None:
        """A custom kind the graph follows is no longer served: its objects are gone (their deletes may
        never reach the graph, their watch cache being stopped)."""
        self.ingress.forget(prefix)
        for key in [k for k in self._revs if k.startswith(prefix)]:
            del self._revs[key]

    def _set_pod(self, key: str, obj: dict[str, Any] | None) -> None:
        old = self._pods.pop(key, None)
        if old is not None:
            node, ns, refs = old
            uses = self._uses.get(node)
            if uses is not None:
                for kind, name in refs:
                    uses[(kind, ns, name)] -= 1
                    if uses[(kind, ns, name)] <= 0:
                        del uses[(kind, ns, name)]
                if not uses:
                    del self._uses[node]
        node = str(((obj or {}).get("spec") or {}).get("nodeName") or "")
        if obj is None or not node:
            return
        ns = str((obj.get("metadata") or {}).get("namespace") or "")
        refs = pod_refs(obj)
        self._pods[key] = (node, ns, refs)
        self._uses.setdefault(node, Counter()).update((kind, ns, name) for kind, name in refs)

    # ---- asking -------------------------------------------------------------------------------
    def related(self, node: str, resource: str, namespace: str, name: str) -> bool:
        """Whether a pod bound to ``node`` references the object (a volume: through a claim; a secret: also
        through a volume of one of its claims), or the object is a TLS Secret every node's ingress serves."""
        if resource == SECRETS and self.ingress.served(namespace, name):
            return True
        uses = self._uses.get(node)
        if not uses:
            return False
        if resource == VOLUMES:
            return any(kind == CLAIMS and self._claims.get((ns, claim)) == name for kind, ns, claim in uses)
        if uses.get((resource, namespace, name), 0) > 0:
            return True
        if resource == SECRETS and self._volume_secrets:
            for kind, ns, claim in uses:
                volume = self._claims.get((ns, claim)) if kind == CLAIMS else None
                if volume is not None and (namespace, name) in self._volume_secrets.get(volume, ()):
                    return True
        return False

    def pod_node(self, namespace: str, name: str) -> str | None:
        """The node a pod is bound to, as the graph knows it (None: unknown or unbound)."""
        hit = self._pods.get(PODS_INFO.key(namespace, name))
        return hit[0] if hit is not None else None
