"""Test hosts in network namespaces: a veth pair to the host, a web server inside.

Each backend answers ``GET /`` with its own name, which lets a test see which
backend a connection reached. Everything here is created by the test and
removed afterwards.
"""

from __future__ import annotations

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
