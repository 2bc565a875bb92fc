"""Upstream's default (bootstrap) ClusterRoles and ClusterRoleBindings, reconciled at start.

The roles users bind (``cluster-admin``, ``admin``, ``edit``, ``view``, the
last three aggregated from the ``system:aggregate-to-*`` roles so that a CRD's
author can extend them) and the ``system:`` roles components and every user
need: ``system:basic-user`` (ask what one may do), ``system:discovery`` and
``system:public-info-viewer`` (read the API's shape, the health endpoints and
the version), ``system:kube-scheduler``, ``system:kube-controller-manager``,
``system:node``, ``system:node-proxier``... each with upstream's rules (the
API groups shoal does not serve yet are kept, so a role reads as upstream's).

Reconciling is upstream's: a missing default is created; an existing one
annotated ``rbac.authorization.kubernetes.io/autoupdate: "true"`` gets the
permissions it lacks added (an administrator's additions stay), and its
bindings the subjects they lack; one annotated ``"false"`` is left alone.
``reconcile_role``/``reconcile_binding`` are pure: they return the object to
write, or ``None``.
"""

from __future__ import annotations

import copy
from typing import Any

from shoal.apiserver.authz.rules import compile_rules, uncovered

GROUP = "rbac.authorization.k8s.io"
API_VERSION = f"{GROUP}/v1"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"

_READ = "get list watch"
_WRITE = "create delete deletecollection patch update"
_ALL_RW = "create delete deletecollection get list patch update watch"


def _r(verbs: str, groups: str, resources: str, names: str = "") -> dict[str, Any]:
    """A resource rule; ``core`` in ``groups`` is the core group ("")."""
    rule: dict[str, Any] = {"verbs": verbs.split(),
                            "apiGroups": ["" if g == "core" else g for g in groups.split()],
                            "resources": resources.split()}
    if names:
        rule["resourceNames"] = names.split()
    return rule


def _u(verbs: str, urls: str) -> dict[str, Any]:
    return {"verbs": verbs.split(), "nonResourceURLs": urls.split()}


_AGGREGATE_TO_VIEW = [
    _r(_READ, "core", "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods "
                      "replicationcontrollers replicationcontrollers/scale serviceaccounts services services/status"),
    _r(_READ, "core", "bindings events limitranges namespaces/status pods/log pods/status "
                      "replicationcontrollers/status resourcequotas resourcequotas/status"),
    _r(_READ, "core", "namespaces"),
    _r(_READ, "discovery.k8s.io", "endpointslices"),
    _r(_READ, "apps", "controllerrevisions daemonsets daemonsets/status deployments deployments/scale "
                      "deployments/status replicasets replicasets/scale replicasets/status statefulsets "
                      "statefulsets/scale statefulsets/status"),
    _r(_READ, "autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status"),
    _r(_READ, "batch", "cronjobs cronjobs/status jobs jobs/status"),
    _r(_READ, "extensions", "daemonsets daemonsets/status deployments deployments/scale deployments/status "
                            "ingresses ingresses/status networkpolicies replicasets replicasets/scale "
                            "replicasets/status replicationcontrollers/scale"),
    _r(_READ, "policy", "poddisruptionbudgets poddisruptionbudgets/status"),
    _r(_READ, "networking.k8s.io", "ingresses ingresses/status networkpolicies"),
]

