"""Test hosts in network namespaces: a veth pair to the host, a web server inside.

Each backend answers ``GET /`` with its own name, which lets a test see which
backend a connection reached. Everything here is created by the test and
removed afterwards.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

# the backends' subnet (10.SUBNET.i.0/30 each) and a service CIDR of the test's own, both random so
# that two test runs on one machine do not meet
SUBNET = random.randint(200, 250)
CIDR = f"10.{SUBNET - 100}.0.0/16"

# http.server's own server_bind looks the host name up, which waits for DNS that a namespace lacks
_SERVER = '''
import functools, http.server, socketserver, sys
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
S((sys.argv[1], int(sys.argv[2])), functools.partial(H, directory=sys.argv[3])).serve_forever()
'''


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check)


@dataclass
class NsHost:
    name: str
    host_ip: str
    ip: str
    server: subprocess.Popen[bytes] | None = None

    def exec(self, *cmd: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True,
                              timeout=timeout)

    def fetch(self, url: str) -> str:
        code = ("import urllib.request,sys;"
                "print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip())")
        r = self.exec(sys.executable, "-c", code, url)
        return r.stdout.strip() if r.returncode == 0 else f"ERROR {r.stderr.strip()[-200:]}"


def make_host(index: int, subnet: int, root: Path, port: int = 8000) -> NsHost:
    tag = uuid.uuid4().hex[:6]
    name = f"shoalt-{tag}"
    veth = f"vh{tag}"
    host_ip, ip = f"10.{subnet}.{index}.1", f"10.{subnet}.{index}.2"
    sh("ip", "netns", "add", name)
    sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
    sh("ip", "addr", "add", f"{host_ip}/30", "dev", veth)
    sh("ip", "link", "set", veth, "up")
    sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{ip}/30", "dev", "eth0")
    sh("ip", "netns", "exec", name, "ip", "link", "set", "eth0", "up")
    sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    sh("ip", "netns", "exec", name, "ip", "route", "add", "default", "via", host_ip)
    www = root / name
    www.mkdir(parents=True)
    (www / "index.html").write_text(name + "\n")
    srv = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", _SERVER, ip, str(port), str(www)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = NsHost(name, host_ip, ip, srv)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection((ip, port), 1).close()
            return host
        except OSError:
            if time.monotonic() > deadline:
                remove_host(host)
                raise RuntimeError(f"backend {name} did not start") from None
            time.sleep(0.05)


def remove_host(h: NsHost) -> None:
    if h.server is not None:
        h.server.terminate()
        try:
            h.server.wait(5)
        except subprocess.TimeoutExpired:
            h.server.kill()
    sh("ip", "netns", "del", h.name, check=False)


# ---- "machines": network namespaces on one bridge, each running its own `shoal agent` ------------------
#
# A multi-machine cluster on one host: every "machine" is a network namespace the test makes, joined to
# the others by a bridge the test makes (the underlay: 192.168.<n>.0/24, an address range that exists only
# on that bridge and inside those namespaces). The host's end of the bridge has .254, where the test's
# `shoal server` listens; machine i has .i+1. Agents run with `nsenter --net` only (not `ip netns exec`,
# whose private mount namespace would hide the pod namespaces an agent bind-mounts from Podman).


def nsenter(netns: str, *cmd: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{netns}", *cmd]


@dataclass
class Machine:
    netns: str
    ip: str  # its underlay address

    def run(self, *cmd: str, timeout: float = 20, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(nsenter(self.netns, *cmd), capture_output=True, text=True, timeout=timeout,
                              check=check)

    def route_get(self, ip: str) -> str:
        return self.run("ip", "route", "get", ip).stdout.strip()

    def routes(self, proto: int = 83) -> str:
        return self.run("ip", "route", "show", "proto", str(proto)).stdout


@dataclass
class Underlay:
    bridge: str
    subnet: str  # 192.168.<n>.0/24
    host_ip: str  # the host's address on the bridge (.254)
    machines: list[Machine]


def _free_underlay_subnet() -> int:
    """A 192.168.<n>.0/24 that no interface or route on this host uses."""
    used = sh("ip", "-4", "-o", "addr", "show").stdout + sh("ip", "-4", "route", "show", "table", "all").stdout
    for _ in range(100):
        n = random.randint(160, 250)
        if f"192.168.{n}." not in used:
            return n
    raise RuntimeError("no free 192.168.n.0/24 for the test underlay")


def make_underlay(count: int, *, mtu: int = 1500) -> Underlay:
    """``count`` machines (network namespaces) on a bridge of the test's own; removed by ``remove_underlay``."""
    n = _free_underlay_subnet()
    tag = uuid.uuid4().hex[:5]
    bridge = f"shu{tag}"
    u = Underlay(bridge, f"192.168.{n}.0/24", f"192.168.{n}.254", [])
    try:
        sh("ip", "link", "add", bridge, "mtu", str(mtu), "type", "bridge")
        sh("ip", "addr", "add", f"{u.host_ip}/24", "dev", bridge)
        sh("ip", "link", "set", bridge, "up")
        for i in range(count):
            m = Machine(f"shoalm-{tag}-{i}", f"192.168.{n}.{i + 1}")
            sh("ip", "netns", "add", m.netns)
            u.machines.append(m)
            veth = f"shm{tag}{i}"
            sh("ip", "link", "add", veth, "mtu", str(mtu), "type", "veth", "peer", "name", "eth0", "mtu", str(mtu),
               "netns", m.netns)
            sh("ip", "link", "set", veth, "master", bridge, "up")
            for cmd in (("ip", "addr", "add", f"{m.ip}/24", "dev", "eth0"), ("ip", "link", "set", "eth0", "up"),
                        ("ip", "link", "set", "lo", "up")):
                m.run(*cmd, check=True)
        return u
    except BaseException:
        remove_underlay(u)
        raise


def remove_underlay(u: Underlay) -> None:
    for m in u.machines:
        sh("ip", "netns", "del", m.netns, check=False)
    sh("ip", "link", "del", u.bridge, check=False)


@dataclass
class MachineAgent:
    """``shoal agent`` inside a machine's network namespace."""

    machine: Machine
    node: str
    server_url: str
    server_data: Path
    root: Path
    docker_host: str
    extra: list[str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.root / "agent.log"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        token = (self.server_data / "node-token").read_text().strip()
        cmd = nsenter(self.machine.netns, sys.executable, "-m", "shoal", "agent", "--server", self.server_url,
                      "--token", token, "--ca-file", str(self.server_data / "ca.crt"), "--data-dir", str(self.root),
                      "--node-name", self.node, "--node-ip", self.machine.ip, "--runtime", "docker",
                      "--docker-host", self.docker_host, *self.extra)
        logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        env = {**os.environ, "SHOAL_AGENT_BACKOFF_SECONDS": "1", "SHOAL_AGENT_SWEEP_SECONDS": "5"}
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
