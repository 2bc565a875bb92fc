"""``shoal apply -f FILE``: one command for the definitions users bring (Kubernetes YAML, Marathon JSON ...).

Each document of the file is recognised by its shape
(``shoal.formats.detect``) and applied by ``shoal.compat.apply`` with the
kubeconfig's client, the same code the API's ``POST /shoal/v1/apply`` (the
web UI's deploy page) runs: Kubernetes objects by server-side apply (field
manager ``shoal``), ECS task and service definitions through the ECS
backend, Marathon apps and groups through the Marathon backend. A Compose
file is deployed by ``shoal stack deploy`` (it needs a stack name, and reads
``.env`` and the files it names beside it). A document no recogniser claims
is refused with what was expected.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from shoal.cli.stack import _client, _common

if TYPE_CHECKING:
    from shoal.compat.apply import ApplyError


@click.command("apply")
@click.option("-f", "--filename", required=True, help="The file to apply (JSON or YAML; - for stdin).")
@click.option("--force", is_flag=True, help="Marathon: update apps even while a deployment runs.")
@click.option("--cluster", help="ECS: the cluster of a service definition that names none.")
@_common
def apply(filename: str, force: bool, cluster: str | None, kubeconfig: str | None, data_dir: str | None) -> None:
    """Apply Kubernetes YAML, an ECS task or service definition, a Marathon app or a Marathon group."""
    from shoal.compat.apply import Options, apply_one, as_apply_error
    from shoal.formats import detect

    text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
    docs = detect.load(text)
    kinds_ = [detect.kind_of(d) for d in docs]
    if "compose" in kinds_:
        raise click.ClickException(f"{filename}: a Compose file: deploy it with `shoal stack deploy -c {filename} "
                                   "STACK`")
    if None in kinds_:
        raise click.ClickException(f"{filename}: not Kubernetes YAML, an ECS task or service definition, a "
                                   "Marathon app or a Marathon group")
    opts = Options(namespace=cluster or "", force=force)

    async def main() -> None:
        async with _client(kubeconfig, data_dir) as client:
            for doc, kind in zip(docs, kinds_, strict=True):
                assert kind is not None
                # kubernetes documents keep upstream's defaults: their own namespace, else default; forced
                k8s = Options(force=True) if kind == "kubernetes" else opts
                click.echo(await apply_one(client, doc, kind, k8s))

    try:
        asyncio.run(main())
    except Exception as e:
        err = as_apply_error(e)
        if err is None:
            raise
        raise click.ClickException(_cli_text(e, err)) from None


def _cli_text(e: Exception, err: ApplyError) -> str:
    """What the command printed before the shared code came: each system's own words."""
    from shoal.client import ApiException
    from shoal.formats.ecs.errors import EcsError
    from shoal.formats.marathon.errors import MarathonError

    if isinstance(e, EcsError):
        return f"{e.type}: {e.message}"
    if isinstance(e, MarathonError):
        return f"{e.status}: {e.body}"
    if isinstance(e, ApiException):
        return str(e)
    return err.message
