"""Fixtures for the API fuzz suite: its own server, the operations its OpenAPI
documents describe, and one live object of every kind to aim updates at.

The fuzz suite starts a server of its own (not the shared session one) so that
its log holds only what the fuzzed requests caused, and so that the objects the
fuzzer writes and deletes disturb no other test.
"""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server_fixture import RunningServer, start_server

NAMESPACE = "fuzz"
SEED = "fz-seed"
SEED_NAMESPACE = "fz-ns"  # the Namespace object item operations aim at (never the one we work in)
SEED_NODE = "fz-node"
SEED_API_SERVICE = "v1.fz.example.com"  # an APIService is named <version>.<group>


def _csr_request() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    req = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fz")])).sign(key, hashes.SHA256())
    return base64.b64encode(req.public_bytes(serialization.Encoding.PEM)).decode()


_POD_SPEC: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox:1.36",
                                             "ports": [{"containerPort": 80}],
                                             "env": [{"name": "A", "value": "1"}]}]}
_TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "fz"}}, "spec": _POD_SPEC}

# The smallest valid body of each kind (beyond apiVersion, kind and metadata).
_FZ_RULE: dict[str, Any] = {"apiGroups": ["fuzz.invalid"], "apiVersions": ["v1"], "operations": ["CREATE"],
                            "resources": ["nothing"]}
_FZ_WEBHOOK: dict[str, Any] = {"name": "fz.fuzz.invalid", "clientConfig": {"url": "https://127.0.0.1:1/fz"},
                               "rules": [_FZ_RULE], "failurePolicy": "Ignore", "sideEffects": "None",
                               "admissionReviewVersions": ["v1"], "timeoutSeconds": 1}
