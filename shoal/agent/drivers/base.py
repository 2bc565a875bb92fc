"""The Driver protocol: what the node agent needs from a container runtime.

Three drivers implement it: ``docker`` (the Docker Engine API, which Podman
serves too), ``process`` (host processes, no isolation) and ``simulated``
(hollow nodes for scale tests, as KWOK does). The agent's pod logic is written
against this protocol only, and errors cross it only as ``DriverError`` and
its subclasses, never as a runtime library's own exceptions.

A pod is one *sandbox* (what holds the network namespace and the pod IP: an
infra container, or namespaces the docker driver makes itself) plus its
containers joined to it. Every container carries
labels tying it to its pod (uid, namespace, name) and container name, so an
agent that restarts can adopt what is already running.

Probes are a driver capability too (``Driver.probe``): the agent resolves a
probe's spec into a typed ``ProbeRequest`` (exec, HTTP GET or TCP, with the
address already worked out) and the driver answers it. The ``docker`` and
``process`` drivers run it for real (``drivers.hostprobe``); the ``simulated``
driver decides the outcome itself, because its pod addresses are made up and a
real connection to one would leave the machine by the default route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from shoal.api.podhints import Ulimit

LABEL_POD_UID = "io.shoal.pod.uid"
LABEL_POD_NAME = "io.shoal.pod.name"
LABEL_POD_NAMESPACE = "io.shoal.pod.namespace"
LABEL_CONTAINER = "io.shoal.container.name"
LABEL_NODE = "io.shoal.node"
LABEL_ROLE = "io.shoal.role"  # "sandbox" | "container" | "init"
LABEL_ATTEMPT = "io.shoal.container.attempt"  # restart count when created
LABEL_RESTART_POLICY = "io.shoal.pod.restartPolicy"  # lets the simulated driver finish batch pods


class DriverError(Exception):
    """A runtime operation failed; ``reason`` is the Kubernetes-style reason to show."""

    def __init__(self, message: str, *, reason: str = "RunContainerError") -> None:
        super().__init__(message)
        self.reason = reason


class ImagePullError(DriverError):
    def __init__(self, message: str) -> None:
        super().__init__(message, reason="ErrImagePull")


class NotFoundError(DriverError):
    def __init__(self, message: str) -> None:
        super().__init__(message, reason="NotFound")


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    pod_uid: str
    pod_name: str
    namespace: str
    hostname: str
    host_network: bool = False
    dns_servers: tuple[str, ...] = ()
    dns_searches: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    port_mappings: tuple[tuple[int, int, str], ...] = ()  # (hostPort, containerPort, protocol)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sandbox:
    id: str
    ip: str | None


Propagation = Literal["rprivate", "rslave", "rshared"]


@dataclass(frozen=True, slots=True)
class Mount:
    """One bind mount of a host path into a container (the pod's volumes, resolved by ``agent.volumes``)."""

    host_path: str
    container_path: str
    read_only: bool = False
    propagation: Propagation = "rprivate"  # mountPropagation None | HostToContainer | Bidirectional


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    pod_uid: str
    pod_name: str
    namespace: str
    name: str
    image: str
    sandbox_id: str
    command: tuple[str, ...] = ()  # entrypoint override (Kubernetes `command`)
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    image_pull_policy: str = "IfNotPresent"
    memory_limit: int | None = None  # bytes
    cpu_limit_millis: int | None = None
    cpu_request_millis: int | None = None
    tty: bool = False
    stdin: bool = False
    mounts: tuple[Mount, ...] = ()
    attempt: int = 0  # restart count, part of the runtime name
    labels: dict[str, str] = field(default_factory=dict)
    ulimits: tuple[Ulimit, ...] = ()  # the pod's shoal.io/ulimits for this container (docker runtime only)


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    id: str
    name: str  # container name inside the pod
    pod_uid: str
    state: str  # "created" | "running" | "exited" | "unknown"
    exit_code: int | None = None
    started_at: str | None = None  # RFC 3339
    finished_at: str | None = None
    oom_killed: bool = False
    reason: str | None = None
    message: str | None = None
    image: str = ""
    image_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None  # sandboxes: the pod IP

    @property
    def role(self) -> str:
        return self.labels.get(LABEL_ROLE, "container")

    @property
    def attempt(self) -> int:
        try:
            return int(self.labels.get(LABEL_ATTEMPT, "0"))
        except ValueError:
            return 0


ProbeKind = Literal["startupProbe", "readinessProbe", "livenessProbe"]


@dataclass(frozen=True, slots=True)
class ExecCheck:
    command: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HttpCheck:
    host: str
    port: int
    scheme: str = "http"  # "http" | "https"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TcpCheck:
    host: str
    port: int


ProbeCheck = ExecCheck | HttpCheck | TcpCheck


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """One probe attempt of one container instance, its target already resolved."""

    kind: ProbeKind
    container_id: str
    check: ProbeCheck
    timeout: float


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    ok: bool
    message: str = ""


ChangeHandler = Callable[[str], None]  # called with a pod uid whose containers changed state


class ExecSession(Protocol):
    """A running exec: write stdin, read output, resize, wait for the exit code."""

    async def write_stdin(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    def output(self) -> AsyncIterator[tuple[int, bytes]]: ...  # (1 stdout | 2 stderr, data)
    async def resize(self, width: int, height: int) -> None: ...
    async def wait(self) -> int: ...  # exit code
    async def kill(self) -> None: ...


class Driver(Protocol):
    name: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    def set_change_handler(self, handler: ChangeHandler) -> None:
        """Be told (with the pod uid) when a container changes state on its own (exits, dies)."""
        ...

    async def version(self) -> str: ...  # e.g. "podman://4.3.1", shown as the node's runtime

    async def run_sandbox(self, spec: SandboxSpec) -> Sandbox: ...
    async def stop_sandbox(self, sandbox_id: str) -> None: ...
    async def remove_sandbox(self, sandbox_id: str) -> None: ...

    async def ensure_image(self, image: str, pull_policy: str) -> None: ...
    async def create_container(self, spec: ContainerSpec) -> str: ...
    async def start_container(self, container_id: str) -> None: ...
    async def stop_container(self, container_id: str, timeout: float) -> None: ...
    async def remove_container(self, container_id: str) -> None: ...
    async def inspect(self, container_id: str) -> ContainerStatus: ...
    async def list_containers(self, labels: dict[str, str] | None = None) -> list[ContainerStatus]: ...

    def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
    ) -> AsyncIterator[bytes]: ...

    async def exec(
        self, container_id: str, command: list[str], *, tty: bool = False, stdin: bool = False
    ) -> ExecSession: ...

    async def probe(self, request: ProbeRequest) -> ProbeOutcome:
        """Run one probe attempt (the caller bounds it by ``request.timeout``); never raises."""
        ...
