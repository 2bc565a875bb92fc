"""``shoal agent``: parse and check the command line's values, then run the agent until SIGTERM.

The CLI stays thin: it hands the raw option values here. Bad values raise
``BadArgument`` naming the option, which the CLI shows as a usage error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from shoal import clusterid, jointoken
from shoal.agent import cafetch, join, nodecert
from shoal.agent.agent import Agent, AgentOptions, default_node_name, env_overrides
from shoal.agent.node import host_ip, parse_kv
from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.client import ApiClient
from shoal.ingress.node import IngressNode
from shoal.network import config as netconfig
from shoal.network.node import NetworkNode, OverlaySettings

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


class BadArgument(ValueError):
    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True, slots=True)
class AgentArgs:
    server: str
    token: str
    data_dir: Path
    node_name: str | None = None
    runtime: str = "auto"
    docker_host: str | None = None
    simulate_nodes: int = 0
    labels: str = ""
    capacity: str = ""
    ca_file: str | None = None
    lease_interval: float = 2.0
    sim_start_delay: float = 0.0
    sim_complete_after: float | None = None
    sim_probe_result: str = "success"
    node_ip: str | None = None  # the underlay address other machines reach this node on
    network_backend: str | None = None  # None: the cluster's (the server's --network-backend)
    metrics_interval: float = 5.0  # seconds between resource-metric samples (0: none)
    sim_cpu_usage: str = "1m"  # simulated containers' usage without a sim.shoal.io/*-usage annotation
    sim_memory_usage: str = "8Mi"
    metrics_listen: str | None = None  # HOST:PORT of this agent's Prometheus /metrics (None: not served)
    ingress_http_port: int = 80  # this node's ingress proxy (shoal.ingress), as on the server; 0: none
    ingress_https_port: int = 443
    follow_servers: bool = True  # learn the API servers from the kubernetes endpoints (shoal.agent.apiservers)
    rotate_certificates: bool = True  # renew the node certificate while running (shoal.agent.certrenewal)


def options(args: AgentArgs) -> tuple[AgentOptions, str | None]:
    """Checked ``AgentOptions`` and the CA file to trust; raises ``BadArgument``."""
    name = (args.node_name or default_node_name()).strip()
    if not _NAME.match(name) or len(name) > 253 - 6:
        raise BadArgument("--node-name", f"{name!r} is not a valid node name (lowercase RFC 1123: a-z, 0-9, '-', '.')")
    try:
        labels = parse_kv(args.labels, what="--labels")
        capacity = parse_kv(args.capacity, what="--capacity")
    except ValueError as e:
        raise BadArgument("--labels" if "labels" in str(e) else "--capacity", str(e)) from None
    for k, v in labels.items():
        if not _LABEL_KEY.match(k) or not _LABEL_VALUE.match(v) or len(v) > 63:
            raise BadArgument("--labels", f"invalid label {k}={v}")
    for k, v in capacity.items():
        try:
            if parse_quantity(v) < 0:
                raise InvalidQuantity(v)
        except InvalidQuantity:
            raise BadArgument("--capacity", f"{k}={v}: not a quantity (e.g. cpu=4, memory=8Gi, pods=110)") from None
    if args.node_ip is not None:
        try:
            ipaddress.IPv4Address(args.node_ip)
        except ValueError:
            raise BadArgument("--node-ip", f"{args.node_ip!r} is not an IPv4 address") from None
    if args.network_backend is not None and args.network_backend not in netconfig.BACKENDS:
        raise BadArgument("--network-backend", f"{args.network_backend!r}: expected one of "
                          + ", ".join(netconfig.BACKENDS))
    for opt, q in (("--simulate-cpu-usage", args.sim_cpu_usage), ("--simulate-memory-usage", args.sim_memory_usage)):
        try:
            if parse_quantity(q) < 0:
                raise InvalidQuantity(q)
        except InvalidQuantity:
            raise BadArgument(opt, f"{q!r}: not a quantity (e.g. 250m, 64Mi)") from None
    from shoal.client.failover import split_servers

    for url in split_servers(args.server) or [args.server]:
        if not url.startswith(("https://", "http://")):
            raise BadArgument("--server", f"{url!r}: expected https://HOST:PORT")
    ca = args.ca_file
    if ca is None and (args.data_dir / "ca.crt").exists():
        ca = str(args.data_dir / "ca.crt")
    if ca is not None and not Path(ca).exists():
        raise BadArgument("--ca-file", f"{ca}: no such file")
    opts = AgentOptions(
        node_name=name, runtime=args.runtime, docker_host=args.docker_host, state_dir=args.data_dir / "agent",
        address=args.node_ip or "",
        simulate_nodes=args.simulate_nodes, labels=labels, capacity=capacity, lease_interval=args.lease_interval,
        sim_start_delay=args.sim_start_delay, sim_complete_after=args.sim_complete_after,
        sim_probe_result=args.sim_probe_result, metrics_interval=args.metrics_interval,
        sim_cpu_usage=args.sim_cpu_usage, sim_memory_usage=args.sim_memory_usage,
        **{k: v for k, v in env_overrides().items() if k not in ("lease_interval", "metrics_interval")},
    )
    return opts, ca


class JoinRefused(Exception):
    """The node cannot join this cluster: the message says which input is another cluster's (shoal.agent.join)."""


