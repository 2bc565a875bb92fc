"""The ``docker`` driver: pods as containers through the Docker Engine API.

Docker and Podman serve this API. A pod is an infra container (``catatonit -P``
or busybox ``sleep``, from a tiny local image the driver builds itself when it
is missing, since no registry may be reachable) that owns the network
namespace; app containers join it with ``NetworkMode: container:<id>``, so they
share localhost and the pod IP. Every container is labelled with its pod uid,
namespace, name, container name, attempt and node; that is all an agent needs
to adopt them after a restart.

Where the agent runs as root beside a local engine, most pods need no infra
container at all: their sandbox is a pair of namespaces the agent makes itself
on its own bridge (``shoal.agent.drivers.podnet``, about 15 ms), and the app
containers join them by path (``NetworkMode: ns:<path>``), so a pod costs one
engine start, not two, and none of the engine's network setup. Pods that need
the engine's help (hostPort mappings, hostNetwork, DNS options without
servers) keep an infra container. The driver answers for such a sandbox from
its record, with the same labels an infra container would carry, so callers
cannot tell the two apart.

Volumes arrive as ``Mount``s (host paths the volume manager prepared) and go
to the engine as ``HostConfig.Binds`` (``host:container:ro|rw``, plus
``rslave``/``rshared`` for mountPropagation HostToContainer/Bidirectional).
A pod's ``shoal.io/ulimits`` annotation replaces, per container, the driver's
own ulimit defaults of the same names in ``HostConfig.Ulimits``.

State changes the agent did not cause (a process exits, is OOM-killed) are
found by listing this node's containers once a second and comparing states:
one cheap request, and robust where an event stream could be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import io
import json
import logging
import os
import re
import resource
import shutil
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from shoal.agent.cgroups import CgroupReader, Usage
from shoal.agent.drivers.base import (
    LABEL_CONTAINER,
    LABEL_NODE,
    LABEL_POD_UID,
    LABEL_ROLE,
    ChangeHandler,
    ContainerSpec,
    ContainerStatus,
    DriverError,
    ImagePullError,
    Mount,
    NotFoundError,
    ProbeOutcome,
    ProbeRequest,
    Sandbox,
    SandboxSpec,
)
from shoal.agent.drivers.engine import Engine, EngineError, demux, query
from shoal.agent.drivers.hostprobe import HostProber
from shoal.agent.drivers.oom import kernel_oom_killed
from shoal.agent.drivers.podnet import PodNetwork, is_sandbox_id, resolv_file
from shoal.api.podhints import Ulimit

log = logging.getLogger(__name__)

PAUSE_IMAGE = "localhost/shoal-pause:1"
_EXITED = re.compile(r"Exited \((-?\d+)\)")


def rfc3339(value: str | None) -> str | None:
    """Engine timestamps (nanoseconds, offsets) as Kubernetes writes them: whole seconds, Z."""
    if not value or value.startswith("0001-01-01"):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)?", value)
    if not m:
        return None
    base = dt.datetime.fromisoformat(m.group(1) + (m.group(2) or "Z").replace("Z", "+00:00"))
    return base.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ulimits() -> list[dict[str, Any]]:
    """Ask for no more than this process may have: some machines' hard limits are below Podman's defaults."""
    out = []
    for name, res in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        _, hard = resource.getrlimit(res)
        if hard == resource.RLIM_INFINITY:
            continue
        if name == "nproc":
            with contextlib.suppress(OSError, ValueError):
                hard = min(hard, int(Path("/proc/sys/kernel/pid_max").read_text()))
        out.append({"Name": name, "Soft": hard, "Hard": hard})
    return out


def with_ulimits(defaults: list[dict[str, Any]], own: tuple[Ulimit, ...]) -> list[dict[str, Any]]:
    """``HostConfig.Ulimits``: the driver's defaults, each replaced by the container's own of that name."""
    mine = {u.name: {"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in own}
    return [d for d in defaults if d["Name"] not in mine] + list(mine.values())


def _pause_tar() -> tuple[bytes, list[str]]:
    """A one-binary root file system for the infra container, and the command that pauses."""
    binary = shutil.which("catatonit") or "/usr/libexec/podman/catatonit"
    cmd = ["/catatonit", "-P"]
    if not os.path.exists(binary):
        binary = shutil.which("busybox") or ""
        cmd = ["/busybox", "sleep", "2147483647"]
    if not binary:
        raise DriverError("no catatonit or busybox binary to build the infra image from")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(binary, arcname=cmd[0][1:])
    return buf.getvalue(), cmd


def _status(info: dict[str, Any]) -> ContainerStatus:
    st = info.get("State") or {}
    cfg = info.get("Config") or {}
    labels = dict(cfg.get("Labels") or {})
    status = str(st.get("Status") or "unknown").lower()
    state = {"running": "running", "created": "created", "configured": "created", "initialized": "created",
             "exited": "exited", "stopped": "exited", "dead": "exited", "paused": "running"}.get(status, "unknown")
    net = info.get("NetworkSettings") or {}
    ip = net.get("IPAddress") or None
    if not ip:
        for n in (net.get("Networks") or {}).values():
            if n and n.get("IPAddress"):
                ip = n["IPAddress"]
                break
    return ContainerStatus(
        id=info["Id"], name=labels.get(LABEL_CONTAINER, str(info.get("Name", "")).lstrip("/")),
        pod_uid=labels.get(LABEL_POD_UID, ""), state=state,
        exit_code=int(st["ExitCode"]) if state == "exited" and st.get("ExitCode") is not None else None,
        started_at=rfc3339(st.get("StartedAt")), finished_at=rfc3339(st.get("FinishedAt")),
        oom_killed=bool(st.get("OOMKilled")), reason=None, message=(st.get("Error") or None),
        image=str(cfg.get("Image") or ""), image_id=str(info.get("Image") or ""), labels=labels, ip=ip,
    )


class DockerDriver:
    name = "docker"

    def __init__(self, host: str, *, node_name: str = "", poll_seconds: float = 1.0,
                 pause_image: str = PAUSE_IMAGE, pod_network: PodNetwork | None = None) -> None:
        self.host = host
        self.engine = Engine(host)
        self.node_name = node_name
        self.poll_seconds = poll_seconds
        self.pause_image = pause_image
        self._handler: ChangeHandler | None = None
        self._poller: asyncio.Task[None] | None = None
        self._seen: dict[str, tuple[str, str]] = {}  # container id -> (state text, pod uid)
        self._ulimits = _ulimits()
        self._version = ""
        self._oom: dict[str, bool] = {}  # container id -> the kernel says OOM-killed
        # sandboxes made by the agent: only with a node name (records are scoped by the node label) and a
        # local engine (it must see the namespaces' paths and the per-pod files)
        self.podnet = pod_network if node_name and self.engine.local else None
        self._prober = HostProber(self.exec)
        # a local engine's containers are cgroups this machine can read (shoal.agent.cgroups)
        self._cgroups = CgroupReader() if self.engine.local else None

    def usage(self, container_id: str) -> Usage | None:
        """The container's CPU and memory from its cgroup (None: a remote engine, or no cgroup)."""
        return self._cgroups.container(container_id) if self._cgroups is not None else None

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            v = await self.engine.request("GET", "/version", timeout=10)
        except EngineError as e:
            raise DriverError(e.message) from e
        comps = {c.get("Name", ""): c.get("Version", "") for c in (v.get("Components") or [])}
        if "Podman Engine" in comps:
            self._version = f"podman://{comps['Podman Engine']}"
        else:
            self._version = f"docker://{v.get('Version', '')}"
        await self._ensure_pause_image()
        if self.podnet is not None:
            try:
                await self.podnet.setup()
                log.info("pod sandboxes: namespaces on bridge %s (%s)", self.podnet.bridge, self.podnet.cidr)
            except DriverError as e:
                log.warning("pod sandboxes: infra containers (%s)", e)
                self.podnet = None
        self._poller = asyncio.create_task(self._poll(), name="docker-poll")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
        await self._prober.close()
        await self.engine.close()

    async def version(self) -> str:
        return self._version

    def set_change_handler(self, handler: ChangeHandler) -> None:
        self._handler = handler

    async def _poll(self) -> None:
        filters = {"label": [f"{LABEL_NODE}={self.node_name}"]} if self.node_name else {"label": [LABEL_POD_UID]}
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                items = await self.engine.request("GET", "/containers/json", params={"all": True, "filters": filters})
            except EngineError as e:
                log.debug("docker poll: %s", e)
                continue
            now: dict[str, tuple[str, str]] = {}
            for c in items or []:
                uid = (c.get("Labels") or {}).get(LABEL_POD_UID, "")
                m = _EXITED.search(str(c.get("Status") or ""))
                now[c["Id"]] = (f"{c.get('State')}/{m.group(1) if m else ''}", uid)
            if self._handler is not None:
                changed = {uid for cid, (st, uid) in now.items() if self._seen.get(cid, ("", ""))[0] != st}
                changed |= {uid for cid, (_, uid) in self._seen.items() if cid not in now}
                for uid in changed:
                    if uid:
                        self._handler(uid)
            self._seen = now

    async def _ensure_pause_image(self) -> None:
        try:
            await self.engine.request("GET", f"/images/{self.pause_image}/json")
            return
        except EngineError as e:
            if e.status != 404:
                raise DriverError(e.message) from e
        repo, _, tag = self.pause_image.rpartition(":")
        data, cmd = _pause_tar()
        change = "CMD " + json.dumps(cmd)
        url = self.engine.base + "/images/create"
        async with self.engine.session.post(url, params={"fromSrc": "-", "repo": repo, "tag": tag, "changes": change},
                                            data=data, headers={"Content-Type": "application/x-tar"}) as resp:
            body = await resp.read()
            if resp.status >= 400:
                raise DriverError(f"cannot build the infra image {self.pause_image}: {body[:300]!r}")
        try:
            await self.engine.request("GET", f"/images/{self.pause_image}/json")
        except EngineError:  # Podman ignores ``tag`` on import and tags it ``latest``: retag
            try:
                await self.engine.request("POST", f"/images/{repo}:latest/tag", params={"repo": repo, "tag": tag})
                await self.engine.request("DELETE", f"/images/{repo}:latest")
            except EngineError as e:
                raise DriverError(f"cannot tag the infra image {self.pause_image}: {e.message}") from e
        log.info("built the infra image %s", self.pause_image)

    # ---- sandboxes ------------------------------------------------------------------------
    def _own_namespaces(self, spec: SandboxSpec) -> bool:
        """Whether the agent makes this pod's sandbox: it needs nothing of the engine (no ports, own network)."""
        if self.podnet is None or spec.host_network or spec.port_mappings:
            return False
        # resolv.conf is mounted into the app containers; without servers it would need the host's merged in
        return bool(spec.dns_servers) or not (spec.dns_searches or spec.dns_options)

    async def run_sandbox(self, spec: SandboxSpec) -> Sandbox:
        if self.podnet is not None and self._own_namespaces(spec):
            resolv = resolv_file(spec.dns_servers, spec.dns_searches, spec.dns_options) if spec.dns_servers else None
            try:
                rec = await self.podnet.create({**spec.labels, LABEL_ROLE: "sandbox"}, spec.hostname, resolv)
            except OSError as e:
                raise DriverError(f"making the pod sandbox: {e}", reason="FailedCreatePodSandBox") from e
            return Sandbox(rec.id, rec.ip)
        labels = {**spec.labels, LABEL_ROLE: "sandbox"}
        host: dict[str, Any] = {"Ulimits": self._ulimits}
        body: dict[str, Any] = {"Image": self.pause_image, "Labels": labels, "Hostname": spec.hostname[:63],
                                "HostConfig": host}
        if spec.host_network:
            host["NetworkMode"] = "host"
        else:
            if spec.port_mappings:
                body["ExposedPorts"] = {f"{c}/{p.lower()}": {} for _, c, p in spec.port_mappings}
                host["PortBindings"] = {f"{c}/{p.lower()}": [{"HostPort": str(h)}] for h, c, p in spec.port_mappings}
            if spec.dns_servers:
                host["Dns"] = list(spec.dns_servers)
            if spec.dns_searches:
                host["DnsSearch"] = list(spec.dns_searches)
            if spec.dns_options:
                host["DnsOptions"] = list(spec.dns_options)
        name = f"shoal_{spec.namespace}_{spec.pod_name}_{spec.pod_uid[:8]}_sandbox"
        cid = await self._create(name, body)
        try:
            await self.engine.request("POST", f"/containers/{cid}/start")
        except EngineError as e:
            with contextlib.suppress(EngineError):
                await self.engine.request("DELETE", f"/containers/{cid}", params={"force": True})
            raise DriverError(f"starting the pod sandbox: {e.message}") from e
        info = await self.inspect(cid)
        return Sandbox(cid, info.ip)

    async def stop_sandbox(self, sandbox_id: str) -> None:
        await self.stop_container(sandbox_id, 0)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        await self.remove_container(sandbox_id)

    # ---- images ---------------------------------------------------------------------------
    async def ensure_image(self, image: str, pull_policy: str) -> None:
        present = True
        try:
            await self.engine.request("GET", f"/images/{image}/json")
        except EngineError as e:
            if e.status != 404:
                raise DriverError(e.message) from e
            present = False
        if present and pull_policy != "Always":
            return
        if not present and pull_policy == "Never":
            raise DriverError(f'Container image "{image}" is not present with pull policy of Never',
                              reason="ErrImageNeverPull")
        try:
            await self._pull(image)
        except ImagePullError:
            if present:  # Always, but no registry answers: run what is here, as offline machines must
                log.info("pull of %s failed; using the local image", image)
                return
            raise

    async def _pull(self, image: str) -> None:
        name, tag = image, "latest"
        last = image.rsplit("/", 1)[-1]
        if "@" in last:
            name, tag = image.split("@", 1)[0], image.split("@", 1)[1]
        elif ":" in last:
            name, tag = image.rsplit(":", 1)
        error = ""
        try:
            async for chunk in self.engine.stream("POST", "/images/create", params={"fromImage": name, "tag": tag}):
                for line in chunk.splitlines():
                    if b'"error"' in line:
                        with contextlib.suppress(ValueError):
                            error = str(json.loads(line).get("error") or "")
        except EngineError as e:
            raise ImagePullError(f'Failed to pull image "{image}": {e.message}') from e
        if error:
            raise ImagePullError(f'Failed to pull image "{image}": {error}')
        try:
            await self.engine.request("GET", f"/images/{image}/json")
        except EngineError as e:
            raise ImagePullError(f'Failed to pull image "{image}": {e.message}') from e

    # ---- containers -------------------------------------------------------------------------
    async def _create(self, name: str, body: dict[str, Any]) -> str:
        try:
            out = await self.engine.request("POST", "/containers/create", params={"name": name}, body=body)
        except EngineError as e:
            if e.status == 409 or "already in use" in e.message:
                # a leftover of a crash between create and our bookkeeping: replace it
                with contextlib.suppress(EngineError):
                    await self.engine.request("DELETE", f"/containers/{name}", params={"force": True})
                try:
                    out = await self.engine.request("POST", "/containers/create", params={"name": name}, body=body)
                except EngineError as e2:
                    raise DriverError(e2.message, reason="CreateContainerError") from e2
            elif e.status == 404 and "image" in e.message.lower():
                raise ImagePullError(e.message) from e
            else:
                raise DriverError(e.message, reason="CreateContainerError") from e
        return str(out["Id"])

    async def create_container(self, spec: ContainerSpec) -> str:
        labels = {**spec.labels, LABEL_CONTAINER: spec.name}
        labels.setdefault(LABEL_ROLE, "container")
        rec = self.podnet.records.get(spec.sandbox_id) if self.podnet is not None else None
        if rec is not None:  # namespaces the agent made: join them by path
            assert self.podnet is not None
            net, ipc = f"ns:{self.podnet.netns_path(rec.id)}", f"ns:{self.podnet.ipc_path(rec.id)}"
        else:
            net = ipc = f"container:{spec.sandbox_id}"
        host: dict[str, Any] = {"NetworkMode": net, "Ulimits": with_ulimits(self._ulimits, spec.ulimits),
                                "IpcMode": ipc}
        if spec.memory_limit:
            host["Memory"] = spec.memory_limit
            host["MemorySwap"] = spec.memory_limit  # no swap beyond the limit, so the OOM killer acts
        if spec.cpu_limit_millis:
            host["NanoCpus"] = spec.cpu_limit_millis * 1_000_000
        if spec.cpu_request_millis:
            host["CpuShares"] = max(2, spec.cpu_request_millis * 1024 // 1000)
        binds = [_bind(m) for m in spec.mounts]
        if rec is not None:  # the pod's own hosts and resolv.conf, unless the pod mounts its own
            taken = {m.container_path for m in spec.mounts}
            binds += [f"{h}:{c}:ro" for h, c in rec.files if c not in taken]
        if binds:
            host["Binds"] = binds
        body: dict[str, Any] = {
            "Image": spec.image, "Labels": labels, "Hostname": spec.pod_name[:63],
            "Env": [f"{k}={v}" for k, v in spec.env.items()],
            "Tty": spec.tty, "OpenStdin": spec.stdin, "StdinOnce": False, "HostConfig": host,
        }
        if spec.command:
            body["Entrypoint"] = list(spec.command)
            body["Cmd"] = list(spec.args)
        elif spec.args:
            body["Cmd"] = list(spec.args)
        if spec.working_dir:
            body["WorkingDir"] = spec.working_dir
        name = f"shoal_{spec.namespace}_{spec.pod_name}_{spec.pod_uid[:8]}_{spec.name}_{spec.attempt}"
        return await self._create(name, body)

    async def start_container(self, container_id: str) -> None:
        try:
            await self.engine.request("POST", f"/containers/{container_id}/start")
        except EngineError as e:
            if e.status == 304:
                return
            if e.status == 404:
                raise NotFoundError(e.message) from e
            raise DriverError(_start_message(e.message), reason="RunContainerError") from e

    def _own(self, container_id: str) -> bool:
        """A sandbox the agent made (answered from its record, never asked of the engine)."""
        return self.podnet is not None and is_sandbox_id(container_id) and container_id in self.podnet.records

    async def stop_container(self, container_id: str, timeout: float) -> None:
        if self.podnet is not None and self._own(container_id):
            self.podnet.stop(container_id)
            return
        t = max(0, int(round(timeout)))
        try:
            await self.engine.request("POST", f"/containers/{container_id}/stop", params={"t": t}, timeout=t + 60)
        except EngineError as e:
            if e.status in (304, 404):
                return
            if "not running" in e.message or "stopped state" in e.message:
                return
            raise DriverError(e.message) from e

    async def remove_container(self, container_id: str) -> None:
        if self.podnet is not None and self._own(container_id):
            self.podnet.remove(container_id)
            return
        try:
            await self.engine.request("DELETE", f"/containers/{container_id}", params={"force": True, "v": True})
        except EngineError as e:
            if not (e.status == 404 or "no such container" in e.message.lower()):
                raise DriverError(e.message) from e
        self._oom.pop(container_id, None)

    async def inspect(self, container_id: str) -> ContainerStatus:
        own = self.podnet.status(container_id) if self.podnet is not None and self._own(container_id) else None
        if own is not None:
            return own
        try:
            info = await self.engine.request("GET", f"/containers/{container_id}/json")
        except EngineError as e:
            if e.status == 404 or "no such container" in e.message.lower():
                raise NotFoundError(e.message) from e
            raise DriverError(e.message) from e
        st = _status(info)
        if (st.state == "exited" and st.exit_code == 137 and not st.oom_killed and self.engine.local
                and ((info.get("HostConfig") or {}).get("Memory") or 0) > 0):
            if container_id not in self._oom:
                self._oom[container_id] = kernel_oom_killed(st.id)
            if self._oom[container_id]:
                st = dataclasses.replace(st, oom_killed=True)
        return st

    async def list_containers(self, labels: dict[str, str] | None = None) -> list[ContainerStatus]:
        filt = [f"{k}={v}" for k, v in (labels or {}).items()] or [LABEL_POD_UID]
        try:
            items = await self.engine.request("GET", "/containers/json",
                                              params={"all": True, "filters": {"label": filt}})
        except EngineError as e:
            raise DriverError(e.message) from e

        ids = [str(c["Id"]) for c in items or []]

        async def one(cid: str) -> ContainerStatus | None:
            try:
                return await self.inspect(cid)
            except NotFoundError:
                return None

        found = await asyncio.gather(*(one(cid) for cid in ids))
        own = self.podnet.matching(labels) if self.podnet is not None else []  # sandboxes the agent made
        return [c for c in found if c is not None] + own

    # ---- logs and exec ------------------------------------------------------------------------
    async def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
    ) -> AsyncIterator[bytes]:
        try:
            info = await self.engine.request("GET", f"/containers/{container_id}/json")
        except EngineError as e:
            raise NotFoundError(e.message) if e.status == 404 else DriverError(e.message) from e
        params: dict[str, Any] = {"stdout": True, "stderr": True, "follow": follow, "timestamps": timestamps,
                                  "tail": "all" if tail is None else max(0, tail)}
        if since_seconds:
            params["since"] = int(dt.datetime.now(dt.UTC).timestamp()) - since_seconds
        chunks = self.engine.stream("GET", f"/containers/{container_id}/logs", params=params)
        try:
            if (info.get("Config") or {}).get("Tty"):
                async for chunk in chunks:
                    yield chunk
            else:
                async for _, data in demux(chunks):
                    yield data
        except EngineError as e:
            raise DriverError(e.message) from e

    async def exec(
        self, container_id: str, command: list[str], *, tty: bool = False, stdin: bool = False
    ) -> DockerExec:
        body = {"AttachStdin": stdin, "AttachStdout": True, "AttachStderr": True, "Tty": tty, "Cmd": command}
        try:
            out = await self.engine.request("POST", f"/containers/{container_id}/exec", body=body)
            reader, writer = await self.engine.hijack(f"/exec/{out['Id']}/start", {"Detach": False, "Tty": tty})
        except EngineError as e:
            if e.status == 404:
                raise NotFoundError(e.message) from e
            raise DriverError(e.message) from e
        return DockerExec(self.engine, str(out["Id"]), reader, writer, tty=tty)

    async def attach(self, container_id: str, *, stdin: bool = False, tty: bool = False) -> DockerAttach:
        """Attach to the container's own process (``kubectl attach``): its output from now on, and its
        stdin when it was created with one open. Ending the attachment leaves the container running."""
        params = query({"stream": True, "stdin": stdin, "stdout": True, "stderr": True})
        try:
            reader, writer = await self.engine.hijack(f"/containers/{container_id}/attach{params}", None)
        except EngineError as e:
            if e.status == 404:
                raise NotFoundError(e.message) from e
            raise DriverError(e.message) from e
        return DockerAttach(self, container_id, reader, writer, tty=tty)

    async def probe(self, request: ProbeRequest) -> ProbeOutcome:
        """For real, from the host (``hostprobe``): this driver's pod addresses are reachable from here."""
        return await self._prober.probe(request)


