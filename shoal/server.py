"""The composition root of ``shoal server``: one process, every component.

It opens the store, makes sure the CA, serving certificate, tokens and admin
kubeconfig exist in the data dir, and serves the API over HTTPS. Components
that run beside the API (scheduler, controllers, the local agent) are started
here too as they are added; they talk to the API only through ``shoal.client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, cast

from aiohttp import web

from shoal import kubeconfig
from shoal.apiserver.app import ApiServer
from shoal.apiserver.auth import ADMIN, TokenAuthenticator, User
from shoal.apiserver.authn import options as authn_options
from shoal.apiserver.certs import ensure_serving_cert
from shoal.apiserver.leanhttp import LeanServer
from shoal.apiserver.prom import TimedStore, request_metrics_enabled
from shoal.client import ApiClient
from shoal.controllers.ipamplan import check_ranges
from shoal.datadir import DataDir, ensure_token, write_private
from shoal.network import config as netconfig
from shoal.network.config import DEFAULT_CLUSTER_CIDR, DEFAULT_SERVICE_CIDR, NetworkConfig
from shoal.store.base import auto_compact
from shoal.store.open import open_store

log = logging.getLogger("shoal.server")

# "aiohttp" serves every request with aiohttp alone, as before the lean server (for comparison)
HTTP_SERVER_ENV = "SHOAL_HTTP_SERVER"


class ComponentOptions(TypedDict, total=False):
    """Options of the components beside the API, each under its CLI option's Python name."""

    service_cidr: str
    disable_scheduler: bool
    disable_controller_manager: bool
    scheduler_config: str
    scheduler_process: bool
    node_monitor_grace_period: float
    controllers: str  # "*", "none" or "a,b" (else $SHOAL_CONTROLLERS)
    cluster_dns: list[str]  # the nameservers pods get (else this node's cluster DNS, when it serves)
    cluster_cidr: str  # pod addresses, one range per node (node IPAM)
    node_cidr_mask_size: int
    network_backend: str  # vxlan | host-gw | none
    node_ip: str  # this machine's node address for other machines (the overlay's underlay)
    docker_socket: str  # where the Docker Swarm API listens ("none": not served; default: see docker_socket_path)
    # authentication (shoal.apiserver.authn)
    token_auth_file: str  # upstream's static token CSV
    oidc_issuer_url: str
    oidc_client_id: str
    oidc_username_claim: str
    oidc_username_prefix: str
    oidc_groups_claim: str
    oidc_groups_prefix: str
    oidc_ca_file: str


def component_options(values: Mapping[str, object]) -> ComponentOptions:
    """The options the CLI was given (those left unset dropped) as ``ComponentOptions``.

    A key ``ComponentOptions`` does not declare is a bug (an option added to the CLI only), so it raises."""
    unknown = sorted(set(values) - ComponentOptions.__optional_keys__)
    if unknown:
        raise TypeError(f"component options not declared in ComponentOptions: {', '.join(unknown)}")
    return cast(ComponentOptions, {k: v for k, v in values.items() if v is not None})


@dataclass(frozen=True, slots=True)
class ServerOptions:
    data_dir: Path
    listen: str = "127.0.0.1:6443"
    store: str = "sqlite"
    runtime: str = "auto"
    docker_host: str | None = None
    no_agent: bool = False
    node_name: str | None = None
    compact_keep: int = 10_000
    # component options (scheduler config path, node monitor grace period, service CIDR, ...)
    extra: ComponentOptions = field(default_factory=ComponentOptions)


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def _advertise_ip(host: str) -> str:
    """The address the ``kubernetes`` Service's endpoints name: the listen address, or the host's own."""
    import ipaddress

    from shoal.agent.node import host_ip

    try:
        return host_ip() if ipaddress.ip_address(host or "0.0.0.0").is_unspecified else host
    except ValueError:  # a name: what it resolves to is the host's
        return host_ip()


