"""Upstream's defaults for admissionregistration.k8s.io/v1 (``SetDefaults_*Webhook``, ``*AdmissionPolicy``).

A webhook fails closed (``failurePolicy: Fail``), matches equivalent versions,
selects every namespace and object, waits 10 s and is not called again
(``reinvocationPolicy: Never``); a rule's scope is ``*``; a service is reached on
port 443. A policy fails closed and its match constraints (and a binding's
match resources) default the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.api.meta import LabelSelector
from shoal.api.models.admissionregistration import (
    MatchResources,
    MutatingWebhook,
    MutatingWebhookConfiguration,
    RuleWithOperations,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
    ValidatingWebhook,
    ValidatingWebhookConfiguration,
)


def _rules(rules: list[Any] | None) -> None:
    for r in rules or []:
        if isinstance(r, RuleWithOperations) and r.scope is None:
            r.scope = "*"


def _webhook(w: ValidatingWebhook | MutatingWebhook) -> None:
    if w.failure_policy is None:
        w.failure_policy = "Fail"
    if w.match_policy is None:
        w.match_policy = "Equivalent"
    if w.namespace_selector is None:
        w.namespace_selector = LabelSelector()
    if w.object_selector is None:
        w.object_selector = LabelSelector()
    if w.timeout_seconds is None:
        w.timeout_seconds = 10
    if isinstance(w, MutatingWebhook) and w.reinvocation_policy is None:
        w.reinvocation_policy = "Never"
    svc = w.client_config.service
    if svc is not None and svc.port is None:
        svc.port = 443
    _rules(w.rules)


def default_webhook_configuration(c: ValidatingWebhookConfiguration | MutatingWebhookConfiguration) -> None:
    for w in c.webhooks or []:
        _webhook(w)


def _match_resources(m: MatchResources | None) -> None:
    if m is None:
        return
    if m.match_policy is None:
        m.match_policy = "Equivalent"
    if m.namespace_selector is None:
        m.namespace_selector = LabelSelector()
    if m.object_selector is None:
        m.object_selector = LabelSelector()
    _rules(m.resource_rules)
    _rules(m.exclude_resource_rules)


def default_policy(p: ValidatingAdmissionPolicy) -> None:
    if p.spec is None:
        return
    if p.spec.failure_policy is None:
        p.spec.failure_policy = "Fail"
    _match_resources(p.spec.match_constraints)


def default_binding(b: ValidatingAdmissionPolicyBinding) -> None:
    if b.spec is not None:
        _match_resources(b.spec.match_resources)


DEFAULTERS: dict[type, Callable[[Any], None]] = {
    ValidatingWebhookConfiguration: default_webhook_configuration,
    MutatingWebhookConfiguration: default_webhook_configuration,
    ValidatingAdmissionPolicy: default_policy,
    ValidatingAdmissionPolicyBinding: default_binding,
}
