"""Deploying a Compose stack: what ``docker stack deploy`` does on the client side, for every caller.

``shoal stack deploy`` and the API's ``POST /shoal/v1/apply`` (the web UI's
deploy page) both deploy a parsed Compose file (``shoal.formats.compose``)
through the ``SwarmBackend`` the Swarm API serves, so a stack deployed by
any of them (or by ``docker stack deploy``) is the same objects and any of
them can update or remove it: the stack's networks are created, its secrets
and configs created or updated, each service created or updated (and, with
``prune``, services no longer in the file removed). ``say`` receives one line
per step, as the docker CLI prints them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shoal.compat.docker.backend import SwarmBackend
from shoal.formats.compose import Stack
from shoal.formats.swarm.names import STACK_LABEL
from shoal.formats.swarm.wire import SpecError


def stack_filters(stack: str) -> str:
    """The Swarm API's ``filters`` for the objects of one stack."""
    return json.dumps({"label": {f"{STACK_LABEL}={stack}": True}})


async def deploy(b: SwarmBackend, st: Stack, *, prune: bool, say: Callable[[str], Any]) -> None:
    """Create or update the stack ``st.name`` as its Compose file says; a refusal is a ``SpecError``."""
    existing_nets = {n["Name"] for n in await b.list_networks(None)}
    for ext in st.external_networks:
        if ext not in existing_nets:
            raise SpecError(f"network {ext!r} is declared as external, but could not be found. You need to "
                            "create a swarm-scoped network before the stack is deployed")
    for net in st.networks:
        if net["Name"] not in existing_nets:
            say(f"Creating network {net['Name']}")
            await b.create_network(net)
    for kind, specs in (("secret", st.secrets), ("config", st.configs)):
        for spec in specs:
            try:
                cur = await b.inspect_data(kind, spec["Name"])
            except SpecError as e:
                if e.status != 404:
                    raise
                say(f"Creating {kind} {spec['Name']}")
                await b.create_data(kind, spec)
            else:
                await b.update_data(kind, cur["ID"], str(cur["Version"]["Index"]), spec)
    current = {s["Spec"]["Name"]: s for s in await b.list_services(stack_filters(st.name), status=False)}
    for spec in st.services:
        svc = current.get(spec["Name"])
        if svc is None:
            say(f"Creating service {spec['Name']}")
            await b.create_service(spec)
        else:
            say(f"Updating service {spec['Name']} (id: {svc['ID']})")
            spec["TaskTemplate"]["ForceUpdate"] = svc["Spec"]["TaskTemplate"].get("ForceUpdate", 0)
            await b.update_service(svc["ID"], str(svc["Version"]["Index"]), spec, rollback=False)
    if prune:
        wanted = {s["Name"] for s in st.services}
        for sname, svc in current.items():
            if sname not in wanted:
                say(f"Removing service {sname}")
                await b.delete_service(svc["ID"])