SEED_BODIES: dict[str, dict[str, Any]] = {
    "Namespace": {},
    "Node": {"metadata": {"labels": {"role": "fz"}}},
    "Pod": {"metadata": {"labels": {"app": "fz"}}, "spec": _POD_SPEC},
    "Service": {"spec": {"selector": {"app": "fz"}, "ports": [{"port": 80, "targetPort": 8080}]}},
    "Endpoints": {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]},
    "ConfigMap": {"data": {"a": "b"}},
    "Secret": {"data": {"k": "dmFsdWU="}},
    "Event": {"involvedObject": {"kind": "Pod", "name": "x", "namespace": NAMESPACE},
              "reason": "Fuzz", "message": "m", "type": "Normal"},
    "ServiceAccount": {},
    "Deployment": {"spec": {"replicas": 0, "selector": {"matchLabels": {"app": "fz"}}, "template": _TEMPLATE}},
    "ReplicaSet": {"spec": {"replicas": 0, "selector": {"matchLabels": {"app": "fz"}}, "template": _TEMPLATE}},
    "DaemonSet": {"spec": {"selector": {"matchLabels": {"app": "fz"}}, "template": _TEMPLATE}},
    "StatefulSet": {"spec": {"replicas": 0, "serviceName": "fz", "selector": {"matchLabels": {"app": "fz"}},
                             "template": _TEMPLATE}},
    "ControllerRevision": {"data": {"spec": {"template": {"$patch": "replace"}}}, "revision": 1},
    "Job": {"spec": {"suspend": True, "template": {"spec": {**_POD_SPEC, "restartPolicy": "Never"}}}},
    "CronJob": {"spec": {"schedule": "*/5 * * * *", "suspend": True,
                         "jobTemplate": {"spec": {"template": {"spec": {**_POD_SPEC, "restartPolicy": "Never"}}}}}},
    "Lease": {"spec": {"holderIdentity": "fz"}},
    "EndpointSlice": {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]},
    "PriorityClass": {"value": 100, "description": "fz"},
    "NetworkPolicy": {"spec": {"podSelector": {"matchLabels": {"app": "fz"}},
                               "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                                            "ports": [{"port": 80, "endPort": 90}]}]}},
    "Ingress": {"spec": {"ingressClassName": "shoal", "rules": [{"host": "fz.example", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "fz", "port": {"number": 80}}}}]}}]}},
    "IngressClass": {"spec": {"controller": "shoal.io/ingress"}},
    "PersistentVolume": {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                                  "hostPath": {"path": "/tmp/fz"}}},
    "PersistentVolumeClaim": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
    "StorageClass": {"provisioner": "kubernetes.io/no-provisioner"},
    "ReplicationController": {"spec": {"replicas": 0, "selector": {"app": "fz"}, "template": _TEMPLATE}},
    "PodTemplate": {"template": _TEMPLATE},
    "HorizontalPodAutoscaler": {"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                            "name": "fz"}, "minReplicas": 1, "maxReplicas": 2}},
    # admission objects that touch nothing the fuzzer writes: their rules name a group no one serves,
    # and a webhook that cannot be reached is ignored
    "MutatingWebhookConfiguration": {"webhooks": [_FZ_WEBHOOK]},
    "ValidatingWebhookConfiguration": {"webhooks": [_FZ_WEBHOOK]},
    "ValidatingAdmissionPolicy": {"spec": {"failurePolicy": "Ignore", "validations": [{"expression": "true"}],
                                           "matchConstraints": {"resourceRules": [_FZ_RULE]}}},
    "ValidatingAdmissionPolicyBinding": {"spec": {"policyName": SEED, "validationActions": ["Warn"]}},
    # policy objects that constrain the fuzzed namespace as little as possible
    "ResourceQuota": {"spec": {"hard": {"pods": "1000"}, "scopes": ["Terminating"]}},
    "LimitRange": {"spec": {"limits": [{"type": "PersistentVolumeClaim", "max": {"storage": "1Ti"}}]}},
    "PodDisruptionBudget": {"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "fz"}}}},
    "CertificateSigningRequest": {"spec": {"request": _csr_request(), "signerName": "example.com/fz",
                                           "usages": ["client auth"]}},
    "APIService": {"spec": {"group": "fz.example.com", "version": "v1", "groupPriorityMinimum": 100,
                            "versionPriority": 10, "service": {"namespace": NAMESPACE, "name": "fz"}}},
    "Role": {"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]},
    "ClusterRole": {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/fz"]}]},
    "RoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fz"},
                    "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "fz"}]},
    "ClusterRoleBinding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "fz"},
                           "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "fz"}]},
    # a CRD created before the documents are read, so its custom kind is fuzzed too
    "CustomResourceDefinition": {"spec": {
        "group": "fuzz.example.com", "scope": "Namespaced",
        "names": {"plural": "fzthings", "singular": "fzthing", "kind": "FzThing", "listKind": "FzThingList"},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                                                               "statusReplicasPath": ".status.size"}},
                      "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                          "spec": {"type": "object", "x-kubernetes-validations": [{"rule": "self.size < 1000"}],
                                   "properties": {"size": {"type": "integer", "minimum": 0, "default": 1},
                                                  "name": {"type": "string", "maxLength": 20, "pattern": "^[a-z]*$"},
                                                  "tags": {"type": "array", "items": {"type": "string"}},
                                                  "extra": {"type": "object",
                                                            "x-kubernetes-preserve-unknown-fields": True}}},
                          "status": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}},
    "FzThing": {"spec": {"size": 1, "name": "fz", "tags": ["a"]}},
    # the CRDs shoal ships (shoal.ingress.crds)
    "GatewayClass": {"spec": {"controllerName": "fz.example.com/gateway"}},
    "Gateway": {"spec": {"gatewayClassName": "fz", "listeners": [{"name": "web", "port": 80, "protocol": "HTTP"}]}},
    "HTTPRoute": {"spec": {"parentRefs": [{"name": "fz"}], "hostnames": ["fz.example"],
                           "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                      "backendRefs": [{"name": "fz", "port": 80, "weight": 1}]}]}},
    "ReferenceGrant": {"spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                          "namespace": "fz-other"}],
                                "to": [{"group": "", "kind": "Service"}]}},
    "Rollout": {"spec": {"replicas": 0, "selector": {"matchLabels": {"app": "fz"}}, "template": _TEMPLATE,
                         "strategy": {"canary": {"stableService": "fz", "canaryService": "fz-canary",
                                                 "steps": [{"setWeight": 10}]}}}},
}
CRD_SEED = "fzthings.fuzz.example.com"


@dataclass(frozen=True)
class Operation:
    """One HTTP operation of one OpenAPI document."""

    method: str
    template: str  # e.g. /api/v1/namespaces/{namespace}/pods/{name}/status
    params: tuple[str, ...]  # query parameter names
    body_schema: str | None  # component schema name of the request body
    group: str
    version: str
    kind: str
    plural: str
    subresource: str
    namespaced: bool  # the path holds {namespace}
    item: bool  # addresses one object ({name} in the path)
    doc: str  # the group-version document it came from, e.g. "api/v1"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


class FuzzTarget:
    """Everything the fuzz tests need: the server, its documents, its operations.

    A plain class, not a dataclass: hypothesis pretty-prints a dataclass field by field
    (all the documents) when it reports an example, but uses ``__repr__`` here."""

    def __init__(self, srv: RunningServer, session: requests.Session, *, docs: dict[str, dict[str, Any]],
                 schemas: dict[str, dict[str, Any]], operations: list[Operation],
                 plurals: dict[str, tuple[str, str, str, bool]]) -> None:
        self.srv = srv
        self.session = session
        self.docs = docs  # "api/v1" -> document
        self.schemas = schemas  # component name -> schema, over all documents
        self.operations = operations
        self.plurals = plurals  # kind -> (group, version, plural, namespaced)
        self.seeds: dict[str, dict[str, Any]] = {}  # kind -> the body it was created from
        # kind -> the seed as first stored (generation must not read live state)
        self.snapshots: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"FuzzTarget({self.srv.url}, {len(self.operations)} operations)"

    def seed_name(self, kind: str) -> str:
        return {"Namespace": SEED_NAMESPACE, "Node": SEED_NODE, "CustomResourceDefinition": CRD_SEED,
                "APIService": SEED_API_SERVICE}.get(kind, SEED)

    def collection_url(self, kind: str) -> str:
        group, version, plural, namespaced = self.plurals[kind]
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        return f"{self.srv.url}{base}{f'/namespaces/{NAMESPACE}' if namespaced else ''}/{plural}"

    def ensure_seed(self, kind: str) -> None:
        """(Re)create the seed object of ``kind`` if the fuzzer deleted it."""
        url = f"{self.collection_url(kind)}/{self.seed_name(kind)}"
        if self.session.get(url, timeout=10).status_code != 404:
            return
        r = self.session.post(self.collection_url(kind), json=self.seeds[kind], timeout=10)
        assert r.status_code in (201, 409), f"re-creating the {kind} seed: {r.status_code} {r.text}"