_AGGREGATE_TO_EDIT = [
    _r(_READ, "core", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy"),
    _r("impersonate", "core", "serviceaccounts"),
    _r(_WRITE, "core", "pods pods/attach pods/exec pods/portforward pods/proxy"),
    _r("create", "core", "pods/eviction"),
    _r(_WRITE, "core", "configmaps events persistentvolumeclaims replicationcontrollers "
                       "replicationcontrollers/scale secrets serviceaccounts services services/proxy"),
    _r("create", "core", "serviceaccounts/token"),
    _r(_WRITE, "apps", "daemonsets deployments deployments/rollback deployments/scale replicasets "
                       "replicasets/scale statefulsets statefulsets/scale"),
    _r(_WRITE, "autoscaling", "horizontalpodautoscalers"),
    _r(_WRITE, "batch", "cronjobs jobs"),
    _r(_WRITE, "extensions", "daemonsets deployments deployments/rollback deployments/scale ingresses "
                             "networkpolicies replicasets replicasets/scale replicationcontrollers/scale"),
    _r(_WRITE, "policy", "poddisruptionbudgets"),
    _r(_WRITE, "networking.k8s.io", "ingresses networkpolicies"),
    _r(_ALL_RW, "coordination.k8s.io", "leases"),
]

_AGGREGATE_TO_ADMIN = [
    _r("create", "authorization.k8s.io", "localsubjectaccessreviews"),
    _r(_ALL_RW, GROUP, "rolebindings roles"),
]

_EVENTS = _r("create patch update", "core events.k8s.io", "events")

# name -> (rules, aggregate-to label values it selects, aggregate-to labels it carries)
_ROLES: dict[str, tuple[list[dict[str, Any]], str, str]] = {
    "cluster-admin": ([_r("*", "*", "*"), _u("*", "*")], "", ""),
    "admin": ([], "admin", ""),
    "edit": ([], "edit", "admin"),
    "view": ([], "view", "edit"),
    "system:aggregate-to-admin": (_AGGREGATE_TO_ADMIN, "", "admin"),
    "system:aggregate-to-edit": (_AGGREGATE_TO_EDIT, "", "edit"),
    "system:aggregate-to-view": (_AGGREGATE_TO_VIEW, "", "view"),
    # metrics-server's reader role, aggregated into view (and so edit and admin) as its manifest does
    "system:aggregated-metrics-reader": ([_r("get list watch", "metrics.k8s.io", "pods nodes")], "", "view"),
    "system:auth-delegator": ([_r("create", "authentication.k8s.io", "tokenreviews"),
                               _r("create", "authorization.k8s.io", "subjectaccessreviews")], "", ""),
    "system:basic-user": ([_r("create", "authorization.k8s.io", "selfsubjectaccessreviews selfsubjectrulesreviews"),
                           _r("create", "authentication.k8s.io", "selfsubjectreviews"),
                           # shoal's: apply pasted definitions as oneself (shoal.compat.applyapi)
                           _u("post", "/shoal/v1/apply")], "", ""),
    "system:discovery": ([_u("get", "/api /api/* /apis /apis/* /healthz /livez /openapi /openapi/* /readyz "
                                    "/version /version/")], "", ""),
    "system:public-info-viewer": ([_u("get", "/healthz /livez /readyz /version /version/")], "", ""),
    "system:service-account-issuer-discovery": ([_u("get", "/.well-known/openid-configuration /openid/v1/jwks")],
                                                "", ""),
    "system:monitoring": ([_u("get", "/healthz /healthz/* /livez /livez/* /metrics /metrics/slis /readyz "
                                     "/readyz/*")], "", ""),
    "system:kube-controller-manager": ([
        _EVENTS,
        _r("create", "coordination.k8s.io", "leases"),
        _r("get update", "coordination.k8s.io", "leases", "kube-controller-manager"),
        _r("create", "core", "secrets serviceaccounts"),
        _r("delete", "core", "secrets"),
        _r("get", "core", "configmaps namespaces secrets serviceaccounts"),
        _r("update", "core", "secrets serviceaccounts"),
        _r("create", "authentication.k8s.io", "tokenreviews"),
        _r("create", "authorization.k8s.io", "subjectaccessreviews"),
        _r("list watch", "*", "*"),
        _r("create", "core", "serviceaccounts/token"),
    ], "", ""),
    "system:kube-scheduler": ([
        _EVENTS,
        _r("create", "coordination.k8s.io", "leases"),
        _r("get update", "coordination.k8s.io", "leases", "kube-scheduler"),
        _r(_READ, "core", "nodes"),
        _r("delete get list watch", "core", "pods"),
        _r("create", "core", "bindings pods/binding"),
        _r("patch update", "core", "pods/status"),
        _r(_READ, "core", "replicationcontrollers services"),
        _r(_READ, "apps extensions", "replicasets"),
        _r(_READ, "apps", "statefulsets"),
        _r(_READ, "policy", "poddisruptionbudgets"),
        _r(_READ, "core", "persistentvolumeclaims persistentvolumes"),
        _r("create", "authentication.k8s.io", "tokenreviews"),
        _r("create", "authorization.k8s.io", "subjectaccessreviews"),
        _r(_READ, "storage.k8s.io", "csinodes"),
        _r(_READ, "core", "namespaces"),
        _r(_READ, "storage.k8s.io", "csidrivers"),
        _r(_READ, "storage.k8s.io", "csistoragecapacities"),
    ], "", ""),
    "system:volume-scheduler": ([
        _r("get list patch update watch", "core", "persistentvolumes"),
        _r(_READ, "storage.k8s.io", "storageclasses"),
        _r("get list patch update watch", "core", "persistentvolumeclaims"),
    ], "", ""),
    "system:node": ([
        _r("create", "authentication.k8s.io", "tokenreviews"),
        _r("create", "authorization.k8s.io", "localsubjectaccessreviews subjectaccessreviews"),
        _r(_READ, "core", "services"),
        _r("create get list watch", "core", "nodes"),
        _r("patch update", "core", "nodes/status"),
        _r("patch update", "core", "nodes"),
        _r("create patch update", "core", "events"),
        _r(_READ, "core", "pods"),
        _r("create delete", "core", "pods"),
        _r("patch update", "core", "pods/status"),
        _r("create", "core", "pods/eviction"),
        _r(_READ, "core", "configmaps secrets"),
        _r("get", "core", "persistentvolumeclaims persistentvolumes"),
        _r("get", "core", "endpoints"),
        _r("create get list watch", "certificates.k8s.io", "certificatesigningrequests"),
        _r("create delete get patch update", "coordination.k8s.io", "leases"),
        _r("get", "storage.k8s.io", "volumeattachments"),
        _r("create", "core", "serviceaccounts/token"),
        _r("get patch update", "core", "persistentvolumeclaims/status"),
        _r(_READ, "storage.k8s.io", "csidrivers"),
        _r("create delete get patch update", "storage.k8s.io", "csinodes"),
        _r(_READ, "node.k8s.io", "runtimeclasses"),
    ], "", ""),
    "system:node-proxier": ([
        _r("list watch", "core", "endpoints services"),
        _r(_READ, "core", "nodes"),
        _EVENTS,
        _r("list watch", "discovery.k8s.io", "endpointslices"),
    ], "", ""),
    "system:kube-dns": ([_r("list watch", "core", "endpoints services")], "", ""),
    # shoal's own: what a node agent (its kubelet, service proxy and DNS) does with the join token,
    # until nodes get credentials of their own and the Node authorizer
    "system:shoal:node-agent": ([
        _r("get list watch", "core", "events"),
        _r("create get", "core", "namespaces"),
        # its NetworkPolicy enforcer (shoal.network.policysync) reads policies and namespaces' labels
        _r("list watch", "core", "namespaces"),
        _r(_READ, "networking.k8s.io", "networkpolicies"),
        _r("list watch", "core", "endpoints"),
        _r("list watch", "discovery.k8s.io", "endpointslices"),
        # its local volumes: grown and wiped by the node that holds them (their finalizer dropped), the
        # claim told when the file system has grown (its pod may be gone: the Node authorizer's graph has
        # no path to it then)
        _r("get list watch patch update", "core", "persistentvolumes"),
        _r("get", "core", "persistentvolumeclaims"),
        _r("patch update", "core", "persistentvolumeclaims/status"),
        _u("get", "/shoal/v1/tunnel"),
        _u("post", "/shoal/v1/metrics"),  # its resource metrics (shoal.apiserver.metricsapi)
        # the cluster's network settings (shoal.network.config) and ID (the kube-system namespace's uid)
        _r("get", "core", "configmaps", "shoal-network"),
        # its ingress proxy (shoal.ingress.node) renders every node's configuration from these
        _r("list watch", "networking.k8s.io", "ingresses ingressclasses"),
        _r("list watch", "gateway.networking.k8s.io", "gatewayclasses gateways httproutes referencegrants"),
        _r("list watch", "shoal.io", "rollouts"),
    ], "", ""),
    # shoal runs every controller as one user, system:kube-controller-manager (upstream gives each its own
    # service account with --use-service-account-credentials): this is the union of upstream's
    # system:controller:* roles for the controllers shoal has
    "system:shoal:controller-manager": ([
        # generic-garbage-collector (get list watch patch update delete) and namespace-controller
        # (deletecollection): every object of every group; resourcequota-controller lists everything
        _r("delete deletecollection get list patch update watch", "*", "*"),
        # what the controllers create: replicaset, replication, job, cronjob, daemon-set (pods/binding),
        # statefulset, endpoint(slice), persistent-volume-binder and shoal's local provisioner, disruption,
        # node (evictions), service-account, root-ca-cert-publisher
        _r("create", "core", "pods pods/binding pods/eviction endpoints persistentvolumes persistentvolumeclaims "
                             "configmaps secrets serviceaccounts services"),
        _r("create", "apps", "replicasets controllerrevisions"),
        _r("create", "batch", "jobs"),
        _r("create", "discovery.k8s.io", "endpointslices"),
        _EVENTS,
        # certificate-controller: approves and signs for the signers csrsigning serves
        _r("approve sign", "certificates.k8s.io", "signers",
           "kubernetes.io/kube-apiserver-client kubernetes.io/kube-apiserver-client-kubelet "
           "kubernetes.io/legacy-unknown"),
    ], "", ""),
    # shoal's ingress proxy (shoal.ingress): an ingress controller's service account upstream; it reads
    # every Ingress and Gateway with their Services, endpoints and TLS Secrets, reports their status, and
    # runs Rollouts (canary ReplicaSets, the stable Service's selector)
    "system:shoal:ingress": ([
        _r(_READ, "networking.k8s.io", "ingresses ingressclasses"),
        _r("patch update", "networking.k8s.io", "ingresses/status"),
        _r(_READ, "core", "services endpoints secrets nodes pods"),
        _r(_READ, "gateway.networking.k8s.io", "gatewayclasses gateways httproutes referencegrants"),
        _r("patch update", "gateway.networking.k8s.io", "gatewayclasses/status gateways/status httproutes/status"),
        _r(_READ + " patch update", "shoal.io", "rollouts rollouts/status"),
        _r(_READ + " create delete patch update", "apps", "replicasets"),
        _r("patch update", "core", "services"),
        _EVENTS,
    ], "", ""),
    # TLS bootstrapping: what the node join token's user (system:bootstrappers) may do, as upstream's
    "system:node-bootstrapper": ([_r("create get list watch", "certificates.k8s.io", "certificatesigningrequests")],
                                 "", ""),
    "system:certificates.k8s.io:certificatesigningrequests:nodeclient": (
        [_r("create", "certificates.k8s.io", "certificatesigningrequests/nodeclient")], "", ""),
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient": (
        [_r("create", "certificates.k8s.io", "certificatesigningrequests/selfnodeclient")], "", ""),
    # shoal's join endpoint, where a node exchanges the join token for its certificate (or renews it)
    "system:shoal:node-join": ([_u("post", "/shoal/v1/node-join"),
                                # the cluster's ID, which a joining node checks its data dir against
                                _r("get", "core", "namespaces", "kube-system")], "", ""),
    "system:persistent-volume-provisioner": ([
        _r("create delete get list watch", "core", "persistentvolumes"),
        _r("get list update watch", "core", "persistentvolumeclaims"),
        _r(_READ, "storage.k8s.io", "storageclasses"),
        _r("watch", "core", "events"),
        _EVENTS,
    ], "", ""),
}

