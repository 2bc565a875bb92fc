"""``shoal apply -f FILE``: apply a file whatever system it was written for.

Each document of the file (JSON, or YAML with ``---`` between documents) is
recognised by its shape and applied by that system's applier: an ECS task
definition or service definition (``shoal.cli.ecs``), else a Kubernetes object
(server-side apply with field manager ``shoal``). To add a format, add its
recogniser to ``_applier``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from shoal.cli.stack import _client, _common

Applier = Callable[[Any, dict[str, Any]], Awaitable[str]]


def _documents(text: str) -> list[Any]:
    try:
        return [json.loads(text)]
    except ValueError:
        import yaml

        return [d for d in yaml.safe_load_all(text) if d is not None]


async def _apply_kubernetes(client: Any, doc: dict[str, Any]) -> str:
    from shoal.client.api import object_path, resource

    kind = str(doc.get("kind") or "")
    try:
        info = resource(kind)
    except KeyError:
        raise click.ClickException(f"unknown kind {kind!r}") from None
    md = doc.get("metadata") or {}
    ns = (md.get("namespace") or "default") if info.namespaced else None
    await client.request("PATCH", object_path(info, ns, md.get("name")), body=json.dumps(doc).encode(),
                         params={"fieldManager": "shoal", "force": "true"},
                         content_type="application/apply-patch+yaml")
    return f"{info.plural}/{md.get('name')} applied"


def _applier(doc: Any, cluster: str | None) -> Applier:
    from shoal.cli.ecs import apply_ecs
    from shoal.formats.ecs import detect

    if detect.kind_of(doc) is not None:
        return lambda client, d: apply_ecs(client, d, cluster=cluster)
    if isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"):
        return _apply_kubernetes
    raise click.ClickException("the file is not a Kubernetes object, an ECS task definition or an ECS service "
                               "definition")


@click.command("apply")
@click.option("-f", "--filename", required=True, help="The file to apply ('-': standard input).")
@click.option("--cluster", help="The ECS cluster of an ECS service definition that names none.")
@_common
def apply(filename: str, cluster: str | None, kubeconfig: str | None, data_dir: str | None) -> None:
    """Apply a Kubernetes YAML file, an ECS task definition or an ECS service definition."""
    from shoal.client import ApiException
    from shoal.formats.ecs.errors import EcsError

    text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
    docs = _documents(text)
    appliers = [(_applier(d, cluster), d) for d in docs]  # every document recognised before any is applied

    async def main() -> list[str]:
        async with _client(kubeconfig, data_dir) as client:
            return [await f(client, d) for f, d in appliers]

    try:
        for line in asyncio.run(main()):
            click.echo(line)
    except EcsError as e:
        click.echo(f"Error: {e.type}: {e.message}", err=True)
        sys.exit(1)
    except ApiException as e:
        click.echo(f"Error: {e.message}", err=True)
        sys.exit(1)
