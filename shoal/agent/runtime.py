"""Choosing and opening the runtime driver, and running Podman's API service when needed.

``--runtime auto`` picks ``docker`` when an engine socket answers, else
``process``, and logs which. Where Podman is installed but its API socket is
not served, the agent starts ``podman system service`` itself and stops it on
exit, as k3s runs its own containerd, so a fresh machine needs nothing else
started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from shoal.agent.drivers.base import Driver, DriverError
from shoal.agent.drivers.docker import DockerDriver
from shoal.agent.drivers.engine import Engine, EngineError, resolve_host, socket_path
from shoal.agent.drivers.podnet import PodNetwork
from shoal.agent.drivers.process import ProcessDriver
from shoal.agent.drivers.simulated import SimulatedDriver

log = logging.getLogger(__name__)

PODMAN_SOCKET = "/run/podman/podman.sock"


async def engine_answers(host: str, timeout: float = 3.0) -> bool:
    engine = Engine(host)
    try:
        await engine.request("GET", "/_ping", timeout=timeout)
        return True
    except (EngineError, ValueError):
        return False
    finally:
        await engine.close()


class PodmanService:
    """A ``podman system service`` we started, and stop on exit."""

    def __init__(self, socket: str = PODMAN_SOCKET) -> None:
        self.socket = socket
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 20.0) -> bool:
        podman = shutil.which("podman")
        if podman is None:
            return False
        Path(self.socket).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket)  # a stale socket nobody serves
        self.proc = await asyncio.create_subprocess_exec(
            podman, "system", "service", "--time=0", f"unix://{self.socket}",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            # conmon inherits this directory and drops an "oom" marker file into it when a container
            # is OOM-killed: keep that out of whatever directory shoal was started from
            cwd=str(Path(self.socket).parent),
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc.returncode is not None:
                return False
            if os.path.exists(self.socket) and await engine_answers(f"unix://{self.socket}", 2):
                log.info("started podman system service (pid %d) on %s", self.proc.pid, self.socket)
                return True
            await asyncio.sleep(0.1)
        await self.stop()
        return False

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    runtime: str = "auto"  # auto | docker | process | simulated
    docker_host: str | None = None
    node_name: str = ""
    state_dir: Path = Path("/var/lib/shoal/agent")
    sim_start_delay: float = 0.0
    sim_complete_after: float | None = None
    sim_probe_result: str = "success"  # success | failure: what simulated pods' probes answer
    host_ip: str = "127.0.0.1"  # the process runtime's pods share the host's network and address
    # docker: the network of the pod sandboxes the agent makes itself (None: infra containers instead)
    pod_network: PodNetwork | None = None


async def open_runtime(opts: RuntimeOptions) -> tuple[Driver, PodmanService | None]:
    """The driver to use (started), and the Podman service we launched for it, if any."""
    if opts.runtime == "simulated":
        sim = SimulatedDriver(start_delay=opts.sim_start_delay, complete_after=opts.sim_complete_after,
                              probe_result=opts.sim_probe_result)
        await sim.start()
        return sim, None
    if opts.runtime == "process":
        return await _process(opts), None
    if opts.runtime not in ("auto", "docker"):
        raise DriverError(f"unknown runtime {opts.runtime!r} (auto, docker, process or simulated)")
    service: PodmanService | None = None
    host = resolve_host(opts.docker_host)
    ok = bool(host) and await engine_answers(host or "")
    if not ok and not opts.docker_host and not os.environ.get("DOCKER_HOST"):
        service = PodmanService()
        if await service.start():
            host, ok = f"unix://{service.socket}", True
        else:
            service = None
    if ok and host:
        podnet = opts.pod_network if opts.pod_network is not None and PodNetwork.available() is None else None
        driver = DockerDriver(host, node_name=opts.node_name, pod_network=podnet)
        try:
            await driver.start()
        except DriverError:
            if service is not None:
                await service.stop()
            raise
        log.info("runtime: docker (%s at %s)", await driver.version(), host)
        return driver, service
    if opts.runtime == "docker":
        where = host or f"DOCKER_HOST, {PODMAN_SOCKET} or /var/run/docker.sock"
        raise DriverError(f"runtime docker: no container engine answers at {where}")
    log.info("runtime: process (no container engine answers%s)", f" at {host}" if host else "")
    return await _process(opts), None


async def _process(opts: RuntimeOptions) -> Driver:
    drv = ProcessDriver(opts.state_dir / "process", host_ip=opts.host_ip)
    await drv.start()
    return drv


__all__ = ["PodmanService", "RuntimeOptions", "engine_answers", "open_runtime", "socket_path"]
