"""Swarm objects onto Kubernetes objects and back: table tests, no I/O."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shoal.formats.swarm import data, names, nodes, placement, service, tasks
from shoal.formats.swarm.container import SecretRef
from shoal.formats.swarm.wire import SECOND, SpecError, canonical, format_duration

IMG = {"ContainerSpec": {"Image": "nginx:1"}}


def spec(**kw: Any) -> dict[str, Any]:
    return {"Name": "web", "TaskTemplate": copy.deepcopy(IMG), **kw}


# --- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "labels", "where"), [
    ("web", {}, ("default", "web")),
    ("vote_web", {"com.docker.stack.namespace": "vote"}, ("vote", "web")),
    ("vote_db_password", {"com.docker.stack.namespace": "vote"}, ("vote", "db-password")),
    ("My.Web", {}, ("default", "my-web")),
    ("other", {"com.docker.stack.namespace": "vote"}, ("vote", "other")),
])
def test_place(name: str, labels: dict[str, str], where: tuple[str, str]) -> None:
    assert names.place(name, labels) == where


@pytest.mark.parametrize("name", ["", "-web", "web_", "a" * 64, "we b", "web/x"])
def test_place_refuses_bad_names(name: str) -> None:
    with pytest.raises(SpecError):
        names.place(name, {})


def test_swarm_name_round_trip_and_resolution() -> None:
    assert names.swarm_name("vote", "web", {"com.docker.stack.namespace": "vote"}, {}) == "vote_web"
    assert names.swarm_name("default", "web", {}, {names.NAME_ANNOTATION: "Web"}) == "Web"
    assert names.swarm_id("0a1b2c3d-0000-1111-2222-333344445555") == "0a1b2c3d00001111222233334"
    assert [names.matches(r, id_="abc123", name="web") for r in ("abc123", "web", "abc", "zzz", "")] == [3, 2, 1, 0, 0]


def test_canonical_field_names_keep_user_maps() -> None:
    got = canonical({"name": "x", "labels": {"name": "kept", "Image": "kept"},
                     "taskTemplate": {"containerSpec": {"image": "i", "env": ["A=1"]}}})
    assert got == {"Name": "x", "Labels": {"name": "kept", "Image": "kept"},
                   "TaskTemplate": {"ContainerSpec": {"Image": "i", "Env": ["A=1"]}}}


@pytest.mark.parametrize(("ns", "text"), [(0, "0s"), (500_000_000, "500ms"), (90 * SECOND, "1m30s"),
                                          (3600 * SECOND + 1, "1h0m0.000000001s")])
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text


# --- placement --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("constraint", "kind", "req", "back"), [
    ("node.hostname==n1", "field", {"key": "metadata.name", "operator": "In", "values": ["n1"]}, None),
    ("node.hostname != n1", "field", {"key": "metadata.name", "operator": "NotIn", "values": ["n1"]},
     "node.hostname!=n1"),
    ("node.role==manager", "expr", {"key": placement.MANAGER_LABEL, "operator": "Exists"}, None),
    ("node.role!=manager", "expr", {"key": placement.MANAGER_LABEL, "operator": "DoesNotExist"},
     "node.role==worker"),
    ("node.role==worker", "expr", {"key": placement.MANAGER_LABEL, "operator": "DoesNotExist"}, None),
    ("node.platform.os==linux", "expr", {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}, None),
    ("node.platform.arch==x86_64", "expr", {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
     None),
    ("node.labels.zone==a", "expr", {"key": "zone", "operator": "In", "values": ["a"]}, None),
    ("node.labels.zone!=a", "expr", {"key": "zone", "operator": "NotIn", "values": ["a"]}, None),
    ("node.id==abc", "field", {"key": "metadata.name", "operator": "In", "values": ["n9"]}, "node.hostname==n9"),
])
def test_constraints(constraint: str, kind: str, req: dict[str, Any], back: str | None) -> None:
    got_kind, got = placement.parse_constraint(constraint, {"abcdef": "n9"})
    assert (got_kind, got) == (kind, req)
    assert placement.constraint_text(kind, req) == (back or constraint.replace(" ", ""))


@pytest.mark.parametrize("constraint", ["node.labels.x~=y", "node.labels.x=y", "node.role==boss",
                                        "engine.labels.x==y", "node.id==missing", "==x", "node.labels.x=="])
def test_bad_constraints(constraint: str) -> None:
    with pytest.raises(SpecError):
        placement.parse_constraint(constraint, {})


def test_preferences_and_max_replicas() -> None:
    sel = {"s": "x"}
    got = placement.spread([{"Spread": {"SpreadDescriptor": "node.labels.zone"}}], 3, sel)
    assert got == [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": sel}},
        {"maxSkew": 3, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": sel}}]
    assert placement.preferences_of({"topologySpreadConstraints": got}) == (
        [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}], 3)
    with pytest.raises(SpecError):
        placement.spread([{"Spread": {"SpreadDescriptor": "node.hostname"}}], 0, sel)


# --- services ---------------------------------------------------------------------------------------
FULL = canonical({
    "Name": "vote_web", "Labels": {"com.docker.stack.namespace": "vote", "com.docker.stack.image": "nginx:1"},
    "TaskTemplate": {
        "ContainerSpec": {"Image": "nginx:1", "Command": ["nginx"], "Args": ["-g", "daemon off;"],
                          "Env": ["A=1", "B"], "Dir": "/srv", "User": "1000:1000", "Hostname": "web",
                          "ReadOnly": True, "StopGracePeriod": 20 * SECOND,
                          "Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5 * SECOND,
                                          "Timeout": 2 * SECOND, "Retries": 4, "StartPeriod": 10 * SECOND},
                          "Mounts": [{"Type": "bind", "Source": "/data", "Target": "/data", "ReadOnly": True},
                                     {"Type": "volume", "Source": "cache", "Target": "/cache"},
                                     {"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1048576}}],
                          "Secrets": [{"SecretName": "vote_pw", "SecretID": "sid",
                                       "File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 0o400}}],
                          "Configs": [{"ConfigName": "vote_conf", "ConfigID": "cid",
                                       "File": {"Name": "/etc/web.conf", "UID": "0", "GID": "0", "Mode": 0o444}}],
                          "Labels": {"c": "1"}},
        "Resources": {"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20},
                      "Reservations": {"NanoCPUs": 100_000_000, "MemoryBytes": 32 << 20}},
        "RestartPolicy": {"Condition": "on-failure", "Delay": 5 * SECOND, "MaxAttempts": 3},
        "Placement": {"Constraints": ["node.role==manager", "node.labels.zone==a"],
                      "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.rack"}}], "MaxReplicas": 1},
        "Networks": [{"Target": "vote_front", "Aliases": ["www"]}], "ForceUpdate": 2, "Runtime": "container"},
    "Mode": {"Replicated": {"Replicas": 3}},
    "UpdateConfig": {"Parallelism": 2, "Delay": 10 * SECOND, "FailureAction": "rollback", "Monitor": 30 * SECOND,
                     "MaxFailureRatio": 0, "Order": "start-first"},
    "RollbackConfig": {"Parallelism": 1, "FailureAction": "pause", "MaxFailureRatio": 0, "Order": "stop-first"},
    "EndpointSpec": {"Mode": "vip", "Ports": [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 5000, "PublishMode": "ingress"},
        {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host"}]},
})
REFS = {"secrets": {"vote_pw": SecretRef("sid", "vote_pw", "pw", "data")},
        "configs": {"vote_conf": SecretRef("cid", "vote_conf", "conf", "data")}}


def test_full_spec_to_objects() -> None:
    o = service.to_objects(FULL, **REFS)
    assert (o.namespace, o.name, o.kind, o.claims) == ("vote", "web", "Deployment", ["cache"])
    d = o.workload
    assert d["metadata"]["labels"] == {"com.docker.stack.namespace": "vote", "com.docker.swarm.service.name": "vote_web"}
    assert d["metadata"]["annotations"]["shoal.io/auto-rollback"] == "true"
    assert d["metadata"]["annotations"]["shoal.io/auto-rollback-readiness-seconds"] == "30"
    body = d["spec"]
    assert body["replicas"] == 3 and body["minReadySeconds"] == 10
    assert body["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}}
    pod = body["template"]["spec"]
    c = pod["containers"][0]
    assert c["command"] == ["nginx"] and c["args"] == ["-g", "daemon off;"]
    assert c["env"] == [{"name": "A", "value": "1"}, {"name": "B"}]
    assert c["securityContext"] == {"runAsUser": 1000, "runAsGroup": 1000, "readOnlyRootFilesystem": True}
    assert c["resources"] == {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m",
                                                                                       "memory": "32Mi"}}
    assert c["readinessProbe"]["exec"]["command"] == ["/bin/sh", "-c", "curl -f localhost"]
    assert c["livenessProbe"] == {"exec": {"command": ["/bin/sh", "-c", "curl -f localhost"]}, "periodSeconds": 5,
                                  "timeoutSeconds": 2, "failureThreshold": 4, "initialDelaySeconds": 10}
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"},
                          {"containerPort": 53, "protocol": "UDP", "hostPort": 5353}]
    assert pod["terminationGracePeriodSeconds"] == 20 and pod["hostname"] == "web"
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/run/secrets/pw"]["subPath"] == "data" and mounts["/etc/web.conf"]["readOnly"] is True
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["mount-0"] == {"name": "mount-0", "hostPath": {"path": "/data"}}
    assert vols["mount-1"]["persistentVolumeClaim"] == {"claimName": "cache"}
    assert vols["mount-2"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Mi"}
    assert vols["secret-0"]["secret"] == {"secretName": "pw", "items": [{"key": "data", "path": "data", "mode": 256}]}
    assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
        "topologyKey"] == "kubernetes.io/hostname"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "rack"
    assert body["template"]["metadata"]["annotations"] == {"swarm.shoal.io/force-update": "2"}
    internal, published = o.services
    assert internal["metadata"]["name"] == "web" and "clusterIP" not in internal["spec"]
    assert [p["port"] for p in internal["spec"]["ports"]] == [80, 53]
    assert published["metadata"]["name"] == "web-published" and published["spec"]["type"] == "LoadBalancer"
    assert published["spec"]["ports"] == [{"name": "tcp-5000-0", "port": 5000, "targetPort": 80, "protocol": "TCP"}]


def test_full_spec_round_trip() -> None:
    o = service.to_objects(FULL, **REFS)
    back = service.to_spec(o.workload, o.services, **REFS)
    want = copy.deepcopy(FULL)
    want["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["File"]["Mode"] = 0o400
    assert back == want


@pytest.mark.parametrize(("extra", "mode", "kind"), [
    ({}, {"Replicated": {"Replicas": 1}}, "Deployment"),
    ({"Mode": {"Global": {}}}, {"Global": {}}, "DaemonSet"),
    ({"Mode": {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 5}}},
     {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 5}}, "Job"),
])
def test_modes_round_trip(extra: dict[str, Any], mode: dict[str, Any], kind: str) -> None:
    o = service.to_objects(spec(**extra))
    assert o.kind == kind
    back = service.to_spec(o.workload, o.services)
    assert back["Mode"] == mode
    assert back["TaskTemplate"]["ContainerSpec"] == {"Image": "nginx:1"}


@pytest.mark.parametrize(("ports", "mode", "types"), [
    ([], "vip", [("web", None, "None")]),
    ([{"TargetPort": 80}], "vip", [("web", None, None), ("web-published", "NodePort", None)]),
    ([{"TargetPort": 80, "PublishMode": "host"}], "dnsrr", [("web", None, "None")]),
    ([{"TargetPort": 80, "PublishedPort": 8080}], "vip", [("web", None, None), ("web-published", "LoadBalancer",
                                                                                None)]),
    ([{"TargetPort": 80, "PublishedPort": 0, "PublishMode": "ingress"}, {"TargetPort": 81}], "vip",
     [("web", None, None), ("web-published", "NodePort", None)]),
    ([{"TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}], "vip", [("web", None, None)]),
])
def test_endpoint_services(ports: list[dict[str, Any]], mode: str, types: list[Any]) -> None:
    """Every Swarm port is published (0: any port); the name's own Service has a VIP only over declared ports."""
    o = service.to_objects(spec(EndpointSpec={"Mode": mode, "Ports": ports}))
    got = [(s["metadata"]["name"], s["spec"].get("type"), s["spec"].get("clusterIP")) for s in o.services]
    assert got == types
    assert service.to_spec(o.workload, o.services)["EndpointSpec"]["Mode"] == mode


