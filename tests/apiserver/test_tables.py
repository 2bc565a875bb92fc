"""Server-side Tables for kubectl get: columns, cells and the Table envelope.

Expected values follow upstream's printers (pkg/printers/internalversion) and
``duration.HumanDuration``; each case is an object as the API would store it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shoal.apiserver.tables import (
    TableError,
    human_duration,
    printer_for,
    render_table,
    watch_event_table,
)
from shoal.apiserver.tables.render import GENERIC, PRINTERS
from shoal.apiserver.tables.selectors import format_label_selector, format_labels

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str = "x", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=5), **extra}


def cells(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The row of ``obj`` as {COLUMN NAME: cell}, wide columns included."""
    table = render_table(kind, [obj], now=NOW)
    names = [c["name"].upper() for c in table["columnDefinitions"]]
    row = table["rows"][0]["cells"]
    assert len(row) == len(names)
    return dict(zip(names, row, strict=True))


# --- durations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-5), "<invalid>"),
        (timedelta(seconds=-2), "<invalid>"),
        (timedelta(seconds=-1.5), "0s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=0.9), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=90), "90s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(seconds=120), "2m"),
        (timedelta(seconds=150), "2m30s"),
        (timedelta(minutes=5, seconds=30), "5m30s"),
        (timedelta(minutes=9, seconds=59), "9m59s"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(minutes=179), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=3, minutes=5), "3h5m"),
        (timedelta(hours=7, minutes=59, seconds=59), "7h59m"),
        (timedelta(hours=8, minutes=30), "8h"),
        (timedelta(hours=47), "47h"),
        (timedelta(hours=48), "2d"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(days=7, hours=23), "7d23h"),
        (timedelta(days=8, hours=5), "8d"),
        (timedelta(days=729), "729d"),
        (timedelta(days=730), "2y"),
        (timedelta(days=365 * 2 + 45), "2y45d"),
        (timedelta(days=365 * 8 + 100), "8y"),
    ],
)
def test_human_duration(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


@pytest.mark.parametrize("stamp", [None, "", "yesterday", 12345, "2026-13-01T00:00:00Z"])
def test_age_of_missing_or_garbage_timestamp_is_unknown(stamp: object) -> None:
    obj = {"metadata": {"name": "cm", "creationTimestamp": stamp}}
    assert cells("ConfigMap", obj)["AGE"] == "<unknown>"


def test_age_accepts_offsets_fractions_and_naive_now() -> None:
    obj = {"metadata": {"name": "cm", "creationTimestamp": "2026-03-01T13:58:00.123456+02:00"}}
    table = render_table("ConfigMap", [obj], now=NOW.replace(tzinfo=None))
    assert table["rows"][0]["cells"][2] == "119s"


# --- pods --------------------------------------------------------------------


def container_status(
    name: str = "app", *, ready: bool = False, restarts: int = 0, **state: Any
) -> dict[str, Any]:
    status: dict[str, Any] = {"name": name, "ready": ready, "restartCount": restarts}
    status["state"] = state or {"running": {"startedAt": ago(minutes=4)}}
    return status


def pod(
    *,
    containers: int = 1,
    init: int = 0,
    phase: str = "Running",
    statuses: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta("web-1"),
        "spec": {
            "containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)],
            "initContainers": [{"name": f"i{i}", "image": "busybox"} for i in range(init)],
        },
        "status": {"phase": phase, "conditions": conditions or []},
    }
    if statuses is not None:
        obj["status"]["containerStatuses"] = statuses
    if init_statuses is not None:
        obj["status"]["initContainerStatuses"] = init_statuses
    for key, value in extra.items():
        obj["status"][key] = value
    return obj


def waiting(reason: str, **kw: Any) -> dict[str, Any]:
    return container_status(waiting={"reason": reason}, **kw)


def terminated(reason: str = "", exit_code: int = 0, signal: int = 0, **kw: Any) -> dict[str, Any]:
    state = {"exitCode": exit_code, "finishedAt": ago(minutes=1)}
    if reason:
        state["reason"] = reason
    if signal:
        state["signal"] = signal
    return container_status(terminated=state, **kw)


READY = {"type": "Ready", "status": "True"}
INITIALIZED = {"type": "Initialized", "status": "True"}


@pytest.mark.parametrize(
    ("obj", "ready", "status"),
    [
        (pod(phase="Pending"), "0/1", "Pending"),
        (pod(statuses=[container_status(ready=True)]), "1/1", "Running"),
        (pod(statuses=[container_status(ready=False)]), "0/1", "Running"),
        (pod(phase="Pending", statuses=[waiting("ContainerCreating")]), "0/1", "ContainerCreating"),
        (pod(phase="Pending", statuses=[waiting("ImagePullBackOff")]), "0/1", "ImagePullBackOff"),
        (pod(phase="Pending", statuses=[waiting("ErrImagePull")]), "0/1", "ErrImagePull"),
        (pod(statuses=[waiting("CrashLoopBackOff", restarts=4)]), "0/1", "CrashLoopBackOff"),
        (pod(phase="Succeeded", statuses=[terminated("Completed")]), "0/1", "Completed"),
        (pod(phase="Failed", statuses=[terminated("Error", 1)]), "0/1", "Error"),
        (pod(phase="Failed", statuses=[terminated("OOMKilled", 137)]), "0/1", "OOMKilled"),
        (pod(phase="Failed", statuses=[terminated(exit_code=3)]), "0/1", "ExitCode:3"),
        (pod(phase="Failed", statuses=[terminated(exit_code=137, signal=9)]), "0/1", "Signal:9"),
        # the first container (in spec order) with a reason decides
        (
            pod(containers=2, statuses=[waiting("CrashLoopBackOff"), waiting("ImagePullBackOff")]),
            "0/2",
            "CrashLoopBackOff",
        ),
        (
            pod(containers=2, statuses=[container_status(ready=True), waiting("CrashLoopBackOff")]),
            "1/2",
            "CrashLoopBackOff",
        ),
        # Completed with a container still running: Running if the pod is Ready
        (
            pod(
                containers=2,
                statuses=[terminated("Completed"), container_status(ready=True)],
                conditions=[READY],
            ),
            "1/2",
            "Running",
        ),
        (
            pod(containers=2, statuses=[terminated("Completed"), container_status(ready=True)]),
            "1/2",
            "NotReady",
        ),
        (pod(phase="Failed", reason="Evicted"), "0/1", "Evicted"),
        (
            pod(
                phase="Pending",
                conditions=[
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            ),
            "0/1",
            "SchedulingGated",
        ),
    ],
)
def test_pod_ready_and_status(obj: dict[str, Any], ready: str, status: str) -> None:
    row = cells("Pod", obj)
    assert (row["READY"], row["STATUS"]) == (ready, status)


@pytest.mark.parametrize(
    ("init_statuses", "status"),
    [
        ([], "Pending"),  # no statuses reported yet: the phase
        ([container_status("i0"), waiting("PodInitializing", name="i1")], "Init:0/2"),
        ([terminated("Completed", name="i0"), container_status("i1")], "Init:1/2"),
        ([waiting("CrashLoopBackOff", name="i0", restarts=3)], "Init:CrashLoopBackOff"),
        ([waiting("ImagePullBackOff", name="i0")], "Init:ImagePullBackOff"),
        ([terminated("Error", 1, name="i0")], "Init:Error"),
        ([terminated(exit_code=2, name="i0")], "Init:ExitCode:2"),
        ([terminated(exit_code=2, signal=15, name="i0")], "Init:Signal:15"),
        ([waiting("PodInitializing", name="i0")], "Init:0/2"),
    ],
)
def test_pod_init_container_status(init_statuses: list[dict[str, Any]], status: str) -> None:
    obj = pod(
        init=2, phase="Pending", init_statuses=init_statuses, statuses=[waiting("PodInitializing")]
    )
    if not init_statuses:
        del obj["status"]["initContainerStatuses"]
        del obj["status"]["containerStatuses"]
    assert cells("Pod", obj)["STATUS"] == status


def test_pod_initialized_then_containers_decide() -> None:
    done = [terminated("Completed", name="i0"), terminated("Completed", name="i1")]
    obj = pod(init=2, phase="Pending", init_statuses=done, statuses=[waiting("PodInitializing")])
    assert cells("Pod", obj)["STATUS"] == "PodInitializing"
    obj["status"]["containerStatuses"] = [container_status(ready=True)]
    assert cells("Pod", obj)["STATUS"] == "Pending"  # the phase, until the kubelet reports Running
    obj["status"]["phase"] = "Running"
    assert cells("Pod", obj)["STATUS"] == "Running"


def test_pod_init_restarts_count_while_initializing() -> None:
    obj = pod(
        init=1,
        phase="Pending",
        init_statuses=[
            {
                **waiting("CrashLoopBackOff", name="i0", restarts=3),
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=2)}},
            }
        ],
        statuses=[waiting("PodInitializing", restarts=0)],
    )
    assert cells("Pod", obj)["RESTARTS"] == "3 (2m ago)"


