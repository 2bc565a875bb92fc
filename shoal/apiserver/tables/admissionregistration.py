"""The admission kinds as ``kubectl get`` shows them (upstream's ``printMutatingWebhook``,
``printValidatingAdmissionPolicy`` and ``printValidatingAdmissionPolicyBinding``).

A webhook configuration counts its webhooks; a policy counts its validations
and names its parameter kind (``<unset>`` without one); a binding names its
policy and its parameter (``namespace/name``, ``*/name`` when no namespace is
given, else the selector).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shoal.api import selectors, views
from shoal.apiserver.tables.fields import Obj, age_of, as_str, dig
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

WEBHOOK_COLUMNS = (
    name_column(),
    Column("Webhooks", type="integer", description="Webhooks indicates the number of webhooks in the configuration."),
    age_column(),
)


def webhooks_row(obj: Obj, now: datetime) -> list[Cell]:
    hooks = obj.get("webhooks")
    return [views.name(obj), len(hooks) if isinstance(hooks, list) else 0, age_of(obj, now)]


POLICY_COLUMNS = (
    name_column(),
    Column("Validations", type="integer", description="Validations indicates the number of validation rules."),
    Column("ParamKind", description="ParamKind specifies the kind of resources used to parameterize this policy"),
    age_column(),
)


def policy_row(obj: Obj, now: datetime) -> list[Cell]:
    validations = dig(obj, "spec", "validations")
    pk = dig(obj, "spec", "paramKind")
    param = f"{as_str(pk.get('apiVersion'))}/{as_str(pk.get('kind'))}" if isinstance(pk, dict) else "<unset>"
    return [views.name(obj), len(validations) if isinstance(validations, list) else 0, param, age_of(obj, now)]


BINDING_COLUMNS = (
    name_column(),
    Column("PolicyName", description="PolicyName indicates the policy definition which the policy binding binded to."),
    Column("ParamRef", description="ParamRef indicates the param resource which sets the configration param"),
    age_column(),
)


def _param_ref(ref: Any) -> str:
    if not isinstance(ref, dict):
        return "<unset>"
    name = ref.get("name")
    if isinstance(name, str) and name:
        ns = ref.get("namespace")
        return f"{ns}/{name}" if isinstance(ns, str) and ns else f"*/{name}"
    sel = ref.get("selector")
    if isinstance(sel, dict):
        return selectors.selector_to_string(sel)
    return "<unset>"


def binding_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), as_str(dig(obj, "spec", "policyName")), _param_ref(dig(obj, "spec", "paramRef")),
            age_of(obj, now)]


PRINTERS = {
    "MutatingWebhookConfiguration": Printer(WEBHOOK_COLUMNS, webhooks_row),
    "ValidatingWebhookConfiguration": Printer(WEBHOOK_COLUMNS, webhooks_row),
    "ValidatingAdmissionPolicy": Printer(POLICY_COLUMNS, policy_row),
    "ValidatingAdmissionPolicyBinding": Printer(BINDING_COLUMNS, binding_row),
}
