"""``shoal ecs credentials`` (``shoal apply -f`` applies ECS task and service definitions: ``shoal.compat.apply``).

Credentials: an access key bound to a user (default ``admin`` in
``system:masters``), for the AWS CLI and SDKs against ``/ecs`` on the API
port; printed as the environment the AWS tools read.
"""

from __future__ import annotations

import asyncio
import sys

import click

from shoal.cli.stack import _client, _common


@click.group()
def ecs() -> None:
    """The Amazon ECS API that shoal serves under /ecs (for `aws ecs`)."""


@ecs.command("credentials")
@click.option("--user", default="admin", show_default=True, help="The user requests signed with the key act as.")
@click.option("--group", "groups", multiple=True,
              help="A group of the user (repeatable; default for admin: system:masters).")
@_common
def credentials(user: str, groups: tuple[str, ...], kubeconfig: str | None, data_dir: str | None) -> None:
    """Issue an ECS access key (a Secret in kube-system) and print it as AWS environment variables."""
    from shoal.client import ApiException
    from shoal.compat.ecs import credentials as creds

    chosen = groups or (("system:masters",) if user == "admin" else ())

    async def main() -> creds.Credential:
        async with _client(kubeconfig, data_dir) as client:
            return await creds.issue(client, user=user, groups=chosen)

    try:
        c = asyncio.run(main())
    except ApiException as e:
        click.echo(f"shoal ecs credentials: {e.message}", err=True)
        sys.exit(1)
    click.echo(f"export AWS_ACCESS_KEY_ID={c.access_key_id}")
    click.echo(f"export AWS_SECRET_ACCESS_KEY={c.secret_access_key}")
    click.echo("export AWS_DEFAULT_REGION=us-east-1")