def test_pod_sidecar_counts_in_ready_and_restarts() -> None:
    obj = pod(
        init=1,
        init_statuses=[
            {
                **container_status("i0", ready=True, restarts=2),
                "started": True,
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=30)}},
            }
        ],
        statuses=[container_status(ready=True, restarts=1)],
        conditions=[INITIALIZED, READY],
    )
    obj["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    row = cells("Pod", obj)
    assert (row["READY"], row["STATUS"], row["RESTARTS"]) == ("2/2", "Running", "3 (30m ago)")


def test_pod_sidecar_not_started_is_still_initializing() -> None:
    obj = pod(init=1, phase="Pending", init_statuses=[container_status("i0", ready=False)])
    obj["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    obj["status"]["initContainerStatuses"][0]["started"] = False
    row = cells("Pod", obj)
    assert (row["READY"], row["STATUS"]) == ("0/2", "Init:0/1")


@pytest.mark.parametrize(
    ("statuses", "restarts"),
    [
        ([container_status()], "0"),
        ([container_status(restarts=5)], "5"),  # no lastState: no "(ago)"
        (
            [
                {
                    **container_status(ready=True, restarts=5),
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=5)}},
                }
            ],
            "5 (5m ago)",
        ),
        (
            [
                {
                    **container_status("a", restarts=1),
                    "lastState": {"terminated": {"finishedAt": ago(hours=3)}},
                },
                {
                    **container_status("b", restarts=2),
                    "lastState": {"terminated": {"finishedAt": ago(seconds=42)}},
                },
            ],
            "3 (42s ago)",
        ),
        (
            [
                {
                    **container_status(restarts=1),
                    "lastState": {"terminated": {"finishedAt": "bogus"}},
                }
            ],
            "1",
        ),
    ],
)
def test_pod_restarts(statuses: list[dict[str, Any]], restarts: str) -> None:
    obj = pod(containers=len(statuses), statuses=statuses)
    assert cells("Pod", obj)["RESTARTS"] == restarts


