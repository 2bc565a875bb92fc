"""Swarm's network-scoped names (full names and aliases): the Service annotation, and what the cluster DNS's
record index answers from it, for two Compose stacks sharing an external network. No I/O."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.formats import compose
from shoal.formats.swarm import aliases, service
from shoal.formats.swarm.wire import SpecError, canonical
from shoal.network.dnsaliases import AliasTable
from shoal.network.dnsrecords import RecordIndex

SHOP = """
services:
  web:
    image: busybox
    ports: ["8080:80"]
    networks:
      front: {aliases: [api, Web-Api, api.internal]}
      shared: {aliases: [shop-api]}
  db:
    image: busybox
    networks: [back]
    deploy: {endpoint_mode: dnsrr}
  cache:
    image: busybox
    networks:
      back: {aliases: [db, store]}
  lone:
    image: busybox
networks:
  front: {}
  back: {}
  shared: {external: true, name: shared}
"""
BILLING = """
services:
  worker:
    image: busybox
    networks: [shared]
  cron:
    image: busybox
    networks:
      default: {aliases: [store]}
networks:
  shared: {external: true}
"""
OTHER = """
services:
  alone:
    image: busybox
"""
NETS = {n: n for n in ("shop_front", "shop_back", "shop_default", "shared", "billing_default",
                       "other_default", "ingress")}
IPS = {("shop", "web"): "10.43.1.1", ("shop", "cache"): "10.43.1.3", ("shop", "lone"): None,
       ("billing", "worker"): None, ("billing", "cron"): None, ("other", "alone"): None}


def services(text: str, stack: str) -> list[dict[str, Any]]:
    out = []
    for spec in compose.load(text, stack).services:
        svc = service.to_objects(spec, network_names=NETS).services[0]
        ip = IPS.get((svc["metadata"]["namespace"], svc["metadata"]["name"]))
        if ip:
            svc["spec"]["clusterIP"] = ip  # what the API allocates; headless ones stay None
        out.append(svc)
    return out


def index() -> RecordIndex:
    idx = RecordIndex()
    for svc in services(SHOP, "shop") + services(BILLING, "billing") + services(OTHER, "other"):
        idx.set_service(svc)
    for ns, name, ip in (("shop", "db", "10.88.0.7"), ("billing", "worker", "10.88.0.8"),
                         ("billing", "cron", "10.88.0.9")):
        idx.set_endpoints({"metadata": {"name": name, "namespace": ns},
                           "subsets": [{"addresses": [{"ip": ip}]}]})
    return idx


def test_the_annotation_lists_each_networks_names() -> None:
    by_name = {s["metadata"]["name"]: aliases.decode(s["metadata"]["annotations"].get(aliases.ANNOTATION))
               for s in services(SHOP, "shop")}
    assert by_name == {
        "web": {"shop_front": ["shop_web", "web", "api", "web-api", "api.internal"], "shared": ["shop_web", "web", "shop-api"]},
        "db": {"shop_back": ["shop_db", "db"]},
        "cache": {"shop_back": ["shop_cache", "cache", "db", "store"]},
        "lone": {"shop_default": ["shop_lone", "lone"]}}


def test_only_the_name_service_carries_it() -> None:
    [web] = [o for o in (service.to_objects(s, network_names=NETS) for s in compose.load(SHOP, "shop").services)
             if o.name == "web"]
    assert [aliases.ANNOTATION in s["metadata"]["annotations"] for s in web.services] == [True, False]


@pytest.mark.parametrize(("nets", "want"), [
    ([], {}),
    ([{"Target": "ingress"}], {}),  # the routing mesh is no network to be named on
    ([{"Target": "id-1", "Aliases": ["A", "a", "b"]}, {"Target": "n2"}], {"n1": ["x_y", "a", "b"], "n2": ["x_y"]}),
    ([{"Target": "n1"}, {"Target": "id-1", "Aliases": ["c"]}], {"n1": ["x_y", "c"]}),  # same network twice
])
def test_dns_names(nets: list[dict[str, Any]], want: dict[str, list[str]]) -> None:
    spec = canonical({"Name": "x_Y", "TaskTemplate": {"ContainerSpec": {"Image": "i"}, "Networks": nets}})
    assert aliases.dns_names(spec, {"id-1": "n1", "n1": "n1", "n2": "n2", "ingress": "ingress"}) == want


@pytest.mark.parametrize("att", [{"Target": ""}, {"Target": "n1", "Aliases": "a"}, {"Target": "n1", "Aliases": [1]}])
def test_bad_attachments(att: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        aliases.dns_names({"Name": "x", "TaskTemplate": {"Networks": [att]}}, None)


@pytest.mark.parametrize("value", [None, "", "nope", "[1]", '{"n": "a"}'])
def test_malformed_annotations_are_no_names(value: str | None) -> None:
    assert aliases.decode(value) == {}


@pytest.mark.parametrize(("qname", "want"), [
    # a stack's own names: short (the Service), full, custom aliases, case-insensitively
    ("web.shop.svc.cluster.local", ["10.43.1.1"]),
    ("shop_web.shop.svc.cluster.local", ["10.43.1.1"]),
    ("api.shop.svc.cluster.local", ["10.43.1.1"]),
    ("WEB-API.shop.svc.cluster.local.", ["10.43.1.1"]),
    ("shop-api.shop.svc.cluster.local", ["10.43.1.1"]),
    ("api.internal.shop.svc.cluster.local", ["10.43.1.1"]),  # a dotted alias, whole
    # an alias equal to a Service's name never takes it over: cache's alias "db" leaves db (dnsrr) its tasks
    ("db.shop.svc.cluster.local", ["10.88.0.7"]),
    ("shop_db.shop.svc.cluster.local", ["10.88.0.7"]),  # dnsrr: the tasks' addresses
    # cache's alias; billing's "store" is on billing_default, which shop is not on
    ("store.shop.svc.cluster.local", ["10.43.1.3"]),
    # another stack on the shared network finds web by its full name, short name and that network's alias
    ("shop_web.billing.svc.cluster.local", ["10.43.1.1"]),
    ("web.billing.svc.cluster.local", ["10.43.1.1"]),
    ("shop-api.billing.svc.cluster.local", ["10.43.1.1"]),
    ("billing_worker.shop.svc.cluster.local", ["10.88.0.8"]),
    ("worker.shop.svc.cluster.local", ["10.88.0.8"]),
    ("billing_cron.billing.svc.cluster.local", ["10.88.0.9"]),
    ("store.billing.svc.cluster.local", ["10.88.0.9"]),  # billing's own "store" (its default network)
])
def test_names_resolve(qname: str, want: list[str]) -> None:
    ans = index().lookup(qname)
    assert ans.exists and ans.a == want


@pytest.mark.parametrize("qname", [
    "api.billing.svc.cluster.local",  # front's alias: billing is not on front
    "cache.billing.svc.cluster.local",  # cache is on back only
    "shop_web.other.svc.cluster.local",  # other shares no network with shop
    "web.other.svc.cluster.local",
    "billing_cron.shop.svc.cluster.local",  # cron is on billing_default only
    "shop_web.nowhere.svc.cluster.local",
    "nope.shop.svc.cluster.local",
    "shop_web.svc.cluster.local",
    "api.shop.pod.cluster.local",
])
def test_names_that_do_not_resolve(qname: str) -> None:
    assert not index().lookup(qname).exists


def test_an_alias_two_stacks_share_answers_both() -> None:
    # as Swarm's resolver returns every address a network holds for a name
    idx = index()
    extra = services(SHOP.replace("shop-api", "common"), "shop")[0]
    idx.set_service(extra)
    idx.set_service({**services(BILLING.replace("networks: [shared]", "networks: {shared: {aliases: [common]}}"),
                                "billing")[0]})
    assert idx.lookup("common.shop.svc.cluster.local").a == ["10.43.1.1", "10.88.0.8"]
    assert idx.lookup("common.billing.svc.cluster.local").a == ["10.43.1.1", "10.88.0.8"]


def test_updates_and_removals_follow() -> None:
    idx = index()
    web = services(SHOP, "shop")[0]
    idx.del_service(web)
    assert not idx.lookup("api.shop.svc.cluster.local").exists
    assert not idx.lookup("shop_web.billing.svc.cluster.local").exists
    idx.set_service(web)
    assert idx.lookup("api.shop.svc.cluster.local").exists
    idx.set_service({**web, "metadata": {**web["metadata"], "annotations": {}}})  # aliases removed
    assert not idx.lookup("api.shop.svc.cluster.local").exists
    assert idx.lookup("web.shop.svc.cluster.local").a == ["10.43.1.1"]


def test_the_table_alone() -> None:
    t = AliasTable()
    t.set(("a", "x"), {aliases.ANNOTATION: aliases.encode({"n": ["x1", "Y.Z"]})})
    t.set(("b", "w"), {aliases.ANNOTATION: aliases.encode({"n": ["w1"], "m": ["w2"]})})
    assert t.resolve("b", "y.z") == [("a", "x")]  # dotted aliases are names too
    assert t.resolve("a", "w2") == []  # a is not on m
    t.set(("b", "w"), {})
    assert t.resolve("a", "w1") == [] and t.resolve("b", "x1") == []
    t.set(("b", "w"), {aliases.ANNOTATION: aliases.encode({"n": ["w1"]})})
    t.remove(("a", "x"))
    assert t.resolve("b", "x1") == []
