"""Calling the webhooks a request concerns, in upstream's order, with upstream's failure rules.

Mutating webhooks run one after another, ordered by configuration name and
then by their place in it; each sees the object as the ones before left it
and may answer a JSON patch. If a webhook with ``reinvocationPolicy:
IfNeeded`` ran before a later one changed the object, it is called once more.
Validating webhooks run concurrently; the first refusal (in their order) wins.

A webhook that cannot be called, times out, or answers something that is not
a valid AdmissionReview fails open (``failurePolicy: Ignore``: logged, the
request goes on) or closed (``Fail``: 500 ``Internal error occurred: failed
calling webhook "<name>": ...``). A refusal is the webhook's Status, named
(``review.denial``). A dry-run request may only reach webhooks that declare
``sideEffects: None`` or ``NoneOnDryRun``; others make it a 400.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shoal.api.patch_errors import PatchError
from shoal.api.patch_json import apply_json_patch, copy_json
from shoal.apiserver import errors, ids
from shoal.apiserver.webhooks import celexpr, matching, review
from shoal.apiserver.webhooks.attributes import Attributes
from shoal.apiserver.webhooks.caller import Caller, CallError

log = logging.getLogger(__name__)

NamespaceLabels = Callable[[str], Awaitable[dict[str, str] | None]]


@dataclass(frozen=True, slots=True)
class Hook:
    """One webhook of a configuration, with its match conditions compiled."""

    configuration: str
    name: str
    mutating: bool
    spec: dict[str, Any]
    conditions: tuple[tuple[str, celexpr.Expr], ...]

    @property
    def fail_open(self) -> bool:
        return self.spec.get("failurePolicy") == "Ignore"

    @property
    def timeout(self) -> int:
        t = self.spec.get("timeoutSeconds")
        return t if isinstance(t, int) and 1 <= t <= 30 else 10

    @property
    def reinvoke(self) -> bool:
        return self.spec.get("reinvocationPolicy") == "IfNeeded"


def hooks_of(configs: list[dict[str, Any]], *, mutating: bool) -> list[Hook]:
    """Every webhook of ``configs`` in calling order (configuration name, then position)."""
    out: list[Hook] = []
    for c in sorted(configs, key=lambda c: str((c.get("metadata") or {}).get("name") or "")):
        cname = str((c.get("metadata") or {}).get("name") or "")
        for w in c.get("webhooks") or []:
            if not isinstance(w, dict):
                continue
            conds = tuple((str(m.get("name")), celexpr.compile_expr(str(m.get("expression") or "")))
                          for m in w.get("matchConditions") or [] if isinstance(m, dict))
            out.append(Hook(cname, str(w.get("name") or ""), mutating, w, conds))
    return out


def internal(message: str) -> errors.ApiError:
    return errors.ApiError(500, "InternalError", f"Internal error occurred: {message}",
                           details={"causes": [{"message": message}]})


def calling_failed(hook: Hook, why: str) -> str:
    return f'failed calling webhook "{hook.name}": {why}'


class Dispatcher:
    """The webhooks of a server, and the calls to them."""

    def __init__(self, caller: Caller, namespace_labels: NamespaceLabels) -> None:
        self.caller = caller
        self._ns_labels = namespace_labels
        self.mutating: list[Hook] = []
        self.validating: list[Hook] = []

    def set_configurations(self, mutating: list[dict[str, Any]], validating: list[dict[str, Any]]) -> None:
        self.mutating = hooks_of(mutating, mutating=True)
        self.validating = hooks_of(validating, mutating=False)

    @staticmethod
    def _rules_match(hook: Hook, attrs: Attributes) -> bool:
        return matching.rules_match(hook.spec.get("rules") or [], attrs, match_policy=hook.spec.get("matchPolicy"))

    def mutates(self, attrs: Attributes) -> bool:
        """Whether some mutating webhook's rules match (cheap: no selector, no I/O)."""
        return any(self._rules_match(h, attrs) for h in self.mutating)

    def validates(self, attrs: Attributes) -> bool:
        return any(self._rules_match(h, attrs) for h in self.validating)

    async def _relevant(self, hooks: list[Hook], attrs: Attributes) -> list[Hook]:
        out: list[Hook] = []
        ns_labels: dict[str, str] | None = None
        looked_up = False
        for h in hooks:
            if not self._rules_match(h, attrs):
                continue
            nsel = h.spec.get("namespaceSelector")
            if not matching.selector_empty(nsel) and matching.needs_namespace(attrs):
                if not looked_up:
                    name, ns_labels = matching.namespace_of_request(attrs)
                    if ns_labels is None:
                        ns_labels = await self._ns_labels(name)
                        if ns_labels is None:
                            raise errors.not_found("namespaces", name)
                    looked_up = True
                if not matching.namespace_matches(nsel, attrs, ns_labels):
                    continue
            if not matching.object_matches(h.spec.get("objectSelector"), attrs):
                continue
            if h.conditions and not self._conditions_hold(h, attrs):
                continue
            out.append(h)
        return out

    def _conditions_hold(self, hook: Hook, attrs: Attributes) -> bool:
        context = {"object": attrs.obj, "oldObject": attrs.old,
                   "request": review.admission_request(attrs, "")}
        failed: list[str] = []
        for name, expr in hook.conditions:
            try:
                if not celexpr.run_bool(expr, context):
                    return False
            except celexpr.EvalError as e:
                failed.append(f"expression '{name}' resulted in error: {e}")
        if failed:
            if hook.fail_open:
                log.warning("match conditions of webhook %s failed, failing open: %s", hook.name, failed)
                return False
            raise errors.forbidden_object(attrs.resource, attrs.name, attrs.group, "; ".join(failed))
        return True

    async def _call(self, hook: Hook, attrs: Attributes) -> review.Verdict | None:
        """The webhook's verdict; None when it could not be called and fails open."""
        if attrs.dry_run and hook.spec.get("sideEffects") not in ("None", "NoneOnDryRun"):
            raise errors.bad_request(f'admission webhook "{hook.name}" does not support dry run')
        uid = ids.new_uid()
        try:
            raw = await self.caller.post(hook.spec.get("clientConfig") or {}, review.request_body(attrs, uid),
                                         timeout=hook.timeout)
            return review.read_response(raw, uid, mutating=hook.mutating)
        except (CallError, review.Undecodable) as e:
            why = calling_failed(hook, f"failed to call webhook: {e}")
        except review.BadResponse as e:
            why = calling_failed(hook, f"received invalid webhook response: {e}")
        if hook.fail_open:
            log.warning("Failed calling webhook, failing open %s: %s", hook.name, why)
            return None
        log.warning("Failed calling webhook, failing closed %s: %s", hook.name, why)
        raise internal(why)

    async def mutate(self, attrs: Attributes) -> list[str]:
        """Run the mutating webhooks; ``attrs.obj`` ends as they left it. Returns their warnings."""
        hooks = await self._relevant(self.mutating, attrs)
        warnings: list[str] = []
        called: list[int] = []  # indexes of the hooks called, in order
        last_change = -1  # position in ``called`` of the last call that changed the object
        for i, hook in enumerate(hooks):
            if await self._mutate_one(hook, attrs, warnings):
                last_change = len(called)
            called.append(i)
        again = [hooks[called[j]] for j in range(last_change) if hooks[called[j]].reinvoke]
        for hook in again:
            await self._mutate_one(hook, attrs, warnings)
        return warnings

    async def _mutate_one(self, hook: Hook, attrs: Attributes, warnings: list[str]) -> bool:
        verdict = await self._call(hook, attrs)
        if verdict is None:
            return False
        warnings += verdict.warnings
        if not verdict.allowed:
            raise review.denial(hook.name, verdict.status)
        if not verdict.patch or attrs.obj is None:
            return False
        try:
            patched = apply_json_patch(copy_json(attrs.obj), verdict.patch)
        except PatchError as e:
            raise internal(calling_failed(hook, f"the JSON patch could not be applied: {e}")) from None
        if not isinstance(patched, dict):
            raise internal(calling_failed(hook, "the patched object is not an object"))
        changed = patched != attrs.obj
        attrs.obj = patched
        return changed

    async def validate(self, attrs: Attributes) -> list[str]:
        """Run the validating webhooks concurrently; raise the first refusal. Returns their warnings."""
        hooks = await self._relevant(self.validating, attrs)
        if not hooks:
            return []
        results = await asyncio.gather(*(self._call(h, attrs) for h in hooks), return_exceptions=True)
        warnings: list[str] = []
        first: BaseException | None = None
        for hook, r in zip(hooks, results, strict=True):
            if isinstance(r, BaseException):
                first = first or r
                continue
            if r is None:
                continue
            warnings += r.warnings
            if not r.allowed and first is None:
                first = review.denial(hook.name, r.status)
        if first is not None:
            raise first
        return warnings
