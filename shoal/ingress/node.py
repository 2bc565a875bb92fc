"""The ingress of one node: informers in, one HAProxy kept equal to them, status and Events out.

Runs per node, beside the service proxy (as k3s runs its bundled proxy on
every node's ports 80 and 443): each node renders the same configuration from
the same objects, so any node's address serves any Ingress. The proxy
process starts with the first Ingress or Gateway of shoal's (a cluster that
uses none runs none) and is then kept: every change re-renders (debounced),
and ``HAProxy.apply`` chooses between nothing, a runtime weight update and a
seamless reload. A proxy that exits is started again from a fresh render.

The server's node reads TLS Secrets with a cluster-wide informer; an
agent's (``secrets_by_name``), whose node credential may not list Secrets,
watches by name exactly the ones its proxy serves, which is exactly what the
Node authorizer lets every node read (``secretwatch``).

One node (``report=True``: the server's own) also writes what users read -
``status.loadBalancer`` of Ingresses, Gateways' and HTTPRoutes' status, and the
Events for conflicts and unusable Secrets - and runs the Rollout controller,
which reads this node's proxy counters. Status lists the nodes' addresses
(``addresses``, else the InternalIPs of the Nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from shoal.api import views as v
from shoal.api.ingresssecrets import (
    GATEWAY_CONTROLLER,
    gateway_class_is_ours,
    ingress_is_ours,
    served_secrets,
)
from shoal.api.referencegrants import GATEWAY_GROUP
from shoal.client import ApiClient, ApiException, Informer, InformerFactory
from shoal.client.events import EventRecorder
from shoal.ingress import rolloutplan
from shoal.ingress.backends import ClusterView, ServiceKey
from shoal.ingress.gatewayroutes import collect_gateways, our_gateways
from shoal.ingress.haproxy import HAProxy, ProxyError
from shoal.ingress.haproxycfg import Settings, render
from shoal.ingress.ingressroutes import collect_ingresses
from shoal.ingress.model import Collected, Unresolved, finish
from shoal.ingress.resources import (
    GATEWAY_CLASSES,
    GATEWAYS,
    HTTPROUTES,
    REFERENCE_GRANTS,
    ROLLOUTS,
)
from shoal.ingress.secretwatch import NamedSecrets

log = logging.getLogger(__name__)


def _by_key(inf: Informer) -> dict[ServiceKey, dict[str, Any]]:
    return {(v.namespace(o), v.name(o)): o for o in inf.list()}


class IngressNode:
    def __init__(self, client: ApiClient, *, run_dir: str, bind: str = "0.0.0.0", http_port: int = 80,
                 https_port: int = 443, report: bool = True, addresses: Sequence[str] = (),
                 debounce: float = 0.05, rollouts: bool = True, secrets_by_name: bool = False) -> None:
        self.client = client
        self.settings = Settings(run_dir=run_dir, bind=bind, http_port=http_port, https_port=https_port)
        self.report = report
        self.addresses = tuple(addresses)
        self.debounce = debounce
        self.factory = InformerFactory(client)
        f = self.factory
        self.ingresses, self.classes = f.informer("ingresses"), f.informer("ingressclasses")
        self.services, self.endpoints = f.informer("services"), f.informer("endpoints")
        # TLS Secrets: the server's node lists them all; a node's own credential may not (the Node authorizer),
        # so an agent watches, by name, exactly the ones its proxy serves (``secretwatch``), as it may
        self.secrets: Informer | None = None if secrets_by_name else f.informer("secrets")
        self.named_secrets = NamedSecrets(client, lambda: self._changed(None)) if secrets_by_name else None
        self.nodes = f.informer("nodes")
        self.gateway_classes, self.gateways = f.informer(GATEWAY_CLASSES), f.informer(GATEWAYS)
        self.httproutes, self.rollouts = f.informer(HTTPROUTES), f.informer(ROLLOUTS)
        self.grants = f.informer(REFERENCE_GRANTS)
        self.proxy = HAProxy(self.settings, on_exit=lambda rc: self._dirty.set())
        self.recorder = EventRecorder(client, "shoal-ingress")
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reported: set[tuple[str, str, str, str, str]] = set()
        self.syncs = 0
        self.last_action = ""
        for inf in (self.ingresses, self.classes, self.services, self.endpoints, self.secrets, self.gateway_classes,
                    self.gateways, self.httproutes, self.rollouts, self.nodes, self.grants):
            if inf is None:
                continue
            inf.add_handler(on_add=self._changed, on_update=lambda o, n: self._changed(n), on_delete=self._changed)
        self.rollout_controller: Any = None
        if report and rollouts:
            from shoal.ingress.rollouts import RolloutController

            self.rollout_controller = RolloutController(client, self.factory, self.proxy, self.recorder)

    def _changed(self, _obj: object) -> None:
        self._dirty.set()

    async def start(self) -> None:
        self.factory.start()
        for inf in (self.ingresses, self.classes, self.services, self.endpoints, self.secrets):
            if inf is not None:
                await inf.wait_synced(30)
        if self.rollout_controller is not None:
            await self.rollout_controller.start()
        self._dirty.set()
        self._task = asyncio.create_task(self._loop(), name="ingress-sync")

    async def _loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)
            self._dirty.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except (ProxyError, OSError) as e:
                log.warning("ingress sync failed: %s; retrying", e)
                await asyncio.sleep(1)
                self._dirty.set()
            except Exception:
                log.exception("ingress sync failed; retrying")
                await asyncio.sleep(1)
                self._dirty.set()

    def view(self) -> ClusterView:
        splits: dict[ServiceKey, tuple[tuple[str, int], ...]] = {}
        for ro in self.rollouts.list():
            s = rolloutplan.split(v.spec(ro), v.status(ro))
            if s is not None:
                splits[(v.namespace(ro), s[0])] = s[1]
        return ClusterView(services=_by_key(self.services), endpoints=_by_key(self.endpoints),
                           secrets=self._secrets(), splits=splits)

    def _secrets(self) -> dict[ServiceKey, dict[str, Any]]:
        if self.named_secrets is not None:
            return self.named_secrets.by_key()
        return _by_key(self.secrets) if self.secrets is not None else {}

    def served_secrets(self) -> frozenset[tuple[str, str]]:
        """The TLS Secrets this node's proxy serves (and, by the same rule, may read)."""
        return served_secrets(self.ingresses.list(), self.classes.list(), self.gateways.list(),
                              self.gateway_classes.list(), self.grants.list())

    def collect(self) -> tuple[Collected, dict[tuple[str, str], list[tuple[str, str]]]]:
        view = self.view()
        c = Collected()
        collect_ingresses(self.ingresses.list(), self.classes.list(), view, c)
        parents = collect_gateways(self.gateway_classes.list(), self.gateways.list(), self.httproutes.list(), view, c,
                                   self.grants.list())
        return c, parents

    async def sync(self) -> None:
        if self.named_secrets is not None:
            await self.named_secrets.want(self.served_secrets())
        c, parents = self.collect()
        cfg = finish(c)
        has_objects = bool(self.ingresses.list()) or bool(our_gateways(self.gateway_classes.list(),
                                                                        self.gateways.list()))
        if self.proxy.running or has_objects:
            self.last_action = await self.proxy.apply(render(cfg, self.settings))
        self.syncs += 1
        if self.report:
            await self._report(c, parents)

    # --- what users read -------------------------------------------------------------------

    def status_addresses(self) -> list[str]:
        if self.addresses:
            return list(self.addresses)
        return sorted({a for n in self.nodes.list() if (a := v.node_address(n))})

    async def _report(self, c: Collected, parents: dict[tuple[str, str], list[tuple[str, str]]]) -> None:
        for p in c.problems:
            key = (p.kind, p.namespace, p.name, p.reason, p.message)
            if key in self._reported:
                continue
            self._reported.add(key)
            inf = {"Ingress": self.ingresses, "Gateway": self.gateways, "HTTPRoute": self.httproutes}[p.kind]
            obj = inf.get_by(p.namespace, p.name)
            if obj is not None:
                log.info("ingress: %s %s/%s: %s", p.kind, p.namespace, p.name, p.message)
                await self.recorder.event({**obj, "kind": p.kind, "apiVersion": obj.get("apiVersion")},
                                          "Warning" if p.warning else "Normal", p.reason, p.message)
        addrs = self.status_addresses()
        lb = {"ingress": [{"ip": a} for a in addrs]} if addrs else {}
        for ing in self.ingresses.list():
            if ingress_is_ours(ing, self.classes.list()) and (v.status(ing).get("loadBalancer") or {}) != lb:
                await self._patch_status("ingresses", ing, {"loadBalancer": lb})
        for gc in self.gateway_classes.list():
            if gateway_class_is_ours(gc) and not v.condition_true(gc, "Accepted"):
                await self._patch_status(GATEWAY_CLASSES, gc, {"conditions": [_cond(gc, "Accepted", "Accepted")]})
        for gw in our_gateways(self.gateway_classes.list(), self.gateways.list()):
            want = {"addresses": [{"type": "IPAddress", "value": a} for a in addrs],
                    "conditions": [_cond(gw, "Accepted", "Accepted"), _cond(gw, "Programmed", "Programmed")],
                    "listeners": _listener_statuses(gw, c)}
            if {k: v.status(gw).get(k) for k in want} != want:
                await self._patch_status(GATEWAYS, gw, want)
        for (ns, name), gws in parents.items():
            route = self.httproutes.get_by(ns, name)
            if route is None:
                continue
            want_parents = {"parents": [{"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                       "namespace": gns, "name": gname},
                                         "controllerName": GATEWAY_CONTROLLER,
                                         "conditions": _route_conditions(route, gns, gname, c.unresolved.get((ns, name)))}
                                        for gns, gname in gws]}
            if v.status(route).get("parents") != want_parents["parents"]:
                await self._patch_status(HTTPROUTES, route, want_parents)

    async def _patch_status(self, res: Any, obj: Mapping[str, Any], status: dict[str, Any]) -> None:
        try:
            await self.client.patch(res, v.name(obj), {"status": status}, v.namespace(obj) or None,
                                    subresource="status")
        except ApiException as e:
            if e.status not in (404, 409):
                raise

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.rollout_controller is not None:
            await self.rollout_controller.stop()
        await self.proxy.stop()
        if self.named_secrets is not None:
            await self.named_secrets.stop()
        await self.factory.stop()


