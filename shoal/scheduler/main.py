"""The scheduler as a process of its own, started and watched by ``shoal server``.

Why a process: the API server and everything beside it in ``shoal server``
share one interpreter, so one core (the GIL). Under a burst of pods the
scheduler's share of that core (its informers decoding every pod event, the
decisions, the client side of every binding and event request) is taken from
the API it waits on. As its own process, as kube-scheduler is, it runs on
another core. It reaches the API through the same private Unix socket and
internal token as the in-process components (the token comes in the
environment, never on the command line), so nothing else changes.

    python -m shoal.scheduler.main --socket DATA/api.sock [--config FILE] [--leader-elect ...]

With ``--leader-elect`` (``shoal server`` passes it when several servers share
the store) the process campaigns for the ``kube-system/kube-scheduler`` Lease
and schedules only while it holds it (``shoal.leader``), as kube-scheduler.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from shoal import eventloop
from shoal.client import ApiClient
from shoal.gctune import tune
from shoal.leader.elector import LeaderElector
from shoal.leader.lease import ElectionConfig, parse_duration
from shoal.promlite import serve
from shoal.scheduler.config import ConfigError, SchedulerConfig, load_config_text
from shoal.scheduler.prom import register_scheduler_metrics
from shoal.scheduler.worker import Scheduler

TOKEN_ENV = "SHOAL_INTERNAL_TOKEN"
PARENT_ENV = "SHOAL_PARENT_PID"

log = logging.getLogger("shoal.scheduler")


def metrics_socket(api_socket: str) -> Path:
    """Where the scheduler process serves its Prometheus metrics: beside the API's socket."""
    return Path(api_socket).parent / "scheduler-metrics.sock"


async def serve_metrics(scheduler: Scheduler, path: Path) -> web.AppRunner:
    """The scheduler's own metrics (``shoal.scheduler.prom``) on a Unix socket, for the server's /metrics."""
    registry = CollectorRegistry(auto_describe=False)
    register_scheduler_metrics(scheduler, registry)
    path.unlink(missing_ok=True)
    runner = await serve(registry, unix=str(path))
    os.chmod(path, 0o600)
    return runner


def load_config(path: str | None) -> SchedulerConfig:
    """The scheduler configuration file, or the default; raises ``ConfigError`` or ``OSError``."""
    return load_config_text(Path(path).read_text()) if path else SchedulerConfig()


async def run(socket: str, token: str, config: SchedulerConfig, election: ElectionConfig | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # the server that started us: its pid comes with the token (it may be gone before we get here)
    parent = int(os.environ.get(PARENT_ENV) or os.getppid())

    async def orphaned() -> None:  # the server died without stopping us (kill -9): go too
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        log.warning("the server (process %d) is gone: stopping", parent)
        stop.set()

    watch = asyncio.create_task(orphaned())
    client = ApiClient.unix(socket, token=token, user_agent="shoal-scheduler")
    if election is not None:
        lease_client = ApiClient.unix(socket, token=token, user_agent="shoal-scheduler/leader-election")
        elector = LeaderElector(lease_client, name="kube-scheduler", config=election)
        elector.start(lambda: Scheduler(elector.fenced(client), config=config))
        try:
            await stop.wait()
        finally:
            watch.cancel()
            await elector.stop()
            await lease_client.close()
            await client.close()
        return
    scheduler = Scheduler(client, config=config)
    prom = await serve_metrics(scheduler, metrics_socket(socket))
    starting = asyncio.create_task(scheduler.start())
    stopping = asyncio.create_task(stop.wait())
    try:
        # a stop (or the server's death) while the informers are still syncing ends the wait too
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a failed start exits non-zero, and the server starts us again
            await stopping
    finally:
        for t in (starting, stopping):
            t.cancel()
        watch.cancel()
        await prom.cleanup()
        await scheduler.stop()
        await client.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="shoal-scheduler")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--config")
    ap.add_argument("--leader-elect", action="store_true")
    d = ElectionConfig()
    ap.add_argument("--leader-elect-lease-duration", type=parse_duration, default=d.lease_duration)
    ap.add_argument("--leader-elect-renew-deadline", type=parse_duration, default=d.renew_deadline)
    ap.add_argument("--leader-elect-retry-period", type=parse_duration, default=d.retry_period)
    a = ap.parse_args(argv)
    election = ElectionConfig(a.leader_elect_lease_duration, a.leader_elect_renew_deadline,
                              a.leader_elect_retry_period) if a.leader_elect else None
    if election is not None and election.problems():
        print(f"shoal scheduler: {'; '.join(election.problems())}", file=sys.stderr)
        return 2
    tune()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        print(f"shoal scheduler: no API token in ${TOKEN_ENV}", file=sys.stderr)
        return 2
    try:
        config = load_config(a.config)
    except (OSError, ConfigError) as e:
        print(f"shoal scheduler: --config {a.config}: {e}", file=sys.stderr)
        return 2
    eventloop.run(run(a.socket, token, config, election))
    return 0


if __name__ == "__main__":
    sys.exit(main())
