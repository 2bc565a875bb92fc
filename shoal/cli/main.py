"""The ``shoal`` command line: the only layer that prints or prompts."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from shoal import eventloop
from shoal.cli import stack as stack_commands
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


@main.command()
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
def server(data_dir: str | None, listen: str, store: str, runtime: str, docker_host: str | None,
           no_agent: bool, node_name: str | None, verbose: bool, **extra: object) -> None:
    """Run the all-in-one server: API, store and the cluster's components."""
    from shoal.server import Server, ServerOptions, component_options, split_listen

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        split_listen(listen)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--listen") from None
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
    if not (store == "sqlite" or store.startswith("sqlite://") or store.startswith("etcd://")):
        raise click.BadParameter("expected sqlite or etcd://HOST:PORT[,HOST:PORT...]", param_hint="--store")
    opts = ServerOptions(data_dir=_data_dir(data_dir), listen=listen, store=store, runtime=runtime,
                         docker_host=docker_host, no_agent=no_agent, node_name=node_name,
                         extra=component_options(extra))
    try:
        eventloop.run(Server(opts).run())
    except OSError as e:
        click.echo(f"shoal server: {e}", err=True)
        sys.exit(1)


@main.command()
@click.option("--server", "server_url", required=True, help="URL of the shoal API server.")
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
@click.option("-v", "--verbose", is_flag=True)
def agent(server_url: str, token: str, data_dir: str | None, node_name: str | None, runtime: str,
          docker_host: str | None, simulate_nodes: int, labels: str, capacity: str, ca_file: str | None,
          lease_interval: float, simulate_start_delay: float, simulate_complete_after: float | None,
          simulate_probe_result: str, node_ip: str | None, network_backend: str | None, metrics_interval: float,
          simulate_cpu_usage: str, simulate_memory_usage: str, metrics_listen: str | None, verbose: bool) -> None:
    """Join a machine to a cluster as a node: run the pods bound to it."""
    from shoal.agent.main import AgentArgs, BadArgument, run_agent

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = AgentArgs(server=server_url, token=token, data_dir=_data_dir(data_dir), node_name=node_name,
                     runtime=runtime, docker_host=docker_host, simulate_nodes=simulate_nodes, labels=labels,
                     capacity=capacity, ca_file=ca_file, lease_interval=lease_interval,
                     sim_start_delay=simulate_start_delay, sim_complete_after=simulate_complete_after,
                     sim_probe_result=simulate_probe_result, node_ip=node_ip, network_backend=network_backend,
                     metrics_interval=metrics_interval, sim_cpu_usage=simulate_cpu_usage,
                     sim_memory_usage=simulate_memory_usage, metrics_listen=metrics_listen)
    try:
        eventloop.run(run_agent(args))
    except BadArgument as e:
        raise click.BadParameter(str(e), param_hint=e.option) from None
    except Exception as e:  # the agent could not start: say why, in one line
        click.echo(f"shoal agent: {e}", err=True)
        sys.exit(1)


main.add_command(stack_commands.stack)
@main.group()
def user() -> None:
    """Users that authenticate with a client certificate from the cluster CA."""


@user.command("add")
@click.argument("name")
@click.option("--group", "groups", multiple=True, help="A group the user is in (repeatable).")
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True, help="Validity of the certificate.")
@click.option("--data-dir")
def user_add(name: str, groups: tuple[str, ...], days: int, data_dir: str | None) -> None:
    """Print a kubeconfig for user NAME: a client certificate (CN=NAME, O=each group) signed by the cluster CA."""
    from shoal.apiserver.authn.users import UserError, user_kubeconfig

    try:
        click.echo(user_kubeconfig(DataDir(_data_dir(data_dir)), name, groups, days=days), nl=False)
    except UserError as e:
        click.echo(f"shoal user add: {e}", err=True)
        sys.exit(1)


@main.command("kubeconfig")
@click.option("--data-dir")
def kubeconfig_cmd(data_dir: str | None) -> None:
    """Print the admin kubeconfig."""
    path = DataDir(_data_dir(data_dir)).admin_kubeconfig
    if not path.exists():
        click.echo(f"no kubeconfig at {path}: start `shoal server` first", err=True)
        sys.exit(1)
    click.echo(path.read_text(), nl=False)


@main.command()
@click.option("--data-dir")
def token(data_dir: str | None) -> None:
    """Print the node join token."""
    path = DataDir(_data_dir(data_dir)).node_token
    if not path.exists():
        click.echo(f"no node token at {path}: start `shoal server` first", err=True)
        sys.exit(1)
    click.echo(path.read_text().strip())