@pytest.mark.parametrize(("bad", "message"), [
    ({"Name": None}, "name"),
    ({"TaskTemplate": {"ContainerSpec": {}}}, "Image must be provided"),
    ({"Mode": {"Replicated": {"Replicas": -1}}}, "less than 0"),
    ({"Mode": {"GlobalJob": {}}}, "GlobalJob"),
    ({"Mode": {"Other": {}}}, "invalid Mode"),
    ({"EndpointSpec": {"Ports": [{"TargetPort": 70000}]}}, "target port"),
    ({"EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 70000}]}}, "published port"),
    ({"EndpointSpec": {"Ports": [{"TargetPort": 80, "Protocol": "icmp"}]}}, "protocol"),
    ({"EndpointSpec": {"Mode": "dnsrr", "Ports": [{"TargetPort": 80, "PublishedPort": 80}]}}, "dnsrr"),
    ({"EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 80}, {"TargetPort": 81, "PublishedPort": 80}]}},
     "twice"),
    ({"UpdateConfig": {"Order": "random"}}, "Order"),
    ({"UpdateConfig": {"FailureAction": "explode"}}, "FailureAction"),
    ({"UpdateConfig": {"MaxFailureRatio": 2}}, "MaxFailureRatio"),
    ({"UpdateConfig": {"Delay": "10s"}}, "Delay"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "i", "Healthcheck": {"Test": ["BOGUS"]}}}}, "Healthcheck"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "i", "Mounts": [{"Type": "bind", "Source": "rel",
                                                                   "Target": "/x"}]}}}, "absolute"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "i", "Secrets": [{"SecretName": "nope"}]}}}, "not found"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "i"}, "RestartPolicy": {"Condition": "sometimes"}}}, "Condition"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "i"}, "Placement": {"Constraints": ["node.x==1"]}}}, "constraint"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "i", "Env": "A=1"}}}, "Env"),
    ({"Labels": ["a"]}, "Labels"),
])
def test_bad_specs(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        service.to_objects({**spec(), **bad})


def test_updated_keeps_what_others_wrote() -> None:
    o = service.to_objects(spec())
    existing = copy.deepcopy(o.workload)
    existing["metadata"].update(resourceVersion="7", uid="u")
    existing["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    existing["spec"]["selector"] = {"matchLabels": {"old": "selector"}}
    new = service.to_objects(spec(TaskTemplate={"ContainerSpec": {"Image": "nginx:2"}}))
    got = service.updated(existing, new.workload, previous={"Name": "web"})
    assert got["metadata"]["resourceVersion"] == "7"
    assert got["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert service.previous_spec(got) == {"Name": "web"}
    assert got["spec"]["selector"] == {"matchLabels": {"old": "selector"}}
    assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    with_port = service.to_objects(spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishMode": "host"}]}))
    internal = with_port.services[0]
    svc = {**internal, "spec": {**internal["spec"], "clusterIP": "10.43.0.9", "clusterIPs": ["10.43.0.9"]}}
    assert service.updated(svc, internal, previous=None)["spec"]["clusterIP"] == "10.43.0.9"


def test_same_spec_same_template() -> None:
    """A re-deploy of an unchanged stack must not roll anything out: the translation is deterministic."""
    assert service.to_objects(FULL, **REFS).workload == service.to_objects(copy.deepcopy(FULL), **REFS).workload


# --- tasks ------------------------------------------------------------------------------------------
def pod(phase: str = "Running", *, node: str = "n1", cs: dict[str, Any] | None = None, ready: bool = False,
        deleting: bool = False, cond: str = "") -> dict[str, Any]:
    p: dict[str, Any] = {"metadata": {"name": "p", "uid": "u-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
                         "spec": {"nodeName": node} if node else {}, "status": {"phase": phase}}
    if cs is not None:
        p["status"]["containerStatuses"] = [{**cs, "ready": ready, "image": "img"}]
    if ready:
        p["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    if cond:
        p["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "message": cond}]
    return p


@pytest.mark.parametrize(("p", "state", "err"), [
    (pod("Pending", node="", cond="0/2 nodes are available"), "pending", "0/2 nodes are available"),
    (pod("Pending"), "assigned", ""),
    (pod("Pending", cs={"state": {"waiting": {"reason": "ContainerCreating"}}}), "preparing", ""),
    (pod("Pending", cs={"state": {"waiting": {"reason": "ErrImagePull", "message": "no such image"}}}),
     "rejected", "no such image"),
    (pod(cs={"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 3}}}),
     "failed", "task: non-zero exit (3)"),
    (pod(cs={"state": {"running": {}}}), "starting", ""),
    (pod(cs={"state": {"running": {}}}, ready=True), "running", ""),
    (pod("Succeeded"), "complete", ""),
    (pod("Failed", cs={"state": {"terminated": {"exitCode": 2}}}), "failed", "task: non-zero exit (2)"),
])
def test_task_state(p: dict[str, Any], state: str, err: str) -> None:
    assert tasks.state(p)[0] == state and tasks.state(p)[2] == err


def test_task_view_and_counts() -> None:
    running = pod(cs={"state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}}}, ready=True)
    t = tasks.task(running, service_id="sid", slot=2, node_id="nid", current=True, job=False, spec={})
    assert (t["Slot"], t["NodeID"], t["DesiredState"], t["Status"]["State"]) == (2, "nid", "running", "running")
    assert tasks.desired_state(pod(deleting=True), current=True) == "shutdown"
    assert tasks.desired_state(running, current=False) == "shutdown"
    d = {"kind": "Deployment", "spec": {"replicas": 3}}
    assert tasks.service_status(d, [running, pod(cs={"state": {"running": {}}}), pod(deleting=True, ready=True)]) == {
        "RunningTasks": 1, "DesiredTasks": 3}
    assert tasks.slots([{**pod(), "metadata": {"uid": "b", "name": "b", "creationTimestamp": "2"}},
                        {**pod(), "metadata": {"uid": "a", "name": "a", "creationTimestamp": "1"}}]) == {"a": 1, "b": 2}


@pytest.mark.parametrize(("status", "state"), [
    ({"observedGeneration": 2, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2}, "completed"),
    ({"observedGeneration": 1, "updatedReplicas": 2, "replicas": 2, "availableReplicas": 2}, "updating"),
    ({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3, "availableReplicas": 2}, "updating"),
])
def test_update_status(status: dict[str, Any], state: str) -> None:
    d = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status}
    assert tasks.update_status(d, updated=False, rolled_back=False) is None
    assert (tasks.update_status(d, updated=True, rolled_back=False) or {})["State"] == state
    rb = tasks.update_status(d, updated=True, rolled_back=True) or {}
    assert rb["State"] == ("rollback_completed" if state == "completed" else "rollback_started")


# --- nodes ------------------------------------------------------------------------------------------
NODE = {"metadata": {"name": "n1", "uid": "11111111-2222", "labels": {"kubernetes.io/arch": "arm64"}},
        "spec": {}, "status": {"capacity": {"cpu": "2", "memory": "1Gi"},
                               "conditions": [{"type": "Ready", "status": "True"}],
                               "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}


@pytest.mark.parametrize(("avail", "unschedulable", "drain_taint"), [
    ("active", None, False), ("pause", True, False), ("drain", True, True)])
def test_node_availability_round_trip(avail: str, unschedulable: bool | None, drain_taint: bool) -> None:
    n = nodes.update(NODE, {"Availability": avail})
    assert n["spec"].get("unschedulable") == unschedulable
    assert any(t["key"] == nodes.DRAIN_TAINT and t["effect"] == "NoExecute"
               for t in n["spec"].get("taints") or []) == drain_taint
    assert nodes.availability(n) == avail
    assert nodes.availability(nodes.update(n, {"Availability": "active"})) == "active"


def test_node_view_and_role() -> None:
    v = nodes.node(NODE, leader="n1")
    assert v["Spec"]["Role"] == "worker" and "ManagerStatus" not in v
    assert v["Description"]["Platform"] == {"Architecture": "aarch64", "OS": "linux"}
    assert v["Description"]["Resources"] == {"NanoCPUs": 2_000_000_000, "MemoryBytes": 1 << 30}
    assert v["Status"] == {"State": "ready", "Addr": "10.0.0.1"}
    m = nodes.update(NODE, {"Role": "manager", "Labels": {"zone": "a"}})
    assert m["metadata"]["labels"] == {"zone": "a", placement.MANAGER_LABEL: "true"}
    assert nodes.node(m, leader="n1")["ManagerStatus"]["Leader"] is True
    assert placement.MANAGER_LABEL not in nodes.update(m, {"Role": "worker"})["metadata"]["labels"]
    for bad in ({"Availability": "sideways"}, {"Role": "boss"}, {"Labels": {"bad key!": "x"}}):
        with pytest.raises(SpecError):
            nodes.update(NODE, bad)


# --- secrets, configs, networks ---------------------------------------------------------------------
def test_secret_round_trip_never_shows_data() -> None:
    s = data.secret_object({"Name": "vote_pw", "Labels": {"com.docker.stack.namespace": "vote", "x y": "z"},
                            "Data": "czNjcmV0"})
    assert s["metadata"]["name"] == "pw" and s["metadata"]["namespace"] == "vote"
    assert s["data"] == {"data": "czNjcmV0"} and "x y" not in s["metadata"]["labels"]
    v = data.secret({**s, "metadata": {**s["metadata"], "uid": "abc", "resourceVersion": "5"}})
    assert v["Spec"] == {"Name": "vote_pw", "Labels": {"com.docker.stack.namespace": "vote", "x y": "z"}}
    assert v["Version"] == {"Index": 5}


@pytest.mark.parametrize(("raw", "field"), [(b"color=blue\n", "data"), (b"\xff\xfe", "binaryData")])
def test_config_round_trip(raw: bytes, field: str) -> None:
    import base64

    b64 = base64.b64encode(raw).decode()
    cm = data.config_object({"Name": "conf", "Data": b64})
    assert field in cm
    assert data.config({**cm, "metadata": {**cm["metadata"], "uid": "u"}})["Spec"]["Data"] == b64


@pytest.mark.parametrize("bad", [{"Name": "s", "Data": "!!"}, {"Name": "s", "Data": ""}, {"Data": "eA=="},
                                 {"Name": "s", "Data": "eA==", "Driver": {"Name": "vault"}}])
def test_bad_secrets(bad: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        data.secret_object(bad)


def test_network_round_trip() -> None:
    cm = data.network_object({"Name": "vote_front", "Driver": "overlay", "Attachable": True,
                              "Labels": {"com.docker.stack.namespace": "vote"}})
    assert cm["metadata"]["name"] == "swarm-network-front" and cm["metadata"]["labels"][data.NETWORK_LABEL] == "true"
    v = data.network({**cm, "metadata": {**cm["metadata"], "uid": "u"}})
    assert (v["Name"], v["Driver"], v["Scope"], v["Attachable"]) == ("vote_front", "overlay", "swarm", True)
    assert v["Labels"] == {"com.docker.stack.namespace": "vote"}
    with pytest.raises(SpecError):
        data.network_object({"Name": "n", "Driver": "bridge"})
