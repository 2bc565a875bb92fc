"""Marathon apps and groups onto Kubernetes objects and back: table tests, no I/O."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shoal.formats.marathon import app as appx
from shoal.formats.marathon import events, groups, ids, placement, probes, tasks, validate
from shoal.formats.marathon.errors import MarathonError

V1 = "2024-01-01T00:00:00.000Z"
V2 = "2024-01-02T00:00:00.000Z"


def norm(**kw: Any) -> dict[str, Any]:
    return validate.normalize({"id": "/web", "cmd": "sleep 1", **kw})


def objects(app: dict[str, Any]) -> appx.Objects:
    return appx.to_objects(app, appx.stamp_for(None, app, version=V1, deployment_id="d1"))


def details(e: pytest.ExceptionInfo[MarathonError]) -> dict[str, list[str]]:
    assert e.value.status == 422
    assert e.value.body["message"] == "Object is not valid"
    return {d["path"]: d["errors"] for d in e.value.body["details"]}


# --- ids --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "base", "path", "name"), [
    ("web", "/", "/web", "web"),
    ("/prod/web/api", "/", "/prod/web/api", "api-web-prod"),
    ("api", "/prod/web", "/prod/web/api", "api-web-prod"),
    ("../db", "/prod/web", "/prod/db", "db-prod"),
    ("/a/my.app", "/", "/a/my.app", "my-app-a"),
])
def test_ids(raw: str, base: str, path: str, name: str) -> None:
    assert ids.canonical(raw, base) == path
    assert ids.k8s_name(path) == name
    assert ids.problem(path) is None


@pytest.mark.parametrize("path", ["/", "/Web", "/-a", "/a_b", "/" + "x" * 64])
def test_bad_ids(path: str) -> None:
    assert ids.problem(path) is not None


def test_task_id_and_version() -> None:
    assert ids.task_id("/prod/web", "u-1") == "prod_web.u-1"
    assert ids.app_of_task("prod_web.u-1") == ("prod_web", "u-1")
    from datetime import UTC, datetime
    assert ids.version(datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)) == "2024-05-01T10:00:00.123Z"


# --- validation ---------------------------------------------------------------------------------------
def test_defaults_are_marathons() -> None:
    a = norm()
    assert (a["instances"], a["cpus"], a["mem"], a["disk"], a["gpus"]) == (1, 1.0, 128.0, 0.0, 0)
    assert a["upgradeStrategy"] == {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}
    assert (a["backoffSeconds"], a["backoffFactor"], a["maxLaunchDelaySeconds"]) == (1, 1.15, 300)
    assert a["killSelection"] == "YOUNGEST_FIRST" and a["networks"] == [{"mode": "host"}]
    hc = norm(portDefinitions=[{"port": 8080}], healthChecks=[{}])["healthChecks"][0]
    assert hc == {"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 300, "intervalSeconds": 60,
                  "timeoutSeconds": 20, "maxConsecutiveFailures": 3, "delaySeconds": 15, "ignoreHttp1xx": False}


@pytest.mark.parametrize(("body", "path", "needle"), [
    ({"instances": -1}, "/instances", "got -1, expected 0 or more"),
    ({"instances": "3"}, "/instances", "error.expected.jsnumber"),
    ({"cpus": -0.5}, "/cpus", "expected 0 or more"),
    ({"gpus": 1}, "/gpus", "does not schedule GPUs"),
    ({"cmd": None}, "/", "must either contain one of 'cmd' or 'args'"),
    ({"args": ["x"]}, "/", "not both"),
    ({"id": "/Bad_Id"}, "/id", "must fully match regular expression"),
    ({"constraints": [["hostname", "NEAR"]]}, "/constraints(0)", "Constraint operator must be one of"),
    ({"constraints": [["rack", "MAX_PER", "x"]]}, "/constraints(0)", "Value was not a valid integer"),
    ({"constraints": [["rack"]]}, "/constraints(0)", "either 2 or 3 fields"),
    ({"healthChecks": [{"protocol": "HTTP"}]}, "/healthChecks(0)", "port indices"),
    ({"healthChecks": [{"protocol": "UDP"}]}, "/healthChecks(0)/protocol", "error.expected.enum"),
    ({"upgradeStrategy": {"minimumHealthCapacity": 2}}, "/upgradeStrategy/minimumHealthCapacity", "1 or less"),
    ({"env": {"A": {"secret": "nope"}}}, "/env/A", "undefined secret"),
    ({"portDefinitions": [{"port": 80}, {"port": 80}]}, "/portDefinitions", "unique"),
    ({"container": {"docker": {"image": "x"}, "volumes": [{"containerPath": "/d", "external": {}}]}},
     "/container/volumes(0)/external", "no external volume"),
    ({"bogus": 1}, "/bogus", "error.unknown.field"),
    ({"killSelection": "RANDOM"}, "/killSelection", "error.expected.enum"),
])
def test_invalid_apps_answer_marathons_422(body: dict[str, Any], path: str, needle: str) -> None:
    with pytest.raises(MarathonError) as e:
        validate.normalize({"id": "/web", "cmd": "sleep 1", **body})
    got = details(e)
    assert path in got, got
    assert any(needle in err for err in got[path]), got


def test_every_problem_in_one_answer() -> None:
    with pytest.raises(MarathonError) as e:
        validate.normalize({"id": "/web", "cmd": "x", "instances": -1, "mem": -1})
    assert set(details(e)) == {"/instances", "/mem"}


def test_read_only_fields_of_a_get_are_ignored() -> None:
    a = norm(version=V1, tasksRunning=3, deployments=[{"id": "x"}])
    assert "version" not in a and "tasksRunning" not in a


def test_ports_assigned_stably() -> None:
    a, b = norm(portDefinitions=[{"port": 0}, {"port": 0}]), norm(portDefinitions=[{"port": 0}, {"port": 0}])
    ports = [d["port"] for d in a["portDefinitions"]]
    assert ports == [d["port"] for d in b["portDefinitions"]]
    assert len(set(ports)) == 2 and all(10000 <= p < 20000 for p in ports)


# --- objects ----------------------------------------------------------------------------------------------
def test_app_onto_a_deployment_and_service() -> None:
    a = norm(instances=3, cpus=0.5, mem=64, env={"A": "1"}, labels={"tier": "web", "bad key": "x"},
             portDefinitions=[{"port": 8080, "name": "http"}],
             healthChecks=[{"protocol": "HTTP", "path": "/health", "intervalSeconds": 5,
                            "maxConsecutiveFailures": 2, "gracePeriodSeconds": 30}],
             upgradeStrategy={"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2})
    o = objects(a)
    w = o.workload
    assert (o.kind, w["metadata"]["name"], w["metadata"]["namespace"]) == ("Deployment", "web", "marathon")
    assert w["metadata"]["labels"] == {"tier": "web", ids.MANAGED_BY: "marathon", ids.APP_LABEL: "web"}
    assert w["spec"]["replicas"] == 3
    assert w["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "50%", "maxSurge": "20%"}
    c = w["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["/bin/sh", "-c", "sleep 1"] and c["image"] == validate.DEFAULT_IMAGE
    assert c["resources"] == {"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["A"] == "1" and env["PORT0"] == "8080" and env["MARATHON_APP_ID"] == "/web"
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080, "scheme": "HTTP"}
    assert (c["livenessProbe"]["initialDelaySeconds"], c["livenessProbe"]["failureThreshold"]) == (30, 2)
    assert c["readinessProbe"]["periodSeconds"] == 5
    assert o.service is not None
    assert o.service["spec"]["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in o.service["spec"]["ports"]] == [(8080, 8080)]
    assert json.loads(w["metadata"]["annotations"][appx.CONFIG])["id"] == "/web"


@pytest.mark.parametrize(("fields", "annotation"), [
    ({}, "1s,1.15,300s"),  # Marathon's defaults
    ({"backoffSeconds": 5, "backoffFactor": 2, "maxLaunchDelaySeconds": 3600}, "5s,2,3600s"),
    ({"backoffSeconds": 0.5, "backoffFactor": 1, "maxLaunchDelaySeconds": 0.5}, "0.5s,1,0.5s"),
])
def test_launch_backoff_becomes_the_agents_restart_backoff(fields: dict[str, Any], annotation: str) -> None:
    from shoal.agent.podplan import BackoffPolicy, pod_backoff

    tmpl = objects(norm(**fields)).workload["spec"]["template"]
    assert tmpl["metadata"]["annotations"] == {"shoal.io/restart-backoff": annotation}
    policy, problem = pod_backoff(tmpl, BackoffPolicy())  # the agent reads what the translation wrote
    assert problem is None and (policy.base, policy.factor, policy.cap) == (
        norm(**fields)["backoffSeconds"], norm(**fields)["backoffFactor"], norm(**fields)["maxLaunchDelaySeconds"])


@pytest.mark.parametrize(("mapping", "svc_type", "host_port"), [
    ({"containerPort": 80}, "ClusterIP", None),
    ({"containerPort": 80, "hostPort": 0}, "NodePort", None),
    ({"containerPort": 80, "hostPort": 8081}, "ClusterIP", 8081),
])
def test_container_ports(mapping: dict[str, Any], svc_type: str, host_port: int | None) -> None:
    a = validate.normalize({"id": "/web", "container": {"type": "DOCKER", "docker": {"image": "nginx"},
                                                         "portMappings": [mapping]},
                            "networks": [{"mode": "container/bridge"}]})
    o = objects(a)
    assert o.service is not None and o.service["spec"]["type"] == svc_type
    cp = o.workload["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    assert cp.get("hostPort") == host_port and cp["containerPort"] == 80
    assert "command" not in o.workload["spec"]["template"]["spec"]["containers"][0]


def test_require_ports_uses_the_hosts_network() -> None:
    o = objects(norm(requirePorts=True, portDefinitions=[{"port": 9000}]))
    pod = o.workload["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["containers"][0]["ports"][0]["hostPort"] == 9000


def test_persistent_volumes_make_a_statefulset_with_claims() -> None:
    a = validate.normalize({"id": "/db", "cmd": "x", "container": {"type": "MESOS", "docker": {"image": "pg"},
                            "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 512}}]}})
    assert a["residency"] and a["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}
    o = objects(a)
    assert o.kind == "StatefulSet"
    claim = o.workload["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "512Mi"
    mount = o.workload["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    assert mount == {"name": "data", "mountPath": "/mnt/mesos/sandbox/data", "readOnly": False}


def test_secrets_become_secret_refs() -> None:
    a = norm(env={"PW": {"secret": "s0"}}, secrets={"s0": {"source": "db/password"}})
    env = objects(a).workload["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}} in env


# --- constraints ----------------------------------------------------------------------------------------
SEL = {"matchLabels": {ids.APP_LABEL: "web"}}


@pytest.mark.parametrize(("constraint", "want"), [
    (["hostname", "UNIQUE"], {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": SEL, "topologyKey": "kubernetes.io/hostname"}]}}}),
    (["rack", "MAX_PER", "1"], {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": SEL, "topologyKey": "rack"}]}}}),
    (["hostname", "CLUSTER", "n1"], {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}}),
    (["zone", "IS", "a"], {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}),
    (["zone", "UNLIKE", "a|b"], {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a", "b"]}]}]}}}}),
    (["rack", "CLUSTER"], {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": SEL, "topologyKey": "rack"}]}}}),
    (["zone", "GROUP_BY", "3"], {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": SEL, "minDomains": 3}]}),
    (["zone", "MAX_PER", "2"], {"topologySpreadConstraints": [{"maxSkew": 2, "topologyKey": "zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": SEL}]}),
])
def test_constraints(constraint: list[str], want: dict[str, Any]) -> None:
    got, problems = placement.to_scheduling([constraint], {ids.APP_LABEL: "web"})
    assert problems == [] and got == want


def test_a_regular_expression_constraint_is_refused() -> None:
    with pytest.raises(MarathonError) as e:
        objects(norm(constraints=[["hostname", "LIKE", "node-[0-9]+"]]))
    assert "/constraints(0)" in details(e)


@pytest.mark.parametrize(("check", "handler"), [
    ({"protocol": "TCP", "portIndex": 0}, {"tcpSocket": {"port": 80}}),
    ({"protocol": "MESOS_HTTPS", "port": 443, "path": "/x"}, {"httpGet": {"path": "/x", "port": 443, "scheme": "HTTPS"}}),
    ({"protocol": "COMMAND", "command": {"value": "true"}}, {"exec": {"command": ["/bin/sh", "-c", "true"]}}),
])
def test_probe_handlers(check: dict[str, Any], handler: dict[str, Any]) -> None:
    got = probes.to_probes([{**check, "maxConsecutiveFailures": 0}], [], [{"containerPort": 80, "name": "a"}])
    assert "livenessProbe" not in got  # maxConsecutiveFailures 0: Marathon never kills
    assert {k: v for k, v in got["readinessProbe"].items() if k in handler} == handler


def test_readiness_check_takes_the_readiness_probe() -> None:
    got = probes.to_probes([{"protocol": "TCP", "portIndex": 0, "maxConsecutiveFailures": 3}],
                           [{"protocol": "HTTP", "path": "/ready", "portName": "api", "intervalSeconds": 7}],
                           [{"containerPort": 80, "name": "api"}])
    assert got["readinessProbe"]["httpGet"]["path"] == "/ready" and got["readinessProbe"]["periodSeconds"] == 7
    assert got["livenessProbe"]["tcpSocket"] == {"port": 80}


# --- back -------------------------------------------------------------------------------------------------
def test_round_trip_and_kubectl_edits_are_visible() -> None:
    a = norm(instances=2, labels={"tier": "web"}, env={"A": "1"})
    w = copy.deepcopy(objects(a).workload)
    assert {k: v for k, v in appx.to_app(w, [], status=False).items()} == a
    w["spec"]["replicas"] = 5  # kubectl scale
    c = w["spec"]["template"]["spec"]["containers"][0]
    c["resources"]["requests"]["cpu"] = "250m"  # kubectl set resources
    c["env"].append({"name": "B", "value": "2"})  # kubectl set env
    w["metadata"]["labels"]["tier"] = "api"  # kubectl label
    c["image"] = "alpine:3"  # kubectl set image
    back = appx.to_app(w, [])
    assert (back["instances"], back["cpus"], back["env"], back["labels"]) == (5, 0.25, {"A": "1", "B": "2"},
                                                                             {"tier": "api"})
    assert back["container"]["docker"]["image"] == "alpine:3"


def pod(phase: str, *, ready: bool = False, uid: str = "u1", node: str = "n1") -> dict[str, Any]:
    return {"metadata": {"name": "p", "uid": uid, "labels": {ids.APP_LABEL: "web"}, "creationTimestamp": V1},
            "spec": {"nodeName": node, "containers": [{"ports": [{"containerPort": 80}]}]},
            "status": {"phase": phase, "podIP": "10.0.0.1",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_status_counts_versions_and_deployments() -> None:
    a = norm(instances=2, portDefinitions=[{"port": 80}], healthChecks=[{"protocol": "TCP"}])
    w = copy.deepcopy(objects(a).workload)
    w["metadata"]["generation"] = 1
    w["status"] = {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 1}
    got = appx.to_app(w, [pod("Running", ready=True), pod("Running", uid="u2"), pod("Pending", uid="u3")])
    assert (got["tasksRunning"], got["tasksHealthy"], got["tasksUnhealthy"], got["tasksStaged"]) == (2, 1, 1, 1)
    assert got["deployments"] == [{"id": "d1"}] and got["version"] == V1
    assert got["versionInfo"] == {"lastScalingAt": V1, "lastConfigChangeAt": V1}
    w["status"].update(replicas=2, updatedReplicas=2)  # every task is of the new version, one not healthy
    assert appx.to_app(w, [])["deployments"] == []


def wl(app_id: str, *, gen: int = 1, seen: int = 1, want: int = 2, replicas: int = 2, updated: int = 2,
       available: int = 2, paused: bool = False, **ann: str) -> dict[str, Any]:
    """A Marathon workload with this status (annotations by keyword: target, waiting, cancelled, deployment)."""
    keys = {"target": appx.TARGET, "waiting": appx.WAITING_FOR, "cancelled": appx.CANCELLED,
            "deployment": appx.DEPLOYMENT}
    return {"kind": "Deployment",
            "metadata": {"name": ids.k8s_name(app_id), "generation": gen,
                         "annotations": {ids.ID_ANNOTATION: app_id, **{keys[k]: v for k, v in ann.items()}}},
            "spec": {"replicas": want, "paused": paused, "template": {"metadata": {}, "spec": {}}},
            "status": {"observedGeneration": seen, "replicas": replicas, "updatedReplicas": updated,
                       "availableReplicas": available}}


@pytest.mark.parametrize(("w", "locked", "ready"), [
    (wl("/a"), False, True),
    (wl("/a", available=0), False, False),  # crashing tasks of the new version: deployed, not healthy
    (wl("/a", gen=2), True, False),  # the controller has not seen the change
    (wl("/a", replicas=3, updated=1, available=2), True, False),  # a rolling update under way (or stuck)
    (wl("/a", want=3, replicas=2, updated=2), True, False),  # scaling up
    (wl("/a", want=0, replicas=0, updated=0, available=0, target="2"), True, False),  # held back
    (wl("/a", replicas=3, updated=1, paused=True), False, False),  # cancelled with force: stopped where it is
    (wl("/a", replicas=3, updated=1, deployment="d1", cancelled="d1"), False, False),
    (wl("/a", replicas=3, updated=1, deployment="d2", cancelled="d1"), True, False),  # a newer deployment
])
def test_the_lock_follows_the_rollout_and_dependants_wait_for_health(w: dict[str, Any], locked: bool,
                                                                      ready: bool) -> None:
    assert (appx.in_progress(w), appx.ready(w)) == (locked, ready)


@pytest.mark.parametrize(("workloads", "expected"), [
    ({"/g/db": wl("/g/db"), "/g/web": wl("/g/web", want=0, target="3", waiting='["/g/db"]')}, ["/g/web"]),
    ({"/g/db": wl("/g/db", available=1), "/g/web": wl("/g/web", want=0, target="3", waiting='["/g/db"]')}, []),
    # a chain starts link by link: web waits for api, which is itself held back
    ({"/g/db": wl("/g/db"), "/g/api": wl("/g/api", want=0, target="1", waiting='["/g/db"]'),
      "/g/web": wl("/g/web", want=0, target="1", waiting='["/g/api"]')}, ["/g/api"]),
    # a group dependency waits for every app under it
    ({"/g/back/a": wl("/g/back/a"), "/g/back/b": wl("/g/back/b", available=0),
      "/g/web": wl("/g/web", want=0, target="1", waiting='["/g/back"]')}, []),
    ({"/g/web": wl("/g/web", want=0, target="1", waiting='["/g/gone"]')}, ["/g/web"]),  # nothing to wait for
])
def test_held_back_apps_start_when_their_dependencies_are_healthy(workloads: dict[str, Any],
                                                                   expected: list[str]) -> None:
    from shoal.formats.marathon import holdback

    assert holdback.releases(workloads) == expected
    for aid in expected:
        out = holdback.released(workloads[aid])
        assert out["spec"]["replicas"] == int(workloads[aid]["metadata"]["annotations"][appx.TARGET])
        assert not {appx.TARGET, appx.WAITING_FOR} & set(out["metadata"]["annotations"]) and "status" not in out


def test_a_held_back_app_records_what_it_waits_for() -> None:
    from shoal.formats.marathon import holdback

    a = norm(instances=3, dependencies=["/db"])
    w = appx.to_objects(a, appx.stamp_for(None, a, version=V1, deployment_id="d1"), instances=0,
                        waiting_for=["/db"]).workload
    assert (holdback.target(w), holdback.waiting_for(w), w["spec"]["replicas"]) == (3, ["/db"], 0)
    del w["metadata"]["annotations"][appx.WAITING_FOR]  # held back by an older shoal: its definition's
    assert holdback.waiting_for(w) == ["/db"]
    assert holdback.target(objects(a).workload) is None


def test_scaling_keeps_last_config_change() -> None:
    a = norm(instances=1)
    w = objects(a).workload
    scaled = appx.stamp_for(w, {**a, "instances": 4}, version=V2, deployment_id="d2")
    assert (scaled.last_scaling, scaled.last_config_change) == (V2, V1)
    changed = appx.stamp_for(w, {**a, "cmd": "sleep 2"}, version=V2, deployment_id="d2")
    assert changed.last_config_change == V2 and [v for v, _ in changed.history] == [V1, V2]


@pytest.mark.parametrize(("p", "state"), [
    (pod("Pending", node=""), "TASK_STAGING"), (pod("Pending"), "TASK_STARTING"), (pod("Running"), "TASK_RUNNING"),
    (pod("Succeeded"), "TASK_FINISHED"), (pod("Failed"), "TASK_FAILED"),
    ({**pod("Running"), "metadata": {**pod("Running")["metadata"], "deletionTimestamp": V1}}, "TASK_KILLING"),
])
def test_task_states(p: dict[str, Any], state: str) -> None:
    assert tasks.state(p) == state


def test_task_json() -> None:
    a = {**norm(portDefinitions=[{"port": 80}], healthChecks=[{"protocol": "TCP"}]), "version": V1}
    t = tasks.task(pod("Running", ready=True), a)
    assert t["id"] == "web.u1" and t["appId"] == "/web" and t["host"] == "n1" and t["ports"] == [80]
    assert t["ipAddresses"] == [{"ipAddress": "10.0.0.1", "protocol": "IPv4"}]
    assert t["healthCheckResults"][0]["alive"] is True


# --- groups -------------------------------------------------------------------------------------------
def test_flatten_and_tree() -> None:
    gid, apps = groups.flatten({"id": "/prod", "apps": [{"id": "db", "cmd": "x"}],
                                "groups": [{"id": "web", "apps": [{"id": "api", "cmd": "y",
                                                                   "dependencies": ["../db"]}]}]})
    assert gid == "/prod" and [a["id"] for a in apps] == ["/prod/db", "/prod/web/api"]
    assert apps[1]["dependencies"] == ["/prod/db"]
    t = groups.tree("/", [{"id": "/prod/db"}, {"id": "/prod/web/api"}, {"id": "/top"}])
    assert [a["id"] for a in t["apps"]] == ["/top"]
    assert t["groups"][0]["id"] == "/prod" and t["groups"][0]["groups"][0]["id"] == "/prod/web"
    assert t["groups"][0]["groups"][0]["apps"][0]["id"] == "/prod/web/api"


def test_flatten_refuses_apps_outside_their_group() -> None:
    with pytest.raises(MarathonError) as e:
        groups.flatten({"id": "/prod", "apps": [{"id": "/other/x", "cmd": "x"}]})
    assert "/apps(0)/id" in details(e)


def test_stages_and_cycles() -> None:
    apps = [{"id": "/g/web", "dependencies": ["/g/db"]}, {"id": "/g/db", "dependencies": []},
            {"id": "/g/lb", "dependencies": ["/g/web"]}]
    assert groups.stages(apps) == [["/g/db"], ["/g/web"], ["/g/lb"]]
    with pytest.raises(MarathonError):
        groups.stages([{"id": "/a", "dependencies": ["/b"]}, {"id": "/b", "dependencies": ["/a"]}])
    with pytest.raises(MarathonError):
        groups.stages([{"id": "/a", "dependencies": ["/missing"]}])
    assert groups.scaled(3, 1.5) == 5 and groups.scaled(3, 0) == 0


# --- events -------------------------------------------------------------------------------------------
def test_pod_events() -> None:
    a = {**norm(portDefinitions=[{"port": 80}], healthChecks=[{"protocol": "TCP"}]), "version": V1}
    got = events.pod_events(pod("Pending"), pod("Running", ready=True), a, now=V2)
    assert [e["eventType"] for e in got] == ["status_update_event", "health_status_changed_event"]
    assert got[0]["taskStatus"] == "TASK_RUNNING" and got[1]["alive"] is True
    assert events.pod_events(pod("Running"), None, a, now=V2)[0]["taskStatus"] == "TASK_KILLED"
    assert events.sse({"eventType": "x", "a": 1}) == b'event: x\ndata: {"eventType":"x","a":1}\n\n'


def test_workload_events() -> None:
    w = copy.deepcopy(objects(norm()).workload)
    w["metadata"]["generation"] = 1
    done = {**w, "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}
    assert [e["eventType"] for e in events.workload_events(None, w, now=V2)] == ["deployment_info"]
    assert [e["eventType"] for e in events.workload_events(w, done, now=V2)] == ["deployment_success"]
    assert events.workload_events(done, done, now=V2) == []
    assert events.workload_events(done, None, now=V2)[0]["eventType"] == "app_terminated_event"
