"""apiextensions.k8s.io/v1 CustomResourceDefinition: the kind that defines kinds.

The schema of a version (``openAPIV3Schema``) is kept as the JSON it arrived as:
it is itself a JSON Schema (recursive, with ``x-kubernetes-*`` extensions), and
``shoal.api.crd`` compiles and checks it; a typed model of every JSONSchemaProps
field would only be walked back into a dict.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shoal.api.base import Model
from shoal.api.meta import ObjectMeta


class CustomResourceDefinitionNames(Model):
    plural: str | None = None
    singular: str | None = None
    short_names: list[str] | None = None
    kind: str | None = None
    list_kind: str | None = None
    categories: list[str] | None = None


class CustomResourceValidation(Model):
    open_apiv3_schema: dict[str, Any] | None = msgspec.field(default=None, name="openAPIV3Schema")


class CustomResourceSubresourceScale(Model):
    spec_replicas_path: str | None = None
    status_replicas_path: str | None = None
    label_selector_path: str | None = None


class CustomResourceSubresources(Model):
    status: dict[str, Any] | None = None
    scale: CustomResourceSubresourceScale | None = None


class CustomResourceColumnDefinition(Model):
    name: str | None = None
    type: str | None = None
    format: str | None = None
    description: str | None = None
    priority: int | None = None
    json_path: str | None = None


class SelectableField(Model):
    json_path: str | None = None


class CustomResourceDefinitionVersion(Model):
    name: str | None = None
    served: bool | None = None
    storage: bool | None = None
    deprecated: bool | None = None
    deprecation_warning: str | None = None
    schema: CustomResourceValidation | None = None
    subresources: CustomResourceSubresources | None = None
    additional_printer_columns: list[CustomResourceColumnDefinition] | None = None
    selectable_fields: list[SelectableField] | None = None


class ServiceReference(Model):
    namespace: str | None = None
    name: str | None = None
    path: str | None = None
    port: int | None = None


class WebhookClientConfig(Model):
    url: str | None = None
    service: ServiceReference | None = None
    ca_bundle: str | None = None


class WebhookConversion(Model):
    client_config: WebhookClientConfig | None = None
    conversion_review_versions: list[str] | None = None


class CustomResourceConversion(Model):
    strategy: str | None = None
    webhook: WebhookConversion | None = None


class CustomResourceDefinitionSpec(Model):
    group: str | None = None
    names: CustomResourceDefinitionNames | None = None
    scope: str | None = None
    versions: list[CustomResourceDefinitionVersion] | None = None
    conversion: CustomResourceConversion | None = None
    preserve_unknown_fields: bool | None = None


class CustomResourceDefinitionCondition(Model):
    type: str | None = None
    status: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class CustomResourceDefinitionStatus(Model):
    conditions: list[CustomResourceDefinitionCondition] | None = None
    accepted_names: CustomResourceDefinitionNames | None = None
    stored_versions: list[str] | None = None


class CustomResourceDefinition(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: CustomResourceDefinitionSpec | None = None
    status: CustomResourceDefinitionStatus | None = None
