"""admissionregistration.k8s.io/v1: the admission webhooks and the CEL admission policies.

A ``ValidatingWebhookConfiguration`` / ``MutatingWebhookConfiguration`` lists
webhooks; each says which requests it wants (``rules``: operations, groups,
versions, resources with ``/subresource``, scope; ``namespaceSelector``,
``objectSelector``, CEL ``matchConditions``), where it listens (``clientConfig``:
a ``url``, or a ``service`` with path and port, and the ``caBundle`` that
verifies its certificate) and what to do when it cannot be reached
(``failurePolicy``), within ``timeoutSeconds``. A
``ValidatingAdmissionPolicy`` holds CEL ``validations`` run in the API server
itself; a ``ValidatingAdmissionPolicyBinding`` puts a policy into force for the
resources it matches, with a parameter object (``paramRef``) and what a failed
validation does (``validationActions``: Deny, Warn, Audit).

The API server's ``shoal.apiserver.webhooks`` reads these objects; nothing here
does I/O. ``caBundle`` is base64 on the wire (Go's ``[]byte``), kept as text.
"""

from __future__ import annotations

from typing import Annotated

from shoal.api.base import Model, merge_key
from shoal.api.meta import Condition, LabelSelector, ObjectMeta


class ServiceReference(Model):
    namespace: str
    name: str
    path: str | None = None
    port: int | None = None  # defaulted to 443


class WebhookClientConfig(Model):
    url: str | None = None
    service: ServiceReference | None = None
    ca_bundle: str | None = None  # base64 PEM


class RuleWithOperations(Model):
    operations: list[str] | None = None
    api_groups: list[str] | None = None
    api_versions: list[str] | None = None
    resources: list[str] | None = None
    scope: str | None = None  # Cluster, Namespaced or * (the default)


class MatchCondition(Model):
    name: str
    expression: str


class _Webhook(Model):
    name: str
    client_config: WebhookClientConfig
    rules: list[RuleWithOperations] | None = None
    failure_policy: str | None = None  # Fail (default) or Ignore
    match_policy: str | None = None  # Equivalent (default) or Exact
    namespace_selector: LabelSelector | None = None
    object_selector: LabelSelector | None = None
    side_effects: str | None = None  # None or NoneOnDryRun (required)
    timeout_seconds: int | None = None  # 1..30, default 10
    admission_review_versions: list[str] | None = None
    match_conditions: Annotated[list[MatchCondition], merge_key("name")] | None = None


class ValidatingWebhook(_Webhook):
    pass


class MutatingWebhook(_Webhook):
    reinvocation_policy: str | None = None  # Never (default) or IfNeeded


class ValidatingWebhookConfiguration(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    webhooks: Annotated[list[ValidatingWebhook], merge_key("name")] | None = None


class MutatingWebhookConfiguration(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    webhooks: Annotated[list[MutatingWebhook], merge_key("name")] | None = None


# ---- ValidatingAdmissionPolicy ------------------------------------------------------------------


class ParamKind(Model):
    api_version: str | None = None
    kind: str | None = None


class NamedRuleWithOperations(RuleWithOperations):
    resource_names: list[str] | None = None


class MatchResources(Model):
    namespace_selector: LabelSelector | None = None
    object_selector: LabelSelector | None = None
    resource_rules: list[NamedRuleWithOperations] | None = None
    exclude_resource_rules: list[NamedRuleWithOperations] | None = None
    match_policy: str | None = None


class Validation(Model):
    expression: str
    message: str | None = None
    reason: str | None = None  # Unauthorized, Forbidden (default), Invalid, RequestEntityTooLarge
    message_expression: str | None = None


class AuditAnnotation(Model):
    key: str
    value_expression: str


class Variable(Model):
    name: str
    expression: str


class ValidatingAdmissionPolicySpec(Model):
    param_kind: ParamKind | None = None
    match_constraints: MatchResources | None = None
    validations: list[Validation] | None = None
    failure_policy: str | None = None  # Fail (default) or Ignore
    audit_annotations: list[AuditAnnotation] | None = None
    match_conditions: Annotated[list[MatchCondition], merge_key("name")] | None = None
    variables: list[Variable] | None = None


class ExpressionWarning(Model):
    field_ref: str
    warning: str


class TypeChecking(Model):
    expression_warnings: list[ExpressionWarning] | None = None


class ValidatingAdmissionPolicyStatus(Model):
    observed_generation: int | None = None
    type_checking: TypeChecking | None = None
    conditions: Annotated[list[Condition], merge_key("type")] | None = None


class ValidatingAdmissionPolicy(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: ValidatingAdmissionPolicySpec | None = None
    status: ValidatingAdmissionPolicyStatus | None = None


class ParamRef(Model):
    name: str | None = None
    namespace: str | None = None
    selector: LabelSelector | None = None
    parameter_not_found_action: str | None = None  # Allow or Deny


class ValidatingAdmissionPolicyBindingSpec(Model):
    policy_name: str | None = None
    param_ref: ParamRef | None = None
    match_resources: MatchResources | None = None
    validation_actions: list[str] | None = None  # Deny, Warn, Audit


class ValidatingAdmissionPolicyBinding(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: ValidatingAdmissionPolicyBindingSpec | None = None
