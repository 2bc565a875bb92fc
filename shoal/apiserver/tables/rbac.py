"""The RBAC kinds, as upstream prints them.

Roles and ClusterRoles: NAME and CREATED AT (an RFC 3339 time, not an age).
Bindings: NAME, ROLE (``Kind/name``), AGE, and with ``-o wide`` the USERS,
GROUPS and SERVICEACCOUNTS (``namespace/name``) they bind.
"""

from __future__ import annotations

from datetime import datetime

from shoal.api import views
from shoal.apiserver.tables.fields import Obj, age_of, as_dict, as_list, as_str, dig
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

ROLE_COLUMNS = (name_column(), Column("Created At", type="date", description="Time when the role was created"))

BINDING_COLUMNS = (
    name_column(),
    Column("Role", description="Role referenced by this binding"),
    age_column(),
    Column("Users", priority=1, description="Users in the roleBinding"),
    Column("Groups", priority=1, description="Groups in the roleBinding"),
    Column("ServiceAccounts", priority=1, description="ServiceAccounts in the roleBinding"),
)


def role_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), as_str(dig(obj, "metadata", "creationTimestamp"))]


def binding_row(obj: Obj, now: datetime) -> list[Cell]:
    ref = as_dict(obj.get("roleRef"))
    users: list[str] = []
    groups: list[str] = []
    accounts: list[str] = []
    for s in as_list(obj.get("subjects")):
        s = as_dict(s)
        kind, name = as_str(s.get("kind")), as_str(s.get("name"))
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            accounts.append(f"{as_str(s.get('namespace'))}/{name}")
    return [views.name(obj), f"{as_str(ref.get('kind'))}/{as_str(ref.get('name'))}", age_of(obj, now),
            ", ".join(users), ", ".join(groups), ", ".join(accounts)]


PRINTERS: dict[str, Printer] = {
    "Role": Printer(ROLE_COLUMNS, role_row),
    "ClusterRole": Printer(ROLE_COLUMNS, role_row),
    "RoleBinding": Printer(BINDING_COLUMNS, binding_row),
    "ClusterRoleBinding": Printer(BINDING_COLUMNS, binding_row),
}
