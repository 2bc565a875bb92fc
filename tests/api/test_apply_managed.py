"""managedFields after sequences of writes, and server-side apply with conflicts and force (table tests)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shoal.api.apply import LAST_APPLIED, ApplyConflict, apply, for_model, reset_filter, update
from shoal.api.apply import managed as mf
from shoal.api.models.apps import Deployment

NODE = for_model(Deployment)
AV = "apps/v1"
T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"
MAIN = reset_filter(status_subresource=True, subresource="")
STATUS = reset_filter(status_subresource=True, subresource="status")


def deployment(replicas: int = 1, image: str = "nginx", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": AV, "kind": "Deployment", "metadata": {"name": "web", **meta},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}},
    }


def with_entries(o: dict[str, Any], entries: list[dict[str, Any]] | None) -> dict[str, Any]:
    o = copy.deepcopy(o)
    if entries:
        o["metadata"]["managedFields"] = entries
    return o


def owners(entries: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """manager/operation[/subresource] -> its FieldsV1."""
    out = {}
    for e in entries or []:
        key = f"{e['manager']}/{e['operation']}" + (f"/{e['subresource']}" if e.get("subresource") else "")
        out[key] = e["fieldsV1"]
    return out


def write(live: dict[str, Any] | None, new: dict[str, Any], manager: str, now: str = T1,
          subresource: str = "") -> dict[str, Any]:
    entries = update(NODE, live=live, new=new, manager=manager, api_version=AV, subresource=subresource,
                     now=now, reset=STATUS if subresource == "status" else MAIN)
    return with_entries({**new, "metadata": {k: v for k, v in new["metadata"].items() if k != "managedFields"}},
                        entries)


def do_apply(live: dict[str, Any] | None, config: dict[str, Any], manager: str = "kubectl", *,
             force: bool = False, now: str = T1) -> dict[str, Any]:
    r = apply(NODE, live=live, config=config, manager=manager, api_version=AV, subresource="", force=force,
              now=now, reset=MAIN)
    base = r.obj if r.obj is not None else live
    assert base is not None
    return with_entries({**base, "metadata": {k: v for k, v in base["metadata"].items() if k != "managedFields"}},
                        r.entries)


# ---- Update ----------------------------------------------------------------------------------

def test_create_records_every_field_set_but_the_server_owned_ones() -> None:
    o = write(None, deployment(labels={"app": "web"}, uid="u", generation=1), "kubectl-create", now=T0)
    (entry,) = o["metadata"]["managedFields"]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType")} == {
        "manager": "kubectl-create", "operation": "Update", "apiVersion": AV, "time": T0, "fieldsType": "FieldsV1"}
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}  # no name, uid, generation
    assert entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"] == {
        "f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}, "f:name": {}}}}
    assert "f:apiVersion" not in entry["fieldsV1"] and "f:kind" not in entry["fieldsV1"]


def test_a_change_moves_the_field_to_its_writer_and_keeps_the_rest_with_the_creator() -> None:
    o = write(None, deployment(), "creator", now=T0)
    o2 = write(o, {**deployment(replicas=3), "metadata": o["metadata"]}, "scaler", now=T1)
    got = owners(o2["metadata"]["managedFields"])
    assert got["scaler/Update"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in got["creator/Update"]["f:spec"]
    assert "f:selector" in got["creator/Update"]["f:spec"]


def test_an_unchanged_write_keeps_entries_and_times() -> None:
    o = write(None, deployment(), "creator", now=T0)
    o2 = write(o, copy.deepcopy(o), "other", now=T2)
    assert o2["metadata"]["managedFields"] == o["metadata"]["managedFields"]


def test_a_removed_field_is_taken_from_every_manager() -> None:
    o = write(None, deployment(labels={"a": "1", "b": "2"}), "creator", now=T0)
    new = copy.deepcopy(o)
    del new["metadata"]["labels"]["a"]
    o2 = write(o, new, "editor", now=T1)
    got = owners(o2["metadata"]["managedFields"])
    assert got["creator/Update"]["f:metadata"] == {"f:labels": {".": {}, "f:b": {}}}
    assert "editor/Update" not in got  # it removed a field only: it owns nothing


def test_managed_fields_sent_with_an_update_replace_them_and_an_empty_list_resets() -> None:
    o = write(None, deployment(), "creator", now=T0)
    mine = [{"manager": "me", "operation": "Apply", "apiVersion": AV, "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    o2 = write(o, {**copy.deepcopy(o), "metadata": {**o["metadata"], "managedFields": mine}}, "x")
    assert owners(o2["metadata"]["managedFields"]) == {"me/Apply": {"f:spec": {"f:replicas": {}}}}
    o3 = write(o, {**copy.deepcopy(o), "metadata": {**o["metadata"], "managedFields": []}}, "x")
    assert "managedFields" not in o3["metadata"]


@pytest.mark.parametrize("sent", [[{"manager": "me", "operation": "Delete", "apiVersion": AV, "fieldsType": "FieldsV1"}],
                                  [{"manager": "me", "operation": "Apply", "apiVersion": AV}], "nope"])
def test_unreadable_managed_fields_in_an_update_fall_back_to_the_live_ones(sent: Any) -> None:
    o = write(None, deployment(), "creator", now=T0)
    o2 = write(o, {**copy.deepcopy(o), "metadata": {**o["metadata"], "managedFields": sent}}, "x")
    assert o2["metadata"]["managedFields"] == o["metadata"]["managedFields"]


def test_a_status_write_owns_only_status_and_records_its_subresource() -> None:
    o = write(None, deployment(), "creator", now=T0)
    new = {**copy.deepcopy(o), "status": {"replicas": 1}}
    o2 = write(o, new, "controller", now=T1, subresource="status")
    got = owners(o2["metadata"]["managedFields"])
    assert got["controller/Update/status"] == {"f:status": {".": {}, "f:replicas": {}}}


def test_the_main_resource_never_owns_status_of_a_kind_with_a_status_subresource() -> None:
    o = write(None, {**deployment(), "status": {"replicas": 3}}, "creator", now=T0)
    assert "f:status" not in o["metadata"]["managedFields"][0]["fieldsV1"]


def test_more_than_ten_updaters_fold_the_oldest_into_ancient_changes() -> None:
    o = write(None, deployment(), "m00", now="2026-01-01T00:00:00Z")
    for i in range(1, 12):
        new = copy.deepcopy(o)
        new["metadata"].setdefault("labels", {})[f"l{i}"] = "x"
        o = write(o, new, f"m{i:02}", now=f"2026-01-01T00:00:{i:02}Z")
    names = [e["manager"] for e in o["metadata"]["managedFields"]]
    assert len(names) == 10 and "ancient-changes" in names
    assert "m00" not in names and "m01" not in names and "m02" not in names and "m11" in names
    ancient = owners(o["metadata"]["managedFields"])["ancient-changes/Update"]
    assert set(ancient["f:metadata"]["f:labels"]) >= {"f:l1", "f:l2"}


# ---- Apply -----------------------------------------------------------------------------------

def test_apply_creates_and_owns_exactly_what_it_applied() -> None:
    o = do_apply(None, deployment(replicas=2), now=T0)
    (entry,) = o["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["time"]) == ("kubectl", "Apply", T0)
    assert "subresource" not in entry
    assert entry["fieldsV1"]["f:spec"]["f:replicas"] == {}
    assert o["spec"]["replicas"] == 2


def test_a_field_the_applier_stops_applying_is_removed_unless_someone_else_owns_it() -> None:
    cfg = deployment(labels={"a": "1", "b": "2"})
    o = do_apply(None, cfg, "ci", now=T0)
    o = do_apply(o, deployment(labels={"b": "2"}), "other", now=T1)   # shares b
    o = do_apply(o, deployment(), "ci", now=T2)                        # ci drops a and b
    assert o["metadata"]["labels"] == {"b": "2"}


def test_applying_the_same_value_shares_ownership_without_conflict() -> None:
    o = do_apply(None, deployment(replicas=2), "a", now=T0)
    o = do_apply(o, deployment(replicas=2), "b", now=T1)
    got = owners(o["metadata"]["managedFields"])
    assert got["a/Apply"]["f:spec"]["f:replicas"] == {} and got["b/Apply"]["f:spec"]["f:replicas"] == {}


def test_a_conflict_names_the_manager_and_field_as_upstream() -> None:
    o = write(None, deployment(replicas=1), "kubectl-client-side-apply", now=T0)
    with pytest.raises(ApplyConflict) as e:
        do_apply(o, deployment(replicas=5), "ci")
    assert e.value.message() == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
                                 "using apps/v1: .spec.replicas")
    assert e.value.causes() == [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                                 "message": 'conflict with "kubectl-client-side-apply" using apps/v1'}]


def test_several_conflicts_are_grouped_by_manager() -> None:
    o = do_apply(None, deployment(replicas=1), "alice", now=T0)
    o = write(o, {**copy.deepcopy(o), "spec": {**o["spec"], "template": deployment(image="x")["spec"]["template"]}},
              "bob", now=T1)
    with pytest.raises(ApplyConflict) as e:
        do_apply(o, deployment(replicas=5, image="y"), "carol")
    assert e.value.message() == (
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n"
        "conflicts with \"bob\" using apps/v1:\n- .spec.template.spec.containers[name=\"c\"].image")


def test_force_takes_the_field_over() -> None:
    o = write(None, deployment(replicas=1), "editor", now=T0)
    o = do_apply(o, deployment(replicas=5), "ci", force=True, now=T1)
    got = owners(o["metadata"]["managedFields"])
    assert o["spec"]["replicas"] == 5
    assert got["ci/Apply"]["f:spec"]["f:replicas"] == {}
    assert "f:replicas" not in got["editor/Update"]["f:spec"]


def test_an_apply_that_changes_nothing_keeps_the_object_and_the_time() -> None:
    o = do_apply(None, deployment(), now=T0)
    r = apply(NODE, live=o, config=deployment(), manager="kubectl", api_version=AV, subresource="", force=False,
              now=T2, reset=MAIN)
    assert r.obj is None
    assert r.entries == o["metadata"]["managedFields"]


def test_apply_refuses_a_configuration_that_does_not_fit() -> None:
    cfg = deployment()
    cfg["spec"]["template"]["spec"]["containers"].append({"name": "c", "image": "y"})
    with pytest.raises(mf.typed.TypedError, match=r'duplicate entries for key \[name="c"\]'):
        do_apply(None, cfg)


def test_applied_status_is_not_owned_through_the_main_resource() -> None:
    o = do_apply(None, {**deployment(), "status": {"replicas": 3}})
    assert "f:status" not in o["metadata"]["managedFields"][0]["fieldsV1"]


# ---- from client-side apply to server-side apply ------------------------------------------------

def _csa_object(replicas: int) -> dict[str, Any]:
    cfg = deployment(replicas=replicas)
    last = json.dumps(cfg, sort_keys=True)
    live = deployment(replicas=replicas, annotations={LAST_APPLIED: last})
    return write(None, live, "kubectl-client-side-apply", now=T0)


def test_kubectl_takes_over_what_its_last_client_side_apply_set_and_syncs_the_annotation() -> None:
    live = _csa_object(2)
    o = do_apply(live, deployment(replicas=4), "kubectl", now=T1)
    assert o["spec"]["replicas"] == 4
    last = json.loads(o["metadata"]["annotations"][LAST_APPLIED])
    assert last["spec"]["replicas"] == 4 and o["metadata"]["annotations"][LAST_APPLIED].endswith("\n")
    got = owners(o["metadata"]["managedFields"])
    assert got["kubectl/Apply"]["f:spec"]["f:replicas"] == {}


def test_another_manager_still_conflicts_with_client_side_apply() -> None:
    with pytest.raises(ApplyConflict, match='conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas'):
        do_apply(_csa_object(2), deployment(replicas=4), "ci")


def test_kubectl_conflicts_on_fields_changed_since_the_last_client_side_apply() -> None:
    live = _csa_object(2)
    live = write(live, {**copy.deepcopy(live), "spec": {**live["spec"], "replicas": 7}}, "hpa", now=T1)
    with pytest.raises(ApplyConflict, match='conflict with "hpa" using apps/v1: .spec.replicas'):
        do_apply(live, deployment(replicas=4), "kubectl")
