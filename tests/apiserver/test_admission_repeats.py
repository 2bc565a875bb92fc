"""admit_create: a pod repeating an admitted one but for its name gets exactly ``admit``'s answer.

The memo is only worth having if it is never wrong, so the property test holds every answer it
gives (objects, warnings and errors alike) to a fresh ``admit`` of the same body, for pods drawn
with valid and invalid names, unknown fields, bad values and each fieldValidation mode.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.api import kinds
from shoal.apiserver import admission, errors

POD = kinds.lookup("", "v1", "pods")
assert POD is not None


@pytest.fixture(autouse=True)
def _fresh_memo() -> Iterator[None]:
    admission._repeats.clear()
    yield
    admission._repeats.clear()


def pod(name: Any, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web", "pod-template-hash": "7c9f"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                 "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}]},
    }
    body["spec"].update(spec)
    return body


def outcome(fn: Callable[[], tuple[dict[str, Any], list[str]]]) -> tuple[Any, ...]:
    try:
        obj, warnings = fn()
    except errors.ApiError as e:
        return ("refused", e.code, e.message, msgspec.json.encode(e.status()))
    return ("admitted", msgspec.json.encode(obj), tuple(warnings))


def via_memo(body: dict[str, Any], mode: str = "Strict") -> tuple[Any, ...]:
    return outcome(lambda: admission.admit_create(POD, copy.deepcopy(body), field_validation=mode,
                                                  shape_checked=True, json_body=True))


def fresh(body: dict[str, Any], mode: str = "Strict") -> tuple[Any, ...]:
    return outcome(lambda: admission.admit(POD, copy.deepcopy(body), field_validation=mode, shape_checked=True))


def test_a_repeat_is_answered_from_memory_with_its_own_name() -> None:
    first = via_memo(pod("web-1"))
    assert first[0] == "admitted" and len(admission._repeats) == 1
    second = admission.admit_create(POD, pod("web-2"), shape_checked=True, json_body=True)[0]
    assert second["metadata"]["name"] == "web-2"
    assert second["spec"]["restartPolicy"] == "Always" and second["status"]["qosClass"] == "Burstable"
    assert msgspec.json.encode(second) == fresh(pod("web-2"))[1]
    assert len(admission._repeats) == 1  # the same key: the body but for its name


def test_answers_are_fresh_objects() -> None:
    a, _ = admission.admit_create(POD, pod("web-1"), shape_checked=True, json_body=True)
    b, _ = admission.admit_create(POD, pod("web-2"), shape_checked=True, json_body=True)
    c, _ = admission.admit_create(POD, pod("web-3"), shape_checked=True, json_body=True)
    b["metadata"]["uid"] = "changed"
    b["spec"]["containers"][0]["image"] = "changed"
    assert "uid" not in c["metadata"] and c["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert a["metadata"]["name"] == "web-1"


def test_a_bad_name_after_a_good_one_is_refused_naming_the_field() -> None:
    assert via_memo(pod("web-1"))[0] == "admitted"
    got = via_memo(pod("Web_2"))
    assert got == fresh(pod("Web_2"))
    assert got[0] == "refused" and got[1] == 422 and b"metadata.name" in got[3]


def test_refusals_are_not_remembered() -> None:
    bad = pod("web-1", restartPolicy="Sometimes")
    assert via_memo(bad)[0] == "refused"
    assert len(admission._repeats) == 0
    assert via_memo(pod("web-2", restartPolicy="Sometimes"))[1] == 422


def test_warnings_are_kept_per_mode() -> None:
    odd = pod("web-1", colour="blue")
    warned = via_memo(odd, "Warn")
    assert warned[0] == "admitted" and warned[2] == ('unknown field "spec.colour"',)
    assert via_memo(pod("web-2", colour="blue"), "Warn")[2] == ('unknown field "spec.colour"',)
    strict = via_memo(pod("web-3", colour="blue"), "Strict")
    assert strict[0] == "refused" and strict[1] == 400 and "spec.colour" in strict[2]
    assert via_memo(pod("web-4", colour="blue"), "Ignore")[2] == ()


def test_only_json_bodies_are_remembered() -> None:
    # a YAML body may carry an integer key: it encodes as the string key does, but is not the same body
    json_twin = pod("web-1")
    json_twin["metadata"]["annotations"] = {"1": "x"}
    assert via_memo(json_twin)[0] == "admitted"
    yaml_like = pod("web-2")
    yaml_like["metadata"]["annotations"] = {1: "x"}
    got = outcome(lambda: admission.admit_create(POD, yaml_like, shape_checked=True, json_body=False))
    assert got == fresh(yaml_like)
    assert got[0] == "refused"


def test_other_kinds_are_not_remembered() -> None:
    cm = kinds.lookup("", "v1", "configmaps")
    assert cm is not None
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"},
            "data": {"k": "v"}}
    admission.admit_create(cm, body, shape_checked=True, json_body=True)
    assert len(admission._repeats) == 0


def test_the_memo_is_bounded() -> None:
    for i in range(admission.REPEAT_MEMO + 20):
        admission.admit_create(POD, pod("web", hostname=f"h{i}"), shape_checked=True, json_body=True)
    assert len(admission._repeats) == admission.REPEAT_MEMO


names = st.sampled_from(["web-1", "web-2", "a", "x" * 253, "x" * 254, "Web", "web_1", "-web", "web.a", "", 7, None])
labels = st.dictionaries(st.sampled_from(["app", "tier", "bad key!", "a/b"]), st.sampled_from(["web", "", "no way!"]),
                         max_size=2)
spec_extras = st.fixed_dictionaries({}, optional={
    "restartPolicy": st.sampled_from(["Always", "Never", "Sometimes"]),
    "priority": st.sampled_from([0, -1, 10, "high"]),
    "nodeSelector": st.dictionaries(st.sampled_from(["zone", "kubernetes.io/os"]), st.sampled_from(["a", "linux"]),
                                    max_size=1),
    "colour": st.just("blue"),
    "hostname": st.sampled_from(["h1", "H_1"]),
})


@settings(max_examples=300, deadline=None)
@given(first=names, second=names, third=names, extras=spec_extras, labels=labels,
       mode=st.sampled_from(["Strict", "Warn", "Ignore"]), generate=st.booleans())
def test_memo_answers_as_admit(first: Any, second: Any, third: Any, extras: dict[str, Any],
                               labels: dict[str, str], mode: str, generate: bool) -> None:
    admission._repeats.clear()
    for name in (first, second, third, first):
        body = pod(name, **extras)
        body["metadata"]["labels"] = labels
        if generate:
            body["metadata"]["generateName"] = "web-"
        assert via_memo(body, mode) == fresh(body, mode)
