"""The ``process`` driver: each container's command runs as a host process.

For machines with no container engine. There is no image and no isolation:
``command`` + ``args`` run with the container's env and workingDir, every pod
shares the host's network (its IP is the host's), and limits are not enforced.
Each process runs under a small monitor (``conmon.py``) that writes CRI-format
logs and the exit code to files in the data dir, so logs, exit codes and
restarts work the same way as with containers, and an agent that restarts
adopts running processes from the records it left (``meta.json`` per container).

Volumes: a host process cannot have a directory mounted at ``/cfg`` without
changing the host's own tree, so the agent's volume directories (under the
pod's directory on the node) are used in place, and each ``mountPath`` that
appears in the container's command, args, env values or workingDir as a
path (``/cfg``, ``/cfg/app.conf``) is rewritten to the volume's host path
(``rewrite_paths``). A process that builds such paths at run time does not
see them; ``readOnly`` is not enforced (no isolation here, as for limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import pty
import re
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from shoal.agent.cgroups import CgroupReader, Usage
from shoal.agent.drivers.base import (
    LABEL_CONTAINER,
    LABEL_POD_UID,
    LABEL_ROLE,
    ChangeHandler,
    ContainerSpec,
    ContainerStatus,
    DriverError,
    Mount,
    NotFoundError,
    ProbeOutcome,
    ProbeRequest,
    Sandbox,
    SandboxSpec,
)
from shoal.agent.drivers.hostprobe import HostProber
from shoal.api import views


def _now() -> str:
    return views.format_time(views.utcnow())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def rewrite_paths(text: str, mounts: tuple[Mount, ...]) -> str:
    """``text`` with every path under a mount's container path replaced by its host path, in one pass
    (the longest container path wins; a host path put in is never rewritten again)."""
    by_path = {m.container_path.rstrip("/"): m.host_path for m in mounts if m.container_path.rstrip("/")}
    if not by_path:
        return text
    alts = "|".join(re.escape(p) for p in sorted(by_path, key=len, reverse=True))
    pattern = r"(?<![\w.\-/])(" + alts + r")(?=/|$|[^\w.\-])"
    return re.sub(pattern, lambda m: by_path[m.group(1)], text)


class ProcessDriver:
    name = "process"

    def __init__(self, root: Path, *, host_ip: str = "127.0.0.1") -> None:
        self.root = root
        self.host_ip = host_ip
        self._meta: dict[str, dict[str, Any]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._handler: ChangeHandler | None = None
        self._ids = itertools.count(int(time.time() * 1000))
        self._prober = HostProber(self.exec)
        self._usage = CgroupReader()

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for d in self.root.iterdir():
            meta = d / "meta.json"
            if not meta.exists():
                continue
            try:
                m = json.loads(meta.read_text())
            except ValueError:
                continue
            self._meta[m["id"]] = m
            if m.get("state") == "running" and m.get("pid"):  # adopt: watch the monitor we left behind
                self._watchers[m["id"]] = asyncio.create_task(self._watch_pid(m["id"]))

    async def close(self) -> None:
        for t in self._watchers.values():
            t.cancel()
        for t in list(self._watchers.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._watchers.clear()
        await self._prober.close()

    async def version(self) -> str:
        return "process://1"

    def set_change_handler(self, handler: ChangeHandler) -> None:
        self._handler = handler

    def _dir(self, cid: str) -> Path:
        return self.root / cid

    def _save(self, m: dict[str, Any]) -> None:
        d = self._dir(m["id"])
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "meta.json.tmp"
        tmp.write_text(json.dumps(m))
        os.replace(tmp, d / "meta.json")

    def _get(self, cid: str) -> dict[str, Any]:
        m = self._meta.get(cid)
        if m is None:
            raise NotFoundError(f"no such container: {cid}")
        return m

    # ---- sandboxes ------------------------------------------------------------------------
    async def run_sandbox(self, spec: SandboxSpec) -> Sandbox:
        cid = f"p{next(self._ids):x}"
        m = {"id": cid, "uid": spec.pod_uid, "labels": {**spec.labels, LABEL_ROLE: "sandbox", LABEL_POD_UID: spec.pod_uid},
             "state": "running", "started_at": _now(), "image": "", "name": "sandbox"}
        self._meta[cid] = m
        self._save(m)
        return Sandbox(cid, self.host_ip)

    async def stop_sandbox(self, sandbox_id: str) -> None:
        m = self._meta.get(sandbox_id)
        if m is not None and m["state"] == "running":
            m.update(state="exited", exit_code=0, finished_at=_now())
            self._save(m)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        await self.remove_container(sandbox_id)

    # ---- containers -------------------------------------------------------------------------
    async def ensure_image(self, image: str, pull_policy: str) -> None:
        return None  # no images: the command runs on the host

    async def create_container(self, spec: ContainerSpec) -> str:
        argv = [rewrite_paths(a, spec.mounts) for a in (*spec.command, *spec.args)]
        if not argv:
            raise DriverError(f"container {spec.name!r}: the process runtime runs `command`/`args` on the host "
                              "and has no image entrypoint; give the container a command", reason="CreateContainerError")
        cid = f"p{next(self._ids):x}"
        labels = {**spec.labels, LABEL_CONTAINER: spec.name, LABEL_POD_UID: spec.pod_uid}
        labels.setdefault(LABEL_ROLE, "container")
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOSTNAME": spec.pod_name,
               **{k: rewrite_paths(v, spec.mounts) for k, v in spec.env.items()}}
        cwd = rewrite_paths(spec.working_dir, spec.mounts) if spec.working_dir else spec.working_dir
        m = {"id": cid, "uid": spec.pod_uid, "labels": labels, "state": "created", "argv": argv, "env": env,
             "cwd": cwd, "image": spec.image, "name": spec.name}
        self._meta[cid] = m
        self._save(m)
        return cid

    async def start_container(self, container_id: str) -> None:
        m = self._get(container_id)
        if m["state"] == "running":
            return
        argv: list[str] = m["argv"]
        exe = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=m["env"].get("PATH"))
        if not exe or not os.path.exists(exe):
            raise DriverError(f'exec: "{argv[0]}": executable file not found in $PATH', reason="RunContainerError")
        cwd = m.get("cwd") or None
        if cwd and not os.path.isdir(cwd):
            raise DriverError(f"chdir to cwd ({cwd!r}) set in config.json failed: no such file or directory")
        d = self._dir(container_id)
        d.mkdir(parents=True, exist_ok=True)
        for leftover in ("exit", "exit.pgid"):
            with contextlib.suppress(FileNotFoundError):
                (d / leftover).unlink()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shoal.agent.drivers.conmon", str(d / "log"), str(d / "exit"), "--", exe, *argv[1:],
            env=m["env"], cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
        )
        self._procs[container_id] = proc
        m.update(state="running", pid=proc.pid, started_at=_now(), exit_code=None, finished_at=None)
        self._save(m)
        self._watchers[container_id] = asyncio.create_task(self._watch_child(container_id, proc))

    async def _watch_child(self, cid: str, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        self._exited(cid, code)

    async def _watch_pid(self, cid: str) -> None:
        pid = int(self._meta[cid].get("pid") or 0)
        while pid and _alive(pid):
            await asyncio.sleep(0.5)
        self._exited(cid, None)

    def _exited(self, cid: str, monitor_code: int | None) -> None:
        self._procs.pop(cid, None)
        self._watchers.pop(cid, None)
        m = self._meta.get(cid)
        if m is None or m["state"] != "running":
            return
        code = 137 if monitor_code is None or monitor_code < 0 else monitor_code
        with contextlib.suppress(OSError, ValueError):
            code = int((self._dir(cid) / "exit").read_text())
        m.update(state="exited", exit_code=code, finished_at=_now())
        with contextlib.suppress(OSError):
            self._save(m)
        if self._handler is not None:
            self._handler(m["uid"])

    async def stop_container(self, container_id: str, timeout: float) -> None:
        m = self._meta.get(container_id)
        if m is None or m["state"] != "running":
            return
        pid = int(m.get("pid") or 0)
        watcher = self._watchers.get(container_id)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # the monitor forwards it to the command
            deadline = time.monotonic() + max(0.0, timeout)
            while time.monotonic() < deadline and _alive(pid):
                await asyncio.sleep(0.05)
            if _alive(pid):
                for group in (self._child_group(container_id), pid):
                    if group:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.killpg(group, signal.SIGKILL)
        if watcher is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(watcher), 5)
        if m["state"] == "running":
            self._exited(container_id, None)

    def usage(self, container_id: str) -> Usage | None:
        """CPU and memory of the container's process group, from /proc (no cgroup of its own)."""
        group = self._child_group(container_id)
        return self._usage.process(self._usage.group_pids(group)) if group else None

    def _child_group(self, cid: str) -> int:
        try:
            return int((self._dir(cid) / "exit.pgid").read_text())
        except (OSError, ValueError):
            return 0

    async def remove_container(self, container_id: str) -> None:
        m = self._meta.get(container_id)
        if m is None:
            return
        if m["state"] == "running" and m.get("pid"):
            await self.stop_container(container_id, 0)
        self._meta.pop(container_id, None)
        shutil.rmtree(self._dir(container_id), ignore_errors=True)

    def _status(self, m: dict[str, Any]) -> ContainerStatus:
        return ContainerStatus(
            id=m["id"], name=m.get("name") or "", pod_uid=m["uid"], state=m["state"],
            exit_code=m.get("exit_code"), started_at=m.get("started_at"), finished_at=m.get("finished_at"),
            image=m.get("image") or "", image_id="", labels=m["labels"], ip=self.host_ip,
        )

    async def inspect(self, container_id: str) -> ContainerStatus:
        return self._status(self._get(container_id))

    async def list_containers(self, labels: dict[str, str] | None = None) -> list[ContainerStatus]:
        want = (labels or {}).items()
        return [self._status(m) for m in self._meta.values() if all(m["labels"].get(k) == v for k, v in want)]

    # ---- logs and exec -----------------------------------------------------------------------
    async def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
    ) -> AsyncIterator[bytes]:
        self._get(container_id)
        path = self._dir(container_id) / "log"
        since = None
        if since_seconds:
            since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=since_seconds)).strftime("%Y-%m-%dT%H:%M:%S")
        pos = 0
        lines: list[bytes] = []
        with contextlib.suppress(FileNotFoundError):
            data = path.read_bytes()
            pos = len(data)
            lines = data.splitlines()
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        for line in lines:
            out = _cri_line(line, timestamps=timestamps, since=since)
            if out:
                yield out
        while follow:
            m = self._meta.get(container_id)
            try:
                with path.open("rb") as f:
                    f.seek(pos)
                    chunk = f.read()
            except FileNotFoundError:
                return
            if chunk:
                complete, _, _rest = chunk.rpartition(b"\n")
                if complete:
                    pos += len(complete) + 1
                    for line in complete.split(b"\n"):
                        out = _cri_line(line, timestamps=timestamps, since=None)
                        if out:
                            yield out
                    continue
            if m is None or m["state"] != "running":
                return
            await asyncio.sleep(0.2)

    async def exec(
        self, container_id: str, command: list[str], *, tty: bool = False, stdin: bool = False
    ) -> ProcessExec:
        m = self._get(container_id)
        if m["state"] != "running":
            raise DriverError(f"container {m.get('name')} is not running")
        env, cwd = m.get("env") or {}, m.get("cwd") or None
        exe = command[0] if command and "/" in command[0] else shutil.which(command[0] if command else "",
                                                                            path=env.get("PATH"))
        if not exe or not os.path.exists(exe):
            raise DriverError(f'exec: "{command[0] if command else ""}": executable file not found in $PATH')
        if tty:
            master, slave = pty.openpty()
            proc = await asyncio.create_subprocess_exec(exe, *command[1:], env=env, cwd=cwd, stdin=slave,
                                                        stdout=slave, stderr=slave, start_new_session=True)
            os.close(slave)
            return ProcessExec(proc, master_fd=master)
        proc = await asyncio.create_subprocess_exec(
            exe, *command[1:], env=env, cwd=cwd, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        return ProcessExec(proc)

    async def probe(self, request: ProbeRequest) -> ProbeOutcome:
        """For real, from the host (``hostprobe``): this driver's pods share the host's network."""
        return await self._prober.probe(request)


def _cri_line(line: bytes, *, timestamps: bool, since: str | None) -> bytes:
    """``<time> <stream> <F|P> <text>`` -> the text (with the time, if asked), newline restored for F."""
    parts = line.split(b" ", 3)
    if len(parts) < 4:
        return b""
    ts, _stream, tag, text = parts
    if since is not None and ts.decode()[:19] < since:
        return b""
    body = text + (b"\n" if tag == b"F" else b"")
    return ts + b" " + body if timestamps else body


class ProcessExec:
    def __init__(self, proc: asyncio.subprocess.Process, *, master_fd: int | None = None) -> None:
        self.proc = proc
        self.master_fd = master_fd

    async def write_stdin(self, data: bytes) -> None:
        if self.master_fd is not None:
            os.write(self.master_fd, data)
        elif self.proc.stdin is not None:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self.master_fd, b"\x04")
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        if self.master_fd is not None:
            loop = asyncio.get_running_loop()
            while True:
                try:
                    data = await loop.run_in_executor(None, os.read, self.master_fd, 65536)
                except OSError:  # EIO: the other side closed
                    return
                if not data:
                    return
                yield 1, data
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()

        async def pump(n: int, reader: asyncio.StreamReader | None) -> None:
            while reader is not None:
                data = await reader.read(65536)
                if not data:
                    break
                await queue.put((n, data))
            await queue.put(None)

        tasks = [asyncio.create_task(pump(1, self.proc.stdout)), asyncio.create_task(pump(2, self.proc.stderr))]
        open_ = 2
        try:
            while open_:
                item = await queue.get()
                if item is None:
                    open_ -= 1
                else:
                    yield item
        finally:
            for t in tasks:
                t.cancel()

    async def resize(self, width: int, height: int) -> None:
        if self.master_fd is not None:
            import fcntl
            import struct
            import termios

            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self.master_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.master_fd)
            self.master_fd = None
        return 128 - code if code < 0 else code

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
