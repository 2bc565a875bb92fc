"""Strategic merge patch, driven by patch metadata on small Pod/Deployment-shaped models.

Expected results follow apimachinery's ``strategicpatch`` (including its list
ordering: items named in the patch keep the patch's order and an item new to a
list lands before the server-only items, as the ``kubectl patch`` docs show).
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

import msgspec
import pytest

from shoal.api.base import Model, merge_key, retain_keys
from shoal.api.patch import STRATEGIC_MERGE_PATCH, PatchError, apply_patch
from shoal.api.patch_strategic import schema_for

SET = msgspec.Meta(extra_json_schema={"x-kubernetes-patch-strategy": "merge"})


class ContainerPort(Model):
    container_port: int
    name: str | None = None
    protocol: str | None = None


class EnvVar(Model):
    name: str
    value: str | None = None


class VolumeMount(Model):
    name: str
    mount_path: str


class Container(Model):
    name: str
    image: str | None = None
    args: list[str] | None = None
    ports: Annotated[list[ContainerPort], merge_key("containerPort")] | None = None
    env: Annotated[list[EnvVar], merge_key("name")] | None = None
    volume_mounts: Annotated[list[VolumeMount], merge_key("mountPath")] | None = None
    resources: dict[str, Any] | None = None


class Toleration(Model):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None


class Volume(Model):
    name: str
    config_map: dict[str, Any] | None = None
    secret: dict[str, Any] | None = None
    empty_dir: dict[str, Any] | None = None


class PodSpec(Model):
    containers: Annotated[list[Container], merge_key("name")] | None = None
    init_containers: Annotated[list[Container], merge_key("name")] | None = None
    volumes: Annotated[list[Volume], merge_key("name", retain_keys=True)] | None = None
    tolerations: list[Toleration] | None = None
    node_selector: dict[str, str] | None = None
    node_name: str | None = None


class Meta(Model):
    name: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: Annotated[list[str], SET] | None = None


class Pod(Model):
    metadata: Meta | None = None
    spec: PodSpec | None = None
    status: dict[str, Any] | None = None


class PodTemplate(Model):
    metadata: Meta | None = None
    spec: PodSpec | None = None


class RollingUpdate(Model):
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None


class Strategy(Model):
    type: str | None = None
    rolling_update: RollingUpdate | None = None


class DeploymentSpec(Model):
    replicas: int | None = None
    strategy: Annotated[Strategy, retain_keys()] | None = None
    template: PodTemplate | None = None
    selector: dict[str, Any] | None = None


class Deployment(Model):
    metadata: Meta | None = None
    spec: DeploymentSpec | None = None


def smp(doc: dict[str, Any], patch: Any, model: type | None = Pod) -> dict[str, Any]:
    return apply_patch(doc, patch, STRATEGIC_MERGE_PATCH, model=model)


def spec(**fields: Any) -> dict[str, Any]:
    return {"spec": fields}


def c(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, **fields}


def names(items: list[dict[str, Any]]) -> list[str]:
    return [i["name"] for i in items]


# ---------------------------------------------------------------- maps


MAP_CASES = [
    ("scalar replaced", spec(nodeName="a"), spec(nodeName="b"), spec(nodeName="b")),
    (
        "null deletes",
        {"metadata": {"name": "p", "labels": {"a": "1"}}},
        {"metadata": {"labels": None}},
        {"metadata": {"name": "p"}},
    ),
    (
        "null on absent key is a no-op",
        {"metadata": {"name": "p"}},
        {"metadata": {"labels": None}},
        {"metadata": {"name": "p"}},
    ),
    (
        "maps merge",
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"metadata": {"labels": {"b": "3", "c": "4"}}},
        {"metadata": {"labels": {"a": "1", "b": "3", "c": "4"}}},
    ),
    (
        "map keys deleted by null",
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"metadata": {"labels": {"a": None}}},
        {"metadata": {"labels": {"b": "2"}}},
    ),
    (
        "$patch: replace on a map",
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
        {"metadata": {"labels": {"c": "3"}}},
    ),
    (
        "$patch: replace drops nulls",
        {"metadata": {"labels": {"a": "1"}}},
        {"metadata": {"labels": {"$patch": "replace", "c": "3", "d": None}}},
        {"metadata": {"labels": {"c": "3"}}},
    ),
    (
        "$patch: delete on a map empties it",
        {"metadata": {"labels": {"a": "1"}, "name": "p"}},
        {"metadata": {"labels": {"$patch": "delete"}}},
        {"metadata": {"labels": {}, "name": "p"}},
    ),
    (
        "$patch: delete on an absent map adds nothing",
        {"metadata": {"name": "p"}},
        {"metadata": {"labels": {"$patch": "delete"}}},
        {"metadata": {"name": "p"}},
    ),
    (
        "$patch: merge on a map is the default",
        {"metadata": {"labels": {"a": "1"}}},
        {"metadata": {"labels": {"$patch": "merge", "b": "2"}}},
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
    ),
    (
        "$patch: replace at the root",
        {"metadata": {"name": "p"}, "spec": {}},
        {"$patch": "replace", "metadata": {"name": "q"}},
        {"metadata": {"name": "q"}},
    ),
    (
        "new subtree: nulls dropped, directives applied",
        {},
        {
            "spec": {
                "nodeName": None,
                "containers": [{"name": "a", "image": None}, {"name": "b", "$patch": "delete"}],
            }
        },
        {"spec": {"containers": [{"name": "a"}]}},
    ),
    (
        "type change replaces",
        {"status": {"x": "s"}},
        {"status": {"x": {"y": 1}}},
        {"status": {"x": {"y": 1}}},
    ),
    (
        "unknown field merges like merge patch",
        {"extra": {"a": [1, 2], "b": 1}},
        {"extra": {"a": [3], "c": 2}},
        {"extra": {"a": [3], "b": 1, "c": 2}},
    ),
    (
        "dict[str, Any] replaces lists",
        {"status": {"conditions": [{"type": "A"}]}},
        {"status": {"conditions": [{"type": "B"}]}},
        {"status": {"conditions": [{"type": "B"}]}},
    ),
    (
        "directives work inside untyped maps",
        {"status": {"m": {"a": 1}}},
        {"status": {"m": {"$patch": "replace", "b": 2}}},
        {"status": {"m": {"b": 2}}},
    ),
]


@pytest.mark.parametrize(
    ("doc", "patch", "expected"), [x[1:] for x in MAP_CASES], ids=[x[0] for x in MAP_CASES]
)
def test_maps(doc: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]) -> None:
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    assert smp(doc, patch) == expected
    assert doc == doc_before and patch == patch_before


# ---------------------------------------------------------------- lists merged by key

BASE = spec(containers=[c("a", image="a:1"), c("b", image="b:1")])

KEYED_CASES = [
    (
        "item merged by name",
        {"containers": [c("b", image="b:2")]},
        [c("a", image="a:1"), c("b", image="b:2")],
    ),
    (
        "new item goes before server-only items",
        {"containers": [c("n", image="n:1")]},
        [c("n", image="n:1"), c("a", image="a:1"), c("b", image="b:1")],
    ),
    (
        "existing then new keep patch order after server items",
        {"containers": [c("b", image="b:2"), c("n")]},
        [c("a", image="a:1"), c("b", image="b:2"), c("n")],
    ),
    (
        "patch order wins among patch items",
        {"containers": [c("b"), c("a")]},
        [c("b", image="b:1"), c("a", image="a:1")],
    ),
    (
        "$patch: delete removes an item",
        {"containers": [{"name": "a", "$patch": "delete"}]},
        [c("b", image="b:1")],
    ),
    (
        "$patch: delete of a missing item is a no-op",
        {"containers": [{"name": "z", "$patch": "delete"}]},
        [c("a", image="a:1"), c("b", image="b:1")],
    ),
    (
        "$patch: replace replaces the list",
        {"containers": [{"$patch": "replace"}, c("z", image=None)]},
        [c("z")],
    ),
    ("$patch: replace with nothing else empties", {"containers": [{"$patch": "replace"}]}, []),
    (
        "$patch: merge on an item is the default",
        {"containers": [{"name": "a", "$patch": "merge", "image": "a:2"}]},
        [c("a", image="a:2"), c("b", image="b:1")],
    ),
    (
        "null inside an item deletes its field",
        {"containers": [c("a", image=None)]},
        [c("a"), c("b", image="b:1")],
    ),
    (
        "empty patch list changes nothing",
        {"containers": []},
        [c("a", image="a:1"), c("b", image="b:1")],
    ),
    ("null deletes the whole list", {"containers": None}, None),
]


@pytest.mark.parametrize(
    ("patch", "expected"), [x[1:] for x in KEYED_CASES], ids=[x[0] for x in KEYED_CASES]
)
def test_lists_merged_by_key(patch: dict[str, Any], expected: Any) -> None:
    assert smp(BASE, {"spec": patch})["spec"].get("containers") == expected


def test_nested_lists_merge_by_their_own_keys() -> None:
    doc = spec(
        containers=[
            c(
                "a",
                ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
                env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                volumeMounts=[{"name": "v", "mountPath": "/data"}],
            )
        ]
    )
    patch = spec(
        containers=[
            c(
                "a",
                ports=[
                    {"containerPort": 80, "protocol": "TCP"},
                    {"containerPort": 443, "$patch": "delete"},
                ],
                env=[{"name": "B", "value": "3"}],
                volumeMounts=[{"mountPath": "/data", "name": "w"}],
            )
        ]
    )
    (a,) = smp(doc, patch)["spec"]["containers"]
    assert a["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"}]
    assert a["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert a["volumeMounts"] == [{"name": "w", "mountPath": "/data"}]


def test_lists_without_merge_key_are_replaced() -> None:
    doc = spec(tolerations=[{"key": "a"}, {"key": "b"}], containers=[c("a", args=["x", "y"])])
    patch = spec(tolerations=[{"key": "c"}], containers=[c("a", args=["z"])])
    out = smp(doc, patch)["spec"]
    assert out["tolerations"] == [{"key": "c"}]
    assert out["containers"][0]["args"] == ["z"]


def test_without_model_every_list_is_replaced() -> None:
    out = smp(BASE, spec(containers=[c("n")]), model=None)
    assert out["spec"]["containers"] == [c("n")]


# ---------------------------------------------------------------- primitive lists (sets)

FIN = {"metadata": {"finalizers": ["a", "b"]}}

PRIMITIVE_CASES = [
    ("new value goes first", {"finalizers": ["c"]}, ["c", "a", "b"]),
    ("existing values keep server order", {"finalizers": ["b", "c"]}, ["a", "b", "c"]),
    ("duplicates collapse", {"finalizers": ["a", "a", "c", "c"]}, ["a", "c", "b"]),
    (
        "$deleteFromPrimitiveList removes values",
        {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]},
        ["b"],
    ),
    (
        "delete and add together",
        {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]},
        ["c", "b"],
    ),
    ("$setElementOrder reorders", {"$setElementOrder/finalizers": ["b", "a"]}, ["b", "a"]),
    (
        "$setElementOrder with an addition",
        {"$setElementOrder/finalizers": ["a", "c", "b"], "finalizers": ["c"]},
        ["a", "c", "b"],
    ),
    (
        "kubectl delete one value",
        {"$setElementOrder/finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]},
        ["b"],
    ),
    ("null deletes", {"finalizers": None}, None),
]


@pytest.mark.parametrize(
    ("patch", "expected"), [x[1:] for x in PRIMITIVE_CASES], ids=[x[0] for x in PRIMITIVE_CASES]
)
def test_primitive_lists_merge_as_sets(patch: dict[str, Any], expected: Any) -> None:
    assert smp(FIN, {"metadata": patch})["metadata"].get("finalizers") == expected


def test_delete_from_absent_primitive_list_is_a_no_op() -> None:
    out = smp(
        {"metadata": {"name": "p"}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    )
    assert out == {"metadata": {"name": "p"}}


# ---------------------------------------------------------------- $setElementOrder on keyed lists

ABC = spec(containers=[c("a", image="1"), c("b", image="1"), c("c", image="1")])

ORDER_CASES = [
    (
        "reorder only",
        {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]},
        ["c", "a", "b"],
    ),
    (
        "kubectl apply: change one, remove one",
        {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
            "containers": [{"name": "c", "image": "2"}, {"name": "b", "$patch": "delete"}],
        },
        ["a", "c"],
    ),
    (
        "kubectl apply: add in the middle",
        {
            "$setElementOrder/containers": [
                {"name": "a"},
                {"name": "n"},
                {"name": "b"},
                {"name": "c"},
            ],
            "containers": [{"name": "n", "image": "n"}],
        },
        ["a", "n", "b", "c"],
    ),
    (
        "server-only items interleave by live position",
        {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]},
        ["b", "c", "a"],
    ),
    (
        "order list naming unknown items is harmless",
        {"$setElementOrder/containers": [{"name": "zz"}, {"name": "b"}]},
        ["a", "b", "c"],
    ),
]


@pytest.mark.parametrize(
    ("patch", "order"), [x[1:] for x in ORDER_CASES], ids=[x[0] for x in ORDER_CASES]
)
def test_set_element_order(patch: dict[str, Any], order: list[str]) -> None:
    out = smp(ABC, {"spec": patch})["spec"]["containers"]
    assert names(out) == order


def test_set_element_order_creates_list_in_order() -> None:
    patch = spec(
        **{
            "$setElementOrder/containers": [{"name": "x"}, {"name": "y"}],
            "containers": [c("x"), c("y")],
        }
    )
    assert smp({"spec": {}}, patch)["spec"]["containers"] == [c("x"), c("y")]


def test_kubectl_apply_three_way_patch_on_a_deployment() -> None:
    """The shape ``kubectl apply`` sends after a container was removed from the manifest."""
    live = {
        "metadata": {
            "name": "web",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
        "spec": {
            "replicas": 2,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.24",
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        },
                        {"name": "sidecar", "image": "busybox"},
                    ],
                    "tolerations": [{"key": "x"}],
                },
            },
        },
    }
    patch = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"new":1}'}
        },
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "$setElementOrder/env": [{"name": "B"}, {"name": "A"}],
                            "env": [{"name": "B", "value": "3"}],
                        },
                        {"$patch": "delete", "name": "sidecar"},
                    ],
                }
            },
        },
    }
    out = apply_patch(live, patch, STRATEGIC_MERGE_PATCH, model=Deployment)
    assert out["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": '{"new":1}'
    }
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["replicas"] == 2
    template = out["spec"]["template"]["spec"]
    assert template["containers"] == [
        {
            "name": "web",
            "image": "nginx:1.25",
            "env": [{"name": "B", "value": "3"}, {"name": "A", "value": "1"}],
        }
    ]
    assert template["tolerations"] == [{"key": "x"}]
    msgspec.convert(out, Deployment)  # still decodes into the model


# ---------------------------------------------------------------- $retainKeys


def test_retain_keys_on_a_struct() -> None:
    doc = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert smp(doc, patch, Deployment)["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_keeps_listed_fields_it_does_not_patch() -> None:
    doc = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {
        "spec": {
            "strategy": {"$retainKeys": ["type", "rollingUpdate"], "rollingUpdate": {"maxSurge": 2}}
        }
    }
    assert smp(doc, patch, Deployment)["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 2},
    }


def test_retain_keys_on_a_list_item() -> None:
    doc = spec(
        volumes=[
            {"name": "v", "configMap": {"name": "cm"}},
            {"name": "w", "secret": {"secretName": "s"}},
        ]
    )
    patch = spec(volumes=[{"name": "v", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}}])
    assert smp(doc, patch)["spec"]["volumes"] == [
        {"name": "v", "emptyDir": {}},
        {"name": "w", "secret": {"secretName": "s"}},
    ]


def test_retain_keys_allows_nulls_and_directives() -> None:
    doc = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}
    }
    assert smp(doc, patch, Deployment)["spec"]["strategy"] == {"type": "Recreate"}


# ---------------------------------------------------------------- bad input

BAD_CASES = [
    ("patch is a list", [], "must be a JSON object"),
    (
        "list expected",
        spec(containers={"name": "a"}),
        "spec.containers: expected a list, got an object",
    ),
    ("object expected", {"spec": "x"}, "spec: expected an object, got a string"),
    ("object expected in nested struct", spec(containers=[c("a", ports="80")]), "expected a list"),
    ("item not an object", spec(containers=["a"]), "spec.containers[0]: expected an object"),
    (
        "item without merge key",
        spec(containers=[{"image": "x"}]),
        "does not contain declared merge key 'name'",
    ),
    (
        "delete without merge key",
        spec(containers=[{"$patch": "delete"}]),
        "does not contain declared merge key",
    ),
    (
        "unknown $patch on an item",
        spec(containers=[{"name": "a", "$patch": "frob"}]),
        "unknown $patch directive 'frob'",
    ),
    (
        "unknown $patch on a map",
        {"metadata": {"$patch": "frob"}},
        "metadata: unknown $patch directive",
    ),
    ("$retainKeys not a list", {"spec": {"$retainKeys": "x"}}, "must be a list of field names"),
    (
        "$retainKeys missing a patched key",
        {"spec": {"$retainKeys": ["containers"], "nodeName": "n"}},
        "field 'nodeName' is in the patch but not in $retainKeys",
    ),
    (
        "$setElementOrder not a list",
        spec(**{"$setElementOrder/containers": {"name": "a"}}),
        "must be a list",
    ),
    (
        "$setElementOrder item without key",
        spec(**{"$setElementOrder/containers": [{"image": "a"}]}),
        "does not contain declared merge key",
    ),
    (
        "$setElementOrder of scalars given objects",
        {"metadata": {"$setElementOrder/finalizers": [{"a": 1}]}},
        "expected a scalar",
    ),
    (
        "$setElementOrder disagrees with the patch",
        spec(
            **{
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [c("b"), c("a")],
            }
        ),
        "does not match $setElementOrder",
    ),
    (
        "patch item missing from $setElementOrder",
        spec(**{"$setElementOrder/containers": [{"name": "a"}], "containers": [c("z")]}),
        "does not match $setElementOrder",
    ),
    ("$setElementOrder without field", {"$setElementOrder/": []}, "directive names no field"),
    (
        "$deleteFromPrimitiveList not a list",
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
        "must be a list",
    ),
    (
        "objects in a set list",
        {"metadata": {"finalizers": [{"a": 1}]}},
        "cannot merge an object into a list without merge key",
    ),
]


@pytest.mark.parametrize(
    ("patch", "message"), [x[1:] for x in BAD_CASES], ids=[x[0] for x in BAD_CASES]
)
def test_bad_patches(patch: Any, message: str) -> None:
    doc = spec(containers=[c("a")], nodeName="n")
    doc["metadata"] = {"finalizers": ["x"]}
    before = copy.deepcopy(doc)
    with pytest.raises(PatchError) as info:
        smp(doc, patch)
    assert message in str(info.value)
    assert doc == before


# ---------------------------------------------------------------- schema


def test_schema_reads_patch_metadata() -> None:
    root = schema_for(Pod)
    containers = root.child("spec").node.child("containers")
    assert (containers.strategy, containers.merge_key) == ("merge", "name")
    volumes = root.child("spec").node.child("volumes")
    assert (volumes.strategy, volumes.merge_key) == ("merge", "name")  # retainKeys stripped
    finalizers = root.child("metadata").node.child("finalizers")
    assert (finalizers.strategy, finalizers.merge_key) == ("merge", None)
    tolerations = root.child("spec").node.child("tolerations")
    assert (tolerations.strategy, tolerations.merge_key) == ("", None)
    assert root.child("nonsense").node.kind == "any"
    assert root.child("status").node.child("anything").node.kind == "any"
    assert schema_for(Pod) is root  # cached


class TreeNode(Model):
    name: str
    children: Annotated[list[TreeNode], merge_key("name")] | None = None


def test_recursive_models_are_supported() -> None:
    doc = {"name": "r", "children": [{"name": "a", "children": [{"name": "x"}]}]}
    patch = {"children": [{"name": "a", "children": [{"name": "y"}]}]}
    out = smp(doc, patch, TreeNode)
    assert out["children"][0]["children"] == [{"name": "y"}, {"name": "x"}]


# ---------------------------------------------------------------- the real models


def test_real_pod_model() -> None:
    from shoal.api.models.pod import Pod as RealPod

    live = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "finalizers": ["a"]},
        "spec": {
            "containers": [
                {"name": "app", "image": "nginx", "ports": [{"containerPort": 80}]},
                {"name": "log", "image": "busybox"},
            ],
            "volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
            "tolerations": [{"key": "a", "operator": "Exists"}],
        },
    }
    patch = {
        "metadata": {"finalizers": ["b"]},
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [
                {"name": "app", "image": "nginx:2", "ports": [{"containerPort": 8080}]},
                {"name": "log", "$patch": "delete"},
            ],
            "volumes": [{"name": "cfg", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}}],
            "tolerations": [{"key": "b", "operator": "Exists"}],
        },
    }
    out = apply_patch(live, patch, STRATEGIC_MERGE_PATCH, model=RealPod)
    assert out["metadata"]["finalizers"] == ["b", "a"]
    assert out["spec"]["containers"] == [
        {
            "name": "app",
            "image": "nginx:2",
            "ports": [{"containerPort": 8080}, {"containerPort": 80}],
        }
    ]
    assert out["spec"]["volumes"] == [{"name": "cfg", "emptyDir": {}}]
    assert out["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]
    msgspec.convert(out, RealPod)


def test_real_deployment_model() -> None:
    from shoal.api.models.apps import Deployment as RealDeployment

    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]}
                    ]
                },
            },
        },
    }
    patch = {
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}
                },
                "spec": {"containers": [{"name": "a", "env": [{"name": "F", "value": "2"}]}]},
            },
        }
    }
    out = apply_patch(live, patch, STRATEGIC_MERGE_PATCH, model=RealDeployment)
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "F", "value": "2"},
        {"name": "E", "value": "1"},
    ]
    assert out["spec"]["template"]["metadata"]["annotations"]
    msgspec.convert(out, RealDeployment)
