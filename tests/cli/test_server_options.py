"""``shoal server``'s component options reach the server typed: each is declared in ComponentOptions."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from shoal.cli.main import main
from shoal.server import ComponentOptions, component_options

# the server's own options; every other option of ``shoal server`` is a component option
SERVER_OPTIONS = {"data_dir", "listen", "store", "runtime", "docker_host", "no_agent", "node_name", "verbose"}


def test_every_component_option_of_the_cli_is_declared() -> None:
    command = main.commands["server"]
    assert isinstance(command, click.Command)
    names = {p.name for p in command.params if p.name is not None}
    assert names >= SERVER_OPTIONS
    component = names - SERVER_OPTIONS
    assert component and component <= ComponentOptions.__optional_keys__


def test_unset_options_are_dropped_and_undeclared_ones_refused() -> None:
    opts = component_options({"service_cidr": "10.96.0.0/12", "disable_scheduler": None, "scheduler_process": False})
    assert opts == {"service_cidr": "10.96.0.0/12", "scheduler_process": False}
    with pytest.raises(TypeError, match="no_such_option"):
        component_options({"no_such_option": 1})


@pytest.mark.parametrize(("args", "hint"), [
    (["--listen", "6443"], "--listen"),
    (["--service-cidr", "10.43.0.0/99"], "--service-cidr"),
    (["--store", "mysql://x"], "--store"),
    (["--cluster-cidr", "10.43.0.0/17"], "overlap"),  # with the default --service-cidr 10.43.0.0/16
    (["--cluster-cidr", "10.42.0.0/24", "--node-cidr-mask-size", "16"], "--node-cidr-mask-size"),
    (["--network-backend", "wireguard"], "--network-backend"),
    (["--node-ip", "not-an-ip"], "--node-ip"),
])
def test_bad_server_arguments_are_refused_before_anything_starts(args: list[str], hint: str) -> None:
    result = CliRunner().invoke(main, ["server", *args])
    assert result.exit_code == 2 and hint in result.output


@pytest.mark.parametrize(("args", "hint"), [
    (["--node-ip", "192.168.1.300"], "--node-ip"),
    (["--network-backend", "flannel"], "--network-backend"),
])
def test_bad_agent_network_arguments_are_refused(args: list[str], hint: str) -> None:
    result = CliRunner().invoke(main, ["agent", "--server", "https://127.0.0.1:1", "--token", "t", *args])
    assert result.exit_code == 2 and hint in result.output
