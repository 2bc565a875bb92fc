"""apiregistration.k8s.io/v1 APIService: which server answers a group version.

Upstream's aggregator registers one APIService per built-in group version
(``v1.``, ``v1.apps``...) with no ``service`` ("Local": served by the API
server itself) and proxies the others to the Service they name. shoal stores
and reports them; a local one is always ``Available``. Proxying comes later.
"""

from __future__ import annotations

from typing import Annotated

from shoal.api.base import Model, merge_key
from shoal.api.meta import ObjectMeta


class ServiceReference(Model):
    namespace: str | None = None
    name: str | None = None
    port: int | None = None


class APIServiceSpec(Model):
    service: ServiceReference | None = None
    group: str | None = None
    version: str | None = None
    insecure_skip_tls_verify: bool | None = None
    ca_bundle: str | None = None
    group_priority_minimum: int = 0
    version_priority: int = 0


class APIServiceCondition(Model):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class APIServiceStatus(Model):
    conditions: Annotated[list[APIServiceCondition], merge_key("type")] | None = None


class APIService(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: APIServiceSpec | None = None
    status: APIServiceStatus | None = None