def _listener_statuses(gw: Mapping[str, Any], c: Collected) -> list[dict[str, Any]]:
    """A Gateway's ``status.listeners``, upstream's shape: a listener whose certificateRefs do not all resolve
    is ResolvedRefs=False (RefNotPermitted, InvalidCertificateRef) and Programmed=False (Invalid), although its
    hosts are still served, with the default certificate."""
    ns, name = v.namespace(gw), v.name(gw)
    before = {str(s.get("name")): s for s in v.as_list(v.status(gw).get("listeners")) if isinstance(s, dict)}
    out = []
    for li in v.as_list(v.spec(gw).get("listeners")):
        if not isinstance(li, dict):
            continue
        lname = str(li.get("name") or "")
        was = {"metadata": v.meta(gw), "status": {"conditions": (before.get(lname) or {}).get("conditions")}}
        bad = c.listener_refs.get((ns, name, lname))
        served = li.get("protocol") in ("HTTP", "HTTPS")
        conds = [_cond(was, "Accepted", "Accepted") if served
                 else _cond(was, "Accepted", "UnsupportedProtocol", status="False",
                            message=f"protocol {li.get('protocol')} is not served (HTTP and HTTPS are)")]
        if bad is None:
            conds += [_cond(was, "Programmed", "Programmed") if served
                      else _cond(was, "Programmed", "Invalid", status="False"),
                      _cond(was, "ResolvedRefs", "ResolvedRefs")]
        else:
            conds += [_cond(was, "Programmed", "Invalid", status="False", message=bad.message),
                      _cond(was, "ResolvedRefs", bad.reason, status="False", message=bad.message)]
        out.append({"name": lname, "attachedRoutes": c.attached.get((ns, name, lname), 0), "conditions": conds,
                    "supportedKinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}] if served else []})
    return out


def _route_conditions(route: Mapping[str, Any], gns: str, gname: str, bad: Unresolved | None) -> list[dict[str, Any]]:
    """An HTTPRoute's conditions for one parent Gateway; a route's conditions are per parent (status.parents[]),
    so that parent's earlier ones are what keep their transition times."""
    was: Mapping[str, Any] = route
    for p in v.as_list(v.status(route).get("parents")):
        ref = p.get("parentRef") or {} if isinstance(p, dict) else {}
        if (ref.get("namespace"), ref.get("name")) == (gns, gname):
            was = {"metadata": v.meta(route), "status": {"conditions": p.get("conditions")}}
    resolved = (_cond(was, "ResolvedRefs", "ResolvedRefs") if bad is None
                else _cond(was, "ResolvedRefs", bad.reason, status="False", message=bad.message))
    return [_cond(was, "Accepted", "Accepted"), resolved]


def _cond(obj: Mapping[str, Any], type_: str, reason: str, *, status: str = "True",
          message: str = "") -> dict[str, Any]:
    """A condition, keeping its transition time if its status was already this one (so status stays equal)."""
    prev = v.condition(obj, type_)
    when = prev.get("lastTransitionTime") if prev is not None and prev.get("status") == status else None
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": when or v.format_time(v.utcnow()),
            "observedGeneration": int(v.meta(obj).get("generation") or 1)}