@pytest.mark.parametrize(
    ("phase", "reason", "expected"),
    [
        ("Running", "", "Terminating"),
        ("Pending", "", "Terminating"),
        ("Succeeded", "", "Completed"),
        ("Failed", "", "Error"),
        ("Running", "NodeLost", "Unknown"),
    ],
)
def test_pod_being_deleted(phase: str, reason: str, expected: str) -> None:
    statuses = {
        "Succeeded": [terminated("Completed")],
        "Failed": [terminated("Error", 1)],
    }.get(phase, [container_status(ready=True)])
    obj = pod(phase=phase, statuses=statuses)
    if reason:
        obj["status"]["reason"] = reason
    obj["metadata"]["deletionTimestamp"] = ago(seconds=10)
    assert cells("Pod", obj)["STATUS"] == expected


def test_pod_wide_columns() -> None:
    obj = pod(
        statuses=[container_status(ready=True)],
        conditions=[READY, {"type": "example.com/gate", "status": "True"}],
        podIP="10.0.0.7",
        podIPs=[{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
        nominatedNodeName="n2",
    )
    obj["spec"]["nodeName"] = "n1"
    obj["spec"]["readinessGates"] = [
        {"conditionType": "example.com/gate"},
        {"conditionType": "example.com/other"},
    ]
    row = cells("Pod", obj)
    assert row == {
        "NAME": "web-1",
        "READY": "1/1",
        "STATUS": "Running",
        "RESTARTS": "0",
        "AGE": "5m",
        "IP": "10.0.0.7",
        "NODE": "n1",
        "NOMINATED NODE": "n2",
        "READINESS GATES": "1/2",
    }


def test_pod_wide_columns_empty() -> None:
    row = cells("Pod", pod(phase="Pending"))
    assert [row[k] for k in ("IP", "NODE", "NOMINATED NODE", "READINESS GATES")] == ["<none>"] * 4


def test_pod_ip_falls_back_to_pod_ip() -> None:
    assert cells("Pod", pod(podIP="10.1.2.3"))["IP"] == "10.1.2.3"


@pytest.mark.parametrize(("phase", "reason"), [("Succeeded", "Succeeded"), ("Failed", "Failed")])
def test_finished_pod_rows_carry_completed_condition(phase: str, reason: str) -> None:
    row = render_table("Pod", [pod(phase=phase)], now=NOW)["rows"][0]
    assert row["conditions"][0]["type"] == "Completed"
    assert row["conditions"][0]["reason"] == reason


def test_running_pod_row_has_no_conditions() -> None:
    assert "conditions" not in render_table("Pod", [pod()], now=NOW)["rows"][0]


# --- nodes, namespaces, leases ----------------------------------------------


def node(
    *, ready: str | None = "True", unschedulable: bool = False, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {
        "metadata": {**meta("n1"), "labels": labels or {}},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": conditions,
            "addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "192.168.1.10"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0-shoal",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-18-amd64",
                "containerRuntimeVersion": "podman://4.3.1",
            },
        },
    }


@pytest.mark.parametrize(
    ("obj", "status"),
    [
        (node(), "Ready"),
        (node(ready="False"), "NotReady"),
        (node(ready="Unknown"), "NotReady"),
        (node(ready=None), "Unknown"),
        (node(unschedulable=True), "Ready,SchedulingDisabled"),
        (node(ready=None, unschedulable=True), "Unknown,SchedulingDisabled"),
    ],
)
def test_node_status(obj: dict[str, Any], status: str) -> None:
    assert cells("Node", obj)["STATUS"] == status


@pytest.mark.parametrize(
    ("labels", "roles"),
    [
        ({}, "<none>"),
        ({"node-role.kubernetes.io/control-plane": ""}, "control-plane"),
        (
            {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "x"},
            "control-plane,worker",
        ),
        ({"kubernetes.io/role": "gpu", "node-role.kubernetes.io/gpu": ""}, "gpu"),
        ({"kubernetes.io/role": ""}, "<none>"),
        ({"node-role.kubernetes.io/": ""}, "<none>"),
    ],
)
def test_node_roles(labels: dict[str, str], roles: str) -> None:
    assert cells("Node", node(labels=labels))["ROLES"] == roles


def test_node_row_wide() -> None:
    assert cells("Node", node()) == {
        "NAME": "n1",
        "STATUS": "Ready",
        "ROLES": "<none>",
        "AGE": "5m",
        "VERSION": "v1.32.0-shoal",
        "INTERNAL-IP": "192.168.1.10",
        "EXTERNAL-IP": "<none>",
        "OS-IMAGE": "Debian GNU/Linux 12 (bookworm)",
        "KERNEL-VERSION": "6.1.0-18-amd64",
        "CONTAINER-RUNTIME": "podman://4.3.1",
    }


def test_node_without_info_shows_unknown() -> None:
    row = cells("Node", {"metadata": {"name": "bare"}})
    assert row["STATUS"] == "Unknown"
    assert row["VERSION"] == ""
    assert row["OS-IMAGE"] == row["KERNEL-VERSION"] == row["CONTAINER-RUNTIME"] == "<unknown>"


def test_namespace_and_lease() -> None:
    ns = {"metadata": meta("kube-system"), "status": {"phase": "Terminating"}}
    assert cells("Namespace", ns) == {"NAME": "kube-system", "STATUS": "Terminating", "AGE": "5m"}
    lease = {"metadata": meta("n1"), "spec": {"holderIdentity": "n1_abc"}}
    assert cells("Lease", lease) == {"NAME": "n1", "HOLDER": "n1_abc", "AGE": "5m"}
    assert cells("Lease", {"metadata": meta("free"), "spec": {}})["HOLDER"] == ""


# --- config ------------------------------------------------------------------


def test_config_kinds() -> None:
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("ConfigMap", cm) == {"NAME": "cfg", "DATA": 3, "AGE": "5m"}
    secret = {
        "metadata": meta("tls"),
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "", "tls.key": ""},
    }
    assert cells("Secret", secret) == {
        "NAME": "tls",
        "TYPE": "kubernetes.io/tls",
        "DATA": 2,
        "AGE": "5m",
    }
    sa = {"metadata": meta("default"), "secrets": [{"name": "t"}]}
    assert cells("ServiceAccount", sa) == {"NAME": "default", "SECRETS": 1, "AGE": "5m"}
    assert cells("ServiceAccount", {"metadata": meta("bare")})["SECRETS"] == 0