class Server:
    """A running all-in-one server; ``start``/``stop`` for tests, ``run`` for the CLI."""

    def __init__(self, opts: ServerOptions) -> None:
        self.opts = opts
        self.dd = DataDir(opts.data_dir)
        self.api: ApiServer | None = None
        self._runner: web.AppRunner | None = None
        self._lean: LeanServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stoppers: list[Callable[[], Awaitable[None]]] = []
        self._clients: list[ApiClient] = []  # closed once the components that use them have stopped
        self.port = 0
        self.url = ""

    def network_config(self) -> NetworkConfig:
        """The cluster's network settings, as this server's flags give them."""
        x = self.opts.extra
        return NetworkConfig(cluster_cidr=x.get("cluster_cidr", DEFAULT_CLUSTER_CIDR),
                             service_cidr=x.get("service_cidr", DEFAULT_SERVICE_CIDR),
                             backend=x.get("network_backend", "vxlan"))

    async def start(self) -> None:
        opts = self.opts
        netcfg = self.network_config()
        overlap = check_ranges(netcfg.cluster_cidr, netcfg.service_cidr)
        if overlap:
            raise SystemExit(f"shoal server: {overlap}")
        dd = self.dd.ensure()
        host, port = split_listen(opts.listen)
        admin_token = ensure_token(dd.admin_token, "shoal-admin-")
        node_token = ensure_token(dd.node_token, "shoal-node-")
        crt, key = ensure_serving_cert(dd, hosts=[host])
        tokens = TokenAuthenticator()
        tokens.add(admin_token, ADMIN)
        tokens.add(node_token, User("system:node", ("system:nodes", "system:authenticated")))
        self._internal_token = secrets.token_hex(24)
        tokens.add(self._internal_token, User("system:shoal", ("system:masters", "system:authenticated")))
        auth = authn_options.authenticator(tokens, opts.extra, sa_key=dd.root / "sa.key")
        self.store = open_store(opts.store, data_dir=dd.root)
        await self.store.start()
        # every store call timed for Prometheus (etcd_request_duration_seconds), whichever backend
        timed = TimedStore(self.store) if request_metrics_enabled() else self.store
        self.api = ApiServer(timed, authenticator=auth, service_accounts=auth.service_accounts,
                             server_address=f"{host}:{port}",
                             service_cidr=opts.extra.get("service_cidr", "10.43.0.0/16"),
                             ca_pem=dd.ca_crt.read_text())
        auth.account_uid = self.api.account_uid
        await self.api.start()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(crt, key)
        # client certificates signed by the cluster CA authenticate (shoal user add); none is asked of anyone
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cafile=str(dd.ca_crt))
        self._runner = web.AppRunner(self.api.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        # the in-process transport: the same API on a private Unix socket, no TLS
        self.socket_path = dd.root / "api.sock"
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        if os.environ.get(HTTP_SERVER_ENV, "lean") == "aiohttp":  # the opt-out (docs/decisions.md)
            site = web.TCPSite(self._runner, host, port, ssl_context=ctx, backlog=1024, reuse_address=True)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            await web.UnixSite(self._runner, str(self.socket_path)).start()
        else:
            # unary API requests are served by the lean server; anything else on a connection
            # (watches, exec, discovery, a head it does not read) by aiohttp (see leanhttp)
            assert self._runner.server is not None
            self._lean = LeanServer(self.api, self._runner.server)
            self.port = await self._lean.start_tcp(host, port, ssl=ctx, backlog=1024)
            await self._lean.start_unix(str(self.socket_path))
        os.chmod(self.socket_path, 0o600)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.url = f"https://{shown}:{self.port}"
        await self.api.publish_endpoint(_advertise_ip(host), self.port)
        write_private(dd.admin_kubeconfig, kubeconfig.render(
            server=self.url, ca_pem=dd.ca_crt.read_bytes(), token=admin_token))
        # keep the store from growing forever (k3s users report multi-GB SQLite files)
        self._tasks.append(asyncio.create_task(auto_compact(self.store, keep=opts.compact_keep), name="compactor"))
        log.info("shoal server listening on %s (store: %s, data dir: %s)", self.url, opts.store, dd.root)
        await netconfig.publish(self.client(), netcfg)  # for agents on other machines
        await self._start_components()

    async def _start_components(self) -> None:
        """Start the components that run beside the API, each through the in-process client.

        Each component has its own method here and appends an async stop callable
        to ``self._stoppers`` (stopped in reverse order).
        """
        if not self.opts.extra.get("disable_scheduler"):
            await self._start_scheduler()
        await self._start_controllers()
        if not self.opts.no_agent:
            cluster_dns = await self._start_network()
            await self._start_agent(cluster_dns)
        await self._start_docker_api()

    def docker_socket_path(self) -> Path | None:
        """The Swarm API's socket: ``--docker-socket``, else /run/shoal/docker.sock for the default root data
        dir, else ``<data-dir>/docker.sock`` (so servers with their own data dirs never share one)."""
        from shoal.datadir import default_data_dir

        chosen = self.opts.extra.get("docker_socket")
        if chosen == "none":
            return None
        if chosen:
            return Path(chosen)
        if os.geteuid() == 0 and self.dd.root.resolve() == default_data_dir().resolve():
            return Path("/run/shoal/docker.sock")
        return self.dd.root / "docker.sock"

    async def _start_docker_api(self) -> None:
        """The Docker Engine API's Swarm endpoints (``docker service``, ``docker stack`` ...), on a Unix socket."""
        from shoal.agent.agent import default_node_name
        from shoal.compat.docker.app import DockerApi
        from shoal.compat.docker.backend import SwarmBackend

        path = self.docker_socket_path()
        if path is None:
            return
        local = "" if self.opts.no_agent else (self.opts.node_name or default_node_name())
        api = DockerApi(SwarmBackend(self.client(), local_node=local), path)
        await api.start()
        self.docker_api = api
        self._stoppers.append(api.stop)

    async def _start_scheduler(self) -> None:
        from shoal.scheduler.config import ConfigError
        from shoal.scheduler.main import PARENT_ENV, TOKEN_ENV, load_config, metrics_socket

        config_path = self.opts.extra.get("scheduler_config")
        try:
            sched_cfg = load_config(config_path)
        except (OSError, ConfigError) as e:
            raise SystemExit(f"shoal server: --scheduler-config {config_path}: {e}") from None
        in_child = self.opts.extra.get("scheduler_process")
        if in_child is None:  # a core of its own where there is a second core (docs/decisions.md)
            in_child = (os.cpu_count() or 1) >= 2
        if in_child:
            from shoal.childproc import ChildComponent

            args = ["--socket", str(self.socket_path)] + (["--config", str(config_path)] if config_path else [])
            env = {TOKEN_ENV: self._internal_token, PARENT_ENV: str(os.getpid())}
            child = ChildComponent("scheduler", "shoal.scheduler.main", args, env)
            await child.start()
            if self.api is not None:  # its Prometheus metrics, on a socket beside the API's, join /metrics
                self.api.metrics_sockets.append(metrics_socket(str(self.socket_path)))
            self._stoppers.append(child.stop)
        else:
            from shoal.scheduler.prom import register_scheduler_metrics
            from shoal.scheduler.worker import Scheduler

            scheduler = Scheduler(self.client(), config=sched_cfg)
            await scheduler.start()
            register_scheduler_metrics(scheduler)
            self._stoppers.append(scheduler.stop)

    async def _start_controllers(self) -> None:
        from shoal.controllers.manager import ControllerManager, parse_enabled

        # which controllers: ``--controllers`` (extra) or $SHOAL_CONTROLLERS: "*" (default), "none", or "a,b"
        enabled = parse_enabled(self.opts.extra.get("controllers", os.environ.get("SHOAL_CONTROLLERS", "*")))
        if self.opts.extra.get("disable_controller_manager"):
            enabled = []
        if enabled is None or enabled:
            # the CSR signer signs with the cluster CA (kube-controller-manager's --cluster-signing-*-file)
            options = {**self.opts.extra, "cluster_signing_cert_file": str(self.dd.ca_crt),
                       "cluster_signing_key_file": str(self.dd.ca_key)}
            controllers = ControllerManager(self.client(), enabled=enabled, options=options)
            await controllers.start()
            self.controllers = controllers
            self._stoppers.append(controllers.stop)

    async def _start_network(self) -> list[str]:
        """The service proxy and cluster DNS of this node; the nameservers its pods get."""
        from shoal.agent.agent import default_node_name
        from shoal.agent.node import host_ip
        from shoal.network.node import NetworkNode, OverlaySettings

        netcfg = self.network_config()
        self.node_ip = self.opts.extra.get("node_ip") or host_ip()
        network = NetworkNode(self.client(), node_name=self.opts.node_name or default_node_name(),
                              service_cidr=netcfg.service_cidr,
                              overlay=OverlaySettings(netcfg.backend, self.node_ip, vni=netcfg.vni, port=netcfg.port))
        await network.start()
        self.network = network
        self._stoppers.append(network.stop)
        cluster_dns = self.opts.extra.get("cluster_dns") or []
        return cluster_dns if cluster_dns or not network.dns_available else [network.dns_ip]

    async def _start_agent(self, cluster_dns: list[str]) -> None:
        from shoal.agent.agent import Agent, AgentOptions, default_node_name, env_overrides
        from shoal.agent.drivers.base import DriverError

        agent = Agent(self.client(), AgentOptions(
            node_name=self.opts.node_name or default_node_name(), runtime=self.opts.runtime,
            docker_host=self.opts.docker_host, state_dir=self.dd.root / "agent",
            cluster_dns=tuple(cluster_dns), address=self.node_ip, cluster_cidr=self.network_config().cluster_cidr,
            pod_mtu=self.network.pod_mtu, **env_overrides()))
        try:
            await agent.start()
        except DriverError as e:
            raise SystemExit(f"shoal server: node agent: {e}") from None
        self.agent = agent
        self._stoppers.append(agent.stop)

    def client(self) -> ApiClient:
        """An API client for components running inside this process."""
        c = ApiClient.unix(str(self.socket_path), token=self._internal_token, user_agent="shoal-server")
        self._clients.append(c)
        return c

    async def stop(self) -> None:
        for stopper in reversed(self._stoppers):
            try:
                await stopper()
            except Exception:
                log.exception("stopping a component failed")
        self._stoppers.clear()
        for c in self._clients:
            with contextlib.suppress(Exception):
                await c.close()
        self._clients.clear()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self.api is not None:
            await self.api.stop()
        if self._lean is not None:
            await self._lean.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.api is not None:
            await self.store.close()

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await self.stop()
