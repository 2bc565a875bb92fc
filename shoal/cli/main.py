"""The ``shoal`` command line: the only layer that prints or prompts."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from shoal import eventloop
from shoal.cli import ecs as ecs_commands
from shoal.cli import secretsencrypt
from shoal.cli import stack as stack_commands
from shoal.cli.apply import apply as apply_command
from shoal.datadir import DataDir, default_data_dir

RUNTIMES = click.Choice(["auto", "docker", "process", "simulated"])


def _data_dir(value: str | None) -> Path:
    return Path(value).expanduser() if value else default_data_dir()


@click.group()
@click.version_option(package_name="shoal")
def main() -> None:
    """shoal: a small, fast container orchestrator that speaks the Kubernetes API."""
    from shoal.gctune import tune

    tune()  # every command is a long-running process with big caches, or short enough not to mind


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from shoal.leader.lease import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@main.group(invoke_without_command=True)
@click.option("--data-dir", help="State directory (default /var/lib/shoal as root, else ~/.local/share/shoal).")
@click.option("--listen", default="127.0.0.1:6443", show_default=True, help="HOST:PORT for the HTTPS API.")
@click.option("--store", "store", default="sqlite", show_default=True,
              help="sqlite (embedded, in the data dir) or etcd://HOST:PORT[,HOST:PORT...].")
@click.option("--runtime", type=RUNTIMES, default="auto", show_default=True)
@click.option("--docker-host", help="Docker Engine API URL (unix:///run/podman/podman.sock ...).")
@click.option("--no-agent", is_flag=True, help="Do not run a node agent in this process.")
@click.option("--node-name", help="Name of this machine's node (default: the hostname).")
@click.option("-v", "--verbose", is_flag=True)
# component options: each lands in ServerOptions.extra under its Python name (declared in ComponentOptions)
@click.option("--service-cidr", default="10.43.0.0/16", show_default=True, help="Range of Service ClusterIPs.")
@click.option("--cluster-cidr", default="10.42.0.0/16", show_default=True,
              help="Range of pod addresses, cut into one range per node.")
@click.option("--node-cidr-mask-size", type=click.IntRange(min=8, max=30), default=24, show_default=True,
              help="Prefix length of each node's pod range (24: 254 pods per node).")
@click.option("--network-backend", type=click.Choice(["vxlan", "host-gw", "none"]), default="vxlan",
              show_default=True, help="How pods reach pods on other machines: a VXLAN overlay, plain routes "
              "(machines on one L2 segment), or nothing.")
@click.option("--node-ip", help="This machine's node address for other machines (default: the address of the "
              "default route's interface).")
@click.option("--disable-scheduler", is_flag=True, default=None, help="Do not run the scheduler.")
@click.option("--disable-controller-manager", is_flag=True, default=None, help="Do not run the controllers.")
@click.option("--scheduler-config", type=click.Path(exists=True, dir_okay=False),
              help="A KubeSchedulerConfiguration file (scheduler profiles, plugins, plugin args).")
@click.option("--scheduler-process/--scheduler-in-process", "scheduler_process", default=None,
              help="Run the scheduler as a child process on a core of its own (restarted if it dies), "
                   "or inside the server process. Default: a child process on machines with 2+ CPUs.")
@click.option("--node-monitor-grace-period", type=click.FloatRange(min=0.5), default=6.0, show_default=True,
              help="Seconds without a lease renewal before a node is marked unreachable and its pods evicted.")
@click.option("--docker-socket", help="Unix socket of the Docker Swarm API for the docker CLI ('none' to not serve it; "
                                     "default /run/shoal/docker.sock as root with the default data dir, else "
                                     "<data-dir>/docker.sock).")
@click.option("--ingress-http-port", type=click.IntRange(min=0, max=65535), default=None,
              help="Port of this node's ingress proxy for HTTP (default 80; 0: run no ingress proxy).")
@click.option("--ingress-https-port", type=click.IntRange(min=1, max=65535), default=None,
              help="Port of this node's ingress proxy for HTTPS (default 443).")
@click.option("--docker-listen", help="HOST:PORT where the Docker Swarm API also listens over TLS, for client "
                                     "certificates from the cluster CA of cluster admins (`shoal user add "
                                     "--docker-cert-dir`); DOCKER_HOST=tcp://HOST:PORT DOCKER_TLS_VERIFY=1.")
@click.option("--token-auth-file", type=click.Path(exists=True, dir_okay=False),
              help="Static bearer tokens, one a line: token,user,uid,\"group1,group2\" (upstream's format).")
@click.option("--oidc-issuer-url", help="OpenID Connect issuer whose ID tokens authenticate users (https).")
@click.option("--oidc-client-id", help="The client id ID tokens must be issued for (their audience).")
@click.option("--oidc-username-claim", help="The claim that is the user name (default sub).")
@click.option("--oidc-username-prefix",
              help="Prefixed to user names (default: the issuer URL and '#', unless the claim is email; '-': none).")
@click.option("--oidc-groups-claim", help="The claim that lists the user's groups.")
@click.option("--oidc-groups-prefix", help="Prefixed to group names.")
@click.option("--oidc-ca-file", type=click.Path(exists=True, dir_okay=False),
              help="CA bundle to verify the issuer's HTTPS certificate with (default: the system's).")
@click.option("--leader-elect/--no-leader-elect", "leader_elect", default=None,
              help="Run the scheduler, the controllers and the other singletons only while this server holds "
                   "their Lease in kube-system (kube-scheduler's flag). Default: on with an etcd store (other "
                   "servers may share it), off with the embedded SQLite store.")
@click.option("--leader-elect-lease-duration", callback=_duration, metavar="DURATION",
              help="How long a leader's Lease lasts for the others without a renewal (default 3s; upstream 15s).")
@click.option("--leader-elect-renew-deadline", callback=_duration, metavar="DURATION",
              help="How long a leader keeps acting without a successful renewal; shorter than the lease duration "
                   "(default 2s; upstream 10s).")
@click.option("--leader-elect-retry-period", callback=_duration, metavar="DURATION",
              help="How often candidates try to take the Lease and leaders renew it (default 0.5s; upstream 2s).")
@click.option("--cluster-init", is_flag=True, default=None,
              help="Start an embedded etcd member (a child process, TLS from the cluster CA, data in the data dir) "
                   "as the store: the first server of a cluster others can join.")
@click.option("--server", "join_server", metavar="URL",
              help="Join the cluster of the server at URL as another server and etcd member (with --token).")
@click.option("--token", "join_token", help="The cluster's server token (`shoal token --server` on a server).")
@click.option("--etcd-client-port", type=click.IntRange(1, 65535), help="Embedded etcd: client port (default 2379).")
@click.option("--etcd-peer-port", type=click.IntRange(1, 65535), help="Embedded etcd: peer port (default 2380).")
@click.option("--audit-policy-file", type=click.Path(exists=True, dir_okay=False),
              help="An audit.k8s.io/v1 Policy: which requests are logged, at which level (needs --audit-log-path).")
@click.option("--audit-log-path", help="Where audit events are written as JSON lines ('-': standard output).")
@click.option("--audit-log-maxsize", type=click.IntRange(min=0),
              help="Megabytes before the audit log is rotated (default 100).")
@click.option("--audit-log-maxbackup", type=click.IntRange(min=0),
              help="Rotated audit logs kept (default: all).")
@click.option("--audit-log-mode", type=click.Choice(["blocking", "batch"]),
              help="blocking (the default): events are written as their requests go (each loop turn's at its end); "
                   "batch: buffered, written in batches, dropped when the buffer is full.")
@click.option("--audit-log-buffer-size", type=click.IntRange(min=1),
              help="Audit events held before they are written, in batch mode (default 10000).")
@click.option("--encryption-provider-config", type=click.Path(exists=True, dir_okay=False),
              help="An apiserver.config.k8s.io/v1 EncryptionConfiguration: which resources are encrypted in the "
                   "store, with which providers and keys (aescbc, aesgcm, secretbox, identity).")
@click.option("--advertise-address", metavar="IP",
              help="The address the kubernetes Service's endpoints name for this server (default: the --listen "
                   "address, or the host's own when that is 0.0.0.0).")
@click.option("--identity-lease-duration-seconds", type=click.FloatRange(min=1),
              help="How long this server stays in the kubernetes Service's endpoints without renewing its Lease "
                   "(default 15; upstream's endpoint reconciler TTL).")
@click.option("--identity-lease-renew-interval-seconds", type=click.FloatRange(min=0.1),
              help="How often this server renews its Lease and rewrites those endpoints (default 5).")
@click.option("--node-cert-lifetime", callback=_duration, metavar="DURATION", hidden=True,
              help="Lifetime of the client certificates nodes get at /shoal/v1/node-join (default 8760h, a year: "
                   "kube-controller-manager's --cluster-signing-duration); short ones let tests see agents "
                   "renew theirs.")
@click.pass_context
def server(ctx: click.Context, /, data_dir: str | None, listen: str, store: str, runtime: str, docker_host: str | None,
           no_agent: bool, node_name: str | None, verbose: bool, **extra: object) -> None:
    """Run the all-in-one server: API, store and the cluster's components."""
    if ctx.invoked_subcommand is not None:
        return
    from shoal.server import Server, ServerOptions, component_options, split_listen

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for hint, value in (("--listen", listen), ("--docker-listen", extra.get("docker_listen"))):
        try:
            if value is not None:
                split_listen(str(value))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint=hint) from None
    try:
        import ipaddress

        ipaddress.ip_network(str(extra["service_cidr"]), strict=False)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--service-cidr") from None
    from shoal.controllers.ipamplan import check_ranges, parse_config

    try:
        parse_config(str(extra["cluster_cidr"]), int(str(extra["node_cidr_mask_size"])))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--cluster-cidr") from None
    overlap = check_ranges(str(extra["cluster_cidr"]), str(extra["service_cidr"]))
    if overlap:
        raise click.BadParameter(overlap, param_hint="--cluster-cidr") from None
    if extra.get("node_ip") is not None:
        try:
            ipaddress.IPv4Address(str(extra["node_ip"]))
        except ValueError:
            raise click.BadParameter(f"{extra['node_ip']!r} is not an IPv4 address", param_hint="--node-ip") from None
    if extra.get("advertise_address") is not None:
        try:
            ipaddress.ip_address(str(extra["advertise_address"]))
        except ValueError:
            raise click.BadParameter(f"{extra['advertise_address']!r} is not an IP address",
                                     param_hint="--advertise-address") from None
    if not (store == "sqlite" or store.startswith("sqlite://") or store.startswith("etcd://")):
        raise click.BadParameter("expected sqlite or etcd://HOST:PORT[,HOST:PORT...]", param_hint="--store")
    if (extra.get("cluster_init") or extra.get("join_server")) and store != "sqlite":
        raise click.BadParameter("the embedded etcd is the store: leave --store out", param_hint="--store")
    if extra.get("cluster_init") and extra.get("join_server"):
        raise click.BadParameter("--cluster-init starts a new cluster; --server joins one: give one of them",
                                 param_hint="--cluster-init")
    opts = ServerOptions(data_dir=_data_dir(data_dir), listen=listen, store=store, runtime=runtime,
                         docker_host=docker_host, no_agent=no_agent, node_name=node_name,
                         extra=component_options(extra))
    try:
        eventloop.run(Server(opts).run())
    except OSError as e:
        click.echo(f"shoal server: {e}", err=True)
        sys.exit(1)