# --- services and endpoints --------------------------------------------------


def service(kind: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": kind,
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
        "selector": {"app": "web", "tier": "front"},
    }
    base.update(spec)
    return {"metadata": meta("web"), "spec": base, "status": spec.pop("status", {})}


@pytest.mark.parametrize(
    ("obj", "external", "ports"),
    [
        (service("ClusterIP"), "<none>", "80/TCP"),
        (service("ClusterIP", externalIPs=["1.2.3.4", "5.6.7.8"]), "1.2.3.4,5.6.7.8", "80/TCP"),
        (
            service("NodePort", ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"}]),
            "<none>",
            "80:30080/TCP",
        ),
        (
            service(
                "LoadBalancer",
                ports=[
                    {"port": 53, "protocol": "UDP", "nodePort": 31053},
                    {"port": 53, "protocol": "TCP", "nodePort": 31054},
                ],
            ),
            "<pending>",
            "53:31053/UDP,53:31054/TCP",
        ),
        (
            service("ExternalName", externalName="db.example.com", ports=[]),
            "db.example.com",
            "<none>",
        ),
    ],
)
def test_service_external_ip_and_ports(obj: dict[str, Any], external: str, ports: str) -> None:
    row = cells("Service", obj)
    assert (row["EXTERNAL-IP"], row["PORT(S)"]) == (external, ports)


def test_service_load_balancer_addresses() -> None:
    obj = service("LoadBalancer", externalIPs=["9.9.9.9"])
    obj["status"] = {
        "loadBalancer": {
            "ingress": [{"ip": "5.5.5.5"}, {"hostname": "lb.example.com"}, {"ip": "5.5.5.5"}]
        }
    }
    assert cells("Service", obj)["EXTERNAL-IP"] == "5.5.5.5,lb.example.com,9.9.9.9"


def test_service_row() -> None:
    assert cells("Service", service("ClusterIP")) == {
        "NAME": "web",
        "TYPE": "ClusterIP",
        "CLUSTER-IP": "10.96.0.10",
        "EXTERNAL-IP": "<none>",
        "PORT(S)": "80/TCP",
        "AGE": "5m",
        "SELECTOR": "app=web,tier=front",
    }
    headless = service("ClusterIP", clusterIP="None", clusterIPs=["None"], selector={})
    assert cells("Service", headless)["CLUSTER-IP"] == "None"
    assert cells("Service", headless)["SELECTOR"] == "<none>"


@pytest.mark.parametrize(
    ("subsets", "text"),
    [
        ([], "<none>"),
        ([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}], "10.0.0.1:80"),
        (
            [
                {
                    "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                    "ports": [{"port": 80}, {"port": 443}],
                }
            ],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
        ),
        ([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}], "[fd00::1]:80"),
        ([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}], "10.0.0.1,10.0.0.2"),
        ([{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}], ""),
    ],
)
def test_endpoints(subsets: list[dict[str, Any]], text: str) -> None:
    assert cells("Endpoints", {"metadata": meta("web"), "subsets": subsets})["ENDPOINTS"] == text


def test_endpoint_slice() -> None:
    obj = {
        "metadata": meta("web-abc12"),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics"}, {}],
        "endpoints": [{"addresses": [f"10.0.0.{i}"]} for i in range(1, 6)],
    }
    assert cells("EndpointSlice", obj) == {
        "NAME": "web-abc12",
        "ADDRESSTYPE": "IPv4",
        "PORTS": "80,metrics,*",
        "ENDPOINTS": "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...",
        "AGE": "5m",
    }
    empty = cells("EndpointSlice", {"metadata": meta("e"), "addressType": "IPv4"})
    assert (empty["PORTS"], empty["ENDPOINTS"]) == ("<unset>", "<unset>")


