"""Table tests of the pure quota, LimitRange and Pod Security rules (no server)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from shoal.api import limitrange, podsecurity, quota
from shoal.api.defaults_quota import default_limit_range
from shoal.api.models.quota import LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota
from shoal.api.validation_quota import validate_limit_range, validate_resource_quota


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None, phase: str = "Pending",
        **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers), **(
        {"initContainers": init} if init else {}), **spec}, "status": {"phase": phase}}


def c(name: str = "app", requests: dict[str, Any] | None = None, limits: dict[str, Any] | None = None,
      **rest: Any) -> dict[str, Any]:
    res = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {"name": name, "image": "i", **({"resources": res} if res else {}), **rest}


def q(hard: dict[str, Any], used: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"name": "q"}, "spec": {"hard": hard, **spec}}
    if used is not None:
        out["status"] = {"hard": hard, "used": used}
    return out


# ---- usage ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("group", "plural", "obj", "want"), [
    ("", "pods", pod(c(requests={"cpu": "100m"}), c("b", requests={"cpu": "200m", "memory": "1Gi"},
                                                    limits={"memory": "2Gi"})),
     {"pods": 1, "count/pods": 1, "requests.cpu": Fraction(3, 10), "cpu": Fraction(3, 10),
      "requests.memory": 2**30, "memory": 2**30, "limits.memory": 2 * 2**30}),
    # an init container's request counts when larger than the containers' sum
    ("", "pods", pod(c(requests={"cpu": "100m"}), init=[c("i", requests={"cpu": "1"})]),
     {"pods": 1, "count/pods": 1, "requests.cpu": 1, "cpu": 1}),
    ("", "pods", pod(c(requests={"cpu": "1"}), phase="Succeeded"), {}),
    ("", "services", {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}},
     {"services": 1, "count/services": 1, "services.loadbalancers": 1, "services.nodeports": 2}),
    ("", "persistentvolumeclaims", {"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}}},
     {"persistentvolumeclaims": 1, "count/persistentvolumeclaims": 1, "requests.storage": 5 * 2**30,
      "fast.storageclass.storage.k8s.io/requests.storage": 5 * 2**30,
      "fast.storageclass.storage.k8s.io/persistentvolumeclaims": 1}),
    ("apps", "deployments", {"spec": {}}, {"count/deployments.apps": 1}),
])
def test_usage(group: str, plural: str, obj: dict[str, Any], want: dict[str, Any]) -> None:
    assert quota.usage(group, plural, obj) == {k: Fraction(v) for k, v in want.items()}


@pytest.mark.parametrize(("spec", "obj", "want"), [
    ({}, pod(c()), True),
    ({"scopes": ["BestEffort"]}, pod(c()), True),
    ({"scopes": ["BestEffort"]}, pod(c(requests={"cpu": "1"})), False),
    ({"scopes": ["NotBestEffort"]}, pod(c(requests={"cpu": "1"})), True),
    ({"scopes": ["Terminating"]}, pod(c(), activeDeadlineSeconds=30), True),
    ({"scopes": ["NotTerminating"]}, pod(c(), activeDeadlineSeconds=30), False),
    ({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                              "values": ["high"]}]}}, pod(c(), priorityClassName="high"), True),
    ({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In",
                                              "values": ["high"]}]}}, pod(c()), False),
    ({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "DoesNotExist"}]}},
     pod(c()), True),
])
def test_scopes(spec: dict[str, Any], obj: dict[str, Any], want: bool) -> None:
    assert quota.matches(q({"pods": "5"}, **spec), "", "pods", obj) is want


def test_scoped_quota_counts_no_other_kind() -> None:
    assert quota.matches(q({"pods": "5"}, scopes=["BestEffort"]), "", "services", {"spec": {}}) is False


def test_charge_within_and_over() -> None:
    cost = quota.usage("", "pods", pod(c(requests={"cpu": "500m"}, limits={"cpu": "1"})))
    got = quota.charge(q({"pods": "3", "requests.cpu": "1"}, {"pods": "1", "requests.cpu": "250m"}), cost,
                       pod(), is_pod=False)
    assert got is not None and got.used == {"pods": "2", "requests.cpu": "750m"}
    with pytest.raises(quota.Refused) as e:
        quota.charge(q({"pods": "3", "requests.cpu": "1"}, {"pods": "1", "requests.cpu": "750m"}), cost, pod(),
                     is_pod=False)
    assert str(e.value) == ("exceeded quota: q, requested: requests.cpu=500m, used: requests.cpu=750m, "
                            "limited: requests.cpu=1")


def test_charge_of_what_a_quota_does_not_count_is_none() -> None:
    assert quota.charge(q({"secrets": "1"}, {"secrets": "0"}), quota.usage("", "configmaps", {}), {},
                        is_pod=False) is None


def test_charge_on_a_count_given_by_admission() -> None:
    got = quota.charge(q({"pods": "2"}), {"pods": Fraction(1)}, pod(), is_pod=False,
                       used_now={"pods": Fraction(1)})
    assert got is not None and got.used == {"pods": "2"} and got.hard == {"pods": "2"}


def test_compute_quota_requires_every_container_to_say() -> None:
    p = pod(c(requests={"cpu": "1"}), c("side"))
    with pytest.raises(quota.Refused) as e:
        quota.charge(q({"requests.cpu": "2", "limits.memory": "1Gi"}, {}), quota.usage("", "pods", p), p,
                     is_pod=True)
    assert str(e.value) == "failed quota: q: must specify limits.memory for: app,side; requests.cpu for: side"


def test_resources_counted() -> None:
    assert quota.resources_counted(["pods", "requests.cpu", "count/deployments.apps", "services.nodeports",
                                    "requests.storage"]) == {("", "pods"), ("apps", "deployments"),
                                                             ("", "services"), ("", "persistentvolumeclaims")}


def test_render_keeps_binary_units_for_memory() -> None:
    assert quota.render_list({"requests.memory": Fraction(3 * 2**29), "requests.cpu": Fraction(3, 2),
                              "pods": Fraction(4)}) == {"pods": "4", "requests.cpu": "1500m",
                                                       "requests.memory": "1536Mi"}


# ---- LimitRange -------------------------------------------------------------------------------------
def lr(*items: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"limits": list(items)}}


def test_defaults_fill_only_what_is_missing() -> None:
    p = pod(c(requests={"cpu": "50m"}), c("b", limits={"memory": "64Mi"}, requests={"memory": "64Mi"}))
    said = limitrange.default_pod(p, [lr({"type": "Container", "defaultRequest": {"cpu": "100m", "memory": "32Mi"},
                                         "default": {"cpu": "200m", "memory": "128Mi"}})])
    a, b = p["spec"]["containers"]
    assert a["resources"] == {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
    assert b["resources"] == {"requests": {"memory": "64Mi", "cpu": "100m"}, "limits": {"memory": "64Mi", "cpu": "200m"}}
    assert said == ("LimitRanger plugin set: memory request for container app; cpu limit for container app; "
                    "memory limit for container app; cpu request for container b; cpu limit for container b")


def test_no_container_items_no_change() -> None:
    p = pod(c())
    assert limitrange.default_pod(p, [lr({"type": "Pod", "max": {"cpu": "1"}})]) == ""
    assert "resources" not in p["spec"]["containers"][0]


@pytest.mark.parametrize(("item", "container", "want"), [
    ({"type": "Container", "max": {"cpu": "1"}}, c(limits={"cpu": "2"}, requests={"cpu": "2"}),
     ["maximum cpu usage per Container is 1, but limit is 2"]),
    ({"type": "Container", "max": {"cpu": "1"}}, c(), ["maximum cpu usage per Container is 1.  No limit is specified"]),
    ({"type": "Container", "min": {"memory": "64Mi"}}, c(requests={"memory": "32Mi"}),
     ["minimum memory usage per Container is 64Mi, but request is 32Mi"]),
    ({"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}, c(requests={"cpu": "100m"}, limits={"cpu": "1"}),
     ["cpu max limit to request ratio per Container is 2, but provided ratio is 10.000000"]),
    ({"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "1"}}, c(requests={"cpu": "500m"}, limits={"cpu": "1"}),
     []),
])
def test_container_bounds(item: dict[str, Any], container: dict[str, Any], want: list[str]) -> None:
    assert limitrange.check_pod(pod(container), [lr(item)]) == want


def test_pod_bounds_sum_the_containers() -> None:
    p = pod(c(limits={"cpu": "600m"}, requests={"cpu": "600m"}), c("b", limits={"cpu": "600m"}, requests={"cpu": "600m"}))
    assert limitrange.check_pod(p, [lr({"type": "Pod", "max": {"cpu": "1"}})]) == \
        ["maximum cpu usage per Pod is 1, but limit is 1200m"]


def test_claim_bounds() -> None:
    claim = {"spec": {"resources": {"requests": {"storage": "20Gi"}}}}
    assert limitrange.check_claim(claim, [lr({"type": "PersistentVolumeClaim", "max": {"storage": "10Gi"}})]) == \
        ["maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"]


def test_limit_range_defaults_from_max_and_min() -> None:
    obj = LimitRange(spec=LimitRangeSpec(limits=[LimitRangeItem(type="Container", max={"cpu": "1"}, min={"memory": "1Mi"})]))
    default_limit_range(obj)
    assert obj.spec is not None and obj.spec.limits is not None
    item = obj.spec.limits[0]
    assert item.default == {"cpu": "1"} and item.default_request == {"cpu": "1", "memory": "1Mi"}


@pytest.mark.parametrize(("item", "fragment"), [
    (LimitRangeItem(type="Container", min={"cpu": "2"}, max={"cpu": "1"}), "min value 2 is greater than max value 1"),
    (LimitRangeItem(type="Pod", default={"cpu": "1"}), "may not be specified when `type` is 'Pod'"),
    (LimitRangeItem(type="PersistentVolumeClaim", max={"cpu": "1"}), "either minimum or maximum storage value"),
    (LimitRangeItem(type="Container", max_limit_request_ratio={"cpu": "0.5"}), "ratio 0.5 is less than 1"),
    (LimitRangeItem(type="Node"), "Unsupported value"),
])
def test_limit_range_validation(item: LimitRangeItem, fragment: str) -> None:
    assert validate_limit_range(LimitRange(spec=LimitRangeSpec(limits=[
        LimitRangeItem(type="PersistentVolumeClaim", min={"storage": "1Gi"}, max={"storage": "1Ti"})]))) == []
    errs = validate_limit_range(LimitRange(spec=LimitRangeSpec(limits=[item])))
    assert any(fragment in str(e) for e in errs), errs


@pytest.mark.parametrize(("spec", "fragment"), [
    ({"hard": {"pods": "-1"}}, "must be greater than or equal to 0"),
    ({"hard": {"bogus": "1"}}, "must be a standard resource for quota"),
    ({"hard": {"pods": "1"}, "scopes": ["Terminating", "NotTerminating"]}, "conflicting scopes"),
    ({"hard": {"requests.cpu": "1"}, "scopes": ["BestEffort"]}, "unsupported scope applied to resource"),
    ({"hard": {"pods": "1"}, "scopes": ["Sometimes"]}, "Unsupported value"),
])
def test_quota_validation(spec: dict[str, Any], fragment: str) -> None:
    import msgspec

    errs = validate_resource_quota(msgspec.convert({"spec": spec}, ResourceQuota))
    assert any(fragment in str(e) for e in errs), errs


def test_quota_validation_accepts_upstream_names() -> None:
    import msgspec

    hard = {"pods": "10", "count/deployments.apps": "2", "requests.nvidia.com/gpu": "1", "services.nodeports": "0",
            "gold.storageclass.storage.k8s.io/requests.storage": "1Ti", "limits.memory": "1Gi"}
    assert validate_resource_quota(msgspec.convert({"spec": {"hard": hard}}, ResourceQuota)) == []


# ---- Pod Security -------------------------------------------------------------------------------------
RESTRICTED_OK = {"securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                     "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}


@pytest.mark.parametrize(("level", "spec", "want"), [
    ("privileged", {"hostNetwork": True, "containers": [c(securityContext={"privileged": True})]}, []),
    ("baseline", {"containers": [c()]}, []),
    ("baseline", {"hostNetwork": True, "hostPID": True, "containers": [c()]},
     ["host namespaces (hostNetwork=true, hostPID=true)"]),
    ("baseline", {"containers": [c(securityContext={"privileged": True}), c("b", securityContext={"privileged": True})]},
     ['privileged (containers "app", "b" must not set securityContext.privileged=true)']),
    ("baseline", {"containers": [c(securityContext={"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}})]},
     ['non-default capabilities (container "app" must not include "NET_ADMIN" in securityContext.capabilities.add)']),
    ("baseline", {"volumes": [{"name": "h", "hostPath": {"path": "/"}}], "containers": [c()]},
     ['hostPath volumes (volume "h")']),
    ("baseline", {"containers": [c(ports=[{"containerPort": 80, "hostPort": 8080}])]},
     ['hostPort (container "app" uses hostPort 8080)']),
    ("baseline", {"securityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "1"}]}, "containers": [c()]},
     ["forbidden sysctls (net.core.somaxconn)"]),
    ("baseline", {"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [c()]},
     ['seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")']),
    ("restricted", {"containers": [c(**RESTRICTED_OK)]}, []),
    ("restricted", {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [c(securityContext={"allowPrivilegeEscalation": False,
                                                      "capabilities": {"drop": ["ALL"]}})]}, []),
    ("restricted", {"containers": [c()]},
     ['allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false)',
      'unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"])',
      'runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)',
      'seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" '
      'or "Localhost")']),
    ("restricted", {"volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}],
                    "containers": [c(**RESTRICTED_OK)]},
     ['restricted volume types (volume "n" uses restricted volume type "nfs")']),
])
def test_pod_security_checks(level: str, spec: dict[str, Any], want: list[str]) -> None:
    assert podsecurity.check(level, spec) == want


def test_policy_labels() -> None:
    p = podsecurity.policy_of({"pod-security.kubernetes.io/enforce": "baseline",
                               "pod-security.kubernetes.io/warn": "strict-ish"})
    assert p == podsecurity.Policy(enforce="baseline", audit="privileged", warn="restricted")
    assert podsecurity.policy_of(None) == podsecurity.Policy()


def test_template_of_workloads() -> None:
    cj = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}}
    assert podsecurity.template_of("batch", "cronjobs", cj) == {"spec": {"containers": []}}
    assert podsecurity.template_of("", "configmaps", {}) is None
    assert podsecurity.message("baseline", ["a", "b"]) == 'violates PodSecurity "baseline:latest": a, b'


_RESTRICTED_OK = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                  "containers": [{"name": "app", "image": "i", "securityContext": {
                      "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}
_PLAIN = {"containers": [{"name": "app", "image": "i"}]}
_PRIVILEGED = {"containers": [{"name": "app", "image": "i", "securityContext": {"privileged": True}}]}
_VIOLATIONS = "pod-security.kubernetes.io/audit-violations"
_ENFORCED = "pod-security.kubernetes.io/enforce-policy"


@pytest.mark.parametrize(("policy", "spec", "is_pod", "want"), [
    # no label: nothing evaluated, nothing said (upstream's fully privileged short cut)
    (podsecurity.Policy(), _PRIVILEGED, True, {}),
    (podsecurity.Policy(audit="restricted"), _RESTRICTED_OK, True, {_ENFORCED: "privileged:latest"}),
    (podsecurity.Policy(enforce="baseline", audit="restricted"), _PLAIN, True, {
        _ENFORCED: "baseline:latest",
        _VIOLATIONS: 'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container '
                     '"app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
                     '(container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true '
                     '(pod or container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or '
                     'container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
                     '"Localhost")'}),
    # a workload's template: the audit mode only (its pods are what enforce refuses)
    (podsecurity.Policy(enforce="baseline", audit="baseline"), _PRIVILEGED, False, {
        _VIOLATIONS: 'would violate PodSecurity "baseline:latest": privileged (container "app" must not set '
                     'securityContext.privileged=true)'}),
    (podsecurity.Policy(warn="restricted"), _PLAIN, False, {}),
])
def test_pod_security_audit_annotations(policy: podsecurity.Policy, spec: dict[str, Any], is_pod: bool,
                                        want: dict[str, str]) -> None:
    assert podsecurity.audit_annotations(policy, spec, {}, is_pod=is_pod) == want