@main.command()
@click.option("--server", "server_url", required=True, multiple=True,
              help="URL of a shoal API server; repeat it (or give A,B,C) for several servers of one cluster: the "
                   "agent uses the first that answers and fails over to the next.")
@click.option("--token", required=True, help="The node join token (`shoal token` on the server).")
@click.option("--data-dir")
@click.option("--node-name", help="Name of this node (default: the hostname).")
@click.option("--runtime", type=RUNTIMES, default="auto", show_default=True)
@click.option("--docker-host", help="Docker Engine API URL (unix:///run/podman/podman.sock ...).")
@click.option("--simulate-nodes", type=click.IntRange(min=0), default=0,
              help="Register N hollow nodes <node-name>-0..N-1 (simulated runtime).")
@click.option("--labels", default="", help="k=v,... added to the node's labels.")
@click.option("--capacity", default="", help="cpu=..,memory=..,pods=.. instead of the host's.")
@click.option("--ca-file", help="CA bundle of the server (default: <data-dir>/ca.crt if present).")
@click.option("--lease-interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds between Lease renewals.")
@click.option("--simulate-start-delay", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Simulated runtime: seconds before a container runs.")
@click.option("--simulate-complete-after", type=click.FloatRange(min=0), default=None,
              help="Simulated runtime: Job pods (restartPolicy OnFailure/Never) succeed after this many seconds.")
@click.option("--simulate-probe-result", type=click.Choice(["success", "failure"]), default="success",
              show_default=True, help="Simulated runtime: what pods' probes answer (none is really run; a pod's "
              "sim.shoal.io/{liveness,readiness,startup}-probe annotation overrides it).")
@click.option("--node-ip", help="The address other machines reach this node on (default: the address of the "
              "default route's interface); the overlay is built on its interface.")
@click.option("--network-backend", type=click.Choice(["vxlan", "host-gw", "none"]),
              help="How this node's pods reach other nodes' pods (default: the cluster's, set on the server).")
@click.option("--metrics-interval", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds between samples of the containers' CPU and memory (kubectl top, autoscaling); 0: none.")
@click.option("--simulate-cpu-usage", default="1m", show_default=True,
              help="Simulated runtime: a container's CPU use (a pod's sim.shoal.io/cpu-usage annotation overrides).")
@click.option("--simulate-memory-usage", default="8Mi", show_default=True,
              help="Simulated runtime: a container's memory (a pod's sim.shoal.io/memory-usage overrides).")
@click.option("--metrics-listen", help="HOST:PORT to serve this agent's Prometheus /metrics on (default: none).")
@click.option("--ingress-http-port", type=click.IntRange(min=0, max=65535), default=80, show_default=True,
              help="Port of this node's ingress proxy for HTTP (0: run no ingress proxy).")
@click.option("--ingress-https-port", type=click.IntRange(min=1, max=65535), default=443, show_default=True,
              help="Port of this node's ingress proxy for HTTPS.")
@click.option("--follow-servers/--no-follow-servers", default=True, show_default=True,
              help="Learn the cluster's API servers from the kubernetes Service's endpoints and fail over to them "
                   "too (the --server URLs stay as the fallback).")
@click.option("--rotate-certificates/--no-rotate-certificates", default=True, show_default=True,
              help="Renew this node's client certificate while running, at 70-90%% of its lifetime, with the "
                   "certificate itself (the kubelet's rotateCertificates).")
@click.option("-v", "--verbose", is_flag=True)
def agent(server_url: tuple[str, ...], token: str, data_dir: str | None, node_name: str | None, runtime: str,
          docker_host: str | None, simulate_nodes: int, labels: str, capacity: str, ca_file: str | None,
          lease_interval: float, simulate_start_delay: float, simulate_complete_after: float | None,
          simulate_probe_result: str, node_ip: str | None, network_backend: str | None, metrics_interval: float,
          simulate_cpu_usage: str, simulate_memory_usage: str, metrics_listen: str | None, ingress_http_port: int,
          ingress_https_port: int, follow_servers: bool, rotate_certificates: bool, verbose: bool) -> None:
    """Join a machine to a cluster as a node: run the pods bound to it."""
    from shoal.agent.main import AgentArgs, BadArgument, run_agent

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = AgentArgs(server=",".join(server_url), token=token, data_dir=_data_dir(data_dir), node_name=node_name,
                     runtime=runtime, docker_host=docker_host, simulate_nodes=simulate_nodes, labels=labels,
                     capacity=capacity, ca_file=ca_file, lease_interval=lease_interval,
                     sim_start_delay=simulate_start_delay, sim_complete_after=simulate_complete_after,
                     sim_probe_result=simulate_probe_result, node_ip=node_ip, network_backend=network_backend,
                     metrics_interval=metrics_interval, sim_cpu_usage=simulate_cpu_usage,
                     sim_memory_usage=simulate_memory_usage, metrics_listen=metrics_listen,
                     ingress_http_port=ingress_http_port, ingress_https_port=ingress_https_port,
                     follow_servers=follow_servers, rotate_certificates=rotate_certificates)
    try:
        eventloop.run(run_agent(args))
    except BadArgument as e:
        raise click.BadParameter(str(e), param_hint=e.option) from None
    except Exception as e:  # the agent could not start: say why, in one line
        click.echo(f"shoal agent: {e}", err=True)
        sys.exit(1)


main.add_command(stack_commands.stack)
main.add_command(apply_command)
main.add_command(ecs_commands.ecs)
main.add_command(secretsencrypt.secrets_encrypt)
@main.group()
def user() -> None:
    """Users that authenticate with a client certificate from the cluster CA."""


@user.command("add")
@click.argument("name")
@click.option("--group", "groups", multiple=True, help="A group the user is in (repeatable).")
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True, help="Validity of the certificate.")
@click.option("--docker-cert-dir", type=click.Path(file_okay=False),
              help="Write the certificate for the docker CLI instead (ca.pem, cert.pem, key.pem: DOCKER_CERT_PATH).")
@click.option("--data-dir")
def user_add(name: str, groups: tuple[str, ...], days: int, docker_cert_dir: str | None, data_dir: str | None) -> None:
    """Print a kubeconfig for user NAME: a client certificate (CN=NAME, O=each group) signed by the cluster CA."""
    from shoal.apiserver.authn.users import UserError, user_docker_certs, user_kubeconfig

    try:
        if docker_cert_dir:
            user_docker_certs(DataDir(_data_dir(data_dir)), name, groups, Path(docker_cert_dir), days=days)
            click.echo(f"export DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={Path(docker_cert_dir).resolve()}")
        else:
            click.echo(user_kubeconfig(DataDir(_data_dir(data_dir)), name, groups, days=days), nl=False)
    except UserError as e:
        click.echo(f"shoal user add: {e}", err=True)
        sys.exit(1)


@main.command("kubeconfig")
@click.option("--data-dir")
@click.option("--server", "servers", multiple=True, metavar="URL",
              help="The cluster's servers (repeat it, or A,B,C): the kubeconfig's context points at the first "
                   "that answers /readyz, and each server gets a context of its own (shoal-1, shoal-2, ...).")
def kubeconfig_cmd(data_dir: str | None, servers: tuple[str, ...]) -> None:
    """Print the admin kubeconfig."""
    dd = DataDir(_data_dir(data_dir))
    path = dd.admin_kubeconfig
    if not path.exists():
        click.echo(f"no kubeconfig at {path}: start `shoal server` first", err=True)
        sys.exit(1)
    if not servers:
        click.echo(path.read_text(), nl=False)
        return
    import ssl
    import urllib.request

    from shoal import kubeconfig
    from shoal.client.failover import split_servers

    urls = split_servers(servers)
    ctx = ssl.create_default_context(cafile=str(dd.ca_crt))

    def healthy(url: str) -> bool:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2, context=ctx) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    click.echo(kubeconfig.render_servers(servers=urls, healthy=[healthy(u) for u in urls],
                                         ca_pem=dd.ca_crt.read_bytes(), token=dd.admin_token.read_text().strip()),
               nl=False)


