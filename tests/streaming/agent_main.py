"""A stand-in node agent for the tunnel tests: ``TunnelClient`` + ``LocalDriver``.

    python -m tests.streaming.agent_main --server URL --token T --ca CA --node N --root DIR [--docker-host URL]

With ``LocalDriver`` (the default), pod ``NS/P`` container ``C`` resolves to the
log file ``DIR/NS.P.C.log`` (``NS.P.C.prev.log`` with ``previous``); a missing
file is an unknown container. With ``--docker-host`` the real ``docker`` driver
is used and containers are found by their pod labels, as the agent does: the
newest attempt, or the one before it with ``previous``.
Prints ``connected`` once the tunnel is up, then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from shoal.agent import nodecert
from shoal.agent.drivers.base import LABEL_CONTAINER, LABEL_POD_NAME, LABEL_POD_NAMESPACE, Driver
from shoal.agent.drivers.docker import DockerDriver
from shoal.agent.tunnel import Resolver, TunnelClient
from shoal.client import ApiClient
from tests.streaming.localdriver import LocalDriver


def container_id(namespace: str, pod: str, container: str, previous: bool) -> str:
    return f"{namespace}.{pod}.{container}" + (".prev" if previous else "")


def local_resolver(root: Path) -> Resolver:
    driver = LocalDriver(root)

    def resolve(namespace: str, pod: str, container: str, previous: bool) -> tuple[Driver, str]:
        cid = container_id(namespace, pod, container, previous)
        if not (driver.root / f"{cid}.log").exists():
            if previous:
                raise LookupError(f'previous terminated container "{container}" in pod "{pod}" not found')
            raise LookupError(f'container "{container}" in pod "{pod}" is not available')
        return driver, cid  # type: ignore[return-value]

    return resolve


def docker_resolver(driver: DockerDriver) -> Resolver:
    async def resolve(namespace: str, pod: str, container: str, previous: bool) -> tuple[Driver, str]:
        found = await driver.list_containers(
            labels={LABEL_POD_NAMESPACE: namespace, LABEL_POD_NAME: pod, LABEL_CONTAINER: container})
        attempts = sorted((c for c in found if c.role != "sandbox"), key=lambda c: c.attempt)
        if previous:
            if len(attempts) < 2:
                raise LookupError(f'previous terminated container "{container}" in pod "{pod}" not found')
            return driver, attempts[-2].id  # type: ignore[return-value]
        if not attempts:
            raise LookupError(f'container "{container}" in pod "{pod}" is not available')
        return driver, attempts[-1].id  # type: ignore[return-value]

    return resolve


async def main(args: argparse.Namespace) -> None:
    docker: DockerDriver | None = None
    if args.docker_host:
        docker = DockerDriver(args.docker_host, node_name=args.node)
        resolve = docker_resolver(docker)
    else:
        resolve = local_resolver(Path(args.root))
    # as the real agent: the join token buys this node its own certificate, which opens the tunnel
    nodes = args.node.split(",")
    bootstrap = ApiClient.http(args.server, token=args.token, ca_file=args.ca)
    try:
        cert = await nodecert.ensure(bootstrap, Path(args.root) / "credential",
                                     nodecert.subject(nodes[0], simulated=len(nodes) > 1), args.ca)
    finally:
        await bootstrap.close()
    client = ApiClient.http(args.server, ca_file=args.ca, client_cert=cert, user_agent="shoal-agent")
    tunnel = TunnelClient(client, node_name=nodes, resolver=resolve)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await tunnel.start()
    up = asyncio.create_task(tunnel.wait_connected())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([up, stopping], return_when=asyncio.FIRST_COMPLETED)
    if up.done():
        print("connected", flush=True)
    await stopping
    up.cancel()
    await tunnel.stop()
    await client.close()
    if docker is not None:
        await docker.engine.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for opt in ("--server", "--token", "--ca", "--node", "--root"):
        p.add_argument(opt, required=True)
    p.add_argument("--docker-host")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(p.parse_args()))
