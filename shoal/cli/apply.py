"""``shoal apply -f FILE``: one command for the definitions users bring (Kubernetes YAML, Marathon JSON ...).

Each document of the file is recognised by its shape (``kind_of``) and
applied by its own module: Kubernetes objects by server-side apply (field
manager ``shoal``), ECS task and service definitions by ``shoal.cli.ecs``,
Marathon apps and groups by ``apply_marathon``. A document no recogniser
claims is refused with what was expected.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from shoal.cli.apply_marathon import apply_marathon, marathon_kind
from shoal.cli.stack import _client, _common


def load(text: str) -> list[Any]:
    """The file's documents: JSON, else YAML (several documents allowed)."""
    import json

    import yaml

    try:
        return [json.loads(text)]
    except ValueError:
        return [d for d in yaml.safe_load_all(text) if d is not None]


def kind_of(doc: Any) -> str | None:
    if isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str):
        return "kubernetes"
    from shoal.formats.ecs.detect import kind_of as ecs_kind

    ecs = ecs_kind(doc)
    return f"ecs-{ecs}" if ecs else marathon_kind(doc)


async def apply_kubernetes(client: Any, doc: dict[str, Any]) -> str:
    import json

    from shoal.api import kinds

    group, _, version = str(doc["apiVersion"]).rpartition("/")
    info = next((i for i in kinds.RESOURCES if i.group == group and i.version == version and i.kind == doc["kind"]),
                None)
    if info is None:
        raise click.ClickException(f"unknown kind {doc['kind']} in {doc['apiVersion']}")
    from shoal.client.api import object_path

    md = doc.get("metadata") or {}
    ns = (md.get("namespace") or "default") if info.namespaced else None
    await client.request("PATCH", object_path(info, ns, md.get("name")), body=json.dumps(doc).encode(),
                         params={"fieldManager": "shoal", "force": "true"},
                         content_type="application/apply-patch+yaml")
    return f"{info.plural}/{md.get('name')} applied"


@click.command("apply")
@click.option("-f", "--filename", required=True, help="The file to apply (JSON or YAML; - for stdin).")
@click.option("--force", is_flag=True, help="Marathon: update apps even while a deployment runs.")
@click.option("--cluster", help="ECS: the cluster of a service definition that names none.")
@_common
def apply(filename: str, force: bool, cluster: str | None, kubeconfig: str | None, data_dir: str | None) -> None:
    """Apply Kubernetes YAML, an ECS task or service definition, a Marathon app or a Marathon group."""
    from shoal.cli.ecs import apply_ecs
    from shoal.client import ApiException
    from shoal.formats.ecs.errors import EcsError
    from shoal.formats.marathon.errors import MarathonError

    text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
    docs = load(text)
    kinds_ = [kind_of(d) for d in docs]
    if None in kinds_:
        raise click.ClickException(f"{filename}: not Kubernetes YAML, an ECS task or service definition, a "
                                   "Marathon app or a Marathon group")

    async def main() -> None:
        async with _client(kubeconfig, data_dir) as client:
            for doc, kind in zip(docs, kinds_, strict=True):
                if kind == "kubernetes":
                    click.echo(await apply_kubernetes(client, doc))
                elif str(kind).startswith("ecs-"):
                    click.echo(await apply_ecs(client, doc, cluster=cluster))
                else:
                    click.echo(await apply_marathon(client, doc, str(kind), force=force))

    try:
        asyncio.run(main())
    except EcsError as e:
        raise click.ClickException(f"{e.type}: {e.message}") from None
    except MarathonError as e:
        raise click.ClickException(f"{e.status}: {e.body}") from None
    except ApiException as e:
        raise click.ClickException(str(e)) from None
