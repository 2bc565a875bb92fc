"""Configuration kinds: ConfigMap, Secret and ServiceAccount, shown by counts.

Values are never printed; DATA counts keys (a ConfigMap's ``data`` plus
``binaryData``), SECRETS counts a service account's listed secrets.
"""

from __future__ import annotations

from datetime import datetime

from shoal.api import views
from shoal.apiserver.tables.fields import Obj, age_of, as_dict, as_list, as_str
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

CONFIGMAP_COLUMNS = (
    name_column(),
    Column("Data", description="Data contains the configuration data."),
    age_column(),
)


def configmap_row(obj: Obj, now: datetime) -> list[Cell]:
    count = len(as_dict(obj.get("data"))) + len(as_dict(obj.get("binaryData")))
    return [views.name(obj), count, age_of(obj, now)]


SECRET_COLUMNS = (
    name_column(),
    Column("Type", description="Used to facilitate programmatic handling of secret data."),
    Column("Data", description="Data contains the secret data."),
    age_column(),
)


def secret_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), as_str(obj.get("type")), len(as_dict(obj.get("data"))), age_of(obj, now)]


SERVICEACCOUNT_COLUMNS = (
    name_column(),
    Column(
        "Secrets",
        description="Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    ),
    age_column(),
)


def serviceaccount_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), len(as_list(obj.get("secrets"))), age_of(obj, now)]


PRINTERS = {
    "ConfigMap": Printer(CONFIGMAP_COLUMNS, configmap_row),
    "Secret": Printer(SECRET_COLUMNS, secret_row),
    "ServiceAccount": Printer(SERVICEACCOUNT_COLUMNS, serviceaccount_row),
}