@server.command("remove-member")
@click.argument("name")
@click.option("--data-dir")
def remove_member(name: str, data_dir: str | None) -> None:
    """Remove the etcd member NAME (a server gone for good) from the embedded etcd cluster."""
    import asyncio

    from shoal.etcdmember.member import EtcdError
    from shoal.etcdmember.member import remove_member as remove
    from shoal.etcdmember.plan import CertPaths

    dd = DataDir(_data_dir(data_dir))
    etcd = dd.root / "etcd"
    if not (etcd / "member.crt").exists():
        click.echo(f"no embedded etcd member in {dd.root}: run this on a server started with --cluster-init "
                   "or --server", err=True)
        sys.exit(1)
    endpoints = (etcd / "endpoints").read_text().split()
    certs = CertPaths(dd.ca_crt, etcd / "member.crt", etcd / "member.key")
    try:
        removed = asyncio.run(remove(endpoints, certs, name))
    except EtcdError as e:
        click.echo(f"shoal server remove-member: {e}", err=True)
        sys.exit(1)
    if not removed:
        click.echo(f"no etcd member called {name!r}", err=True)
        sys.exit(1)
    click.echo(f"etcd member {name} removed")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option("--data-dir")
@click.option("--store", default="sqlite", show_default=True,
              help="The cluster's store, as `shoal server --store` names it (sqlite, sqlite:///PATH, etcd://H:P,...).")