def _bind(m: Mount) -> str:
    """A volume as an engine bind: ``host:container:ro|rw[,rslave|rshared]`` (rprivate is the default)."""
    opts = "ro" if m.read_only else "rw"
    if m.propagation != "rprivate":
        opts += f",{m.propagation}"
    return f"{m.host_path}:{m.container_path}:{opts}"


def _start_message(message: str) -> str:
    """Trim the engine's wrapping around the runtime's reason (``executable file not found`` ...)."""
    m = re.search(r"(exec: .*|executable file .*|no such file or directory.*)", message)
    return m.group(1) if m else message


class DockerExec:
    """One exec over a hijacked engine connection."""

    def __init__(self, engine: Engine, exec_id: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, tty: bool) -> None:
        self.engine = engine
        self.exec_id = exec_id
        self.reader = reader
        self.writer = writer
        self.tty = tty

    async def write_stdin(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            if self.writer.can_write_eof():
                self.writer.write_eof()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            yield data

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        if self.tty:
            async for chunk in self._chunks():
                yield 1, chunk
        else:
            async for frame in demux(self._chunks()):
                yield frame

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(EngineError):
            await self.engine.request("POST", f"/exec/{self.exec_id}/resize", params={"h": height, "w": width})

    async def wait(self) -> int:
        for _ in range(600):
            try:
                info = await self.engine.request("GET", f"/exec/{self.exec_id}/json")
            except EngineError:
                return 1
            if not info.get("Running"):
                code = info.get("ExitCode")
                return int(code) if code is not None else 1
            await asyncio.sleep(0.05)
        return 1

    async def kill(self) -> None:
        with contextlib.suppress(EngineError, OSError, ValueError):
            info = await self.engine.request("GET", f"/exec/{self.exec_id}/json")
            pid = int(info.get("Pid") or 0)
            if pid > 0 and info.get("Running"):
                os.kill(pid, 9)
        self.writer.close()


class DockerAttach(DockerExec):
    """An attachment to a container's main process: resized and waited for as the container, never killed."""

    def __init__(self, driver: DockerDriver, container_id: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, *, tty: bool) -> None:
        super().__init__(driver.engine, "", reader, writer, tty=tty)
        self.driver = driver
        self.container_id = container_id

    async def resize(self, width: int, height: int) -> None:
        with contextlib.suppress(EngineError):
            await self.engine.request("POST", f"/containers/{self.container_id}/resize",
                                      params={"h": height, "w": width})

    async def wait(self) -> int:
        with contextlib.suppress(DriverError):
            st = await self.driver.inspect(self.container_id)
            if st.state == "exited" and st.exit_code is not None:
                return int(st.exit_code)
        return 0

    async def kill(self) -> None:
        self.writer.close()  # detach: the container goes on
