"""The embedded etcd member: TLS from the cluster CA, a second member joined through the cluster API, removal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shoal.datadir import DataDir
from shoal.etcdmember.certs import ensure_member_cert, tls_bytes
from shoal.etcdmember.member import EtcdMember, add_member, list_members, remove_member
from shoal.etcdmember.plan import MemberSpec, etcd_command, initial_cluster
from shoal.store.etcd import EtcdStore
from tests.etcd_fixture import free_port

needs_etcd = pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd is not installed")


def test_command_line() -> None:
    from shoal.etcdmember.plan import CertPaths

    spec = MemberSpec("m1", Path("/d/etcd"), "127.0.0.1", 12379, 12380)
    certs = CertPaths(Path("/d/ca.crt"), Path("/d/etcd/member.crt"), Path("/d/etcd/member.key"))
    cmd = etcd_command("etcd", spec, certs, cluster=initial_cluster([("m1", spec.peer_url)]), state="new")
    args = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert args["--name"] == "m1" and args["--data-dir"] == "/d/etcd/data"
    assert args["--advertise-client-urls"] == "https://127.0.0.1:12379"
    assert args["--initial-cluster"] == "m1=https://127.0.0.1:12380"
    assert "--client-cert-auth" in cmd and "--peer-client-cert-auth" in cmd
    assert MemberSpec("x", Path("/"), "::1").client_url == "https://[::1]:2379"
    with pytest.raises(ValueError, match="new or existing"):
        etcd_command("etcd", spec, certs, cluster="", state="joined")


@needs_etcd
async def test_two_members_over_tls_then_one_removed(tmp_path: Path) -> None:
    dd = DataDir(tmp_path / "one").ensure()
    specs = [MemberSpec(f"m{i}", tmp_path / f"m{i}" / "etcd", "127.0.0.1", free_port(), free_port())
             for i in (1, 2)]
    # both members' certificates from one cluster CA (a joiner receives the CA from the server it joins)
    certs = [ensure_member_cert(dd, s.data_dir, name=s.name, host=s.host) for s in specs]
    first = EtcdMember(specs[0], certs[0], cluster=initial_cluster([("m1", specs[0].peer_url)]), state="new")
    await first.start()
    second: EtcdMember | None = None
    store = EtcdStore([specs[0].endpoint], tls=tls_bytes(certs[0]))
    try:
        await store.start()
        await store.create("/k", b"v1")
        cluster, clients = await add_member([specs[0].endpoint], certs[0], name="m2", peer_url=specs[1].peer_url)
        assert ("m2", specs[1].peer_url) in cluster and ("m1", specs[0].peer_url) in cluster
        assert clients == [specs[0].endpoint]
        # asking again (a retried join) adds nothing
        again, _ = await add_member([specs[0].endpoint], certs[0], name="m2", peer_url=specs[1].peer_url)
        assert len(again) == 2
        second = EtcdMember(specs[1], certs[1], cluster=initial_cluster(cluster), state="existing")
        await second.start()
        store2 = EtcdStore([specs[1].endpoint], tls=tls_bytes(certs[1]))
        await store2.start()
        kv = await store2.get("/k")
        assert kv is not None and kv.value == b"v1"
        await store2.close()
        names = sorted(m["name"] for m in await list_members(specs[0].endpoint, certs[0]))
        assert names == ["m1", "m2"]
        # removed while up (with one of two members down there would be no quorum to remove it)
        assert await remove_member([specs[0].endpoint], certs[0], "m2") is True
        assert await remove_member([specs[0].endpoint], certs[0], "m2") is False
        await second.stop()
        await store.update("/k", b"v2", expected_revision=0)  # quorum is m1 alone again
        # without a certificate from the CA, etcd refuses the connection
        other = DataDir(tmp_path / "other").ensure()
        foreign = ensure_member_cert(other, tmp_path / "foreign", name="x", host="127.0.0.1")
        intruder = EtcdStore([specs[0].endpoint], tls=(certs[0].ca.read_bytes(), foreign.key.read_bytes(),
                                                       foreign.cert.read_bytes()), timeout=2)
        with pytest.raises(Exception):  # noqa: B017 - gRPC reports the handshake failure as unavailable
            await intruder.start()
    finally:
        await store.close()
        if second is not None:
            await second.stop()
        await first.stop()