def backup(file: str, data_dir: str | None, store: str) -> None:
    """Write a backup of the cluster to FILE (safe while the server runs): its store and its keys."""
    from shoal import backup as backups

    try:
        m = eventloop.run(backups.backup(Path(file), data_dir=_data_dir(data_dir), store=store))
    except (backups.BackupError, OSError) as e:
        click.echo(f"shoal backup: {e}", err=True)
        sys.exit(1)
    click.echo(f"backed up cluster {m.cluster_id} ({m.store}, revision {m.revision}) to {file}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--data-dir", help="The data dir to restore into (a fresh one, or this cluster's with its server "
                                 "stopped).")
@click.option("--etcd-data-dir", type=click.Path(file_okay=False),
              help="etcd backups: the new member's data dir to write (start etcd on it).")
@click.option("--etcd-name", default="default", show_default=True, help="etcd backups: the new member's name.")
@click.option("--etcd-peer-url", default="http://127.0.0.1:2380", show_default=True,
              help="etcd backups: the new member's peer URL.")
def restore(file: str, data_dir: str | None, etcd_data_dir: str | None, etcd_name: str, etcd_peer_url: str) -> None:
    """Bring a cluster back to the moment of the backup in FILE."""
    from shoal import backup as backups

    try:
        m = backups.restore(Path(file), data_dir=_data_dir(data_dir),
                            etcd_data_dir=Path(etcd_data_dir) if etcd_data_dir else None,
                            etcd_name=etcd_name, etcd_peer_url=etcd_peer_url)
    except (backups.BackupError, OSError) as e:
        click.echo(f"shoal restore: {e}", err=True)
        sys.exit(1)
    where = f"; start etcd on {etcd_data_dir}" if m.store == "etcd" else ""
    click.echo(f"restored cluster {m.cluster_id} at revision {m.revision} into {_data_dir(data_dir)}{where}")


@main.command()
@click.option("--data-dir")
@click.option("--server", "server_token", is_flag=True,
              help="The server token (joins servers: `shoal server --server URL --token T`) instead of the node one.")
def token(data_dir: str | None, server_token: bool) -> None:
    """Print the node join token (K10<sha256 of the CA>::node:<secret>: it pins the cluster's CA)."""
    dd = DataDir(_data_dir(data_dir))
    path = dd.root / "server-token" if server_token else dd.node_token
    if not path.exists():
        what = "server token (a server with an embedded etcd has one)" if server_token else "node token"
        click.echo(f"no {what} at {path}: start `shoal server` first", err=True)
        sys.exit(1)
    value = path.read_text().strip()
    if not server_token and dd.ca_crt.exists():  # K10<CA hash>::node:<secret>: an agent needs no copied ca.crt
        from shoal import jointoken

        value = jointoken.make(dd.ca_crt.read_bytes(), "node", value)
    click.echo(value)