# name -> (role, subjects as "User:name" / "Group:name" / "ServiceAccount:ns:name")
_BINDINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cluster-admin": ("cluster-admin", ("Group:system:masters",)),
    "system:basic-user": ("system:basic-user", ("Group:system:authenticated",)),
    "system:discovery": ("system:discovery", ("Group:system:authenticated",)),
    "system:public-info-viewer": ("system:public-info-viewer",
                                  ("Group:system:authenticated", "Group:system:unauthenticated")),
    "system:service-account-issuer-discovery": ("system:service-account-issuer-discovery",
                                                ("Group:system:serviceaccounts",)),
    "system:monitoring": ("system:monitoring", ("Group:system:monitoring",)),
    "system:kube-controller-manager": ("system:kube-controller-manager", ("User:system:kube-controller-manager",)),
    "system:kube-scheduler": ("system:kube-scheduler", ("User:system:kube-scheduler",)),
    "system:volume-scheduler": ("system:volume-scheduler", ("User:system:kube-scheduler",)),
    "system:node": ("system:node", ()),
    "system:shoal:node-agent": ("system:shoal:node-agent", ("Group:system:nodes",)),
    "system:node-proxier": ("system:node-proxier", ("User:system:kube-proxy",)),
    "system:shoal:controller-manager": ("system:shoal:controller-manager", ("User:system:kube-controller-manager",)),
    "system:shoal:ingress": ("system:shoal:ingress", ("User:system:shoal:ingress",)),
    # the compatibility APIs act for callers they authorized themselves (shoal.apiserver.authn.components)
    "system:shoal:compat-apis": ("cluster-admin", ("User:system:shoal:docker-api", "User:system:shoal:ecs-api")),
    # kubeadm's names are kubeadm:kubelet-bootstrap, kubeadm:node-autoapprove-bootstrap and
    # kubeadm:node-autoapprove-certificate-rotation
    "system:shoal:node-bootstrapper": ("system:node-bootstrapper", ("Group:system:bootstrappers",)),
    "system:shoal:node-autoapprove-bootstrap": ("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                                                ("Group:system:bootstrappers",)),
    "system:shoal:node-autoapprove-certificate-rotation": (
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        ("Group:system:nodes", "Group:system:shoal:simulated-nodes")),  # an agent renews its own (certrenewal)
    "system:shoal:node-join": ("system:shoal:node-join", ("Group:system:bootstrappers", "Group:system:nodes",
                                                          "Group:system:shoal:simulated-nodes")),
    # an agent simulating many nodes acts for all of them as one user (shoal.apiserver.authn.nodejoin)
    "system:shoal:simulated-nodes": ("system:node", ("Group:system:shoal:simulated-nodes",)),
    "system:shoal:simulated-nodes-agent": ("system:shoal:node-agent", ("Group:system:shoal:simulated-nodes",)),
    "system:kube-dns": ("system:kube-dns", ("ServiceAccount:kube-system:kube-dns",)),
}