@pytest.mark.parametrize(
    ("spec", "selector"),
    [
        ({"podSelector": {}}, "<none>"),
        ({}, "<none>"),
        ({"podSelector": {"matchLabels": {"role": "db", "app": "web"}}}, "app=web,role=db"),
        ({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["b", "a"]}]}},
         "tier notin (a,b)"),
        ({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Bogus"}]}}, "<error>"),
    ],
)
def test_network_policy_row(spec: dict[str, Any], selector: str) -> None:
    assert cells("NetworkPolicy", {"metadata": meta("deny"), "spec": spec}) == {
        "NAME": "deny", "POD-SELECTOR": selector, "AGE": "5m"}


def test_ingress_row() -> None:
    rules = [{"host": h} for h in ("a.example", "b.example", "c.example", "d.example")] + [{}]
    ing = {"metadata": meta("web"), "spec": {"ingressClassName": "shoal", "rules": rules, "tls": [{}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "lb.example"}]}}}
    assert cells("Ingress", ing) == {"NAME": "web", "CLASS": "shoal", "HOSTS": "a.example,b.example,c.example + 2 more...",
                                     "ADDRESS": "10.0.0.1,lb.example", "PORTS": "80, 443", "AGE": "5m"}
    assert cells("Ingress", {"metadata": meta("x"), "spec": {}}) == {
        "NAME": "x", "CLASS": "<none>", "HOSTS": "*", "ADDRESS": "", "PORTS": "80", "AGE": "5m"}
    ic = {"metadata": meta("shoal"), "spec": {"controller": "shoal.io/ingress",
                                              "parameters": {"apiGroup": "k.io", "kind": "P", "name": "p"}}}
    assert cells("IngressClass", ic) == {"NAME": "shoal", "CONTROLLER": "shoal.io/ingress",
                                         "PARAMETERS": "P.k.io/p", "AGE": "5m"}


# --- events --------------------------------------------------------------------


def core_event(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta("web-1.17f2a"),
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled",
        "message": '  Successfully pulled image "nginx"\n',
        "type": "Normal",
        "source": {"component": "kubelet", "host": "n1"},
        **fields,
    }


def test_event_row() -> None:
    obj = core_event(firstTimestamp=ago(minutes=10), lastTimestamp=ago(seconds=30), count=4)
    assert cells("Event", obj) == {
        "LAST SEEN": "30s",
        "TYPE": "Normal",
        "REASON": "Pulled",
        "OBJECT": "pod/web-1",
        "SUBOBJECT": "spec.containers{app}",
        "SOURCE": "kubelet, n1",
        "MESSAGE": 'Successfully pulled image "nginx"',
        "FIRST SEEN": "10m",
        "COUNT": 4,
        "NAME": "web-1.17f2a",
    }


def test_event_time_fallbacks_and_series() -> None:
    only_first = cells("Event", core_event(firstTimestamp=ago(minutes=3)))
    assert (only_first["LAST SEEN"], only_first["FIRST SEEN"], only_first["COUNT"]) == (
        "3m",
        "3m",
        1,
    )
    micro = (NOW - timedelta(seconds=7)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    only_event_time = cells("Event", core_event(eventTime=micro, source={}))
    assert (only_event_time["LAST SEEN"], only_event_time["SOURCE"]) == ("7s", "")
    series = core_event(
        eventTime=micro, series={"count": 12, "lastObservedTime": micro}, reportingComponent="ctl"
    )
    del series["source"]
    row = cells("Event", series)
    assert (row["COUNT"], row["LAST SEEN"], row["SOURCE"]) == (12, "7s", "ctl")
    nothing = cells("Event", {"metadata": {"name": "e"}})
    assert (nothing["LAST SEEN"], nothing["OBJECT"]) == ("<unknown>", "")


def test_events_k8s_io_event() -> None:
    obj = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta("web-1.1"),
        "regarding": {"kind": "Deployment", "name": "web"},
        "note": "Scaled up replica set web-7d to 3",
        "reason": "ScalingReplicaSet",
        "type": "Normal",
        "eventTime": ago(seconds=20),
        "reportingController": "deployment-controller",
        "reportingInstance": "shoal",
    }
    row = cells("Event", obj)
    assert row["OBJECT"] == "deployment/web"
    assert row["MESSAGE"] == "Scaled up replica set web-7d to 3"
    assert row["SOURCE"] == "deployment-controller, shoal"
    assert row["LAST SEEN"] == "20s"


# --- workloads -------------------------------------------------------------------


TEMPLATE = {
    "spec": {
        "containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "log", "image": "busybox"}],
        "nodeSelector": {"disk": "ssd"},
    }
}
SELECTOR = {
    "matchLabels": {"app": "web"},
    "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}],
}


def test_deployment_row() -> None:
    obj = {
        "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert cells("Deployment", obj) == {
        "NAME": "web",
        "READY": "2/3",
        "UP-TO-DATE": 3,
        "AVAILABLE": 2,
        "AGE": "5m",
        "CONTAINERS": "app,log",
        "IMAGES": "nginx:1.27,busybox",
        "SELECTOR": "app=web,env in (dev,prod)",
    }
    fresh = cells("Deployment", {"metadata": meta("new"), "spec": {}})
    assert (fresh["READY"], fresh["UP-TO-DATE"], fresh["SELECTOR"]) == ("0/1", 0, "")
    bad = {
        "metadata": meta("bad"),
        "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
    }
    assert cells("Deployment", bad)["SELECTOR"] == "<invalid>"