def _operations(doc_path: str, doc: dict[str, Any]) -> list[Operation]:
    ops: list[Operation] = []
    for template, item in doc["paths"].items():
        shared = [p["name"] for p in item.get("parameters", []) if p.get("in") == "query"]
        parts = template.strip("/").split("/")
        base = 2 if parts[0] == "api" else 3
        rest = parts[base:]
        namespaced = len(rest) >= 2 and rest[0] == "namespaces" and rest[1] == "{namespace}"
        if namespaced:
            rest = rest[2:]
        is_item = len(rest) >= 2 and rest[1] == "{name}"
        sub = rest[2] if len(rest) >= 3 else ""
        for method, op in item.items():
            if method == "parameters" or not isinstance(op, dict):
                continue
            gvk = op.get("x-kubernetes-group-version-kind") or {}
            params = tuple(shared + [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"])
            ref = None
            content = (op.get("requestBody") or {}).get("content") or {}
            for media in content.values():
                ref = ((media.get("schema") or {}).get("$ref") or "").rsplit("/", 1)[-1] or None
                break
            ops.append(Operation(
                method=method.upper(), template=template, params=params, body_schema=ref,
                group=gvk.get("group", ""), version=gvk.get("version", ""), kind=gvk.get("kind", ""),
                plural=rest[0], subresource=sub, namespaced=namespaced,
                item=is_item, doc=doc_path,
            ))
    return ops


def load_documents(session: requests.Session, url: str) -> dict[str, dict[str, Any]]:
    index = session.get(f"{url}/openapi/v3", timeout=10)
    index.raise_for_status()
    docs: dict[str, dict[str, Any]] = {}
    for path, ref in index.json()["paths"].items():
        r = session.get(url + ref["serverRelativeURL"], timeout=10)
        r.raise_for_status()
        docs[path] = r.json()
    return docs


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    srv = start_server(Path(tmp_path_factory.mktemp("shoal-fuzz")))
    try:
        s = srv.session()
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": CRD_SEED}, **SEED_BODIES["CustomResourceDefinition"]}
        r = s.post(f"{srv.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd, timeout=10)
        assert r.status_code == 201, r.text
        for _ in range(100):  # established: its group is in the OpenAPI index
            if s.get(f"{srv.url}/apis/fuzz.example.com/v1", timeout=10).status_code == 200:
                break
            time.sleep(0.05)
        docs = load_documents(s, srv.url)
        schemas: dict[str, dict[str, Any]] = {}
        operations: list[Operation] = []
        for path, doc in docs.items():
            schemas.update(doc.get("components", {}).get("schemas", {}))
            operations.extend(_operations(path, doc))
        plurals: dict[str, tuple[str, str, str, bool]] = {}
        for op in operations:
            if op.item and not op.subresource and op.kind:
                # a kind served twice (Events: core and events.k8s.io, one store) is seeded once, through core
                plurals.setdefault(op.kind, (op.group, op.version, op.plural, "{namespace}" in op.template))
        r = s.post(f"{srv.url}/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": NAMESPACE}}, timeout=10)
        assert r.status_code == 201, r.text
        t = FuzzTarget(srv, s, docs=docs, schemas=schemas, operations=operations, plurals=plurals)
        seeds = t.seeds
        for kind, (group, version, _, _) in plurals.items():
            body = copy.deepcopy(SEED_BODIES[kind])
            body["apiVersion"] = f"{group}/{version}" if group else version
            body["kind"] = kind
            body.setdefault("metadata", {})["name"] = t.seed_name(kind)
            seeds[kind] = body
            if kind == "CustomResourceDefinition":  # created above
                t.snapshots[kind] = s.get(f"{t.collection_url(kind)}/{CRD_SEED}", timeout=10).json()
                continue
            r = s.post(t.collection_url(kind), json=body, timeout=10)
            assert r.status_code == 201, f"seed {kind}: {r.status_code} {r.text}"
            t.snapshots[kind] = r.json()
        yield t
    finally:
        srv.stop()
