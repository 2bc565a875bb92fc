"""The HAProxy process of a node: started in master-worker mode, reloaded seamlessly, watched, restarted.

``apply(rendered)`` makes the running proxy equal to a rendered configuration
in the cheapest way that keeps every connection:

* nothing running: write the files and start ``haproxy -W`` (the master stays
  our child, so its exit is noticed at once);
* only server weights differ (a canary step): ``set weight`` over the admin
  socket, no new process, counters kept; the file is written too, so a restart
  starts from the same weights;
* anything else: write the files, check them (``haproxy -c``; a configuration
  HAProxy refuses is never loaded, the old one keeps serving), and send the
  master SIGUSR2: it starts new workers, which take the listening sockets over
  from the old ones (``expose-fd listeners``), and the old workers finish what
  they carry (see ``haproxycfg`` on idle keep-alive connections).

A master that exits (killed, or a worker crashed) calls ``on_exit``; the node
then renders again from the objects and starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from shoal.ingress.haproxycfg import Rendered, Settings
from shoal.ingress.tls import self_signed

log = logging.getLogger(__name__)


class ProxyError(Exception):
    """HAProxy refused a configuration or could not be run."""


async def _run(*cmd: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


class HAProxy:
    def __init__(self, settings: Settings, *, binary: str = "haproxy",
                 on_exit: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.binary = binary
        self.on_exit = on_exit
        self.run_dir = Path(settings.run_dir)
        self.config_path = self.run_dir / "haproxy.cfg"
        self.master_socket = str(self.run_dir / "master.sock")
        self.proc: asyncio.subprocess.Process | None = None
        self.applied: Rendered | None = None
        self.reloads = 0
        self.starts = 0
        self.weight_updates = 0
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def _write_files(self, r: Rendered) -> None:
        if not (self.run_dir / "default.pem").exists():
            crt, key = self_signed("shoal-ingress-default")
            _write(self.run_dir / "default.pem", crt + key)
        for rel, text in r.files.items():
            _write(self.run_dir / rel, text)
        _write(self.config_path, r.text)

    async def _check(self) -> None:
        rc, out = await _run(self.binary, "-c", "-q", "-f", str(self.config_path))
        if rc != 0:
            raise ProxyError(f"haproxy refused the configuration: {out.strip()[-2000:]}")

    async def apply(self, r: Rendered) -> str:
        """Make the proxy serve ``r``; returns what it took: started, reloaded, weights or unchanged."""
        if not self.running:
            self._write_files(r)
            await self._check()
            await self._start()
            self.applied = r
            return "started"
        old = self.applied
        if old is not None and old.text == r.text and old.files == r.files:
            return "unchanged"
        if old is not None and old.shape == r.shape and old.files == r.files:
            changed = {k: w for k, w in r.weights.items() if old.weights.get(k) != w}
            for (backend, server), w in changed.items():
                out = await self.command(f"set weight {backend}/{server} {w}")
                if out.strip():
                    log.warning("ingress proxy: set weight %s/%s: %s", backend, server, out.strip())
            _write(self.config_path, r.text)
            self.applied = r
            self.weight_updates += 1
            return "weights"
        self._write_files(r)
        try:
            await self._check()
        except ProxyError:
            if old is not None:
                self._write_files(old)  # what a restart starts from stays what is served
            raise
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR2)
        self.applied = r
        self.reloads += 1
        return "reloaded"

    async def _start(self) -> None:
        self._stopping = False
        for sock in ("admin.sock", "master.sock"):
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / sock).unlink()
        self.proc = await asyncio.create_subprocess_exec(
            self.binary, "-W", "-db", "-S", f"{self.master_socket},mode,600", "-f", str(self.config_path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        self.starts += 1
        self._watch = asyncio.create_task(self._watch_exit(self.proc), name="ingress-haproxy-watch")
        # ready once the worker's admin socket answers (or the master gave up)
        for _ in range(200):
            if self.proc.returncode is not None:
                break
            with contextlib.suppress(OSError):
                await self.command("show info", timeout=1)
                return
            await asyncio.sleep(0.025)
        if self.proc.returncode is not None:
            raise ProxyError(f"haproxy exited at start ({self.proc.returncode})")

    async def _watch_exit(self, proc: asyncio.subprocess.Process) -> None:
        err = b""
        if proc.stderr is not None:
            with contextlib.suppress(Exception):
                err = await proc.stderr.read()
        rc = await proc.wait()
        if self._stopping or proc is not self.proc:
            return
        log.warning("ingress proxy: haproxy exited (%s): %s", rc, err.decode(errors="replace").strip()[-500:])
        self.applied = None
        if self.on_exit is not None:
            self.on_exit(rc)

    async def command(self, cmd: str, *, timeout: float = 5.0) -> str:
        """One runtime API command on the current worker, through the master CLI (``@1``); its answer.

        Not the worker's own socket: right after a reload that may still be the old worker's, and a
        weight set there is lost. The master re-executes itself at a reload (its socket refuses
        connections meanwhile, so this retries), and once it answers, ``@1`` is the new worker."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.master_socket), timeout)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.02)
        try:
            writer.write(b"@1 " + cmd.encode() + b";quit\n")  # the master CLI closes only on quit
            await writer.drain()
            return (await asyncio.wait_for(reader.read(), timeout)).decode(errors="replace")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stats(self) -> list[dict[str, str]]:
        """``show stat``: one row per frontend, backend and server, as HAProxy names the columns."""
        text = await self.command("show stat")
        return list(csv.DictReader(io.StringIO(text.lstrip("# "))))

    async def stop(self) -> None:
        self._stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        self.proc = None
        self.applied = None
