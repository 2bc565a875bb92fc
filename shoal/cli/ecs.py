"""``shoal ecs credentials`` and the ECS half of ``shoal apply -f`` (``shoal.cli.apply`` recognises the files).

Credentials: an access key bound to a user (default ``admin`` in
``system:masters``), for the AWS CLI and SDKs against ``/ecs`` on the API
port; printed as the environment the AWS tools read.

Apply: a task definition is registered as a new revision unless the latest
ACTIVE revision of its family is already the same; a service definition
creates the service, or updates it (task definition, desired count,
deployment configuration, placement) when it exists. Both go through the same
``EcsBackend`` the ECS API serves, with the kubeconfig's user (the API server
authorizes every request it makes).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

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


async def apply_ecs(client: Any, doc: dict[str, Any], *, cluster: str | None) -> str:
    """Apply one ECS document; a line saying what happened."""
    from shoal.compat.ecs.authz import Caller
    from shoal.compat.ecs.backend import EcsBackend
    from shoal.formats.ecs import detect, taskdef
    from shoal.formats.ecs.errors import EcsError

    b = EcsBackend(client)
    me = Caller("kubeconfig", ("system:masters",))  # the API server authorizes the kubeconfig's own requests
    region = b.region
    if detect.kind_of(doc) == "task-definition":
        req = detect.task_definition_request(doc)
        wanted = taskdef.normalise(req)
        try:
            stored, _ = await b._find_td(wanted["family"])
            if {k: v for k, v in stored.items() if k != "revision"} == wanted:
                return f"task definition {wanted['family']}:{stored['revision']} unchanged"
        except EcsError:
            pass
        out = await b.register_task_definition(req, me, region)
        return f"task definition {wanted['family']}:{out['taskDefinition']['revision']} registered"
    req = dict(doc)
    if cluster:
        req["cluster"] = cluster
    try:
        out = await b.create_service(req, me, region)
        return f"service {out['service']['serviceName']} created"
    except EcsError as e:
        if e.message != "Creation of service was not idempotent.":
            raise
    update: dict[str, Any] = {k: req[k] for k in ("cluster", "taskDefinition", "desiredCount", "deploymentConfiguration",
                                  "placementConstraints", "placementStrategy", "loadBalancers",
                                  "healthCheckGracePeriodSeconds") if k in req}
    out = await b.update_service({**update, "service": req["serviceName"]}, me, region)
    return f"service {out['service']['serviceName']} configured"
