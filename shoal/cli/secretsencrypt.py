"""``shoal secrets-encrypt rotate-keys|status``: k3s's key rotation, run on a server's machine.

``rotate-keys`` (the decisions are ``shoal.apiserver.encryption.rotation``'s):
1. writes the configuration file again with a new key first in each entry's
   first provider, the old keys after it (what they wrote still reads);
2. asks the running server to reload it (``POST /shoal/v1/encryption/reload``)
   and checks the server now writes with the new key (a server started with
   another file would not: the command stops and says so);
3. reads and replaces, unchanged, every object of every served resource the
   file encrypts: the store marks a value read with a non-first key stale,
   so the unchanged update writes it again under the new key (a conflict
   reads the object again and retries; an object deleted meanwhile is skipped).
``status`` prints each entry's write key and how many stored values use it.

It talks to the server as the admin (``<data-dir>/admin.kubeconfig``).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from shoal.client import ApiClient, ApiException
from shoal.datadir import default_data_dir, write_private

_RETRIES = 5


def _data_dir(value: str | None) -> Path:
    return Path(value).expanduser() if value else default_data_dir()


def _client(data_dir: Path) -> ApiClient:
    kc = data_dir / "admin.kubeconfig"
    if not kc.exists():
        raise click.ClickException(f"no {kc}: run this on a server's machine, with its --data-dir")
    return ApiClient.from_kubeconfig(str(kc), user_agent="shoal-secrets-encrypt")


async def _served(client: ApiClient) -> list[Any]:
    from shoal.apiserver.encryption.rotation import Served

    out: list[Served] = []

    def add(group: str, version: str, doc: dict[str, Any]) -> None:
        out.extend(Served(group, version, str(r["name"]), bool(r.get("namespaced")), frozenset(r.get("verbs") or ()))
                   for r in doc.get("resources") or [])

    add("", "v1", await client.request("GET", "/api/v1"))
    for g in (await client.request("GET", "/apis")).get("groups") or []:
        v = (g.get("preferredVersion") or {}).get("version") or g["versions"][0]["version"]
        try:
            add(g["name"], v, await client.request("GET", f"/apis/{g['name']}/{v}"))
        except ApiException as e:
            if e.status != 503:  # an aggregated API that is not up serves nothing to rewrite
                raise
    return out


def _base(r: Any) -> str:
    return f"/apis/{r.group}/{r.version}" if r.group else "/api/v1"


async def _rewrite(client: ApiClient, r: Any) -> int:
    """Replace every object of ``r`` unchanged; how many."""
    base, done, cont = _base(r), 0, ""
    kind_prefix = r.group + "/" + r.version if r.group else "v1"
    while True:
        page = await client.request("GET", f"{base}/{r.plural}", params={"limit": "500", **(
            {"continue": cont} if cont else {})})
        kind = str(page.get("kind", "")).removesuffix("List")
        for item in page.get("items") or []:
            meta = item["metadata"]
            where = f"namespaces/{meta['namespace']}/" if r.namespaced else ""
            path = f"{base}/{where}{r.plural}/{meta['name']}"
            for _ in range(_RETRIES):
                item.setdefault("apiVersion", kind_prefix)
                item.setdefault("kind", kind)
                try:
                    await client.request("PUT", path, body=item)
                    done += 1
                    break
                except ApiException as e:
                    if e.status == 404:
                        break
                    if e.status != 409:
                        raise
                try:
                    item = await client.request("GET", path)
                except ApiException as e2:
                    if e2.status == 404:
                        break
                    raise
            else:
                raise click.ClickException(f"{path}: still conflicting after {_RETRIES} tries; run rotate-keys again")
        cont = (page.get("metadata") or {}).get("continue") or ""
        if not cont:
            return done


def _write_config(path: Path, doc: dict[str, Any]) -> None:
    write_private(path, yaml.safe_dump(doc, sort_keys=False), mode=path.stat().st_mode & 0o777)


async def rotate_keys(data_dir: Path, config_path: Path) -> None:
    from shoal.apiserver.encryption import options, rotation
    from shoal.apiserver.encryption.config import ConfigError
    from shoal.apiserver.encryption.rotation import RotationError

    try:
        _, doc = options.load(str(config_path))
        new, name = rotation.rotate(doc, dt.datetime.now(dt.UTC),
                                    lambda n: base64.b64encode(os.urandom(n)).decode())
    except (ConfigError, RotationError) as e:
        raise click.ClickException(f"{config_path}: {e}") from None
    async with _client(data_dir) as client:
        _write_config(config_path, new)
        click.echo(f"wrote {config_path}: new key {name} first, the old keys kept to read")
        try:
            answer = await client.request("POST", "/shoal/v1/encryption/reload")
        except ApiException as e:
            if e.status == 404:
                raise click.ClickException("the server encrypts nothing (it was started without "
                                           "--encryption-provider-config)") from None
            raise click.ClickException(f"the server did not reload {config_path}: {e}") from None
        used = {k["name"] for k in answer["keys"]}
        if used != {name}:
            raise click.ClickException(f"the server reloaded its configuration but writes with {sorted(used)}, not "
                                       f"{name}: it was started with another --encryption-provider-config file")
        click.echo(f"the server reloaded it: writes use {name}")
        config, _ = options.load(str(config_path))
        total = 0
        for r in rotation.resources_of(config, await _served(client)):
            n = await _rewrite(client, r)
            total += n
            click.echo(f"re-encrypted {n} {r.plural}{'.' + r.group if r.group else ''}")
        click.echo(f"done: {total} objects under {name}; the old keys can be removed from {config_path} "
                   f"(then run rotate-keys again or restart the server to load the file)")


async def status(data_dir: Path) -> bool:
    """Print the status; whether every value is under the current key."""
    async with _client(data_dir) as client:
        try:
            s = await client.request("GET", "/shoal/v1/encryption/status")
        except ApiException as e:
            if e.status == 404:
                click.echo("Encryption Status: Disabled (the server runs without --encryption-provider-config)")
                return True
            raise
    click.echo("Encryption Status: Enabled")
    for k in s["keys"]:
        click.echo(f"Current key: {k['provider']} {k['name'] or '(none: written as is)'} for "
                   f"{', '.join(k['resources'])}")
    other = s["other"]
    if not other:
        click.echo(f"Values: all {s['total']} use the current key")
        return True
    rest = ", ".join(f"{n} under {k}" for k, n in sorted(other.items()))
    click.echo(f"Values: {s['current']} of {s['total']} use the current key; {rest} "
               f"(`shoal secrets-encrypt rotate-keys` rewrites them)")
    return False


@click.group("secrets-encrypt")
def secrets_encrypt() -> None:
    """Encryption at rest: rotate the keys, say which key the stored values use (k3s's command)."""


@secrets_encrypt.command("rotate-keys")
@click.option("--data-dir")
@click.option("--encryption-provider-config", "config", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The EncryptionConfiguration file the server was started with.")
def rotate_keys_cmd(data_dir: str | None, config: str) -> None:
    """A new key first in the configuration, the server reloads it, every encrypted object rewritten."""
    asyncio.run(rotate_keys(_data_dir(data_dir), Path(config)))


@secrets_encrypt.command("status")
@click.option("--data-dir")
def status_cmd(data_dir: str | None) -> None:
    """The current key of each entry, and whether every stored value uses it (exit 1 if not)."""
    if not asyncio.run(status(_data_dir(data_dir))):
        sys.exit(1)
