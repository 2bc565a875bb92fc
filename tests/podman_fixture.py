"""The Podman API socket for tests that run real containers.

Started for the test session when nothing serves it yet (``make setup``
installs Podman but starts no service), and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from shoal.agent.drivers.base import ContainerStatus
from shoal.agent.drivers.podnet import node_networks

PODMAN_SOCK = "/run/podman/podman.sock"
IMAGE = "localhost/busybox:test"


def _podman_answers() -> bool:
    if not os.path.exists(PODMAN_SOCK):
        return False
    r = subprocess.run(["curl", "-s", "-m", "3", "--unix-socket", PODMAN_SOCK, "http://d/_ping"],
                       capture_output=True, text=True)
    return r.stdout.strip() == "OK"


def podman_socket() -> Iterator[str]:
    """The Podman API socket (started for the session if nothing serves it)."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (make setup)")
    proc = None
    if not _podman_answers():
        os.makedirs(os.path.dirname(PODMAN_SOCK), exist_ok=True)
        proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{PODMAN_SOCK}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                cwd=os.path.dirname(PODMAN_SOCK))  # conmon drops an "oom" file in its cwd
        deadline = time.monotonic() + 20
        while not _podman_answers():
            if time.monotonic() > deadline:
                proc.kill()
                pytest.skip("podman system service did not come up")
            time.sleep(0.1)
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode != 0:
        pytest.skip(f"{IMAGE} is missing (make setup builds it)")
    yield f"unix://{PODMAN_SOCK}"
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)



def own_sandboxes(labels: dict[str, str]) -> list[ContainerStatus]:
    """Pod sandboxes the agents under test made themselves (namespaces, not containers) whose labels
    include ``labels``, running or not (every node's records on this machine)."""
    return [sb for pn in node_networks() for sb in pn.matching(labels)]


def remove_own_sandboxes(labels: dict[str, str]) -> None:
    """Remove what a stopped agent left of its own sandboxes (namespaces, addresses, records)."""
    for podnet in node_networks():
        for sb in podnet.matching(labels):
            podnet.remove(sb.id)
