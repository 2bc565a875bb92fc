"""``shoal stack deploy|ls|ps|rm``: Compose stacks without the docker CLI.

It does what ``docker stack deploy`` does on the client side — read the
Compose file (``shoal.formats.compose``), create the stack's networks,
create or update its secrets and configs, create or update each service —
through the same ``SwarmBackend`` the Swarm API serves, so a stack deployed
by either tool is the same objects and either tool can update or remove it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from shoal.datadir import DataDir, default_data_dir
from shoal.formats.swarm.names import STACK_LABEL


def _client(kubeconfig: str | None, data_dir: str | None) -> Any:
    from shoal.client import ApiClient

    path = kubeconfig or os.environ.get("KUBECONFIG") or str(
        DataDir(Path(data_dir).expanduser() if data_dir else default_data_dir()).admin_kubeconfig)
    if not Path(path).exists():
        click.echo(f"no kubeconfig at {path}: start `shoal server` or pass --kubeconfig", err=True)
        sys.exit(1)
    return ApiClient.from_kubeconfig(path)


def _filters(stack: str) -> str:
    from shoal.compat.docker.stack import stack_filters

    return stack_filters(stack)


def _run(kubeconfig: str | None, data_dir: str | None, work: Any) -> None:
    from shoal.compat.docker.backend import SwarmBackend
    from shoal.formats.swarm.wire import SpecError

    async def main() -> None:
        async with _client(kubeconfig, data_dir) as client:
            await work(SwarmBackend(client))

    try:
        asyncio.run(main())
    except SpecError as e:
        click.echo(f"Error: {e.message}", err=True)
        sys.exit(1)


common = [click.option("--kubeconfig", help="Kubeconfig of the cluster (default $KUBECONFIG, else the data "
                                            "dir's admin.kubeconfig)."),
          click.option("--data-dir", help="The server's data dir (for its admin.kubeconfig).")]


def _common(f: Any) -> Any:
    for opt in reversed(common):
        f = opt(f)
    return f


@click.group()
def stack() -> None:
    """Deploy and manage Compose stacks (as `docker stack` does, without the docker CLI)."""


@stack.command()
@click.option("-c", "--compose-file", "compose_file", required=True, type=click.Path(dir_okay=False),
              help="Path to the Compose file ('-' for stdin).")
@click.option("--prune", is_flag=True, help="Remove services that are no longer in the file.")
@click.argument("name")
@_common
def deploy(compose_file: str, prune: bool, name: str, kubeconfig: str | None, data_dir: str | None) -> None:
    """Deploy a new stack or update an existing one."""
    from shoal.formats.compose import ComposeError, load, parse_dotenv
    from shoal.formats.swarm.names import stack_namespace
    from shoal.formats.swarm.wire import SpecError

    try:
        stack_namespace(name)
    except SpecError as e:
        raise click.BadParameter(e.message, param_hint="NAME") from None
    if compose_file == "-":
        text, workdir = sys.stdin.read(), os.getcwd()
    else:
        try:
            text = Path(compose_file).read_text()
        except OSError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)
        workdir = str(Path(compose_file).resolve().parent)
    env: dict[str, str] = {}
    dotenv = Path(workdir) / ".env"
    if dotenv.exists():
        env.update(parse_dotenv(dotenv.read_text()))
    env.update(os.environ)
    try:
        st = load(text, name, env=env, filename=compose_file, workdir=workdir,
                  read=lambda p: Path(p).read_bytes())
    except ComposeError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(1)
    for w in st.warnings:
        click.echo(w, err=True)

    async def work(b: Any) -> None:
        from shoal.compat.docker.stack import deploy as deploy_stack

        await deploy_stack(b, st, prune=prune, say=click.echo)

    _run(kubeconfig, data_dir, work)


@stack.command("ls")
@_common
def ls(kubeconfig: str | None, data_dir: str | None) -> None:
    """List stacks."""
    async def work(b: Any) -> None:
        counts: dict[str, int] = {}
        for s in await b.list_services(json.dumps({"label": {STACK_LABEL: True}}), status=False):
            counts[s["Spec"]["Labels"][STACK_LABEL]] = counts.get(s["Spec"]["Labels"][STACK_LABEL], 0) + 1
        click.echo(f"{'NAME':<20} SERVICES")
        for n in sorted(counts):
            click.echo(f"{n:<20} {counts[n]}")

    _run(kubeconfig, data_dir, work)


@stack.command()
@click.argument("name")
@_common
def ps(name: str, kubeconfig: str | None, data_dir: str | None) -> None:
    """List the tasks of a stack."""
    async def work(b: Any) -> None:
        services = {s["ID"]: s["Spec"]["Name"] for s in await b.list_services(_filters(name), status=False)}
        if not services:
            raise SpecError(f"nothing found in stack: {name}", 404)
        nodes = {n["ID"]: n["Description"]["Hostname"] for n in await b.list_nodes(None)}
        rows = []
        for t in await b.list_tasks(_filters(name)):
            sname = services.get(t["ServiceID"], t["ServiceID"])
            tname = f"{sname}.{t.get('Slot') or t['NodeID']}"
            rows.append((t["ID"][:12], tname, t["Spec"]["ContainerSpec"]["Image"], nodes.get(t["NodeID"], ""),
                         t["DesiredState"].capitalize(), t["Status"]["State"].capitalize(),
                         t["Status"].get("Err", "")))
        click.echo(f"{'ID':<14}{'NAME':<32}{'IMAGE':<30}{'NODE':<16}{'DESIRED STATE':<15}{'CURRENT STATE':<15}ERROR")
        for r in sorted(rows, key=lambda r: r[1]):
            click.echo(f"{r[0]:<14}{r[1]:<32}{r[2]:<30}{r[3]:<16}{r[4]:<15}{r[5]:<15}{r[6]}")

    from shoal.formats.swarm.wire import SpecError

    _run(kubeconfig, data_dir, work)


@stack.command()
@click.argument("name")
@_common
def rm(name: str, kubeconfig: str | None, data_dir: str | None) -> None:
    """Remove a stack: its services, secrets, configs and networks (and nothing else)."""
    async def work(b: Any) -> None:
        f = _filters(name)
        services = await b.list_services(f, status=False)
        secrets, configs = await b.list_data("secret", f), await b.list_data("config", f)
        networks = await b.list_networks(f)
        if not (services or secrets or configs or networks):
            click.echo(f"Nothing found in stack: {name}")
            return
        for s in services:
            click.echo(f"Removing service {s['Spec']['Name']}")
            await b.delete_service(s["ID"])
        for kind, objs in (("secret", secrets), ("config", configs)):
            for o in objs:
                click.echo(f"Removing {kind} {o['Spec']['Name']}")
                await b.delete_data(kind, o["ID"], check_use=False)
        for n in networks:
            click.echo(f"Removing network {n['Name']}")
            await b.delete_network(n["Id"])

    _run(kubeconfig, data_dir, work)