def test_replicaset_and_statefulset_rows() -> None:
    rs = {
        "metadata": meta("web-7d"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
        "status": {"replicas": 3, "readyReplicas": 1},
    }
    assert cells("ReplicaSet", rs) == {
        "NAME": "web-7d",
        "DESIRED": 3,
        "CURRENT": 3,
        "READY": 1,
        "AGE": "5m",
        "CONTAINERS": "app,log",
        "IMAGES": "nginx:1.27,busybox",
        "SELECTOR": "app=web",
    }
    sts = {"metadata": meta("db"), "spec": {"replicas": 0, "template": TEMPLATE}, "status": {}}
    assert cells("StatefulSet", sts)["READY"] == "0/0"


def test_controller_revision_row() -> None:
    owned = {"metadata": {**meta("db-7c9d8f"), "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "u", "controller": True}]},
        "data": {"spec": {"template": {"$patch": "replace"}}}, "revision": 3}
    assert cells("ControllerRevision", owned) == {"NAME": "db-7c9d8f", "CONTROLLER": "statefulset.apps/db",
                                                  "REVISION": 3, "AGE": "5m"}
    orphan = {"metadata": meta("loose"), "data": {}, "revision": 1}
    assert cells("ControllerRevision", orphan)["CONTROLLER"] == "<none>"


def test_daemonset_row() -> None:
    obj = {
        "metadata": meta("agent"),
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": TEMPLATE},
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert cells("DaemonSet", obj) == {
        "NAME": "agent",
        "DESIRED": 3,
        "CURRENT": 3,
        "READY": 2,
        "UP-TO-DATE": 3,
        "AVAILABLE": 2,
        "NODE SELECTOR": "disk=ssd",
        "AGE": "5m",
        "CONTAINERS": "app,log",
        "IMAGES": "nginx:1.27,busybox",
        "SELECTOR": "app=agent",
    }


def job(conditions: list[dict[str, str]] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": meta("pi"),
        "spec": {"completions": 1, "parallelism": 1, "template": TEMPLATE, "selector": {}},
        "status": {"conditions": conditions or [], **status},
    }


@pytest.mark.parametrize(
    ("obj", "status"),
    [
        (job(), "Running"),
        (job([{"type": "Complete", "status": "True"}]), "Complete"),
        (job([{"type": "Failed", "status": "True"}]), "Failed"),
        (job([{"type": "Suspended", "status": "True"}]), "Suspended"),
        (job([{"type": "FailureTarget", "status": "True"}]), "FailureTarget"),
        (
            job([{"type": "Complete", "status": "False"}, {"type": "Complete", "status": "True"}]),
            "Running",
        ),
    ],
)
def test_job_status(obj: dict[str, Any], status: str) -> None:
    assert cells("Job", obj)["STATUS"] == status


def test_job_terminating_and_timing() -> None:
    obj = job(startTime=ago(minutes=3), succeeded=0)
    obj["metadata"]["deletionTimestamp"] = ago(seconds=1)
    row = cells("Job", obj)
    assert (row["STATUS"], row["COMPLETIONS"], row["DURATION"]) == ("Terminating", "0/1", "3m")
    done = job(
        [{"type": "Complete", "status": "True"}],
        startTime=ago(minutes=4),
        completionTime=ago(minutes=3, seconds=15),
        succeeded=1,
    )
    row = cells("Job", done)
    assert (row["COMPLETIONS"], row["DURATION"], row["SELECTOR"]) == ("1/1", "45s", "<none>")
    assert cells("Job", job())["DURATION"] == ""


@pytest.mark.parametrize(
    ("spec", "completions"),
    [
        ({"completions": 5}, "2/5"),
        ({"parallelism": 4}, "2/1 of 4"),
        ({"parallelism": 1}, "2/1"),
        ({}, "2/1"),
    ],
)
def test_job_completions(spec: dict[str, Any], completions: str) -> None:
    obj = {"metadata": meta("j"), "spec": spec, "status": {"succeeded": 2}}
    assert cells("Job", obj)["COMPLETIONS"] == completions


def test_cronjob_row() -> None:
    obj = {
        "metadata": meta("nightly"),
        "spec": {
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Paris",
            "suspend": False,
            "jobTemplate": {"spec": {"template": TEMPLATE}},
        },
        "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(hours=9)},
    }
    assert cells("CronJob", obj) == {
        "NAME": "nightly",
        "SCHEDULE": "0 3 * * *",
        "TIMEZONE": "Europe/Paris",
        "SUSPEND": "False",
        "ACTIVE": 1,
        "LAST SCHEDULE": "9h",
        "AGE": "5m",
        "CONTAINERS": "app,log",
        "IMAGES": "nginx:1.27,busybox",
        "SELECTOR": "<none>",
    }
    bare = cells("CronJob", {"metadata": meta("c"), "spec": {"schedule": "@hourly"}})
    assert (bare["TIMEZONE"], bare["SUSPEND"], bare["ACTIVE"], bare["LAST SCHEDULE"]) == (
        "<none>",
        "<unset>",
        0,
        "<none>",
    )


def test_unknown_kind_gets_name_and_age() -> None:
    table = render_table("Widget", [{"metadata": meta("w1")}], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["w1", "5m"]
    assert printer_for("Widget") is GENERIC


# --- selectors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        (None, "<none>"),
        ({}, "<none>"),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchExpressions": [
                    {"key": "z", "operator": "DoesNotExist"},
                    {"key": "m", "operator": "NotIn", "values": ["y", "x"]},
                    {"key": "a", "operator": "Exists"},
                ]
            },
            "a,m notin (x,y),!z",
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "<error>"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["v"]}]}, "<error>"),
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, "<error>"),
    ],
)
def test_format_label_selector(selector: object, text: str) -> None:
    assert format_label_selector(selector) == text


