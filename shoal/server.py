"""The composition root of ``shoal server``: one process, every component.

It opens the store, makes sure the CA, serving certificate, tokens and admin
kubeconfig exist in the data dir, and serves the API over HTTPS. Components
that run beside the API (scheduler, controllers, the local agent) are started
here too as they are added; they talk to the API only through ``shoal.client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import signal
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

from aiohttp import web

from shoal import clusterid, kubeconfig
from shoal.apiserver.app import ApiServer
from shoal.apiserver.audit import options as audit_options
from shoal.apiserver.auth import ADMIN, TokenAuthenticator, User
from shoal.apiserver.authn import components
from shoal.apiserver.authn import options as authn_options
from shoal.apiserver.certs import ensure_serving_cert
from shoal.apiserver.encryption import options as encryption_options
from shoal.apiserver.encryption.store import EncryptedStore
from shoal.apiserver.endpointleases import LEASE_DURATION, RENEW_INTERVAL
from shoal.apiserver.leanhttp import LeanServer
from shoal.apiserver.prom import TimedStore, request_metrics_enabled
from shoal.client import ApiClient
from shoal.controllers.ipamplan import check_ranges
from shoal.datadir import DataDir, ensure_token, write_private
from shoal.etcdmember.plan import (
    DEFAULT_CLIENT_PORT,
    DEFAULT_PEER_PORT,
    JoinAnswer,
    JoinRequest,
    MemberSpec,
)
from shoal.leader.elector import Component, LeaderElector
from shoal.leader.lease import ElectionConfig
from shoal.network import config as netconfig
from shoal.network.config import DEFAULT_CLUSTER_CIDR, DEFAULT_SERVICE_CIDR, NetworkConfig
from shoal.store.base import Store, StoreError, compact_keeping
from shoal.store.open import open_store

if TYPE_CHECKING:  # gRPC (aetcd) is loaded only when an etcd member runs
    from shoal.compat.ecs.app import EcsApi
    from shoal.etcdmember.member import EtcdMember

log = logging.getLogger("shoal.server")

SERVER_TOKEN_FILE = "server-token"  # joins a server to this one's cluster (shoal.etcdmember.join)
SCHEDULER_LEASE = "kube-scheduler"  # upstream's lease names, in kube-system
CONTROLLER_MANAGER_LEASE = "kube-controller-manager"

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
    ingress_http_port: int  # the node's ingress proxy (shoal.ingress): 80 by default, 0 = none
    ingress_https_port: int  # 443 by default
    docker_socket: str  # where the Docker Swarm API listens ("none": not served; default: see docker_socket_path)
    docker_listen: str  # HOST:PORT where it also listens over TLS with client certificates (unset: not)
    # authentication (shoal.apiserver.authn)
    token_auth_file: str  # upstream's static token CSV
    oidc_issuer_url: str
    oidc_client_id: str
    oidc_username_claim: str
    oidc_username_prefix: str
    oidc_groups_claim: str
    oidc_groups_prefix: str
    oidc_ca_file: str
    # leader election of the singletons (shoal.leader): None = on when the store is shared (etcd)
    leader_elect: bool
    leader_elect_lease_duration: float
    leader_elect_renew_deadline: float
    leader_elect_retry_period: float
    # the embedded etcd (shoal.etcdmember): a first server, or one joining another
    cluster_init: bool
    join_server: str  # --server URL of a server to join
    join_token: str  # --token: that cluster's server token
    etcd_client_port: int
    etcd_peer_port: int
    # the audit log (shoal.apiserver.audit)
    audit_policy_file: str
    audit_log_path: str
    audit_log_maxsize: int
    audit_log_maxbackup: int
    audit_log_mode: str  # blocking | batch
    audit_log_buffer_size: int
    encryption_provider_config: str  # an EncryptionConfiguration (shoal.apiserver.encryption)
    # the kubernetes Service's endpoints: this server's address there, its Lease (shoal.apiserver.endpointleases)
    advertise_address: str
    identity_lease_duration_seconds: float
    identity_lease_renew_interval_seconds: float
    node_cert_lifetime: float  # seconds: the node client certificates /shoal/v1/node-join issues (tests: short)


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
        self.electors: dict[str, LeaderElector] = {}  # lease name -> this server's candidate for it
        self.etcd_member: EtcdMember | None = None
        self.port = 0
        self.url = ""
        self.ecs_api: EcsApi | None = None  # the ECS API's state, once its component has started

    def network_config(self) -> NetworkConfig:
        """The cluster's network settings, as this server's flags give them."""
        x = self.opts.extra
        return NetworkConfig(cluster_cidr=x.get("cluster_cidr", DEFAULT_CLUSTER_CIDR),
                             service_cidr=x.get("service_cidr", DEFAULT_SERVICE_CIDR),
                             backend=x.get("network_backend", "vxlan"))

    def leader_elect(self) -> bool:
        """``--leader-elect``, else on exactly when another server can share the store (etcd): with the
        embedded SQLite store this server is the only one, and electing costs a start-up delay for nothing."""
        chosen = self.opts.extra.get("leader_elect")
        return bool(chosen) if chosen is not None else self.shared_store()

    def shared_store(self) -> bool:
        """Whether other servers may write to this server's store: an etcd, external or embedded."""
        return self.opts.store.strip().startswith("etcd://") or self.embedded_etcd()

    def embedded_etcd(self) -> bool:
        """``--cluster-init``, ``--server`` (a join), or a data dir whose member was started before."""
        x = self.opts.extra
        return bool(x.get("cluster_init") or x.get("join_server")) or self.member_spec().has_data

    def member_spec(self) -> MemberSpec:
        from shoal.agent.agent import default_node_name

        host, _ = split_listen(self.opts.listen)
        x = self.opts.extra
        return MemberSpec(name=self.opts.node_name or default_node_name(), data_dir=self.dd.root / "etcd",
                          host=_advertise_ip(host), client_port=x.get("etcd_client_port", DEFAULT_CLIENT_PORT),
                          peer_port=x.get("etcd_peer_port", DEFAULT_PEER_PORT))

    def election_config(self) -> ElectionConfig:
        x, d = self.opts.extra, ElectionConfig()
        return ElectionConfig(lease_duration=x.get("leader_elect_lease_duration", d.lease_duration),
                              renew_deadline=x.get("leader_elect_renew_deadline", d.renew_deadline),
                              retry_period=x.get("leader_elect_retry_period", d.retry_period))

    async def start(self) -> None:
        opts = self.opts
        problems = self.election_config().problems()
        if problems:
            raise SystemExit(f"shoal server: {'; '.join(problems)}")
        netcfg = self.network_config()
        overlap = check_ranges(netcfg.cluster_cidr, netcfg.service_cidr)
        if overlap:
            raise SystemExit(f"shoal server: {overlap}")
        dd = self.dd.ensure()
        host, port = split_listen(opts.listen)
        joined = await self._join() if self.embedded_etcd() else None
        admin_token = ensure_token(dd.admin_token, "shoal-admin-")
        node_token = ensure_token(dd.node_token, "shoal-node-")
        docker_listen = opts.extra.get("docker_listen")
        # the kubernetes Service's endpoint (--advertise-address, else the host's address when listening on every
        # address): agents that learn the servers from it verify it (shoal.agent.apiservers)
        advertised = opts.extra.get("advertise_address") or _advertise_ip(host)
        crt, key = ensure_serving_cert(dd, hosts=[host] + ([split_listen(docker_listen)[0]] if docker_listen else [])
                                       + [advertised])
        tokens = TokenAuthenticator()
        tokens.add(admin_token, ADMIN)
        # the join token only bootstraps a node's own credential now (shoal.apiserver.authn.nodejoin)
        tokens.add(node_token, components.NODE_BOOTSTRAP)
        self._tokens = tokens
        self._component_tokens: dict[User, str] = {}
        auth = authn_options.authenticator(tokens, opts.extra, sa_key=dd.root / "sa.key")
        auditor = audit_options.auditor(opts.extra)
        if self.embedded_etcd():
            self.server_token = self._ensure_server_token()
            tokens.add(self.server_token, User("system:shoal:server", ("system:masters", "system:authenticated")))
            store = await self._start_member(joined)
        else:
            store = open_store(opts.store, data_dir=dd.root)
        # values of the resources the EncryptionConfiguration names are encrypted on their way to the store
        self.store = encryption_options.wrap(store, opts.extra.get("encryption_provider_config"))
        encrypted = self.store if isinstance(self.store, EncryptedStore) else None
        await self.store.start()
        health = None
        if self.shared_store():  # etcd: fail fast and say so when it has no quorum (shoal.apiserver.storehealth)
            from shoal.apiserver.storehealth import GuardedStore, StoreHealth

            health = StoreHealth(self.store)
            health.start()
            self._stoppers.insert(0, health.stop)
            self.store = GuardedStore(self.store, health)
        # every store call timed for Prometheus (etcd_request_duration_seconds), whichever backend
        timed = TimedStore(self.store) if request_metrics_enabled() else self.store
        self.api = ApiServer(timed, authenticator=auth, service_accounts=auth.service_accounts,
                             server_address=f"{host}:{port}",
                             service_cidr=opts.extra.get("service_cidr", "10.43.0.0/16"),
                             ca_pem=dd.ca_crt.read_text(), shared_store=self.shared_store(), auditor=auditor)
        auth.account_uid = self.api.account_uid
        self.api.store_health = health
        stored_before = await self.api.namespace_uid(clusterid.NAMESPACE)
        await self.api.start()
        self.cluster_id = await self._cluster_identity(stored_before)
        if self.etcd_member is not None:
            from shoal.etcdmember import join

            self.api.extra_routes += join.routes(lambda: self.server_token, self._answer_join)
        if encrypted is not None:  # shoal secrets-encrypt: reload the file, status (shoal.apiserver.encryption.admin)
            from shoal.apiserver.encryption import admin as encryption_admin

            self.api.extra_routes += encryption_admin.routes(encrypted, opts.extra["encryption_provider_config"])
        from shoal.apiserver.authn import nodejoin

        # a node's own certificate for its join token (shoal.apiserver.authn.nodejoin)
        self.api.extra_routes += nodejoin.routes(
            lambda: (dd.ca_crt.read_bytes(), dd.ca_key.read_bytes()), self._may_sign_node,
            lifetime=dt.timedelta(seconds=opts.extra.get("node_cert_lifetime", nodejoin.LIFETIME.total_seconds())))
        self.api.extra_routes.append(self._apply_route())
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(crt, key)
        # client certificates signed by the cluster CA authenticate (shoal user add); none is asked of anyone
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cafile=str(dd.ca_crt))
        self._runner = web.AppRunner(self.api.app(mounts=self._compat_mounts()), access_log=None,
                                     handle_signals=False)
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
        x = opts.extra
        await self.api.publish_endpoint(x.get("advertise_address") or _advertise_ip(host), self.port,
                                        lease_duration=x.get("identity_lease_duration_seconds", LEASE_DURATION),
                                        renew_interval=x.get("identity_lease_renew_interval_seconds",
                                                             RENEW_INTERVAL))
        write_private(dd.admin_kubeconfig, kubeconfig.render(
            server=self.url, ca_pem=dd.ca_crt.read_bytes(), token=admin_token))
        store_name = f"embedded etcd member {self.member_spec().name}" if self.etcd_member else opts.store
        log.info("shoal server listening on %s (store: %s, data dir: %s)", self.url, store_name, dd.root)
        await netconfig.publish(self.client(), netcfg)  # for agents on other machines
        from shoal.ingress import crds

        await crds.install(self.client())  # Gateway API and Rollout CRDs, the shoal Ingress/GatewayClass
        await self._start_components()
        # keep the store from growing forever (k3s users report multi-GB SQLite files)
        self._tasks.append(asyncio.create_task(self._compact(), name="compactor"))

    # ---- the embedded etcd ---------------------------------------------------------------------
    async def _join(self) -> JoinAnswer | None:
        """With ``--server``, and no member here yet: join that server's cluster (its secrets land in the
        data dir); the answer, for the member's first start. None when there is nothing to join."""
        from shoal.etcdmember.join import JoinError, fetch_bootstrap

        x, spec = self.opts.extra, self.member_spec()
        url, token = x.get("join_server"), x.get("join_token")
        if not url or spec.has_data:
            return None
        if not token:
            raise SystemExit("shoal server: --server needs --token (the server token: `shoal token --server` "
                             "on that server)")
        try:
            answer = await fetch_bootstrap(url, token, JoinRequest(name=spec.name, peerURL=spec.peer_url,
                                                                   clientURL=spec.client_url))
        except JoinError as e:
            raise SystemExit(f"shoal server: joining {url}: {e}") from None
        dd = self.dd
        if dd.ca_crt.exists() and dd.ca_crt.read_text() != answer["caCert"]:
            raise SystemExit(f"shoal server: the data dir {dd.root} belongs to another cluster (its CA differs "
                             f"from {url}'s): use another --data-dir")
        write_private(dd.ca_crt, answer["caCert"], mode=0o644)
        write_private(dd.ca_key, answer["caKey"])
        if answer["saKey"]:
            write_private(dd.root / "sa.key", answer["saKey"])
        write_private(dd.admin_token, answer["adminToken"] + "\n")
        write_private(dd.node_token, answer["nodeToken"] + "\n")
        write_private(dd.root / SERVER_TOKEN_FILE, answer["serverToken"] + "\n")
        log.info("joined the cluster of %s as etcd member %s", url, spec.name)
        return answer

    def _ensure_server_token(self) -> str:
        from shoal.etcdmember.join import make_token

        path = self.dd.root / SERVER_TOKEN_FILE
        if path.exists():
            return path.read_text().strip()
        token = make_token(self.dd.ca_crt.read_bytes(), secrets.token_hex(24))
        write_private(path, token + "\n")
        return token

    async def _start_member(self, joined: JoinAnswer | None) -> Store:
        """Start this server's etcd member; the store on it (its own member first, then the others)."""
        from shoal.etcdmember.certs import ensure_member_cert, tls_bytes
        from shoal.etcdmember.member import EtcdError, EtcdMember, endpoints_file
        from shoal.etcdmember.plan import initial_cluster
        from shoal.store.etcd import EtcdStore

        spec = self.member_spec()
        certs = ensure_member_cert(self.dd, spec.data_dir, name=spec.name, host=spec.host)
        known = endpoints_file(spec.data_dir)
        others = known.read_text().split() if known.exists() else []
        if joined is not None:
            cluster, state = joined["initialCluster"], "existing"
            others = list(joined["endpoints"])
        else:  # a first server, or a restart (etcd then ignores the cluster flags and uses its data)
            cluster, state = initial_cluster([(spec.name, spec.peer_url)]), "new"
        endpoints = [spec.endpoint] + [e for e in others if e != spec.endpoint]
        write_private(known, "\n".join(endpoints) + "\n", mode=0o644)
        member = EtcdMember(spec, certs, cluster=cluster, state=state)
        try:
            await member.start()
        except EtcdError as e:
            raise SystemExit(f"shoal server: etcd member {spec.name}: {e}") from None
        self.etcd_member = member
        self.etcd_certs = certs
        self.etcd_endpoints = endpoints
        return EtcdStore(endpoints, tls=tls_bytes(certs))

    async def _answer_join(self, req: JoinRequest) -> JoinAnswer:
        """The joined side: add the member through etcd, hand over the cluster's secrets."""
        from shoal.etcdmember.member import add_member
        from shoal.etcdmember.plan import initial_cluster

        cluster, clients = await add_member(self.etcd_endpoints, self.etcd_certs, name=req["name"],
                                            peer_url=req["peerURL"])
        own = req["clientURL"].removeprefix("https://")
        sa_key = self.dd.root / "sa.key"
        return JoinAnswer(caCert=self.dd.ca_crt.read_text(), caKey=self.dd.ca_key.read_text(),
                          saKey=sa_key.read_text() if sa_key.exists() else "",
                          adminToken=self.dd.admin_token.read_text().strip(),
                          nodeToken=self.dd.node_token.read_text().strip(), serverToken=self.server_token,
                          initialCluster=initial_cluster(cluster),
                          endpoints=[c for c in clients if c != own])

    async def _compact(self, interval: float = 60.0) -> None:
        """Compact every ``interval`` seconds, keeping the last ``compact_keep`` revisions; with leader
        election, only the controller manager's leader does (one compaction per cluster, not one per server).
        Errors are logged, never fatal: a missed compaction costs only disk space."""
        elector = self.electors.get(CONTROLLER_MANAGER_LEASE)
        while True:
            if elector is None or elector.leading():
                try:
                    await compact_keeping(self.store, keep=self.opts.compact_keep)
                except StoreError as exc:
                    log.warning("auto-compaction failed: %s", exc)
            await asyncio.sleep(interval)

    def _elect(self, lease: str, user: User, factory: Callable[[ApiClient], Component]) -> None:
        """Run ``factory(client)``'s component (as ``user``) only while this server holds ``lease``
        (kube-system), its writes fenced by the renew deadline (``shoal.leader``)."""
        elector = LeaderElector(self.client(user), name=lease, config=self.election_config())
        self.electors[lease] = elector
        elector.start(lambda: factory(elector.fenced(self.client(user))))

        async def stop() -> None:
            await elector.stop()
        self._stoppers.append(stop)

    async def _cluster_identity(self, stored_before: str | None) -> str:
        """The cluster's ID (shoal.clusterid): the store's, checked against the data dir's copy."""
        assert self.api is not None
        stored = await self.api.namespace_uid(clusterid.NAMESPACE)
        assert stored is not None  # the API server made the system namespaces
        try:
            ident = clusterid.check(local=clusterid.read(self.dd.root), stored_before=stored_before, stored=stored,
                                    where=f"data dir {self.dd.root}", store=f"store {self.opts.store}")
        except clusterid.ClusterMismatch as e:
            raise SystemExit(f"shoal server: {e}") from None
        if ident.note:
            log.warning("%s", ident.note)
        if ident.write:
            clusterid.write(self.dd.root, ident.cluster_id)
        return ident.cluster_id

    async def _start_components(self) -> None:
        """Start the components that run beside the API, each through the in-process client.

        Each component has its own method here and appends an async stop callable
        to ``self._stoppers`` (stopped in reverse order).
        """
        if not self.opts.extra.get("disable_scheduler"):
            await self._start_scheduler()
        await self._start_controllers()
        self._start_member_remover()
        if not self.opts.no_agent:
            cluster_dns = await self._start_network()
            await self._start_agent(cluster_dns)
            await self._start_ingress()
        await self._start_docker_api()
        await self._start_ecs_api()
        await self._start_marathon_release()

    def _compat_mounts(self) -> list[tuple[str, web.Application]]:
        """Other systems' APIs on the API's port, each reaching the cluster as its caller (the caller's
        token on a client of the API's own socket): Marathon's under ``/marathon``; and ECS's under ``/ecs``, which
        authenticates SigV4 keys and asks RBAC about their users (``shoal.compat.ecs``)."""
        from shoal.compat.marathon.app import PREFIX as MARATHON_PREFIX
        from shoal.compat.marathon.app import Clients as MarathonClients
        from shoal.compat.marathon.app import make_app as marathon_app

        def as_caller(token: str) -> ApiClient:
            return ApiClient.unix(str(self.socket_path), token=token, user_agent="shoal-marathon")

        from shoal.compat.ecs.app import PREFIX as ECS_PREFIX
        from shoal.compat.ecs.app import make_app as ecs_app

        return [(MARATHON_PREFIX, marathon_app(MarathonClients(as_caller))),
                (ECS_PREFIX, ecs_app(lambda: self.ecs_api))]

    def _apply_route(self) -> tuple[str, str, Any]:
        """``POST /shoal/v1/apply`` (the web UI's deploy page: Compose, Marathon, ECS and Kubernetes
        documents), acting as its caller: the caller's bearer token on a client of the API's own socket."""
        from shoal.compat.applyapi import PATH, handler
        from shoal.compat.marathon.app import token_of

        def as_caller(request: web.Request) -> ApiClient | None:
            token = token_of(request.headers.get("Authorization"))
            return ApiClient.unix(str(self.socket_path), token=token, user_agent="shoal-apply") if token else None

        return ("POST", PATH, handler(as_caller))

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
        listen = self.opts.extra.get("docker_listen")
        if path is None and not listen:
            return
        local = "" if self.opts.no_agent else (self.opts.node_name or default_node_name())
        tcp = None
        if listen:
            host, port = split_listen(listen)
            tcp = (host, port, self._client_cert_tls(), self._may_do_everything)
        api = DockerApi(SwarmBackend(self.client(components.DOCKER_API), local_node=local), path, tcp=tcp)
        await api.start()
        self.docker_api = api
        self._stoppers.append(api.stop)

    async def _start_ecs_api(self) -> None:
        """The Amazon ECS API (``aws ecs ... --endpoint-url https://HOST:PORT/ecs``), mounted by
        ``_compat_mounts``; it answers once this has started it."""
        from shoal.compat.ecs.app import EcsApi

        ecs = EcsApi(self.client(components.ECS_API))
        await ecs.start()
        self.ecs_api = ecs
        self._stoppers.append(ecs.stop)

    async def _start_marathon_release(self) -> None:
        """Marathon apps a group deployment held back start once their dependencies are healthy; the loop
        reads that from the store, so a restart resumes it (``shoal.compat.marathon.release``)."""
        from shoal.compat.marathon.release import Releaser

        releaser = Releaser(self.client())
        await releaser.start()
        self._stoppers.append(releaser.stop)

    def _client_cert_tls(self) -> ssl.SSLContext:
        """TLS for the Docker API's TCP listener: the API's serving certificate, a client certificate
        from the cluster CA required (Docker's ``--tlsverify``)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.dd.server_crt, self.dd.server_key)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(self.dd.ca_crt))
        return ctx

    def _may_sign_node(self, user: User, subresource: str) -> bool:
        """Upstream's csrapproving question: may ``user`` create certificatesigningrequests/``subresource``
        (nodeclient: a new node's certificate; selfnodeclient: a node renewing its own)."""
        assert self.api is not None
        return self.api.authorizer.may(user, "create", group="certificates.k8s.io",
                                       resource="certificatesigningrequests", subresource=subresource)

    async def _may_do_everything(self, user: str, groups: tuple[str, ...]) -> bool:
        """Whether RBAC lets ``user`` do every verb on every resource (a SubjectAccessReview)."""
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": user, "groups": list(groups),
                           "resourceAttributes": {"verb": "*", "group": "*", "resource": "*"}}}
        out = await self.client().request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=review)
        return bool((out.get("status") or {}).get("allowed"))

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
            from shoal.childproc import ChildComponent, python_module

            args = ["--socket", str(self.socket_path)] + (["--config", str(config_path)] if config_path else [])
            if self.leader_elect():  # the child campaigns for the scheduler's Lease itself, as kube-scheduler
                cfg = self.election_config()
                args += ["--leader-elect", "--leader-elect-lease-duration", str(cfg.lease_duration),
                         "--leader-elect-renew-deadline", str(cfg.renew_deadline),
                         "--leader-elect-retry-period", str(cfg.retry_period)]
            env = {TOKEN_ENV: self.token_for(components.SCHEDULER), PARENT_ENV: str(os.getpid())}
            child = ChildComponent("scheduler", python_module("shoal.scheduler.main", args), env)
            await child.start()
            if self.api is not None:  # its Prometheus metrics, on a socket beside the API's, join /metrics
                self.api.metrics_sockets.append(metrics_socket(str(self.socket_path)))
            self._stoppers.append(child.stop)
        else:
            from shoal.scheduler.prom import register_scheduler_metrics
            from shoal.scheduler.worker import Scheduler

            if self.leader_elect():
                self._elect(SCHEDULER_LEASE, components.SCHEDULER, lambda client: Scheduler(client, config=sched_cfg))
                return
            scheduler = Scheduler(self.client(components.SCHEDULER), config=sched_cfg)
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
            if self.leader_elect():
                self._elect(CONTROLLER_MANAGER_LEASE, components.CONTROLLER_MANAGER,
                            lambda client: ControllerManager(client, enabled=enabled, options=options))
                return
            controllers = ControllerManager(self.client(components.CONTROLLER_MANAGER), enabled=enabled,
                                            options=options)
            await controllers.start()
            self.controllers = controllers
            self._stoppers.append(controllers.stop)

    async def _start_network(self) -> list[str]:
        """The service proxy and cluster DNS of this node; the nameservers its pods get."""
        from shoal.agent.agent import default_node_name
        from shoal.agent.node import host_ip
        from shoal.network.machine import NetworkConflict
        from shoal.network.node import NetworkNode, OverlaySettings

        netcfg = self.network_config()
        self.node_ip = self.opts.extra.get("node_ip") or host_ip()
        node_name = self.opts.node_name or default_node_name()
        network = NetworkNode(self.client(components.node(node_name)), node_name=node_name,
                              service_cidr=netcfg.service_cidr,
                              overlay=OverlaySettings(netcfg.backend, self.node_ip, vni=netcfg.vni, port=netcfg.port),
                              cluster_id=self.cluster_id)
        try:
            await network.start()
        except NetworkConflict as e:  # another cluster on this machine: say so, do not answer for it
            await network.stop()
            raise SystemExit(f"shoal server: {e}") from None
        self.network = network
        self._stoppers.append(network.stop)
        cluster_dns = self.opts.extra.get("cluster_dns") or []
        return cluster_dns if cluster_dns or not network.dns_available else [network.dns_ip]

    async def _start_agent(self, cluster_dns: list[str]) -> None:
        from shoal.agent.agent import Agent, AgentOptions, default_node_name, env_overrides
        from shoal.agent.drivers.base import DriverError

        node_name = self.opts.node_name or default_node_name()
        labels, annotations = self.server_node_marks()
        agent = Agent(self.client(components.node(node_name)), AgentOptions(
            node_name=node_name, runtime=self.opts.runtime, labels=labels, annotations=annotations,
            docker_host=self.opts.docker_host, state_dir=self.dd.root / "agent",
            cluster_dns=tuple(cluster_dns), address=self.node_ip, cluster_cidr=self.network_config().cluster_cidr,
            pod_mtu=self.network.pod_mtu, cluster_id=self.cluster_id, **env_overrides()))
        try:
            await agent.start()
        except DriverError as e:
            raise SystemExit(f"shoal server: node agent: {e}") from None
        self.agent = agent
        self._stoppers.append(agent.stop)

    def server_node_marks(self) -> tuple[dict[str, str], dict[str, str]]:
        """(labels, annotations) this server's Node carries: with an embedded etcd member, the control-plane and
        etcd roles and the member's name and peer URL, which its deletion removes (``shoal.etcdmember.removal``)."""
        if self.etcd_member is None:
            return {}, {}
        from shoal.etcdmember.removalplan import server_node_marks

        return server_node_marks(self.etcd_member.spec.name, self.etcd_member.spec.peer_url)

    def _start_member_remover(self) -> None:
        """With an embedded etcd member: the etcd member controller, on the server holding its Lease."""
        if self.etcd_member is None:
            return
        from shoal.etcdmember.removal import LEASE, MemberRemover

        certs, own = self.etcd_certs, self.etcd_member.spec.name
        self._elect(LEASE, components.APISERVER,
                    lambda client: MemberRemover(client, endpoints=lambda: self.etcd_endpoints, certs=certs, own=own))

    async def _start_ingress(self) -> None:
        """This node's ingress proxy (HAProxy, started with the first Ingress or Gateway), on 80/443."""
        from shoal.ingress.node import IngressNode

        http_port = self.opts.extra.get("ingress_http_port", 80)
        if not http_port:
            return
        ingress = IngressNode(self.client(components.INGRESS), run_dir=str(self.dd.root / "ingress"), http_port=http_port,
                              https_port=self.opts.extra.get("ingress_https_port", 443), report=True)
        await ingress.start()
        self.ingress = ingress
        self._stoppers.append(ingress.stop)

    def token_for(self, user: User) -> str:
        """A bearer token for ``user``, one of this process's components (minted at first use, never stored)."""
        token = self._component_tokens.get(user)
        if token is None:
            token = self._component_tokens[user] = secrets.token_hex(24)
            self._tokens.add(token, user)
        return token

    def client(self, user: User = components.APISERVER) -> ApiClient:
        """An API client for a component running inside this process, acting as ``user``
        (``shoal.apiserver.authn.components``; by default the server itself, in ``system:masters``)."""
        c = ApiClient.unix(str(self.socket_path), token=self.token_for(user), user_agent="shoal-server")
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
        if self.etcd_member is not None:
            await self.etcd_member.stop()

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
        except SystemExit:  # refused part-way (another cluster's data dir or addresses): stop what started
            await self.stop()
            raise
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await self.stop()
