"""The ``pods/eviction`` subresource: a delete that honours PodDisruptionBudgets.

``POST .../pods/<name>/eviction`` with a policy/v1 (or v1beta1, as older
kubectl sends) ``Eviction`` body. This module only reads and writes; what to
do is ``evictplan.plan_eviction``'s decision over the pod and the budgets of
its namespace, both read fresh for each attempt:

* a budget is spent by writing its status with the version it was read at as
  the precondition, so two evictions racing for the last allowed disruption
  cannot both have it (the loser plans again and gets the 429);
* the pod is then marked ``DisruptionTarget`` (reason ``EvictionByEvictionAPI``,
  as upstream) and deleted with the eviction's DeleteOptions, plus, where the
  plan requires it, the pod's resourceVersion as precondition; a pod that
  changed meanwhile is planned again;
* success is ``Status`` Success with code 201, as upstream's create answers.

kubectl drain retries a 429 every five seconds until the budget allows the
eviction (the disruption controller raises ``disruptionsAllowed`` again once
the replacement pod is ready).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from aiohttp import web

from shoal.api import kinds
from shoal.apiserver import errors, evictplan
from shoal.apiserver.clock import Clock, fmt_time, utcnow
from shoal.apiserver.resource import Resource

log = logging.getLogger(__name__)

API_VERSIONS = ("policy/v1", "policy/v1beta1")
ATTEMPTS = 20  # upstream's EvictionsRetry steps
SUCCESS = msgspec.json.encode({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                               "code": 201})
BUDGETS = kinds.lookup("policy", "v1", "poddisruptionbudgets")
_DISRUPTION_PATCH = "application/strategic-merge-patch+json"


def check_body(body: Any, name: str, ns: str | None) -> dict[str, Any]:
    """The eviction's DeleteOptions (``{}`` if none), once the body is a well-formed Eviction for ``name``."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request must be an Eviction object")
    kind, av = body.get("kind"), body.get("apiVersion")
    if kind not in (None, "Eviction") or av not in (None, *API_VERSIONS):
        raise errors.bad_request(f"the body of the request must be a policy/v1 Eviction, not {av} {kind}")
    md = body.get("metadata") or {}
    if not isinstance(md, dict):
        raise errors.bad_request("metadata: must be an object")
    if md.get("name") != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    if md.get("namespace") and ns and md["namespace"] != ns:
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
    opts = body.get("deleteOptions")
    if opts is None:
        return {}
    if not isinstance(opts, dict):
        raise errors.bad_request("deleteOptions: must be an object")
    return dict(opts)


async def evict(pods: Resource, budgets: Resource, ns: str | None, name: str, opts: dict[str, Any], *,
                dry_run: bool, clock: Clock = utcnow) -> web.Response:
    """Carry out the eviction of pod ``ns/name`` with DeleteOptions ``opts`` (already checked)."""
    pre = opts.get("preconditions") or {}
    user_rv = pre.get("resourceVersion")
    for _ in range(ATTEMPTS):
        pod = (await pods.get(ns, name)).obj
        listed = await budgets.list(ns, want_objects=True)
        plan = evictplan.plan_eviction(pod, listed.objs or [], now=clock(), dry_run=dry_run,
                                       user_precondition_rv=bool(user_rv))
        if isinstance(plan, evictplan.Refuse):
            if plan.error.code == 500:  # a result, not an error, upstream: no reason
                return web.Response(body=plan.error.body(), status=500, content_type="application/json")
            raise plan.error
        precondition_rv = user_rv
        if isinstance(plan, evictplan.Spend):
            if not dry_run and not await _spend(budgets, ns, plan):
                continue  # the budget changed since it was read: plan again
        elif plan.precondition_rv:
            precondition_rv = plan.precondition_rv
        try:
            if not dry_run:
                # the condition's write must find the version the delete requires; the delete then requires
                # the version that write made
                precondition_rv = await _mark_disruption_target(pods, ns, name, pod, precondition_rv, clock)
            await pods.delete(ns, name, grace_seconds=opts.get("gracePeriodSeconds"),
                              precondition_uid=pre.get("uid"), precondition_rv=precondition_rv, dry_run=dry_run,
                              propagation=opts.get("propagationPolicy"))
        except errors.ApiError as e:
            if e.code == 409 and precondition_rv and not user_rv:
                continue  # the pod changed since it was read (the server's own precondition): plan again
            raise
        return web.Response(body=SUCCESS, status=201, content_type="application/json")
    raise errors.ApiError(504, "Timeout", f"couldn't update PodDisruptionBudget for pod {name!r} due to conflicts",
                          details={"retryAfterSeconds": 10}, headers={"Retry-After": "10"})


async def _spend(budgets: Resource, ns: str | None, plan: evictplan.Spend) -> bool:
    """Write the budget's decremented status at the version it was planned from; False on a conflict."""
    body = (await budgets.get(ns, plan.budget)).obj
    if body["metadata"].get("resourceVersion") != plan.budget_rv:
        return False
    body["status"] = plan.new_status
    try:
        await budgets.update(ns, plan.budget, body, subresource="status", field_validation="Ignore")
    except errors.ApiError as e:
        if e.code in (404, 409):
            return False
        raise
    return True


async def _mark_disruption_target(pods: Resource, ns: str | None, name: str, pod: dict[str, Any],
                                  precondition_rv: str | None, clock: Clock) -> str | None:
    """Add the ``DisruptionTarget`` condition upstream sets before an eviction deletes a pod.

    With ``precondition_rv`` the write requires that version (409 if the pod changed) and the
    version it wrote is returned, for the delete to require in turn.
    """
    for c in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == "DisruptionTarget" and c.get("status") == "True":
            return precondition_rv
    cond = {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
            "lastTransitionTime": fmt_time(clock()), "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting"}
    if precondition_rv is None:
        patch = msgspec.json.encode({"status": {"conditions": [cond]}})
        await pods.patch(ns, name, patch, _DISRUPTION_PATCH, subresource="status", field_validation="Ignore")
        return None
    status = dict(pod.get("status") or {})
    status["conditions"] = [*(status.get("conditions") or []), cond]
    body = {**pod, "metadata": {**pod["metadata"], "resourceVersion": precondition_rv}, "status": status}
    r = await pods.update(ns, name, body, subresource="status", field_validation="Ignore")
    rv = r.obj["metadata"].get("resourceVersion")
    return str(rv) if rv else precondition_rv