def test_format_labels() -> None:
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert format_labels(None) == format_labels({}) == "<none>"


# --- the Table envelope ----------------------------------------------------------


def test_table_envelope_with_metadata_objects() -> None:
    p = pod()
    p["metadata"]["labels"] = {"app": "web"}
    table = render_table(
        "Pod",
        [p],
        now=NOW,
        list_meta={"resourceVersion": "42", "continue": "abc", "remainingItemCount": 7},
    )
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {
        "resourceVersion": "42",
        "continue": "abc",
        "remainingItemCount": 7,
    }
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert [c["priority"] for c in table["columnDefinitions"]] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert all(
        set(c) == {"name", "type", "format", "description", "priority"}
        for c in table["columnDefinitions"]
    )
    obj = table["rows"][0]["object"]
    assert obj == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": p["metadata"],
    }
    assert obj["metadata"] is not p["metadata"]


@pytest.mark.parametrize("include", ["Object", "None", "Metadata", ""])
def test_include_object(include: str) -> None:
    p = pod()
    row = render_table("Pod", [p], now=NOW, include_object=include)["rows"][0]
    if include == "Object":
        assert row["object"] is p
    elif include == "None":
        assert row["object"] is None
    else:
        assert row["object"]["kind"] == "PartialObjectMetadata"


@pytest.mark.parametrize("include", ["metadata", "All", "object "])
def test_bad_include_object_is_refused(include: str) -> None:
    with pytest.raises(TableError, match="includeObject"):
        render_table("Pod", [pod()], now=NOW, include_object=include)


def test_table_versions() -> None:
    table = render_table("Pod", [pod()], now=NOW, table_version="v1beta1")
    assert table["apiVersion"] == "meta.k8s.io/v1beta1"
    assert table["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"
    with pytest.raises(TableError):
        render_table("Pod", [pod()], now=NOW, table_version="v2")


def test_list_metadata_variants() -> None:
    p = pod()
    p["metadata"]["resourceVersion"] = "9"
    assert render_table("Pod", [p], now=NOW)["metadata"] == {"resourceVersion": "9"}
    assert render_table("Pod", [p, p], now=NOW)["metadata"] == {}
    empty = render_table("Pod", [], now=NOW, list_meta={"resourceVersion": "3", "continue": ""})
    assert empty["metadata"] == {"resourceVersion": "3"}
    assert empty["rows"] == []
    assert len(empty["columnDefinitions"]) == 9


def test_narrow_table_drops_priority_columns_and_cells() -> None:
    table = render_table("Event", [core_event(lastTimestamp=ago(seconds=5))], now=NOW, wide=False)
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Message",
    ]
    assert table["rows"][0]["cells"] == [
        "5s",
        "Normal",
        "Pulled",
        "pod/web-1",
        'Successfully pulled image "nginx"',
    ]


def test_watch_event_tables_send_headers_once() -> None:
    p = pod()
    p["metadata"]["resourceVersion"] = "17"
    first = watch_event_table("Pod", p, now=NOW, first=True)
    later = watch_event_table("Pod", p, now=NOW, first=False)
    assert len(first["columnDefinitions"]) == 9
    assert later["columnDefinitions"] == []
    assert first["rows"] == later["rows"]
    assert len(later["rows"]) == 1
    assert later["metadata"] == {"resourceVersion": "17"}


def test_watch_bookmark_table_keeps_resource_version() -> None:
    bookmark = {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "99"}}
    table = watch_event_table("Pod", bookmark, now=NOW, first=False, include_object="None")
    assert table["metadata"] == {"resourceVersion": "99"}


# --- every printer, against realistic and against malformed objects ---------------


MALFORMED: list[Any] = [
    {},
    {"metadata": None, "spec": None, "status": None},
    {"metadata": "x", "spec": [], "status": 7, "data": "y", "subsets": {}, "ports": "z"},
    {
        "metadata": {"name": 5, "labels": []},
        "spec": {
            "containers": "c",
            "initContainers": [None, 3],
            "ports": [None, "x"],
            "replicas": "3",
        },
        "status": {
            "conditions": ["Ready"],
            "containerStatuses": [None, {"state": "running", "lastState": []}],
            "initContainerStatuses": [{"state": {"terminated": None}}],
        },
        "involvedObject": "pod",
        "series": {"count": "many"},
        "endpoints": [{"addresses": "1.2.3.4"}],
    },
]


@pytest.mark.parametrize("kind", [*sorted(PRINTERS), "Widget"])
@pytest.mark.parametrize("obj", MALFORMED)
def test_printers_survive_malformed_objects(kind: str, obj: dict[str, Any]) -> None:
    table = render_table(kind, [obj], now=NOW)
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
    assert all(isinstance(c, str | int | bool) for c in table["rows"][0]["cells"])