def role_rules(name: str) -> list[dict[str, Any]]:
    """The rules of the default ClusterRole ``name`` (a copy)."""
    return copy.deepcopy(_ROLES[name][0])


# defaults shoal once made and no longer wants: deleted at start unless an administrator set autoupdate "false".
# system:shoal:node bound system:node to every node before the Node authorizer; as upstream, that role is now
# the Node authorizer's to apply (bound to no one), so one node cannot read another's Secrets through RBAC
RETIRED_BINDINGS = ("system:shoal:node",)


def retire(live: dict[str, Any] | None) -> bool:
    """Whether a retired default found in the store is to be deleted."""
    return live is not None and _autoupdate(live) and \
        ((live.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/bootstrapping") == "rbac-defaults"


def _meta(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **labels},
            "annotations": {AUTOUPDATE: "true"}}


def cluster_roles() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, (rules, selects, carries) in _ROLES.items():
        labels = {f"rbac.authorization.k8s.io/aggregate-to-{carries}": "true"} if carries else {}
        role: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "ClusterRole", "metadata": _meta(name, labels),
                                "rules": copy.deepcopy(rules)}
        if selects:
            role["aggregationRule"] = {"clusterRoleSelectors": [
                {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{selects}": "true"}}]}
        out.append(role)
    return out


def _subject(text: str) -> dict[str, str]:
    kind, _, rest = text.partition(":")
    if kind == "ServiceAccount":
        ns, _, name = rest.partition(":")
        return {"kind": kind, "name": name, "namespace": ns}
    return {"kind": kind, "apiGroup": GROUP, "name": rest}


def cluster_role_bindings() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, (role, subjects) in _BINDINGS.items():
        b: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "ClusterRoleBinding", "metadata": _meta(name, {}),
                             "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": role}}
        if subjects:
            b["subjects"] = [_subject(s) for s in subjects]
        out.append(b)
    return out


def _autoupdate(live: dict[str, Any]) -> bool:
    return ((live.get("metadata") or {}).get("annotations") or {}).get(AUTOUPDATE) != "false"


def reconcile_role(want: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ClusterRole to write so that ``live`` holds what ``want`` grants, or ``None`` (nothing to do)."""
    if live is None:
        return want
    if not _autoupdate(live):
        return None
    out = copy.deepcopy(live)
    changed = False
    md = out.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        merged = {**(want["metadata"].get(field) or {}), **(md.get(field) or {})}
        if merged != (md.get(field) or {}):
            md[field] = merged
            changed = True
    if "aggregationRule" in want:
        if out.get("aggregationRule") != want["aggregationRule"] and not out.get("aggregationRule"):
            out["aggregationRule"] = want["aggregationRule"]
            changed = True
    else:
        have = compile_rules(out.get("rules"))
        missing = [r for r in want["rules"] if uncovered(have, compile_rules([r]))]
        if missing:
            out["rules"] = [*(out.get("rules") or []), *missing]
            changed = True
    return out if changed else None


def reconcile_binding(want: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ClusterRoleBinding to write so that ``live`` has ``want``'s subjects, or ``None``."""
    if live is None:
        return want
    if not _autoupdate(live) or live.get("roleRef") != want["roleRef"]:
        return None  # a changed roleRef cannot be fixed by an update; left as the administrator made it
    have = live.get("subjects") or []
    missing = [s for s in want.get("subjects") or [] if s not in have]
    if not missing:
        return None
    out = copy.deepcopy(live)
    out["subjects"] = [*have, *missing]
    return out
