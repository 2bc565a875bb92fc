"""Unit tests of the Kubernetes protobuf decoder, on hand-built wire bytes.

A tiny encoder below builds fixtures field by field, so each test states the
exact bytes Go would send (including the zero-valued non-pointer fields gogo
always writes) and the JSON the decoder must produce.
"""

from __future__ import annotations

import base64
import json

import pytest

from shoal.api.proto_schema import (
    SCHEMA,
    SchemaError,
    compile_schema,
    message_for,
    missing_messages,
    parse_field,
)
from shoal.api.protobuf import (
    MAGIC,
    ProtobufError,
    decode_k8s_protobuf,
    decode_message,
    is_protobuf_content_type,
)

# --- a tiny encoder --------------------------------------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative numbers: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def vi(number: int, value: int) -> bytes:
    """A varint field (int32, int64, bool)."""
    return key(number, 0) + varint(value)


def ld(number: int, payload: bytes | str) -> bytes:
    """A length-delimited field (string, bytes, message)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return key(number, 2) + varint(len(data)) + data


def entry(number: int, k: str, value: bytes | str) -> bytes:
    """One map<string, X> entry."""
    return ld(number, ld(1, k) + ld(2, value))


def envelope(api_version: str, kind: str, raw: bytes, **extra: str) -> bytes:
    unknown = ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw)
    if "encoding" in extra:
        unknown += ld(3, extra["encoding"])
    if "content_type" in extra:
        unknown += ld(4, extra["content_type"])
    return MAGIC + unknown


def time_msg(seconds: int, nanos: int = 0) -> bytes:
    return vi(1, seconds) + (vi(2, nanos) if nanos else b"")


def empty_object_meta(name: str) -> bytes:
    """ObjectMeta as gogo writes it for a fresh object: every string, generation, a zero time."""
    return (
        ld(1, name)
        + ld(2, "")
        + ld(3, "")
        + ld(4, "")
        + ld(5, "")
        + ld(6, "")
        + vi(7, 0)
        + ld(8, b"")
    )


# --- the envelope ----------------------------------------------------------------


def test_configmap_round_trip() -> None:
    raw = (
        ld(1, empty_object_meta("c") + entry(11, "app", "web"))
        + entry(2, "a", "b")
        + entry(2, "empty", "")
        + entry(3, "bin", b"\x00\xff")
    )
    obj = decode_k8s_protobuf(envelope("v1", "ConfigMap", raw))
    assert obj == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "creationTimestamp": None, "labels": {"app": "web"}},
        "data": {"a": "b", "empty": ""},
        "binaryData": {"bin": base64.b64encode(b"\x00\xff").decode()},
    }
    assert json.loads(json.dumps(obj)) == obj


def test_secret_data_is_base64() -> None:
    raw = ld(1, ld(1, "s")) + entry(2, "password", b"hunter2") + ld(3, "Opaque")
    obj = decode_k8s_protobuf(envelope("v1", "Secret", raw))
    assert obj["data"] == {"password": "aHVudGVyMg=="}
    assert obj["type"] == "Opaque"


def test_content_type_helper() -> None:
    assert is_protobuf_content_type("application/vnd.kubernetes.protobuf")
    assert is_protobuf_content_type("application/vnd.kubernetes.protobuf; charset=x")
    assert not is_protobuf_content_type("application/json")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "magic"),
        (b'{"kind": "Pod"}', "magic"),
        (b"k8s", "magic"),
        (MAGIC + ld(2, b""), "no kind"),
        (envelope("v1", "Frobnicator", b""), "cannot decode protobuf for kind Frobnicator"),
        (envelope("v1", "Pod", b"", encoding="gzip"), "content encoding"),
        (envelope("v1", "Pod", b"", content_type="application/json"), "content type"),
        (MAGIC + key(1, 2) + varint(50) + b"abc", "truncated"),
        (MAGIC + b"\x0a", "truncated"),
        (MAGIC + vi(1, 5), "wrong wire type"),
        (MAGIC + key(0, 0) + b"\x01", "field number 0"),
        (MAGIC + b"\xff" * 11, "longer than 10 bytes"),
        (MAGIC + key(1, 7), "invalid wire type"),
    ],
)
def test_bad_bodies(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        decode_k8s_protobuf(body)


def test_protobuf_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        decode_k8s_protobuf(b"nope")


# --- scalars, zero values and unknown fields ---------------------------------------


def test_unset_non_pointer_scalars_are_dropped_pointer_zeros_kept() -> None:
    # DeploymentSpec: replicas (*int32) = 0 explicitly, minReadySeconds (int32) = 0
    # written by gogo regardless, paused (bool) false likewise.
    spec = vi(1, 0) + vi(5, 0) + vi(7, 0) + ld(4, b"")
    obj = decode_message(spec, "apps.v1.DeploymentSpec")
    assert obj == {"replicas": 0, "strategy": {}}


def test_negative_int32_uses_ten_bytes() -> None:
    raw = ld(1, ld(1, "p")) + ld(2, ld(2, ld(1, "c") + ld(2, "img")) + vi(25, -5))
    assert len(varint(-5)) == 10
    obj = decode_k8s_protobuf(envelope("v1", "Pod", raw))
    assert obj["spec"]["priority"] == -5


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = (
        vi(90, 7)
        + ld(91, "zzz")
        + key(92, 1)
        + b"\x00" * 8
        + key(93, 5)
        + b"\x00" * 4
        + key(94, 3)  # a (deprecated) group with one varint inside
        + vi(1, 1)
        + key(94, 4)
    )
    raw = ld(1, ld(1, "robot") + unknown) + unknown + vi(4, 0)
    obj = decode_k8s_protobuf(envelope("v1", "ServiceAccount", raw))
    assert obj == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "robot"},
        "automountServiceAccountToken": False,
    }


def test_wrong_wire_type_for_a_known_field() -> None:
    raw = ld(1, vi(1, 3))  # ObjectMeta.name as a varint
    with pytest.raises(ProtobufError, match=r"Namespace\.metadata\.name: wrong wire type varint"):
        decode_k8s_protobuf(envelope("v1", "Namespace", raw))
    raw = ld(2, ld(1, "x"))  # DeploymentSpec.replicas as a string
    with pytest.raises(ProtobufError, match="expected varint"):
        decode_k8s_protobuf(envelope("apps/v1", "Deployment", raw))
    with pytest.raises(ProtobufError, match="expected a message"):
        decode_k8s_protobuf(envelope("apps/v1", "Deployment", vi(2, 1)))
    with pytest.raises(ProtobufError, match="wrong wire type 32-bit"):
        decode_k8s_protobuf(envelope("apps/v1", "Deployment", key(2, 5) + b"\0\0\0\0"))


def test_truncated_nested_message() -> None:
    raw = ld(1, key(1, 2) + varint(9) + b"ab")
    with pytest.raises(ProtobufError, match="truncated"):
        decode_k8s_protobuf(envelope("v1", "Namespace", raw))


def test_invalid_utf8_string() -> None:
    with pytest.raises(ProtobufError, match="UTF-8"):
        decode_k8s_protobuf(envelope("v1", "Namespace", ld(1, ld(1, b"\xff\xfe"))))


def test_last_scalar_wins_and_messages_merge() -> None:
    raw = ld(1, ld(1, "a")) + ld(1, ld(1, "b") + entry(11, "x", "y"))
    obj = decode_k8s_protobuf(envelope("v1", "Namespace", raw))
    assert obj["metadata"] == {"name": "b", "labels": {"x": "y"}}


def test_packed_and_unpacked_repeated_varints() -> None:
    packed = ld(4, varint(1000) + varint(2000))
    unpacked = vi(4, 3000)
    obj = decode_message(packed + unpacked + vi(2, 0), "core.v1.PodSecurityContext")
    assert obj == {"supplementalGroups": [1000, 2000, 3000], "runAsUser": 0}


# --- special types -----------------------------------------------------------------


def test_time_and_micro_time() -> None:
    meta = ld(1, "n") + ld(8, time_msg(1795599083)) + ld(9, b"")
    assert decode_message(meta, "meta.v1.ObjectMeta") == {
        "name": "n",
        "creationTimestamp": "2026-11-25T09:31:23Z",
        "deletionTimestamp": None,
    }
    lease = ld(3, time_msg(1795599083, 123456789)) + ld(4, b"") + ld(1, "holder")
    assert decode_message(lease, "coordination.v1.LeaseSpec") == {
        "acquireTime": "2026-11-25T09:31:23.123456Z",
        "renewTime": None,
        "holderIdentity": "holder",
    }


def test_time_out_of_range() -> None:
    with pytest.raises(ProtobufError, match="out of range"):
        decode_message(ld(8, time_msg(10**15)), "meta.v1.ObjectMeta")


def test_int_or_string() -> None:
    port_int = ld(4, vi(1, 0) + vi(2, 8080) + ld(3, ""))
    port_str = ld(4, vi(1, 1) + vi(2, 0) + ld(3, "http"))
    assert decode_message(vi(3, 80) + port_int, "core.v1.ServicePort") == {"port": 80, "targetPort": 8080}
    assert decode_message(vi(3, 80) + port_str, "core.v1.ServicePort")["targetPort"] == "http"
    # a pointer IntOrString set to 0 is meaningful (maxUnavailable: 0)
    rolling = ld(1, vi(1, 0) + vi(2, 0)) + ld(2, vi(1, 1) + ld(3, "25%"))
    assert decode_message(rolling, "apps.v1.RollingUpdateDeployment") == {
        "maxUnavailable": 0,
        "maxSurge": "25%",
    }


def test_quantities_in_resource_maps() -> None:
    resources = ld(1, ld(1, "cpu") + ld(2, ld(1, "500m"))) + ld(2, ld(1, "memory") + ld(2, b""))
    assert decode_message(resources, "core.v1.ResourceRequirements") == {
        "limits": {"cpu": "500m"},
        "requests": {"memory": "0"},
    }


def test_managed_fields_decode_fields_v1_as_json() -> None:
    fields = json.dumps({"f:metadata": {"f:labels": {".": {}}}}).encode()
    managed = (
        ld(1, "kubectl")
        + ld(2, "Update")
        + ld(3, "v1")
        + ld(4, time_msg(0, 0))
        + ld(6, "FieldsV1")
        + ld(7, ld(1, fields))
        + ld(8, "")
    )
    owner = ld(5, "apps/v1") + ld(1, "ReplicaSet") + ld(3, "rs") + ld(4, "u") + vi(6, 1)
    meta = ld(1, "p") + ld(17, managed) + ld(13, owner) + ld(14, "example.com/f")
    assert decode_message(meta, "meta.v1.ObjectMeta") == {
        "name": "p",
        "managedFields": [
            {
                "manager": "kubectl",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "1970-01-01T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}},
            }
        ],
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "rs",
                "uid": "u",
                "controller": True,
            }
        ],
        "finalizers": ["example.com/f"],
    }


def test_bad_fields_v1_json() -> None:
    with pytest.raises(ProtobufError, match="not JSON"):
        decode_message(ld(7, ld(1, b"{nope")), "meta.v1.ManagedFieldsEntry")


def test_raw_extension_may_hold_nested_protobuf() -> None:
    inner = envelope("v1", "ConfigMap", ld(1, ld(1, "inner")))
    revision = ld(1, ld(1, "rev")) + ld(2, ld(1, inner)) + vi(3, 2)
    obj = decode_k8s_protobuf(envelope("apps/v1", "ControllerRevision", revision))
    assert obj["data"] == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inner"}}
    assert obj["revision"] == 2


def test_map_entry_without_value_gets_the_zero_value() -> None:
    raw = ld(1, ld(1, "n") + ld(11, ld(1, "flag")))
    assert decode_k8s_protobuf(envelope("v1", "Namespace", raw))["metadata"]["labels"] == {
        "flag": ""
    }


# --- inline (embedded) structs -------------------------------------------------------


def test_volume_source_and_key_selectors_are_inlined() -> None:
    volume = ld(1, "cfg") + ld(2, ld(19, ld(1, ld(1, "app-config")) + vi(3, 420)))
    env = ld(1, "PASS") + ld(3, ld(4, ld(1, ld(1, "db")) + ld(2, "password") + vi(3, 0)))
    probe = ld(1, ld(2, ld(1, "/healthz") + ld(2, vi(1, 0) + vi(2, 8080)))) + vi(2, 5) + vi(3, 0)
    container = ld(1, "app") + ld(2, "img") + ld(7, env) + ld(10, probe) + ld(8, b"")
    pod_spec = ld(1, volume) + ld(2, container) + ld(3, "Always") + vi(4, 30)
    obj = decode_k8s_protobuf(envelope("v1", "Pod", ld(1, ld(1, "p")) + ld(2, pod_spec)))
    spec = obj["spec"]
    assert spec["volumes"] == [
        {"name": "cfg", "configMap": {"name": "app-config", "defaultMode": 420}}
    ]
    assert spec["containers"] == [
        {
            "name": "app",
            "image": "img",
            "env": [
                {
                    "name": "PASS",
                    "valueFrom": {
                        "secretKeyRef": {"name": "db", "key": "password", "optional": False}
                    },
                }
            ],
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": 8080},
                "initialDelaySeconds": 5,
            },
            "resources": {},
        }
    ]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30


def test_ephemeral_container_common_is_inlined() -> None:
    common = ld(1, "debug") + ld(2, "busybox") + vi(16, 1) + vi(18, 1)
    obj = decode_message(ld(1, common) + ld(2, "app"), "core.v1.EphemeralContainer")
    assert obj == {
        "name": "debug",
        "image": "busybox",
        "stdin": True,
        "tty": True,
        "targetContainerName": "app",
    }


# --- the other kinds the brief lists -------------------------------------------------


def test_eviction_with_delete_options() -> None:
    opts = vi(1, 0) + ld(2, ld(1, "uid-1")) + ld(4, "Foreground") + ld(5, "All")
    raw = ld(1, ld(1, "p1") + ld(3, "default")) + ld(2, opts)
    obj = decode_k8s_protobuf(envelope("policy/v1", "Eviction", raw))
    assert obj == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "p1", "namespace": "default"},
        "deleteOptions": {
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "uid-1"},
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
        },
    }


def test_delete_options_in_any_group_version() -> None:
    for api_version in ("v1", "apps/v1", "batch/v1", "meta.k8s.io/v1"):
        obj = decode_k8s_protobuf(envelope(api_version, "DeleteOptions", vi(3, 1)))
        assert obj == {"apiVersion": api_version, "kind": "DeleteOptions", "orphanDependents": True}


def test_scale_zero_replicas_is_kept() -> None:
    raw = ld(1, ld(1, "web")) + ld(2, vi(1, 0)) + ld(3, vi(1, 3) + ld(2, "app=web"))
    obj = decode_k8s_protobuf(envelope("autoscaling/v1", "Scale", raw))
    assert obj["spec"] == {"replicas": 0}
    assert obj["status"] == {"replicas": 3, "selector": "app=web"}


def test_token_request() -> None:
    bound = ld(1, "Pod") + ld(2, "v1") + ld(3, "p") + ld(4, "uid")
    spec = ld(1, "api") + vi(4, 600) + ld(3, bound)
    raw = ld(1, ld(1, "")) + ld(2, spec) + ld(3, ld(1, "") + ld(2, b""))
    obj = decode_k8s_protobuf(envelope("authentication.k8s.io/v1", "TokenRequest", raw))
    assert obj["spec"] == {
        "audiences": ["api"],
        "expirationSeconds": 600,
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "uid"},
    }
    assert obj["status"] == {"token": "", "expirationTimestamp": None}


def test_node_status_and_taints() -> None:
    spec = ld(5, ld(1, "dedicated") + ld(2, "gpu") + ld(3, "NoSchedule")) + vi(4, 1)
    info = ld(7, "v1.32.0") + ld(10, "amd64")
    status = (
        entry(1, "cpu", ld(1, "4"))
        + ld(4, ld(1, "Ready") + ld(2, "True") + ld(3, time_msg(1795599083)))
        + ld(5, ld(1, "InternalIP") + ld(2, "10.0.0.5"))
        + ld(6, ld(1, vi(1, 10250)))
        + ld(7, info)
    )
    obj = decode_k8s_protobuf(
        envelope("v1", "Node", ld(1, ld(1, "n1")) + ld(2, spec) + ld(3, status))
    )
    assert obj["spec"] == {
        "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
        "unschedulable": True,
    }
    assert obj["status"]["capacity"] == {"cpu": "4"}
    assert obj["status"]["conditions"] == [
        {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-25T09:31:23Z"}
    ]
    assert obj["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert obj["status"]["nodeInfo"] == {"kubeletVersion": "v1.32.0", "architecture": "amd64"}


def test_cronjob_and_job_template() -> None:
    pod = ld(2, ld(1, "c") + ld(2, "img") + ld(3, "sleep")) + ld(3, "OnFailure")
    job_spec = ld(6, ld(1, b"") + ld(2, pod)) + vi(7, 0)
    spec = ld(1, "*/5 * * * *") + ld(3, "Forbid") + ld(5, ld(1, ld(1, "cj")) + ld(2, job_spec))
    obj = decode_k8s_protobuf(envelope("batch/v1", "CronJob", ld(2, spec)))
    assert obj["spec"]["schedule"] == "*/5 * * * *"
    assert obj["spec"]["concurrencyPolicy"] == "Forbid"
    job = obj["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["template"]["spec"]["containers"] == [
        {"name": "c", "image": "img", "command": ["sleep"]}
    ]


def test_event_and_binding() -> None:
    event = (
        ld(1, ld(1, "e1"))
        + ld(2, ld(1, "Pod") + ld(3, "p"))
        + ld(3, "Scheduled")
        + vi(8, 1)
        + ld(10, time_msg(1795599083, 5000))
    )
    obj = decode_k8s_protobuf(envelope("v1", "Event", event))
    assert obj["involvedObject"] == {"kind": "Pod", "name": "p"}
    assert obj["eventTime"] == "2026-11-25T09:31:23.000005Z"
    binding = ld(1, ld(1, "p")) + ld(2, ld(1, "Node") + ld(3, "n1"))
    assert decode_k8s_protobuf(envelope("v1", "Binding", binding))["target"] == {
        "kind": "Node",
        "name": "n1",
    }


# --- the schema tables themselves ---------------------------------------------------------


def test_schema_is_closed_and_covers_the_kinds() -> None:
    assert missing_messages(SCHEMA.load_all()) == set()
    for api_version, kind in [
        ("v1", "Namespace"),
        ("v1", "Pod"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "DaemonSet"),
        ("batch/v1", "CronJob"),
        ("coordination.k8s.io/v1", "Lease"),
        ("policy/v1", "Eviction"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("autoscaling/v1", "Scale"),
    ]:
        assert message_for(api_version, kind) in SCHEMA
    assert message_for("v1", "Nope") is None


@pytest.mark.parametrize(
    "token",
    ["name", "name:x", ":1", "name:1:wat", "name:1:lowercase", "name:0", "v:1:^s", "a:1:s:x"],
)
def test_bad_field_specs(token: str) -> None:
    with pytest.raises(SchemaError):
        parse_field(token)


def test_duplicate_numbers_and_messages_are_rejected() -> None:
    with pytest.raises(SchemaError, match="used twice"):
        compile_schema({"M": "a:1 b:1"})
    with pytest.raises(SchemaError, match="defined twice"):
        compile_schema({"M": "a:1"}, {"M": "b:2"})


def test_unknown_message_name() -> None:
    with pytest.raises(ProtobufError, match="no protobuf schema"):
        decode_message(b"", "Nope")


def test_every_message_decodes_an_empty_body() -> None:
    for name in SCHEMA.load_all():
        assert decode_message(b"", name) == {}


def test_decoding_is_fast_enough() -> None:
    """A realistic Deployment decodes in well under a millisecond on average."""
    import time

    container = ld(1, "app") + ld(2, "img") + ld(6, vi(3, 80)) + ld(8, b"") + ld(14, "Always")
    template = ld(1, empty_object_meta("") + entry(11, "app", "web")) + ld(2, ld(2, container))
    body = envelope(
        "apps/v1",
        "Deployment",
        ld(1, empty_object_meta("web")) + ld(2, vi(1, 3) + ld(3, template)),
    )
    start = time.perf_counter()
    for _ in range(200):
        decode_k8s_protobuf(body)
    assert (time.perf_counter() - start) / 200 < 0.002


def test_token_review_extra_values_are_string_lists() -> None:
    extra = ld(4, ld(1, "scopes") + ld(2, ld(1, "a") + ld(1, "b") + vi(1, 9)))
    status = vi(1, 1) + ld(2, ld(1, "alice") + ld(3, "devs") + extra)
    obj = decode_k8s_protobuf(envelope("authentication.k8s.io/v1", "TokenReview", ld(3, status)))
    assert obj["status"] == {
        "authenticated": True,
        "user": {"username": "alice", "groups": ["devs"], "extra": {"scopes": ["a", "b"]}},
    }


def test_mismatched_end_group() -> None:
    raw = ld(1, ld(1, "n")) + key(50, 3) + key(51, 4)
    with pytest.raises(ProtobufError, match="mismatched end-group"):
        decode_k8s_protobuf(envelope("v1", "Namespace", raw))
