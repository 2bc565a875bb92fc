"""The garbage collector and the namespace controller with custom kinds: both learn a kind when its
CRD is established (no restart), so a custom resource's dependents go with it, a custom resource owned
by a built-in object goes with its owner, foreground deletion waits for custom dependents, and a
terminating namespace is emptied of custom resources too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shoal.api.crd.kind import is_established, primary_info
from shoal.api.registry import ResourceInfo
from shoal.client import ApiClient, ApiException
from shoal.controllers.garbagecollector import GarbageCollector
from shoal.controllers.namespace import NamespaceController
from tests.controllers.fake_kubelet import running_controllers
from tests.eventually import eventually
from tests.server_fixture import RunningServer

Obj = dict[str, Any]


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[ApiClient]:
    c = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    yield c
    await c.close()


@pytest.fixture
async def ns(client: ApiClient) -> str:
    name = f"gcc-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    return name


def crd_body(group: str) -> Obj:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"gadgets.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


async def exists(client: ApiClient, res: ResourceInfo | str, name: str, ns: str) -> bool:
    try:
        await client.get(res, name, ns)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


async def established(client: ApiClient, crd: Obj) -> ResourceInfo:
    """Wait for the CRD to be established; the kind it serves."""
    async def check() -> Obj | None:
        c = await client.get("customresourcedefinitions", crd["metadata"]["name"])
        return c if is_established(c) else None

    info = primary_info(await eventually(check))
    assert info is not None
    return info


def ref(owner: Obj) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


async def test_custom_kinds_are_collected_once_their_crd_is_established(client: ApiClient, ns: str) -> None:
    group = f"gc{uuid.uuid4().hex[:8]}.example.com"
    async with running_controllers(client, GarbageCollector, options={"podgc_period": 3600}):
        # the CRD arrives while the collector runs: it must learn the kind without a restart
        crd = await client.create("customresourcedefinitions", crd_body(group))
        info = await established(client, crd)
        gadget = await client.create(info, {"apiVersion": f"{group}/v1", "kind": "Gadget",
                                            "metadata": {"name": "g1"}}, ns)
        await client.create("configmaps", {"metadata": {"name": "dep", "ownerReferences": [ref(gadget)]}}, ns)
        # a custom resource owned by a built-in object
        owner_cm = await client.create("configmaps", {"metadata": {"name": "owner"}}, ns)
        owner_cm.update(apiVersion="v1", kind="ConfigMap")
        await client.create(info, {"apiVersion": f"{group}/v1", "kind": "Gadget",
                                   "metadata": {"name": "owned", "ownerReferences": [ref(owner_cm)]}}, ns)

        await client.delete(info, "g1", ns)
        await eventually(lambda: not_(exists(client, "configmaps", "dep", ns)))
        await client.delete("configmaps", "owner", ns)
        await eventually(lambda: not_(exists(client, info, "owned", ns)))

        # foreground: the gadget stays until its dependent is gone
        g2 = await client.create(info, {"apiVersion": f"{group}/v1", "kind": "Gadget",
                                        "metadata": {"name": "g2"}}, ns)
        await client.create("configmaps", {"metadata": {"name": "dep2", "ownerReferences": [ref(g2)]}}, ns)
        await client.delete(info, "g2", ns, propagation_policy="Foreground")
        await eventually(lambda: not_(exists(client, info, "g2", ns)))
        assert not await exists(client, "configmaps", "dep2", ns)
        await client.delete("customresourcedefinitions", crd["metadata"]["name"])


async def test_a_terminating_namespace_is_emptied_of_custom_resources(client: ApiClient, ns: str) -> None:
    group = f"ns{uuid.uuid4().hex[:8]}.example.com"
    crd = await client.create("customresourcedefinitions", crd_body(group))
    info = await established(client, crd)
    await client.create(info, {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "g"}}, ns)
    async with running_controllers(client, NamespaceController, options={"namespace_recheck_seconds": 0.2}):
        await client.delete("namespaces", ns)
        await eventually(lambda: not_(exists(client, "namespaces", ns, "")), timeout=15)
    assert await client.list(info, ns) is not None  # the kind is still served; its objects in ns are gone
    assert (await client.list(info, ns))["items"] == []
    await client.delete("customresourcedefinitions", crd["metadata"]["name"])


async def not_(aw: Any) -> bool:
    return not await aw