def test_every_printer_matches_its_upstream_columns() -> None:
    upstream = {
        "Pod": [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates",
        ],
        "Node": [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime",
        ],
        "Namespace": ["Name", "Status", "Age"],
        "Service": ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"],
        "Endpoints": ["Name", "Endpoints", "Age"],
        "ConfigMap": ["Name", "Data", "Age"],
        "Secret": ["Name", "Type", "Data", "Age"],
        "ServiceAccount": ["Name", "Secrets", "Age"],
        "Event": [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name",
        ],
        "Deployment": [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        "ReplicaSet": [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        "StatefulSet": ["Name", "Ready", "Age", "Containers", "Images"],
        "ControllerRevision": ["Name", "Controller", "Revision", "Age"],
        "DaemonSet": [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        "Job": [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        "CronJob": [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers",
            "Images",
            "Selector",
        ],
        "Lease": ["Name", "Holder", "Age"],
        "EndpointSlice": ["Name", "AddressType", "Ports", "Endpoints", "Age"],
        "PriorityClass": ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"],
        "NetworkPolicy": ["Name", "Pod-Selector", "Age"],
        "Ingress": ["Name", "Class", "Hosts", "Address", "Ports", "Age"],
        "IngressClass": ["Name", "Controller", "Parameters", "Age"],
        "PersistentVolume": ["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass",
                             "VolumeAttributesClass", "Reason", "Age", "VolumeMode"],
        "PersistentVolumeClaim": ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass",
                                  "VolumeAttributesClass", "Age", "VolumeMode"],
        "StorageClass": ["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"],
        "PodDisruptionBudget": ["Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"],
        "HorizontalPodAutoscaler": ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"],
        "CertificateSigningRequest": ["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"],
        "APIService": ["Name", "Service", "Available", "Age"],
        "ReplicationController": ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"],
        "PodTemplate": ["Name", "Containers", "Images", "Pod Labels"],
        "Role": ["Name", "Created At"],
        "ClusterRole": ["Name", "Created At"],
        "RoleBinding": ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
        "ClusterRoleBinding": ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
        "CustomResourceDefinition": ["Name", "Created At"],
        "MutatingWebhookConfiguration": ["Name", "Webhooks", "Age"],
        "ValidatingWebhookConfiguration": ["Name", "Webhooks", "Age"],
        "ValidatingAdmissionPolicy": ["Name", "Validations", "ParamKind", "Age"],
        "ValidatingAdmissionPolicyBinding": ["Name", "PolicyName", "ParamRef", "Age"],
    }
    assert {kind: [c.name for c in p.columns] for kind, p in PRINTERS.items()} == upstream


# --- storage -------------------------------------------------------------------


def test_persistent_volume_row() -> None:
    pv = {"metadata": {**meta("pv1"), "deletionTimestamp": ago(minutes=1)},
          "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteOncePod", "ReadWriteOnce"],
                   "persistentVolumeReclaimPolicy": "Delete", "claimRef": {"namespace": "ns", "name": "data"},
                   "storageClassName": "local", "volumeMode": "Filesystem"},
          "status": {"phase": "Released", "reason": "VolumeFailedDelete"}}
    assert cells("PersistentVolume", pv) == {
        "NAME": "pv1", "CAPACITY": "1Gi", "ACCESS MODES": "RWO,RWOP", "RECLAIM POLICY": "Delete",
        "STATUS": "Terminating", "CLAIM": "ns/data", "STORAGECLASS": "local", "VOLUMEATTRIBUTESCLASS": "<unset>",
        "REASON": "VolumeFailedDelete", "AGE": "5m", "VOLUMEMODE": "Filesystem"}


def test_persistent_volume_claim_row() -> None:
    pending = {"metadata": {**meta("data"), "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
               "spec": {"storageClassName": "new", "resources": {"requests": {"storage": "1Gi"}}},
               "status": {"phase": "Pending", "capacity": {"storage": "1Gi"}}}
    row = cells("PersistentVolumeClaim", pending)
    assert (row["STATUS"], row["VOLUME"], row["CAPACITY"], row["STORAGECLASS"], row["VOLUMEMODE"]) == \
        ("Pending", "", "", "old", "<unset>")
    bound = {"metadata": meta("data"),
             "spec": {"volumeName": "pv1", "storageClassName": "local", "volumeMode": "Filesystem",
                      "volumeAttributesClassName": "gold"},
             "status": {"phase": "Bound", "capacity": {"storage": "2048Mi"}, "accessModes": ["ReadWriteOnce"]}}
    assert cells("PersistentVolumeClaim", bound) == {
        "NAME": "data", "STATUS": "Bound", "VOLUME": "pv1", "CAPACITY": "2Gi", "ACCESS MODES": "RWO",
        "STORAGECLASS": "local", "VOLUMEATTRIBUTESCLASS": "gold", "AGE": "5m", "VOLUMEMODE": "Filesystem"}


def test_storage_class_row() -> None:
    default = {"metadata": {**meta("local"), "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
               "provisioner": "shoal.io/local", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
               "allowVolumeExpansion": True}
    assert list(cells("StorageClass", default).values()) == [
        "local (default)", "shoal.io/local", "Delete", "WaitForFirstConsumer", True, "5m"]
    bare = {"metadata": meta("bare"), "provisioner": "kubernetes.io/no-provisioner"}
    assert list(cells("StorageClass", bare).values()) == [
        "bare", "kubernetes.io/no-provisioner", "Delete", "Immediate", False, "5m"]