def _check_data_dir(args: AgentArgs, cluster_id: str) -> None:
    """The agent's data dir belongs to one cluster (its ``cluster-id``, written at the first join)."""
    try:
        ident = clusterid.check(local=clusterid.read(args.data_dir), stored_before=cluster_id, stored=cluster_id,
                                where=f"data dir {args.data_dir}", store=f"the server at {args.server}",
                                hint="use another --data-dir to join that server's cluster")
    except clusterid.ClusterMismatch as e:
        raise JoinRefused(str(e)) from None
    if ident.write:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        clusterid.write(args.data_dir, ident.cluster_id)


async def start_ingress(client: ApiClient, args: AgentArgs) -> IngressNode:
    """This node's ingress proxy on its ports 80/443, as ``shoal server`` runs one on its own node.

    Every node renders the same configuration from the same objects, so any
    node's address serves every Ingress (k3s's bundled proxy, likewise). Only
    the server's writes status and Events and runs the Rollout controller
    (``report=False`` here): one writer, and the canary analysis reads the
    counters of the proxy beside it. The node's credential may not list Secrets: the proxy watches by name the
    TLS Secrets it serves, which the Node authorizer lets every node read (``secrets_by_name``).
    """
    ingress = IngressNode(client, run_dir=str(args.data_dir / "ingress"), http_port=args.ingress_http_port,
                          https_port=args.ingress_https_port, report=False, secrets_by_name=True)
    try:
        await ingress.start()
    except BaseException:
        await ingress.stop()  # its informers are running
        raise
    return ingress


