"""PodDisruptionBudgets and the pods/eviction subresource through a real ``shoal server`` (no controllers: the
test writes each budget's status as the disruption controller would).

Bodies are compared byte for byte with upstream's where clients read them (kubectl drain matches the 429's
message; the 500 for a pod under two budgets is a Status without a reason)."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer

Obj = dict[str, Any]
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture(scope="module")
def http(server: RunningServer) -> requests.Session:
    return server.session()


@pytest.fixture
def ns(server: RunningServer, http: requests.Session) -> Iterator[str]:
    name = f"evict-{uuid.uuid4().hex[:8]}"
    assert http.post(server.url + "/api/v1/namespaces",
                     json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).status_code == 201
    yield name


def pdbs(server: RunningServer, ns: str, name: str = "", sub: str = "") -> str:
    return f"{server.url}/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets" + (f"/{name}" if name else "") + (
        f"/{sub}" if sub else "")


def pods(server: RunningServer, ns: str, name: str = "", sub: str = "") -> str:
    return f"{server.url}/api/v1/namespaces/{ns}/pods" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def running_pod(server: RunningServer, http: requests.Session, ns: str, name: str, *, ready: bool = True) -> Obj:
    r = http.post(pods(server, ns), json={"apiVersion": "v1", "kind": "Pod",
                                          "metadata": {"name": name, "labels": {"app": "web"}},
                                          "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    assert r.status_code == 201, r.text
    p = r.json()
    p["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    r = http.put(pods(server, ns, name, "status"), json=p)
    assert r.status_code == 200, r.text
    return dict(r.json())


def budget(server: RunningServer, http: requests.Session, ns: str, name: str = "web", *, allowed: int,
           current: int = 2, desired: int = 1, **spec: Any) -> Obj:
    r = http.post(pdbs(server, ns), json={"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                          "metadata": {"name": name},
                                          "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}})
    assert r.status_code == 201, r.text
    b = r.json()
    b["status"] = {"observedGeneration": b["metadata"]["generation"], "disruptionsAllowed": allowed,
                   "currentHealthy": current, "desiredHealthy": desired, "expectedPods": current}
    r = http.put(pdbs(server, ns, name, "status"), json=b)
    assert r.status_code == 200, r.text
    return dict(r.json())


def evict(server: RunningServer, http: requests.Session, ns: str, name: str, *, api_version: str = "policy/v1",
          params: dict[str, str] | None = None, **body: Any) -> requests.Response:
    return http.post(pods(server, ns, name, "eviction"), params=params,
                     json={"apiVersion": api_version, "kind": "Eviction",
                           "metadata": {"name": name, "namespace": ns}, **body})


def gone_or_going(http: requests.Session, url: str) -> bool:
    r = http.get(url)
    return r.status_code == 404 or bool(r.json()["metadata"].get("deletionTimestamp"))


def test_discovery_says_eviction_is_supported(server: RunningServer, http: requests.Session) -> None:
    """kubectl drain looks for pods/eviction with kind Eviction and a group and version (policy/v1)."""
    core = {r["name"]: r for r in http.get(server.url + "/api/v1").json()["resources"]}
    assert core["pods/eviction"] == {"name": "pods/eviction", "singularName": "", "namespaced": True,
                                     "kind": "Eviction", "verbs": ["create"], "group": "policy", "version": "v1"}
    policy = {r["name"]: r for r in http.get(server.url + "/apis/policy/v1").json()["resources"]}
    assert policy["poddisruptionbudgets"]["shortNames"] == ["pdb"]
    assert "poddisruptionbudgets/status" in policy


@pytest.mark.parametrize(("spec", "field", "text"), [
    ({"minAvailable": 1, "maxUnavailable": 1}, "spec", "minAvailable and maxUnavailable cannot be both set"),
    ({"minAvailable": -1}, "spec.minAvailable", "must be greater than or equal to 0"),
    ({"maxUnavailable": "101%"}, "spec.maxUnavailable", "must not be greater than 100%"),
    ({"maxUnavailable": "ten"}, "spec.maxUnavailable", "a valid percent string"),
    ({"unhealthyPodEvictionPolicy": "Sometimes"}, "spec.unhealthyPodEvictionPolicy",
     'supported values: "AlwaysAllow", "IfHealthyBudget"'),
])
def test_budget_validation(server: RunningServer, http: requests.Session, ns: str, spec: Obj, field: str,
                           text: str) -> None:
    r = http.post(pdbs(server, ns), json={"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                          "metadata": {"name": "bad"}, "spec": spec})
    assert r.status_code == 422, r.text
    causes = r.json()["details"]["causes"]
    assert any(c["field"] == field and text in c["message"] for c in causes), causes


def test_budget_defaults_and_status(server: RunningServer, http: requests.Session, ns: str) -> None:
    r = http.post(pdbs(server, ns), json={"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                                          "metadata": {"name": "d"}, "spec": {"selector": {}},
                                          "status": {"disruptionsAllowed": 5}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["spec"]["minAvailable"] == 1  # neither set: one pod kept, as upstream defaults
    assert body["metadata"]["generation"] == 1
    assert not body.get("status", {}).get("disruptionsAllowed")  # a create cannot set the status
    table = http.get(pdbs(server, ns), headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Min Available", "Max Unavailable",
                                                               "Allowed Disruptions", "Age"]
    assert table["rows"][0]["cells"][:4] == ["d", "1", "N/A", 0]


def test_a_pod_no_budget_covers_is_deleted(server: RunningServer, http: requests.Session, ns: str) -> None:
    running_pod(server, http, ns, "lonely")
    r = evict(server, http, ns, "lonely")
    assert (r.status_code, r.content) == (
        201, b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}')
    assert gone_or_going(http, pods(server, ns, "lonely"))


def test_a_budget_that_allows_nothing_answers_429(server: RunningServer, http: requests.Session, ns: str) -> None:
    running_pod(server, http, ns, "web-1")
    budget(server, http, ns, allowed=0, current=2, desired=2)
    r = evict(server, http, ns, "web-1")
    assert r.status_code == 429
    assert r.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Cannot evict pod as it would'
        b' violate the pod\'s disruption budget.","reason":"TooManyRequests","details":{"causes":[{"reason":'
        b'"DisruptionBudget","message":"The disruption budget web needs 2 healthy pods and has 2 currently"}]},'
        b'"code":429}')
    assert http.get(pods(server, ns, "web-1")).json()["metadata"].get("deletionTimestamp") is None


def test_an_eviction_spends_the_budget(server: RunningServer, http: requests.Session, ns: str) -> None:
    running_pod(server, http, ns, "web-1")
    running_pod(server, http, ns, "web-2")
    budget(server, http, ns, allowed=1)
    r = evict(server, http, ns, "web-1", deleteOptions={"gracePeriodSeconds": 0})
    assert r.status_code == 201, r.text
    assert gone_or_going(http, pods(server, ns, "web-1"))
    st = http.get(pdbs(server, ns, "web")).json()["status"]
    assert st["disruptionsAllowed"] == 0
    assert list(st["disruptedPods"]) == ["web-1"]
    cond = st["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "False", "InsufficientPods")
    r = evict(server, http, ns, "web-2")  # the budget is spent: the next eviction waits
    assert r.status_code == 429, r.text


def test_racing_evictions_share_one_disruption(server: RunningServer, http: requests.Session, ns: str) -> None:
    """The budget's write is conditioned on its version: of evictions racing for the one allowed, one wins."""
    names = [f"web-{i}" for i in range(6)]
    for n in names:
        running_pod(server, http, ns, n)
    budget(server, http, ns, allowed=1, current=6, desired=5)
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        codes = sorted(pool.map(lambda n: server.session().post(
            pods(server, ns, n, "eviction"),
            json={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": n}}).status_code, names))
    assert codes == [201] + [429] * 5
    assert http.get(pdbs(server, ns, "web")).json()["status"]["disruptionsAllowed"] == 0


def test_two_budgets_answer_upstreams_500(server: RunningServer, http: requests.Session, ns: str) -> None:
    running_pod(server, http, ns, "web-1")
    budget(server, http, ns, "a", allowed=1)
    budget(server, http, ns, "b", allowed=1)
    r = evict(server, http, ns, "web-1")
    assert (r.status_code, r.content) == (500, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"This pod has more than one'
        b' PodDisruptionBudget, which the eviction subresource does not support.","code":500}'))


def test_an_unready_pod_goes_when_the_budget_is_met(server: RunningServer, http: requests.Session, ns: str) -> None:
    running_pod(server, http, ns, "web-1", ready=False)
    budget(server, http, ns, allowed=0, current=2, desired=2)
    r = evict(server, http, ns, "web-1")
    assert r.status_code == 201, r.text
    assert http.get(pdbs(server, ns, "web")).json()["status"]["disruptionsAllowed"] == 0  # nothing spent


def test_v1beta1_bodies_and_dry_run(server: RunningServer, http: requests.Session, ns: str) -> None:
    running_pod(server, http, ns, "web-1")
    budget(server, http, ns, allowed=1)
    r = evict(server, http, ns, "web-1", api_version="policy/v1beta1", params={"dryRun": "All"})
    assert r.status_code == 201, r.text
    assert http.get(pods(server, ns, "web-1")).json()["metadata"].get("deletionTimestamp") is None
    assert http.get(pdbs(server, ns, "web")).json()["status"]["disruptionsAllowed"] == 1


@pytest.mark.parametrize(("body", "code", "text"), [
    ({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "other"}}, 400,
     "name in URL does not match name in Eviction object"),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1"}}, 400, "must be a policy/v1 Eviction"),
    ({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-1"},
      "deleteOptions": {"propagationPolicy": "Sometimes"}}, 400, 'propagationPolicy: Unsupported value: "Sometimes"'),
    ([1, 2], 400, "must be an Eviction object"),
])
def test_bad_evictions(server: RunningServer, http: requests.Session, ns: str, body: Any, code: int,
                       text: str) -> None:
    running_pod(server, http, ns, "web-1")
    r = http.post(pods(server, ns, "web-1", "eviction"), json=body)
    assert r.status_code == code, r.text
    assert text in r.json()["message"]


def test_evicting_a_missing_pod_is_404(server: RunningServer, http: requests.Session, ns: str) -> None:
    r = evict(server, http, ns, "nope")
    assert r.status_code == 404
    assert r.json()["message"] == 'pods "nope" not found'
    assert http.get(pods(server, ns, "nope", "eviction")).status_code == 405
