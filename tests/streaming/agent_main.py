"""A stand-in node agent for the tunnel tests: ``TunnelClient`` + ``LocalDriver``.

    python -m tests.streaming.agent_main --server URL --token T --ca CA --node N --root DIR

Pod ``NS/P`` container ``C`` resolves to the log file ``DIR/NS.P.C.log``
(``NS.P.C.prev.log`` with ``previous``); a missing file is an unknown container.
Prints ``connected`` once the tunnel is up, then serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from shoal.agent.tunnel import TunnelClient
from tests.streaming.localdriver import LocalDriver


def container_id(namespace: str, pod: str, container: str, previous: bool) -> str:
    return f"{namespace}.{pod}.{container}" + (".prev" if previous else "")


async def main(args: argparse.Namespace) -> None:
    driver = LocalDriver(Path(args.root))

    def resolve(namespace: str, pod: str, container: str, previous: bool) -> tuple[LocalDriver, str]:
        cid = container_id(namespace, pod, container, previous)
        if not (driver.root / f"{cid}.log").exists():
            if previous:
                raise LookupError(f'previous terminated container "{container}" in pod "{pod}" not found')
            raise LookupError(f'container "{container}" in pod "{pod}" is not available')
        return driver, cid

    tunnel = TunnelClient(args.server, token=args.token, ca_file=args.ca, node_name=args.node.split(","),
                          resolver=resolve)  # type: ignore[arg-type]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await tunnel.start()
    await tunnel.wait_connected(timeout=20)
    print("connected", flush=True)
    await stop.wait()
    await tunnel.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for opt in ("--server", "--token", "--ca", "--node", "--root"):
        p.add_argument(opt, required=True)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(p.parse_args()))
