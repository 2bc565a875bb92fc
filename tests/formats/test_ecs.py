"""ECS task definitions, services, placement and the query language onto shoal's objects: table tests, no I/O."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from shoal.api.podhints import parse_start_after
from shoal.formats.ecs import detect, names, placement, query, service, taskdef, tasks
from shoal.formats.ecs.errors import EcsError

C = {"name": "app", "image": "nginx:1", "memory": 128}


def td(*containers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"family": "web", "containerDefinitions": [copy.deepcopy(c) for c in containers or (C,)], **kw}


def stored(*containers: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {**taskdef.normalise(td(*containers, **kw)), "revision": 3}


# --- names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "folded"), [
    ("web", "web"), ("My_Service", "my-service"), ("_x_", "x"), ("a" * 70, f"{'a' * 54}-{names._digest('a' * 70)}"),
])
def test_fold(name: str, folded: str) -> None:
    assert names.fold(name) == folded


@pytest.mark.parametrize(("ref", "parsed"), [
    ("web", ("web", None)), ("web:4", ("web", 4)),
    ("arn:aws:ecs:us-east-1:000000000000:task-definition/web:7", ("web", 7)),
])
def test_taskdef_refs(ref: str, parsed: tuple[str, int | None]) -> None:
    assert names.taskdef_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["", "web:0", "web:x", "we b", "arn:aws:ecs:r:a:cluster/x"])
def test_bad_taskdef_refs(ref: str) -> None:
    with pytest.raises(EcsError) as e:
        names.taskdef_ref(ref)
    assert e.value.type == "ClientException"


def test_cluster_and_service_refs() -> None:
    assert names.cluster_name(None) == "default"
    assert names.cluster_name("arn:aws:ecs:us-east-1:1:cluster/prod") == "prod"
    assert names.service_name("arn:aws:ecs:us-east-1:1:service/prod/web") == "web"
    assert names.service_name("arn:aws:ecs:us-east-1:1:service/web") == "web"
    assert names.task_ref("arn:aws:ecs:us-east-1:1:task/prod/abc") == "abc"
    assert len(names.task_id("default", "web-1")) == 32 and names.task_id("a", "b") != names.task_id("a", "c")
    assert names.taskdef_object_name("Web_App", 2).endswith(".2")


# --- task definitions -------------------------------------------------------------------------------
def test_normalise_fills_ecs_defaults() -> None:
    out = taskdef.normalise(td({**C, "portMappings": [{"containerPort": 80}]}, networkMode="awsvpc", cpu="0.5 vCPU",
                               memory="1 GB"))
    c = out["containerDefinitions"][0]
    assert c["essential"] is True and c["cpu"] == 0 and c["environment"] == [] and c["mountPoints"] == []
    assert c["portMappings"] == [{"containerPort": 80, "protocol": "tcp", "hostPort": 80}]
    assert out["networkMode"] == "awsvpc" and out["cpu"] == "512" and out["memory"] == "1024"
    assert taskdef.normalise(td())["networkMode"] == "bridge"


@pytest.mark.parametrize(("doc", "message"), [
    ({"containerDefinitions": [C]}, "Family should not be null or empty."),
    (td(networkMode="none"), "networkMode none is not supported"),
    (td(networkMode="overlay"), "Invalid networkMode"),
    ({"family": "web", "containerDefinitions": []}, "Container list cannot be empty."),
    (td({"name": "app", "image": "x"}), "At least one of 'memory' or 'memoryReservation'"),
    (td({**C, "memory": 4}), "The minimum is 6 MiB"),
    (td({**C, "memoryReservation": 256}), "memoryReservation must be less than or equal to memory"),
    (td({**C, "essential": False}), "at least one essential container"),
    (td(C, C), "Duplicate container name"),
    (td({**C, "portMappings": [{"containerPort": 80, "hostPort": 81}]}, networkMode="host"), "must match"),
    (td({**C, "portMappings": [{"containerPort": 80, "protocol": "sctp"}]}), "Invalid protocol"),
    (td({**C, "links": ["db"]}, networkMode="awsvpc"), "Links are not supported when networkMode=awsvpc."),
    (td({**C, "healthCheck": {"command": ["curl"]}}), "must start with 'CMD' or 'CMD-SHELL'"),
    (td({**C, "healthCheck": {"command": ["CMD", "true"], "interval": 1}}), "healthCheck.interval"),
    (td({**C, "dependsOn": [{"containerName": "app", "condition": "START"}]}), "dependency cycle"),
    (td({**C, "dependsOn": [{"containerName": "db", "condition": "START"}]}), "which is not defined"),
    (td(C, {**C, "name": "b", "dependsOn": [{"containerName": "app", "condition": "SUCCESS"}]}),
     "is essential and cannot be a dependency"),
    (td(C, {**C, "name": "b", "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}]}),
     "requires container 'app' to have a healthCheck"),
    (td({**C, "mountPoints": [{"sourceVolume": "data", "containerPath": "/d"}]}), "is not a volume"),
    (td(volumes=[{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs"}}]), "EFS and FSx"),
    (td({**C, "ulimits": [{"name": "bogus", "softLimit": 1, "hardLimit": 1}]}), "Invalid 'ulimits'"),
    (td({**C, "ulimits": [{"name": "nofile", "softLimit": 4096, "hardLimit": 1024}]}), "Invalid 'ulimits'"),
    (td({**C, "ulimits": [{"name": "nofile", "softLimit": "1", "hardLimit": 1}]}), "Invalid 'ulimits'"),
    (td({**C, "environmentFiles": [{"value": "arn:aws:s3:::b/e.env", "type": "s3"}]}), "reads no files from S3"),
    ({**td(), "bogus": 1}, 'Unknown parameter in input: "bogus"'),
])
def test_bad_task_definitions(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(EcsError) as e:
        taskdef.normalise(doc)
    assert e.value.type == "ClientException" and message in e.value.message


def test_pod_spec_maps_every_field() -> None:
    app = {"name": "web_app", "image": "nginx:1", "cpu": 512, "memory": 256, "memoryReservation": 128,
           "entryPoint": ["/docker-entrypoint.sh"], "command": ["nginx", "-g", "daemon off;"],
           "workingDirectory": "/srv", "environment": [{"name": "A", "value": "1"}],
           "secrets": [{"name": "DB", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:db-pass:password::"},
                       {"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/app/token"}],
           "portMappings": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 53, "protocol": "udp"}],
           "healthCheck": {"command": ["CMD-SHELL", "curl -f localhost"], "interval": 10, "retries": 2,
                           "startPeriod": 5},
           "links": ["cache:redis"], "mountPoints": [{"sourceVolume": "data", "containerPath": "/data"}],
           "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
           "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"},
                         {"containerName": "cache", "condition": "START"}]}
    migrate = {"name": "migrate", "image": "busybox", "memory": 32, "essential": False}
    cache = {"name": "cache", "image": "redis", "memoryReservation": 64, "essential": False,
             "volumesFrom": [{"sourceContainer": "web_app", "readOnly": True}]}
    s = stored(app, migrate, cache, volumes=[{"name": "data", "host": {"sourcePath": "/srv/data"}},
                                             {"name": "shared", "dockerVolumeConfig": {"scope": "shared"}}])
    spec, ann = taskdef.pod_spec(s)
    assert [c["name"] for c in spec["initContainers"]] == ["migrate"]
    assert [c["name"] for c in spec["containers"]] == ["cache", "web-app"]  # dependencies first
    web = spec["containers"][1]
    assert web["command"] == ["/docker-entrypoint.sh"] and web["args"] == ["nginx", "-g", "daemon off;"]
    assert web["workingDir"] == "/srv"
    assert web["resources"] == {"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    assert web["env"] == [{"name": "A", "value": "1"},
                          {"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db-pass", "key": "password"}}},
                          {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "token", "key": "value"}}}]
    assert web["ports"] == [{"containerPort": 80, "protocol": "TCP", "hostPort": 8080},
                            {"containerPort": 53, "protocol": "UDP"}]
    probe = {"exec": {"command": ["/bin/sh", "-c", "curl -f localhost"]}, "periodSeconds": 10, "timeoutSeconds": 5,
             "failureThreshold": 2, "initialDelaySeconds": 5}
    assert web["livenessProbe"] == probe and web["readinessProbe"] == probe
    assert web["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]
    assert spec["volumes"] == [{"name": "data", "hostPath": {"path": "/srv/data"}},
                               {"name": "shared", "persistentVolumeClaim": {"claimName": "shared"}}]
    assert spec["hostAliases"] == [{"ip": "127.0.0.1", "hostnames": ["cache", "redis"]}]
    assert ann["shoal.io/ulimits"] == "web-app: nofile=1024:2048"  # the agent's annotation, by Kubernetes name
    assert ann["shoal.io/start-after"] == "web-app=cache:START"  # SUCCESS is an init container: no wait
    assert spec["restartPolicy"] == "Always"
    assert ann[names.TASKDEF_ANNOTATION] == "web:3" and ann[names.ESSENTIAL_ANNOTATION] == "web-app"
    assert ann[names.CONTAINERS_ANNOTATION] == '{"web-app": "web_app"}'
    assert "nofile" in ann[names.ULIMITS_ANNOTATION]
    assert taskdef.shared_claims(s) == ["shared"]


@pytest.mark.parametrize(("depends", "annotation"), [
    ({"b": [("a", "HEALTHY")]}, "b=a:HEALTHY"),
    ({"b": [("a", "START")], "c_1": [("a", "HEALTHY"), ("b", "START")]}, "b=a:START,c-1=a:HEALTHY,c-1=b:START"),
    ({"b": [("a", "SUCCESS")]}, None),  # a is an init container: nothing for the agent to hold
    ({"b": [("i", "COMPLETE")], "c_1": [("i", "START"), ("b", "HEALTHY")]}, "c-1=b:HEALTHY"),
    ({}, None),
])
def test_depends_on_start_and_healthy_become_the_start_after_annotation(
        depends: dict[str, list[tuple[str, str]]], annotation: str | None) -> None:
    hc = {"command": ["CMD", "true"]}
    containers = [{"name": n, "image": "x", "memory": 64, "healthCheck": hc, "essential": n != "i",
                   "dependsOn": [{"containerName": t, "condition": k} for t, k in depends.get(n, [])]}
                  for n in ("i", "a", "b", "c_1")]
    for c in containers:  # a SUCCESS/COMPLETE target must not be essential
        if any(t == c["name"] and k in ("SUCCESS", "COMPLETE") for deps in depends.values() for t, k in deps):
            c["essential"] = False
    _, ann = taskdef.pod_spec(stored(*containers))
    assert ann.get("shoal.io/start-after") == annotation
    if annotation is not None:
        assert parse_start_after(annotation)  # what the agent reads


@pytest.mark.parametrize(("containers", "kw", "resources"), [
    # task size split evenly over containers that set none, each limited to the task's size
    ([{"name": "a", "image": "x"}, {"name": "b", "image": "x"}], {"cpu": "1024", "memory": "512"},
     [{"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "1000m", "memory": "512Mi"}}] * 2),
    ([{"name": "a", "image": "x", "cpu": 100, "memoryReservation": 64}], {"memory": "512"},
     [{"requests": {"cpu": "98m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}]),
    ([{"name": "a", "image": "x", "memory": 64}], {}, [{"requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}}]),
])
def test_resources(containers: list[dict[str, Any]], kw: dict[str, Any], resources: list[dict[str, Any]]) -> None:
    spec, _ = taskdef.pod_spec(stored(*containers, **kw))
    assert [c["resources"] for c in spec["containers"]] == resources


def test_network_modes() -> None:
    host, _ = taskdef.pod_spec(stored({**C, "portMappings": [{"containerPort": 80}]}, networkMode="host"))
    assert host["hostNetwork"] is True and "hostPort" not in host["containers"][0]["ports"][0]
    bridge, _ = taskdef.pod_spec(stored({**C, "portMappings": [{"containerPort": 80, "hostPort": 0}]}))
    assert "hostPort" not in bridge["containers"][0]["ports"][0]  # 0: a dynamic host port is no host port
    vpc, _ = taskdef.pod_spec(stored({**C, "portMappings": [{"containerPort": 80}]}, networkMode="awsvpc"))
    assert "hostNetwork" not in vpc and "hostPort" not in vpc["containers"][0]["ports"][0]


def test_run_task_overrides() -> None:
    spec, _ = taskdef.pod_spec(stored(C), restart_policy="Never", overrides={"containerOverrides": [
        {"name": "app", "command": ["echo", "hi"], "environment": [{"name": "X", "value": "y"}], "memory": 64}]})
    c = spec["containers"][0]
    assert spec["restartPolicy"] == "Never" and c["args"] == ["echo", "hi"] and c["env"] == [{"name": "X", "value": "y"}]
    assert c["resources"]["limits"] == {"memory": "64Mi"}


# --- query language ---------------------------------------------------------------------------------
ZONE = "topology.kubernetes.io/zone"


@pytest.mark.parametrize(("text", "terms"), [
    ("attribute:ecs.availability-zone == us-east-1a",
     [{"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["us-east-1a"]}]}]),
    ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
     [{"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["us-east-1a", "us-east-1b"]}]}]),
    ("not(attribute:ecs.instance-type == t2.small)",
     [{"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "NotIn", "values": ["t2.small"]}]}]),
    ("attribute:gpu exists and attribute:ecs.os-type != windows",
     [{"matchExpressions": [{"key": "gpu", "operator": "Exists"},
                            {"key": "kubernetes.io/os", "operator": "NotIn", "values": ["windows"]}]}]),
    ("attribute:disk !exists || ec2InstanceId in [n1, n2]",
     [{"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]},
      {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]}]),
    ("!(attribute:a == 1 or attribute:b == 2)",  # De Morgan: one term, both negated
     [{"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]},
                            {"key": "b", "operator": "NotIn", "values": ["2"]}]}]),
    ("(attribute:a == 1 or attribute:a == 2) and attribute:b >= 4",  # distributed into DNF
     [{"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]},
                            {"key": "b", "operator": "Gt", "values": ["3"]}]},
      {"matchExpressions": [{"key": "a", "operator": "In", "values": ["2"]},
                            {"key": "b", "operator": "Gt", "values": ["3"]}]}]),
    ("attribute:ecs.instance-type =~ t2.*",  # resolved against the values nodes have
     [{"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                             "values": ["t2.micro", "t2.small"]}]}]),
])
def test_node_affinity(text: str, terms: list[dict[str, Any]]) -> None:
    known = {"attribute:ecs.instance-type": {"t2.micro", "t2.small", "m5.large"}}
    assert query.node_affinity(query.parse(text), known) == terms


@pytest.mark.parametrize("text", ["", "attribute:a ==", "attribute:a in [x", "== x", "attribute:a ?? x",
                                  "(attribute:a == x", "attribute:a == x y", "runningTasksCount == 1"])
def test_bad_expressions(text: str) -> None:
    with pytest.raises(EcsError) as e:
        query.node_affinity(query.parse(text))
    assert e.value.type == "InvalidParameterException"


@pytest.mark.parametrize(("text", "expected"), [
    ("runningTasksCount == 0", True), ("runningTasksCount > 1", False), ("agentConnected == true", True),
    ("attribute:ecs.os-type == linux and not(ec2InstanceId == n1)", False),
    ("attribute:ecs.os-type =~ lin.* or attribute:zone == b", True), ("attribute:missing !exists", True),
    ("attribute:ecs.os-type not_in [windows]", True), ("registeredAt < 2030-01-01", True),
])
def test_evaluate(text: str, expected: bool) -> None:
    node = {"metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux"},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert query.evaluate(query.parse(text), tasks.instance_attributes(node, 0)) is expected


# --- placement --------------------------------------------------------------------------------------
def test_placement_onto_scheduling() -> None:
    own = {"ecs.shoal.io/service": "web"}
    out = placement.scheduling(
        placement.check_constraints([{"type": "distinctInstance"},
                                     {"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}]),
        placement.check_strategies([{"type": "spread", "field": "attribute:ecs.availability-zone"},
                                    {"type": "spread", "field": "instanceId"}, {"type": "binpack", "field": "memory"},
                                    {"type": "random"}]), own=own)
    sel = {"matchLabels": own}
    assert out["affinity"]["podAntiAffinity"] == {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": sel, "topologyKey": "kubernetes.io/hostname"}]}
    assert out["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]
    assert [t["topologyKey"] for t in out["topologySpreadConstraints"]] == [ZONE, "kubernetes.io/hostname"]
    assert all(t["whenUnsatisfiable"] == "ScheduleAnyway" for t in out["topologySpreadConstraints"])
    assert out["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 60
    assert placement.scheduling([], [{"type": "random"}], own=own) == {}


@pytest.mark.parametrize(("constraints", "strategies", "message"), [
    ([{"type": "sameInstance"}], None, "Invalid placement constraint type"),
    ([{"type": "distinctInstance", "expression": "x"}], None, "cannot be specified for a distinctInstance"),
    ([{"type": "memberOf"}], None, "An expression must be specified"),
    (None, [{"type": "spread"}], "A field must be specified"),
    (None, [{"type": "spread", "field": "zone"}], "Invalid field for spread"),
    (None, [{"type": "binpack", "field": "disk"}], "Invalid field for binpack"),
    (None, [{"type": "random"}] * 6, "at most 5"),
])
def test_bad_placement(constraints: Any, strategies: Any, message: str) -> None:
    with pytest.raises(EcsError) as e:
        placement.check_constraints(constraints)
        placement.check_strategies(strategies)
    assert e.value.type == "InvalidParameterException" and message in e.value.message


# --- services ---------------------------------------------------------------------------------------
def create(**kw: Any) -> dict[str, Any]:
    return service.check_create({"serviceName": "Web_1", "taskDefinition": "web", "desiredCount": 3, **kw})


@pytest.mark.parametrize(("dc", "rolling", "deadline", "auto"), [
    (None, {"maxUnavailable": "0%", "maxSurge": "100%"}, 600, False),
    ({"minimumHealthyPercent": 50, "maximumPercent": 150}, {"maxUnavailable": "50%", "maxSurge": "50%"}, 600, False),
    ({"deploymentCircuitBreaker": {"enable": True, "rollback": False}}, {"maxUnavailable": "0%", "maxSurge": "100%"},
     300, False),
    ({"deploymentCircuitBreaker": {"enable": True, "rollback": True}}, {"maxUnavailable": "0%", "maxSurge": "100%"},
     300, True),
])
def test_deployment_configuration(dc: Any, rolling: dict[str, str], deadline: int, auto: bool) -> None:
    objs = service.to_objects(create(deploymentConfiguration=dc), stored(C), 3, namespace="prod")
    d = objs.deployment
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": rolling}
    assert d["spec"]["progressDeadlineSeconds"] == deadline
    assert (d["metadata"]["annotations"].get(service.AUTO_ROLLBACK) == "true") is auto


def test_service_objects() -> None:
    s = stored({**C, "portMappings": [{"containerPort": 80}]})
    objs = service.to_objects(create(loadBalancers=[{"targetGroupArn": "t", "containerName": "app",
                                                     "containerPort": 80}]), s, 3, namespace="prod")
    d = objs.deployment
    assert d["metadata"]["name"] == "web-1" and d["metadata"]["namespace"] == "prod"
    assert d["metadata"]["labels"] == {names.MANAGED_BY: names.MANAGER, names.SERVICE_LABEL: "web-1"}
    assert d["metadata"]["annotations"][names.NAME_ANNOTATION] == "Web_1" and d["spec"]["replicas"] == 3
    tmpl = d["spec"]["template"]
    assert tmpl["metadata"]["labels"][names.MANAGED_BY] == names.MANAGER
    assert tmpl["metadata"]["annotations"][names.TASKDEF_ANNOTATION] == "web:3"
    assert objs.service is not None and objs.service["spec"]["ports"] == [
        {"name": "port-80", "port": 80, "targetPort": 80, "protocol": "TCP"}]
    assert service.service_name(d) == "Web_1" and service.config_of(d)["loadBalancers"][0]["containerPort"] == 80


@pytest.mark.parametrize(("req", "message"), [
    ({"serviceName": "web", "taskDefinition": "web"}, "desiredCount is required"),
    ({"serviceName": "web", "taskDefinition": "web", "desiredCount": -1}, "non-negative"),
    ({"serviceName": "w eb", "taskDefinition": "web", "desiredCount": 1}, "Service name can have up to"),
    ({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1, "schedulingStrategy": "DAEMON"},
     "REPLICA only"),
    ({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1,
      "deploymentConfiguration": {"minimumHealthyPercent": 120}}, "between 0 and 100"),
])
def test_bad_services(req: dict[str, Any], message: str) -> None:
    with pytest.raises(EcsError) as e:
        service.check_create(req)
    assert e.value.type == "InvalidParameterException" and message in e.value.message


def test_updated_keeps_what_is_not_changed() -> None:
    d = service.to_objects(create(placementStrategy=[{"type": "spread", "field": "instanceId"}]), stored(C), 3,
                           namespace="default").deployment
    d["metadata"].update({"uid": "u", "resourceVersion": "9"})
    new = service.updated(d, service.check_update({"service": "Web_1", "desiredCount": 5}), stored(C), 4,
                          force_new=True, now="2026-01-01T00:00:00Z").deployment
    assert new["spec"]["replicas"] == 5 and new["metadata"]["resourceVersion"] == "9"
    ann = new["spec"]["template"]["metadata"]["annotations"]
    assert ann[names.TASKDEF_ANNOTATION] == "web:4" and ann[service.RESTARTED_AT] == "2026-01-01T00:00:00Z"
    assert new["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"


def _ts(s: int) -> str:
    return dt.datetime.fromtimestamp(s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_describe_reports_deployments_and_events() -> None:
    d = service.to_objects(create(), stored(C), 3, namespace="default").deployment
    d["metadata"].update({"uid": "d1", "generation": 2, "creationTimestamp": _ts(100)})
    d["status"] = {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "availableReplicas": 3,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}
    owner = [{"uid": "d1", "controller": True}]

    def rs(uid: str, rev: int, replicas: int, td_rev: int) -> dict[str, Any]:
        return {"metadata": {"uid": uid, "ownerReferences": owner, "creationTimestamp": _ts(100 + rev),
                             "annotations": {"deployment.kubernetes.io/revision": str(rev)}},
                "spec": {"replicas": replicas, "template": {"metadata": {"annotations": {
                    names.TASKDEF_ANNOTATION: f"web:{td_rev}"}}}}}

    rss = [rs("0000000a-0000-0000-0000-000000000000", 1, 2, 3), rs("0000000b-0000-0000-0000-000000000000", 2, 2, 4)]

    def pod(name: str, rs_uid: str, phase: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": "default", "ownerReferences": [{"uid": rs_uid}]},
                "status": {"phase": phase}}

    pods = [pod("a1", rss[0]["metadata"]["uid"], "Running"), pod("a2", rss[0]["metadata"]["uid"], "Running"),
            pod("b1", rss[1]["metadata"]["uid"], "Running"), pod("b2", rss[1]["metadata"]["uid"], "Pending")]
    events = [{"metadata": {"uid": "e1"}, "involvedObject": {"uid": rss[1]["metadata"]["uid"]},
               "reason": "SuccessfulCreate", "message": "Created pod: b1", "lastTimestamp": _ts(200)},
              {"metadata": {"uid": "e2"}, "involvedObject": {"uid": rss[0]["metadata"]["uid"]},
               "reason": "SuccessfulDelete", "message": "Deleted pod: a3", "lastTimestamp": _ts(201)},
              {"metadata": {"uid": "e3"}, "involvedObject": {"uid": "d1"}, "reason": "ScalingReplicaSet",
               "message": "Scaled up", "lastTimestamp": _ts(202)},
              {"metadata": {"uid": "e4"}, "involvedObject": {"kind": "Pod", "name": "b2"}, "reason": "FailedScheduling",
               "message": "0/2 nodes are available", "lastTimestamp": _ts(203)},
              {"metadata": {"uid": "e5"}, "involvedObject": {"uid": "other"}, "reason": "SuccessfulCreate",
               "message": "Created pod: x", "lastTimestamp": _ts(204)}]
    arns = names.Arns()
    view = service.describe(d, rss, pods, events, arns=arns, cluster="default")
    assert view["serviceName"] == "Web_1" and view["runningCount"] == 3 and view["pendingCount"] == 1
    assert view["taskDefinition"] == arns.taskdef("web", 3)
    deps = view["deployments"]
    assert [(x["status"], x["taskDefinition"].rsplit(":", 1)[1], x["runningCount"], x["rolloutState"])
            for x in deps] == [("PRIMARY", "4", 1, "IN_PROGRESS"), ("ACTIVE", "3", 2, "IN_PROGRESS")]
    assert deps[0]["id"] == service.deployment_id(rss[1]["metadata"]["uid"]) and len(deps[0]["id"]) == 27
    assert [e["message"] for e in view["events"]] == [
        "(service Web_1) was unable to place a task because no container instance met all of its requirements. "
        "Reason: 0/2 nodes are available",
        f"(service Web_1) has stopped 1 running tasks: (task {names.task_id('default', 'a3')}).",
        f"(service Web_1) has started 1 tasks: (task {names.task_id('default', 'b1')})."]
    # completed: one deployment, a steady state
    d["status"] = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                   "lastUpdateTime": _ts(300)}]}
    view = service.describe(d, rss, pods, events, arns=arns, cluster="default")
    assert view["deployments"][0]["rolloutState"] == "COMPLETED"
    assert view["events"][0]["message"] == "(service Web_1) has reached a steady state."
    d["status"]["conditions"] = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                  "message": "ReplicaSet has timed out progressing."}]
    assert service.rollout_state(d) == ("FAILED", "ReplicaSet has timed out progressing.")


# --- tasks ------------------------------------------------------------------------------------------
def _pod(phase: str | None, *, node: str = "n1", deleting: bool = False, statuses: Any = None,
         deadline: int | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": "job-x", "namespace": "default", "uid": "11111111-2222-3333-4444-555555555555",
                          "annotations": {names.ESSENTIAL_ANNOTATION: "main", names.TASKDEF_ANNOTATION: "job:2"},
                          "creationTimestamp": _ts(10)}
    if deleting:
        md["deletionTimestamp"] = _ts(20)
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}, {"name": "side", "image": "b"}]}
    if node:
        spec["nodeName"] = node
    if deadline:
        spec["activeDeadlineSeconds"] = deadline
    return {"metadata": md, "spec": spec, "status": {"phase": phase, "containerStatuses": statuses or []}}


@pytest.mark.parametrize(("pod", "last", "desired"), [
    (_pod("Pending", node=""), "PROVISIONING", "RUNNING"), (_pod("Pending"), "PENDING", "RUNNING"),
    (_pod("Running"), "RUNNING", "RUNNING"), (_pod("Running", deleting=True), "STOPPING", "STOPPED"),
    (_pod("Failed"), "STOPPED", "STOPPED"), (_pod("Succeeded"), "STOPPED", "STOPPED"),
])
def test_task_lifecycle(pod: dict[str, Any], last: str, desired: str) -> None:
    assert (tasks.last_status(pod), tasks.desired_status(pod)) == (last, desired)


EXITED = {"terminated": {"exitCode": 3}}
RUNNING = {"running": {}}
HELD = {"waiting": {"reason": "DependencyFailed", "message": "container side exited with code 3 before it was "
                    "healthy and will not be restarted, so main will not start"}}
WAITING = {"waiting": {"reason": "WaitingForDependency", "message": "waiting for container side to be healthy"}}


@pytest.mark.parametrize(("pod", "reason"), [
    (_pod("Running", statuses=[{"name": "main", "state": EXITED}, {"name": "side", "state": RUNNING}]),
     "Essential container in task exited: main (exit code 3)"),
    (_pod("Running", statuses=[{"name": "main", "state": RUNNING}, {"name": "side", "state": EXITED}]), None),
    (_pod("Running", deadline=1, statuses=[{"name": "main", "state": EXITED}]), None),  # already stopping
    (_pod("Failed", statuses=[{"name": "main", "state": EXITED}]), None),
    # held for good by a dependency that exited (the task is PENDING: main never ran)
    (_pod("Pending", statuses=[{"name": "main", "state": HELD}, {"name": "side", "state": EXITED}]),
     "Essential container in task cannot start: main (container side exited with code 3 before it was healthy "
     "and will not be restarted, so main will not start)"),
    (_pod("Pending", statuses=[{"name": "main", "state": EXITED}, {"name": "side", "state": HELD}]),
     "Essential container in task exited: main (exit code 3)"),
    (_pod("Pending", statuses=[{"name": "main", "state": RUNNING}, {"name": "side", "state": HELD}]), None),
    (_pod("Pending", statuses=[{"name": "main", "state": WAITING}]), None),  # still waiting: may yet start
    (_pod("Pending", node="", statuses=[{"name": "main", "state": HELD}]), None),
])
def test_essential_exit(pod: dict[str, Any], reason: str | None) -> None:
    assert tasks.essential_exit(pod) == reason


def test_task_view() -> None:
    pod = _pod("Running", statuses=[{"name": "main", "state": RUNNING, "ready": True, "containerID": "docker://abc"},
                                    {"name": "side", "state": EXITED}])
    pod["status"]["podIP"] = "10.42.0.5"
    pod["status"]["startTime"] = _ts(12)
    v = tasks.task_view(pod, arns=names.Arns(), cluster="default", node_ids={"n1": "i1"}, zones={"n1": "z"})
    assert v["taskArn"].endswith(f"task/default/{names.task_id('default', 'job-x')}")
    assert v["taskDefinitionArn"].endswith("task-definition/job:2") and v["lastStatus"] == "RUNNING"
    assert v["containerInstanceArn"].endswith("container-instance/default/i1") and v["availabilityZone"] == "z"
    assert [(c["name"], c["lastStatus"], c.get("exitCode")) for c in v["containers"]] == [
        ("main", "RUNNING", None), ("side", "STOPPED", 3)]
    assert v["containers"][0]["runtimeId"] == "abc" and v["startedAt"] == 12.0 and v["group"] == "family:job"


def test_run_pods() -> None:
    run = tasks.check_run({"taskDefinition": "web", "count": 2, "startedBy": "ci",
                           "placementConstraints": [{"type": "distinctInstance"}]})
    pods = tasks.run_pods(run, stored(C), 3, namespace="prod", token="t1")
    assert len(pods) == 2 and pods[0]["spec"]["restartPolicy"] == "Never"
    md = pods[0]["metadata"]
    assert md["generateName"] == "web-" and md["labels"][names.STANDALONE_LABEL] == "true"
    assert md["annotations"][names.STARTED_BY_ANNOTATION] == "ci"
    assert pods[0]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
        "labelSelector"] == {"matchLabels": {"ecs.shoal.io/run": "t1"}}
    with pytest.raises(EcsError, match="not a container in the TaskDefinition"):
        tasks.run_pods(tasks.check_run({"overrides": {"containerOverrides": [{"name": "nope"}]}}), stored(C), 3,
                       namespace="prod")
    with pytest.raises(EcsError, match="count must be between 1 and 10"):
        tasks.check_run({"count": 0})


def test_instance_view() -> None:
    node = {"metadata": {"name": "n1", "uid": "aaaa-bbbb", "labels": {ZONE: "z1"}},
            "spec": {}, "status": {"allocatable": {"cpu": "2", "memory": "4Gi"},
                                   "conditions": [{"type": "Ready", "status": "True"}]}}
    pod = {"metadata": {"namespace": "default"}, "status": {"phase": "Running"}, "spec": {"containers": [
        {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}, "ports": [{"containerPort": 80, "hostPort": 80}]}]}}
    v = tasks.instance_view(node, [pod], arns=names.Arns(), cluster="default", version="1.0")
    reg = {r["name"]: r for r in v["registeredResources"]}
    rem = {r["name"]: r for r in v["remainingResources"]}
    assert reg["CPU"]["integerValue"] == 2048 and reg["MEMORY"]["integerValue"] == 4096
    assert rem["CPU"]["integerValue"] == 1536 and rem["MEMORY"]["integerValue"] == 3072
    assert rem["PORTS"]["stringSetValue"] == ["80"] and v["runningTasksCount"] == 1 and v["agentConnected"]
    assert {"name": "ecs.availability-zone", "value": "z1"} in v["attributes"]


# --- detection --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("doc", "kind"), [
    (td(), "task-definition"), ({"taskDefinition": {**td(), "revision": 2, "status": "ACTIVE"}}, "task-definition"),
    ({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1}, "service"),
    ({"apiVersion": "v1", "kind": "Pod", "family": "x", "containerDefinitions": []}, None),
    ({"id": "/web", "instances": 2}, None), ([], None),
])
def test_detect(doc: Any, kind: str | None) -> None:
    assert detect.kind_of(doc) == kind


def test_described_task_definition_applies_again() -> None:
    req = detect.task_definition_request({"taskDefinition": {**td(), "revision": 2, "status": "ACTIVE",
                                                             "taskDefinitionArn": "arn", "registeredAt": 1.0}})
    assert taskdef.normalise(req)["family"] == "web"
