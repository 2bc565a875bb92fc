"""Which names busybox's tools find through shoal's cluster DNS and a pod's resolv.conf (issue 17's
``kubectl exec db-1 -- nslookup db-0.db``).

In a network and mount namespace of the test's own (``unshare -mn``, nothing leaves it): shoal's
``ClusterDNS`` on 127.0.0.1:53 with a headless Service ``db`` whose endpoint ``db-0`` is 127.0.0.7
(where a busybox httpd serves a file), no upstream resolvers, and ``/etc/resolv.conf`` as the agent
writes it for a pod of namespace ``ns1`` (search ``ns1.svc.cluster.local svc.cluster.local
cluster.local``, ``options ndots:5``). Every query the DNS receives is recorded.

What it shows (busybox 1.35, Debian's static build, the image the tests use):

* the per-pod name resolves: ``nslookup db-0.db.ns1.svc.cluster.local`` answers 127.0.0.7;
* the short name resolves through the search list for the libc resolver busybox is linked with:
  ``wget http://db-0.db:8080/`` asks ``db-0.db.ns1.svc.cluster.local`` first (ndots:5) and connects;
* busybox's ``nslookup`` has a resolver of its own that applies the search list only to a name
  without a dot (``nslookup db-0`` tries the three domains) and ignores ``ndots``: ``db-0.db`` and
  ``db-0.db.ns1`` are sent as they are (retried when the cluster DNS, with no upstream here, answers
  SERVFAIL), so they cannot resolve through any DNS server that keeps to the Kubernetes DNS spec
  (upstream with this busybox fails alike; its docs use busybox 1.28, whose nslookup went through
  libc). No resolv.conf option changes that (``domain`` neither).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shoal.agent.drivers.podnet import resolv_file

pytestmark = pytest.mark.skipif(shutil.which("busybox") is None or shutil.which("unshare") is None
                                or os.geteuid() != 0, reason="needs root, unshare and busybox")

NS = "ns1"
POD_IP = "127.0.0.7"

# runs inside `unshare -mn`: loopback up, the pod's resolv.conf over /etc/resolv.conf, shoal's DNS on
# 127.0.0.1:53, an httpd as db-0, then each busybox command with the queries it caused
INSIDE = r'''
import asyncio, json, subprocess, sys
from dnslib import DNSRecord
from shoal.network.dns import ClusterDNS
from shoal.network.dnsrecords import RecordIndex

resolv, www, ns, ip = sys.argv[1:5]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
index = RecordIndex("cluster.local")
index.set_service({"metadata": {"name": "db", "namespace": ns}, "spec": {"clusterIP": "None"}})
index.set_endpoints({"metadata": {"name": "db", "namespace": ns},
                     "subsets": [{"addresses": [{"ip": ip, "hostname": "db-0"}], "ports": [{"port": 8080}]}]})
queries = []

class Recording(ClusterDNS):
    async def answer(self, data):
        q = DNSRecord.parse(data).q
        queries.append(str(q.qname))
        return await super().answer(data)

async def main():
    dns = Recording(index, upstreams=[])
    await dns.start("127.0.0.1", 53)
    httpd = await asyncio.create_subprocess_exec("busybox", "httpd", "-f", "-p", f"{ip}:8080", "-h", www)
    await asyncio.sleep(0.3)
    out = {}
    for name, cmd in json.loads(sys.stdin.read()).items():
        queries.clear()
        p = await asyncio.create_subprocess_exec("busybox", "timeout", "5", *cmd, stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT)
        text, _ = await p.communicate()
        out[name] = {"rc": p.returncode, "out": text.decode(), "queries": list(queries)}
    httpd.kill()
    await dns.stop()
    print(json.dumps(out))

asyncio.run(main())
'''

FQDN = f"db-0.db.{NS}.svc.cluster.local"
COMMANDS = {
    "fqdn": ["nslookup", "-type=a", FQDN],
    "short": ["nslookup", "-type=a", "db-0.db"],
    "with-namespace": ["nslookup", "-type=a", f"db-0.db.{NS}"],
    "no-dot": ["nslookup", "-type=a", "db-0"],
    "wget": ["wget", "-qO-", "http://db-0.db:8080/f"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = Path(tmp_path_factory.mktemp("bbdns"))
    resolv = root / "resolv.conf"
    # what the agent writes for a ClusterFirst pod of namespace ns1 (shoal.agent.pods), the server moved to 127.0.0.1
    resolv.write_text(resolv_file(("127.0.0.1",), (f"{NS}.svc.cluster.local", "svc.cluster.local", "cluster.local"),
                                  ("ndots:5",)))
    (root / "www").mkdir()
    (root / "www" / "f").write_text("x\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), *sys.path])}
    r = subprocess.run(["unshare", "-mn", sys.executable, "-c", INSIDE, str(resolv), str(root / "www"), NS, POD_IP],
                       input=json.dumps(COMMANDS), capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def test_the_per_pod_name_resolves(results: dict[str, Any]) -> None:
    got = results["fqdn"]
    assert got["rc"] == 0 and POD_IP in got["out"].split("Name:", 1)[-1], got
    assert got["queries"] == [FQDN + "."]


def test_wget_finds_the_short_name_through_the_search_list(results: dict[str, Any]) -> None:
    got = results["wget"]
    assert got["rc"] == 0 and got["out"] == "x\n", got
    assert got["queries"][0] == FQDN + "."  # ndots:5: the first search domain first


@pytest.mark.parametrize("case", ["short", "with-namespace"])
def test_busybox_nslookup_sends_a_dotted_name_unsearched(results: dict[str, Any], case: str) -> None:
    got = results[case]
    name = COMMANDS[case][-1]
    assert set(got["queries"]) == {name + "."}, got  # as it is (retried on SERVFAIL): no search domain, ndots ignored
    assert got["rc"] != 0 and "can't find" in got["out"], got


def test_busybox_nslookup_searches_only_a_name_without_a_dot(results: dict[str, Any]) -> None:
    got = results["no-dot"]
    assert got["queries"] == [f"db-0.{NS}.svc.cluster.local.", "db-0.svc.cluster.local.", "db-0.cluster.local."], got