async def run_agent(args: AgentArgs) -> None:
    opts, ca = options(args)
    from shoal.agent.apiservers import ServerFollower
    from shoal.agent.certrenewal import CertRenewer
    from shoal.client.failover import FailoverTransport, split_servers
    from shoal.client.httptransport import HttpTransport

    # several servers (--server A,B or repeated): failover in order (shoal.client.failover)
    servers = split_servers(args.server)
    agent_name = f"shoal-agent/{opts.node_name}"
    pinned = jointoken.parse(args.token)
    if ca is None and pinned is not None:  # a K10 token pins the CA: fetch it and check it (shoal.agent.cafetch)
        try:
            ca = await cafetch.trust(servers, pinned, args.data_dir)
        except cafetch.CAMismatch as e:
            raise JoinRefused(str(e)) from None
    # the join token is a bootstrap credential: it reads the cluster's ID and gets this node its own
    # certificate (shoal.agent.nodecert), which the agent uses for everything else
    bootstrap = ApiClient.servers(servers, token=args.token, ca_file=ca, user_agent=agent_name)
    try:
        await bootstrap.request("GET", "/api", timeout=15)  # fail fast on a wrong URL, CA or token
        cluster_id = await clusterid.fetch(bootstrap)
        _check_data_dir(args, cluster_id)
        want = nodecert.subject(opts.node_name, simulated=opts.simulate_nodes > 0)
        cert = await nodecert.ensure(bootstrap, args.data_dir, want, ca)
    except Exception as e:
        why = join.explain(e, server=args.server, ca_file=ca)
        if why is not None:
            raise JoinRefused(why) from None
        raise
    finally:
        await bootstrap.close()
    follower: ServerFollower | None = None
    if args.follow_servers:  # a balancer even over one URL: the servers it learns join that one
        balancer = FailoverTransport(servers, ca_file=ca, client_cert=cert, user_agent=agent_name, limit=128)
        client = ApiClient(balancer)
        follower = ServerFollower(client, balancer, configured=servers)
    else:
        client = ApiClient.servers(servers, ca_file=ca, client_cert=cert, user_agent=agent_name, limit=128)
    renewer: CertRenewer | None = None
    transport = client.transport
    if args.rotate_certificates and isinstance(transport, HttpTransport | FailoverTransport):
        # the certificate is renewed with itself before it expires; new connections use the new one
        renewer = CertRenewer(servers=servers, ca_file=ca, data_dir=args.data_dir, want=want, token=args.token,
                              user_agent=agent_name, on_renewed=transport.renew_connections)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    network: NetworkNode | None = None
    agent: Agent | None = None
    prom: web.AppRunner | None = None
    ingress: IngressNode | None = None
    try:
        if renewer is not None:
            await renewer.start()
        if follower is not None:
            await follower.start()
        opts = dataclasses.replace(opts, cluster_id=cluster_id)
        if opts.runtime != "simulated" and opts.simulate_nodes <= 0:
            # the service proxy, cluster DNS and overlay of this node (simulated nodes run no pods to serve)
            cluster = await netconfig.fetch(client) or netconfig.NetworkConfig()
            node_ip = opts.address or host_ip()
            network = NetworkNode(client, node_name=opts.node_name,
                                  service_cidr=os.environ.get("SHOAL_SERVICE_CIDR", cluster.service_cidr),
                                  overlay=OverlaySettings(args.network_backend or cluster.backend, node_ip,
                                                          vni=cluster.vni, port=cluster.port),
                                  cluster_id=opts.cluster_id)
            await network.start()
            opts = dataclasses.replace(opts, address=node_ip, cluster_cidr=opts.cluster_cidr or cluster.cluster_cidr,
                                       pod_mtu=opts.pod_mtu or network.pod_mtu)
            if network.dns_available and not opts.cluster_dns:
                opts = dataclasses.replace(opts, cluster_dns=(network.dns_ip,))
        agent = Agent(client, opts)
        await agent.start()
        if args.metrics_listen:
            prom = await serve_prometheus(args.metrics_listen)
        if args.ingress_http_port and opts.simulate_nodes <= 0:
            # started beside the wait for a signal, so a slow start never holds up a shutdown
            starting = asyncio.create_task(start_ingress(client, args), name="agent-ingress-start")
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                try:
                    ingress = starting.result()
                except Exception as e:  # the node still runs its pods; say why it serves no Ingress
                    log.warning("agent: this node's ingress proxy did not start: %s", e)
            else:
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await starting
            stopping.cancel()
        await stop.wait()
        log.info("agent: shutting down (containers keep running)")
    finally:
        if ingress is not None:
            await ingress.stop()
        if prom is not None:
            await prom.cleanup()
        if agent is not None:
            await agent.stop()
        if network is not None:
            await network.stop()
        if follower is not None:
            await follower.stop()
        if renewer is not None:
            await renewer.stop()
        await client.close()


async def serve_prometheus(listen: str) -> web.AppRunner:
    """This agent's Prometheus endpoint (``GET /metrics``: cAdvisor's container metrics, the work queues)."""
    from prometheus_client import REGISTRY

    from shoal.promlite import serve

    host, _, port = listen.rpartition(":")
    return await serve(REGISTRY, tcp=(host.strip("[]") or "127.0.0.1", int(port)))
