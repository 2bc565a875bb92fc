"""Exec through the official Python client's stream helper (``kubernetes.stream.stream``), as a new user writes it.

Over the stand-in agent (real host processes, no container runtime): the output of a short command is
there when the helper returns, stdin written right after the connection opens is echoed back, and
closing the stdin channel (``v5.channel.k8s.io``'s close frame) ends ``cat`` with exit code 0.
``test_podman.py`` runs the same through real Podman containers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes import client, config
from kubernetes.stream import stream

from tests.server_fixture import RunningServer
from tests.streaming.conftest import PodMaker


@pytest.fixture(scope="module")
def core(server: RunningServer) -> Iterator[client.CoreV1Api]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


def run_short(core: client.CoreV1Api, pod: str, namespace: str, command: list[str]) -> str:
    out = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=command,
                 stderr=True, stdin=False, stdout=True, tty=False)
    return str(out)


def cat_round_trip(core: client.CoreV1Api, pod: str, namespace: str) -> tuple[str, int | None]:
    """Write a line to ``cat`` right after connecting; read it back within 5 s; close stdin; the exit code."""
    ws = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=["cat"], stderr=True, stdin=True,
                stdout=True, tty=False, _preload_content=False)
    try:
        ws.write_stdin("hello from python\n")
        echoed = ""
        deadline = time.monotonic() + 5
        while "\n" not in echoed and time.monotonic() < deadline:
            echoed += ws.read_stdout(timeout=0.5)
        ws.close_channel(0)  # v5: the stdin channel is closed, cat sees end of input
        deadline = time.monotonic() + 5
        while ws.is_open() and time.monotonic() < deadline:
            ws.update(timeout=0.5)
        return echoed, ws.returncode
    finally:
        ws.close()


def test_short_command_output(core: client.CoreV1Api, make_pod: PodMaker) -> None:
    pod = make_pod()
    for _ in range(5):  # short commands race the connection's end: every run must carry the output
        assert run_short(core, pod, "default", ["echo", "up 3 days"]) == "up 3 days\n"
    assert "load average" in run_short(core, pod, "default", ["uptime"])


def test_stdin_is_echoed_and_closing_it_ends_cat(core: client.CoreV1Api, make_pod: PodMaker) -> None:
    pod = make_pod()
    echoed, code = cat_round_trip(core, pod, "default")
    assert echoed == "hello from python\n"
    assert code == 0
