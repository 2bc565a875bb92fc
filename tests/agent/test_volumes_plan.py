"""Pure table tests of the volume mount plan, the payloads, the hostPath checks and the atomic writer's layout."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from shoal.agent.drivers.base import Mount
from shoal.agent.drivers.process import rewrite_paths
from shoal.agent.podplan import (
    CreateSandbox,
    DeletePod,
    FailPod,
    Instant,
    KillPod,
    PodState,
    ReportStatus,
    SetUpVolumes,
    StartContainer,
    TearDownVolumes,
    plan_pod_actions,
)
from shoal.agent.volumes import atomic
from shoal.agent.volumes.hostpath import decide
from shoal.agent.volumes.local import PVSource, pv_source
from shoal.agent.volumes.mounts import mount_points
from shoal.agent.volumes.payload import File, payload
from shoal.agent.volumes.plan import (
    Claim,
    EmptyDir,
    HostPath,
    MountError,
    Projected,
    Unsupported,
    container_mounts,
    eviction_message,
    over_limit,
    plan_volumes,
)

POD_DIR = "/var/lib/shoal/agent/pods/u1"


def pod(volumes: list[dict[str, Any]], containers: list[dict[str, Any]] | None = None, **meta: Any) -> Any:
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", **meta},
            "spec": {"volumes": volumes, "containers": containers or [{"name": "main", "image": "i"}]}}


# ---- plan_volumes -------------------------------------------------------------------------------
@pytest.mark.parametrize(("volume", "want"), [
    ({"name": "s", "emptyDir": {}}, EmptyDir("s", f"{POD_DIR}/volumes/kubernetes.io~empty-dir/s", False, None, None)),
    ({"name": "s"}, EmptyDir("s", f"{POD_DIR}/volumes/kubernetes.io~empty-dir/s", False, None, None)),
    ({"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
     EmptyDir("m", f"{POD_DIR}/volumes/kubernetes.io~empty-dir/m", True, 1 << 20, "1Mi", 1 << 20)),
    ({"name": "h", "hostPath": {"path": "/etc", "type": "Directory"}}, HostPath("h", "/etc", "Directory")),
    ({"name": "h", "hostPath": {"path": "/etc"}}, HostPath("h", "/etc", "")),
    ({"name": "c", "configMap": {"name": "cm"}},
     Projected("c", f"{POD_DIR}/volumes/kubernetes.io~configmap/c", "configMap", {"name": "cm"}, False)),
    ({"name": "x", "secret": {"secretName": "s"}},
     Projected("x", f"{POD_DIR}/volumes/kubernetes.io~secret/x", "secret", {"secretName": "s"}, True)),
    ({"name": "d", "downwardAPI": {"items": []}},
     Projected("d", f"{POD_DIR}/volumes/kubernetes.io~downward-api/d", "downwardAPI", {"items": []}, True)),
    ({"name": "p", "projected": {"sources": []}},
     Projected("p", f"{POD_DIR}/volumes/kubernetes.io~projected/p", "projected", {"sources": []}, True)),
    ({"name": "v", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}}, Claim("v", "data", True)),
])
def test_each_volume_type_is_planned(volume: dict[str, Any], want: Any) -> None:
    plan = plan_volumes(pod([volume]), POD_DIR)
    assert plan.volumes == (want,) and plan.unsupported == ()


@pytest.mark.parametrize("kind", ["nfs", "iscsi", "csi", "cephfs", "ephemeral", "image"])
def test_unsupported_types_are_listed_not_dropped(kind: str) -> None:
    plan = plan_volumes(pod([{"name": "ok", "emptyDir": {}}, {"name": "bad", kind: {"x": 1}}]), POD_DIR)
    assert plan.unsupported == (Unsupported("bad", kind),)
    assert [v.name for v in plan.volumes] == ["ok"]


# ---- container_mounts ---------------------------------------------------------------------------
VOLS = [{"name": "cfg", "configMap": {"name": "cm"}}, {"name": "data", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": "/srv"}}, {"name": "pvc", "persistentVolumeClaim": {
            "claimName": "c", "readOnly": True}}]
SOURCES = {"cfg": "/v/cfg", "data": "/v/data", "host": "/srv", "pvc": "/vol/pvc-1"}


@pytest.mark.parametrize(("vm", "env", "want"), [
    ({"name": "data", "mountPath": "/d"}, {}, Mount("/v/data", "/d", False, "rprivate")),
    ({"name": "data", "mountPath": "/d", "readOnly": True}, {}, Mount("/v/data", "/d", True, "rprivate")),
    ({"name": "cfg", "mountPath": "/c"}, {}, Mount("/v/cfg", "/c", True, "rprivate")),  # always read only
    ({"name": "pvc", "mountPath": "/p"}, {}, Mount("/vol/pvc-1", "/p", True, "rprivate")),  # the source says so
    ({"name": "host", "mountPath": "/h", "mountPropagation": "HostToContainer"}, {},
     Mount("/srv", "/h", False, "rslave")),
    ({"name": "host", "mountPath": "/h", "mountPropagation": "Bidirectional"}, {},
     Mount("/srv", "/h", False, "rshared")),
    ({"name": "data", "mountPath": "/d", "subPath": "a/b"}, {}, Mount("/v/data/a/b", "/d", False, "rprivate")),
    ({"name": "data", "mountPath": "/d", "subPathExpr": "logs/$(POD)"}, {"POD": "web-0"},
     Mount("/v/data/logs/web-0", "/d", False, "rprivate")),
    ({"name": "data", "mountPath": "/d", "subPathExpr": "$(UNSET)"}, {},  # unknown: left as written, as upstream
     Mount("/v/data/$(UNSET)", "/d", False, "rprivate")),
])
def test_container_mounts(vm: dict[str, Any], env: dict[str, str], want: Mount) -> None:
    plan = plan_volumes(pod(VOLS), POD_DIR)
    assert container_mounts({"name": "main", "volumeMounts": [vm]}, plan, SOURCES, env) == (want,)


@pytest.mark.parametrize("expr", ["$(X)", "a/$(X)"])
def test_subpath_expr_expanding_outside_the_volume_is_refused(expr: str) -> None:
    plan = plan_volumes(pod(VOLS), POD_DIR)
    with pytest.raises(MountError, match="relative path"):
        container_mounts({"name": "main", "volumeMounts": [{"name": "data", "mountPath": "/d", "subPathExpr": expr}]},
                         plan, SOURCES, {"X": "../../etc" if expr.startswith("a/") else "/etc"})


def test_a_mount_of_a_volume_not_set_up_is_an_error() -> None:
    plan = plan_volumes(pod(VOLS), POD_DIR)
    with pytest.raises(MountError):
        container_mounts({"name": "main", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}, plan, {}, {})


# ---- eviction -------------------------------------------------------------------------------------
def test_over_limit_and_upstreams_message() -> None:
    plan = plan_volumes(pod([{"name": "a", "emptyDir": {}}, {"name": "x", "emptyDir": {"sizeLimit": "1Mi"}}]),
                        POD_DIR)
    assert over_limit(plan, {"a": 10 << 30, "x": 1 << 20}) is None  # at the limit is not over it
    over = over_limit(plan, {"x": (1 << 20) + 1})
    assert over is not None and eviction_message(over) == 'Usage of EmptyDir volume "x" exceeds the limit "1Mi".'


def test_planner_sets_up_volumes_first_tears_down_after_kill_and_evicts() -> None:
    now = Instant(100.0, 1_700_000_000.0)
    p = pod([{"name": "x", "emptyDir": {}}])
    acts = plan_pod_actions(p, [], PodState("u1"), now).actions
    assert acts[:2] == (SetUpVolumes(), CreateSandbox())
    assert isinstance(acts[2], StartContainer) and acts[-1] == ReportStatus()
    none = {**p, "spec": {"containers": p["spec"]["containers"]}}
    assert SetUpVolumes() not in plan_pod_actions(none, [], PodState("u1"), now).actions
    gone = {**p, "metadata": {**p["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z",
                              "deletionGracePeriodSeconds": 5}}
    assert plan_pod_actions(gone, [], PodState("u1"), now).actions == (
        KillPod(5, remove=True), TearDownVolumes(), DeletePod())
    st = PodState("u1", evicted='Usage of EmptyDir volume "x" exceeds the limit "1Mi".')
    assert plan_pod_actions(p, [], st, now).actions == (KillPod(0), FailPod("Evicted", st.evicted or ""))


# ---- payloads -------------------------------------------------------------------------------------
def _lookup(objs: dict[tuple[str, str], dict[str, Any]]) -> Any:
    return lambda kind, name: objs.get((kind, name))


CM = {"data": {"a": "1", "b": "2"}, "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}}
SEC = {"data": {"pw": base64.b64encode(b"s3cret").decode()}}
OBJS = {("configmaps", "cm"): CM, ("secrets", "s"): SEC}


def proj(kind: str, source: dict[str, Any]) -> Projected:
    return Projected("v", "/v", kind, source, kind != "configMap")  # type: ignore[arg-type]


@pytest.mark.parametrize(("vol", "want"), [
    (proj("configMap", {"name": "cm"}), {"a": File(b"1", 0o644), "b": File(b"2", 0o644),
                                         "bin": File(b"\x00\x01", 0o644)}),
    (proj("configMap", {"name": "cm", "defaultMode": 0o600, "items": [
        {"key": "a", "path": "dir/a.conf"}, {"key": "b", "path": "b", "mode": 0o755}]}),
     {"dir/a.conf": File(b"1", 0o600), "b": File(b"2", 0o755)}),
    (proj("configMap", {"name": "nope", "optional": True}), {}),
    (proj("configMap", {"name": "cm", "optional": True, "items": [{"key": "zz", "path": "z"}]}), {}),
    (proj("secret", {"secretName": "s", "defaultMode": 0o400}), {"pw": File(b"s3cret", 0o400)}),
    (proj("downwardAPI", {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                                    {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}, "mode": 0o600},
                                    {"path": "cpu", "resourceFieldRef": {"containerName": "main",
                                                                        "resource": "limits.cpu",
                                                                        "divisor": "1m"}}]}),
     {"labels": File(b'a="1"\nb="x y"', 0o644), "ns": File(b"ns", 0o600), "cpu": File(b"500", 0o644)}),
    (proj("projected", {"defaultMode": 0o440, "sources": [
        {"configMap": {"name": "cm", "items": [{"key": "a", "path": "a"}]}},
        {"secret": {"name": "s"}},
        {"downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}),
     {"a": File(b"1", 0o440), "pw": File(b"s3cret", 0o440), "name": File(b"p", 0o440)}),
])
def test_payloads(vol: Projected, want: dict[str, File]) -> None:
    p = pod([], [{"name": "main", "image": "i", "resources": {"limits": {"cpu": "500m"}}}],
            labels={"b": "x y", "a": "1"})
    assert payload(vol, p, _lookup(OBJS)) == want


@pytest.mark.parametrize(("vol", "message"), [
    (proj("configMap", {"name": "nope"}), 'configmap "nope" not found'),
    (proj("secret", {"secretName": "nope"}), 'secret "nope" not found'),
    (proj("configMap", {"name": "cm", "items": [{"key": "zz", "path": "z"}]}),
     "configmap references non-existent config key: zz"),
    (proj("secret", {"secretName": "s", "items": [{"key": "zz", "path": "z"}]}),
     "secret references non-existent secret key: zz"),
    (proj("configMap", {"name": "cm", "items": [{"key": "a", "path": "../escape"}]}), "invalid path"),
    (proj("projected", {"sources": [{"serviceAccountToken": {"path": "token"}}]}), "no token was requested"),
    (proj("projected", {"sources": [{"clusterTrustBundle": {"path": "b"}}]}), "not supported yet"),
])
def test_payload_errors(vol: Projected, message: str) -> None:
    with pytest.raises(MountError, match=message.replace("(", r"\(")):
        payload(vol, pod([]), _lookup(OBJS))


# ---- hostPath checks ------------------------------------------------------------------------------
DIR, REG, SOCK, CHR, BLK = stat.S_IFDIR, stat.S_IFREG, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK


@pytest.mark.parametrize(("type_", "mode", "want"), [
    ("", None, "ok"), ("", REG, "ok"),
    ("DirectoryOrCreate", None, "mkdir"), ("DirectoryOrCreate", DIR, "ok"),
    ("DirectoryOrCreate", REG, "hostPath type check failed: /x is not a directory"),
    ("Directory", DIR, "ok"), ("Directory", None, "hostPath type check failed: /x is not a directory"),
    ("FileOrCreate", None, "touch"), ("FileOrCreate", REG, "ok"),
    ("FileOrCreate", DIR, "hostPath type check failed: /x is not a file"),
    ("File", REG, "ok"), ("File", None, "hostPath type check failed: /x is not a file"),
    ("Socket", SOCK, "ok"), ("Socket", REG, "hostPath type check failed: /x is not a socket file"),
    ("CharDevice", CHR, "ok"), ("CharDevice", BLK, "hostPath type check failed: /x is not a character device"),
    ("BlockDevice", BLK, "ok"), ("BlockDevice", None, "hostPath type check failed: /x is not a block device"),
])
def test_host_path_type_checks(type_: str, mode: int | None, want: str) -> None:
    assert decide(type_, mode, "/x") == want


# ---- mountinfo, local PVs, process paths ----------------------------------------------------------
def test_mount_points_parses_mountinfo_with_escapes() -> None:
    text = ("22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
            "90 22 0:50 / /var/lib/a\\040b rw - tmpfs tmpfs rw,size=1024k\n"
            "91 22 7:0 / /vol/pvc-1 rw - ext4 /dev/loop0 rw\n")
    assert mount_points(text) == {"/": ("ext4", "/dev/vda"), "/var/lib/a b": ("tmpfs", "tmpfs"),
                                  "/vol/pvc-1": ("ext4", "/dev/loop0")}


def _pv(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "pvc-1", "annotations": {"pv.kubernetes.io/provisioned-by": "shoal.io/local"},
                         "finalizers": ["shoal.io/local-volume"]},
            "spec": {"capacity": {"storage": "1Gi"}, **spec}}


AFFINITY = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}


@pytest.mark.parametrize(("pv", "node", "want"), [
    (_pv(local={"path": "/vol/pvc-1"}, nodeAffinity=AFFINITY), "n1", PVSource("pvc-1", "/vol/pvc-1", True, 1 << 30)),
    (_pv(hostPath={"path": "/srv"}), "n1", PVSource("pvc-1", "/srv", False, 1 << 30)),  # no affinity: not owned
    (_pv(local={"path": "/vol/pvc-1"}, nodeAffinity=AFFINITY), "n2",
     "persistentvolume \"pvc-1\" has node affinity to ['n1'], not to this node \"n2\""),
    (_pv(nfs={"server": "s", "path": "/"}), "n1",
     'persistentvolume "pvc-1" has volume type "nfs", which this node cannot mount'),
])
def test_pv_source(pv: dict[str, Any], node: str, want: Any) -> None:
    assert pv_source(pv, node) == want


@pytest.mark.parametrize(("text", "want"), [
    ("cat /cfg/app.conf", "cat /h/cfg/app.conf"),
    ("/cfg", "/h/cfg"),
    ("ls /cfgx /x/cfg /data", "ls /cfgx /x/cfg /h/data"),  # only whole paths
    ("cd /data/sub && cat /cfg", "cd /h/data/sub && cat /h/cfg"),
    ("/data/logs", "/h/logs"),  # the longest mount wins
])
def test_process_driver_rewrites_mount_paths(text: str, want: str) -> None:
    mounts = (Mount("/h/cfg", "/cfg"), Mount("/h/data", "/data"), Mount("/h/logs", "/data/logs"))
    assert rewrite_paths(text, mounts) == want


# ---- the atomic writer's layout -------------------------------------------------------------------
def test_atomic_writer_layout_update_and_removal(tmp_path: Path) -> None:
    d = tmp_path / "vol"
    first = {"a": File(b"1", 0o644), "dir/b": File(b"2", 0o600)}
    assert atomic.write(d, first)
    data = os.readlink(d / "..data")
    assert data.startswith("..") and (d / data).is_dir()
    assert os.readlink(d / "a") == "..data/a" and os.readlink(d / "dir") == "..data/dir"
    assert (d / "dir" / "b").read_bytes() == b"2" and stat.S_IMODE((d / "dir" / "b").stat().st_mode) == 0o600
    assert not atomic.write(d, dict(first))  # the same payload writes nothing
    assert os.readlink(d / "..data") == data
    assert atomic.write(d, {"a": File(b"new", 0o644), "c": File(b"3", 0o644)})
    assert (d / "a").read_bytes() == b"new" and (d / "c").read_bytes() == b"3"
    assert not (d / "dir").exists() and not (d / "dir").is_symlink()  # a name gone from the payload
    assert not (d / data).exists()  # the old payload is deleted
    assert sorted(os.listdir(d)) == sorted(["..data", os.readlink(d / "..data"), "a", "c"])
    assert atomic.read_current(d) == {"a": File(b"new", 0o644), "c": File(b"3", 0o644)}
